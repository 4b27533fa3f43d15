//! Event arguments: read them typed, build them for emits and acks.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::iohost::handler::types::{self as wit, Payload};

/// Why an argument could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// The client sent fewer arguments.
    Missing(usize),
    /// The argument is not of the expected shape.
    Invalid { index: usize, reason: String },
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(i) => write!(f, "argument {i} is missing"),
            Self::Invalid { index, reason } => write!(f, "argument {index} is invalid: {reason}"),
        }
    }
}

impl std::error::Error for ArgError {}

/// Arguments to emit or ack: any number, JSON values or binary data, in order.
///
/// ```
/// let args = iohost_guest::Args::new().json(&"hello").json(&42).binary(vec![1, 2, 3]);
/// assert_eq!(args.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The JSON array so far, without its closing bracket: each value is written once, as it
    /// is added (no JSON tree in between, no copy of the caller's value).
    json: String,
    len: usize,
    attachments: Vec<Vec<u8>>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            json: String::from("["),
            len: 0,
            attachments: Vec::new(),
        }
    }
}

impl Args {
    pub fn new() -> Self {
        Self::default()
    }

    /// One JSON argument. A value that cannot be serialised becomes `null`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        self.separate();
        self.json.push_str(&text);
        self
    }

    /// One binary argument (a Socket.IO attachment: a `Buffer` / `ArrayBuffer` for the client).
    pub fn binary(mut self, bytes: Vec<u8>) -> Self {
        let num = self.attachments.len();
        self.attachments.push(bytes);
        self.separate();
        // Writing to a `String` cannot fail.
        let _ = write!(self.json, r#"{{"_placeholder":true,"num":{num}}}"#);
        self
    }

    /// Counts one more argument and writes the comma before it.
    fn separate(&mut self) {
        if self.len > 0 {
            self.json.push(',');
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn into_payload(mut self) -> Payload {
        self.json.push(']');
        Payload {
            json: self.json,
            attachments: self.attachments,
        }
    }
}

impl From<Args> for Payload {
    fn from(args: Args) -> Self {
        args.into_payload()
    }
}

/// A single JSON value as a one-argument payload.
pub(crate) fn one<T: Serialize + ?Sized>(value: &T) -> Payload {
    Args::new().json(value).into_payload()
}

/// A client event: its name and arguments.
#[derive(Debug, Clone)]
pub struct Event {
    name: String,
    payload: Payload,
    /// The arguments' JSON, parsed the first time one is read: a handler that never looks at
    /// them (a rate limiter, a logger) does not pay for parsing them.
    values: OnceLock<Vec<Value>>,
}

impl From<wit::Event> for Event {
    fn from(event: wit::Event) -> Self {
        Self {
            name: event.name,
            payload: event.args,
            values: OnceLock::new(),
        }
    }
}

impl Event {
    /// Builds an event, for tests of handler logic.
    pub fn new(name: &str, args: Args) -> Self {
        Self::from(wit::Event {
            name: name.to_owned(),
            args: args.into_payload(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn values(&self) -> &[Value] {
        self.values
            .get_or_init(|| match serde_json::from_str(&self.payload.json) {
                Ok(Value::Array(values)) => values,
                _ => Vec::new(),
            })
    }

    /// How many arguments the client sent (the ack callback is not one).
    pub fn len(&self) -> usize {
        self.values().len()
    }

    pub fn is_empty(&self) -> bool {
        self.values().is_empty()
    }

    /// Argument `index` as JSON (a binary argument is a `{"_placeholder": true, "num": N}`).
    pub fn json(&self, index: usize) -> Option<&Value> {
        self.values().get(index)
    }

    /// Argument `index` deserialised into `T` (read in place: the JSON value is not copied).
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, ArgError> {
        let value = self.values().get(index).ok_or(ArgError::Missing(index))?;
        T::deserialize(value).map_err(|e| ArgError::Invalid {
            index,
            reason: e.to_string(),
        })
    }

    /// The bytes of binary attachment `num`, in the order the client sent them.
    pub fn attachment(&self, num: usize) -> Option<&[u8]> {
        self.payload.attachments.get(num).map(Vec::as_slice)
    }

    /// All arguments exactly as received, to pass on (e.g. emit or ack them back unchanged).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn builds_payloads_with_placeholders() {
        let payload = Args::new()
            .json(&1)
            .binary(vec![7])
            .json(&"x")
            .into_payload();
        assert_eq!(payload.json, r#"[1,{"_placeholder":true,"num":0},"x"]"#);
        assert_eq!(payload.attachments, vec![vec![7]]);
    }

    #[test]
    fn writes_values_as_given_and_unserialisable_ones_as_null() {
        #[derive(serde::Serialize)]
        struct Typed {
            username: &'static str,
            room_id: u32,
        }
        // A map with keys JSON cannot have fails to serialise half-way through.
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        let payload = Args::new()
            .json(&Typed {
                username: "ada",
                room_id: 7,
            })
            .json(&bad)
            .json(&f64::NAN)
            .json("é")
            .into_payload();
        assert_eq!(
            payload.json, r#"[{"username":"ada","room_id":7},null,null,"é"]"#,
            "fields in their order, as serde_json writes them"
        );
        assert_eq!(Args::new().into_payload().json, "[]");
        assert_eq!(Args::new().json(&1).len(), 1);
    }

    #[test]
    fn reads_typed_arguments() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Typing {
            #[serde(rename = "roomId")]
            room_id: String,
        }
        let event = Event::new(
            "chat:typing",
            Args::new()
                .json(&serde_json::json!({"roomId": "r1"}))
                .binary(vec![1, 2]),
        );
        assert_eq!(event.name(), "chat:typing");
        assert_eq!(event.len(), 2);
        assert_eq!(
            event.arg::<Typing>(0),
            Ok(Typing {
                room_id: "r1".into()
            })
        );
        assert_eq!(event.arg::<Typing>(2), Err(ArgError::Missing(2)));
        assert!(matches!(
            event.arg::<u32>(0),
            Err(ArgError::Invalid { index: 0, .. })
        ));
        assert_eq!(event.attachment(0), Some(&[1u8, 2][..]));
    }
}
