//! Event arguments between socketioxide (`Args`, `rmpv` values with real bytes) and handlers
//! (the WIT `payload`: a JSON array with Socket.IO `{"_placeholder": true, "num": N}` markers and
//! a list of attachments).

use rmpv::Value as Mp;
use serde_json::{Map, Number, Value as Json};

use super::bindings::iohost::handler::types::Payload;
use crate::model::Args;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("payload JSON must be an array of arguments")]
    NotAnArray,
    #[error("payload refers to attachment {0}, which does not exist")]
    MissingAttachment(u64),
    /// Each attachment stands in one place: a repeated reference would copy its bytes again
    /// for every repeat, far more than the handler's own memory held.
    #[error("payload refers to attachment {0} more than once")]
    RepeatedAttachment(u64),
}

impl Payload {
    pub fn from_args(args: &Args) -> Self {
        let mut attachments = Vec::new();
        let json = Json::Array(
            args.0
                .iter()
                .map(|v| to_json(v, &mut attachments))
                .collect(),
        );
        Self {
            json: json.to_string(),
            attachments,
        }
    }

    pub fn into_args(self) -> Result<Args, PayloadError> {
        let json: Json =
            serde_json::from_str(&self.json).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        let Json::Array(items) = json else {
            return Err(PayloadError::NotAnArray);
        };
        let mut attachments: Vec<Option<Vec<u8>>> =
            self.attachments.into_iter().map(Some).collect();
        items
            .into_iter()
            .map(|v| from_json(v, &mut attachments))
            .collect::<Result<_, _>>()
            .map(Args)
    }
}

fn to_json(value: &Mp, attachments: &mut Vec<Vec<u8>>) -> Json {
    match value {
        Mp::Nil => Json::Null,
        Mp::Boolean(b) => Json::Bool(*b),
        Mp::Integer(i) => i
            .as_i64()
            .map(Number::from)
            .or_else(|| i.as_u64().map(Number::from))
            .map_or(Json::Null, Json::Number),
        Mp::F32(f) => Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number),
        Mp::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Mp::String(s) => Json::String(s.as_str().map_or_else(
            || String::from_utf8_lossy(s.as_bytes()).into_owned(),
            str::to_owned,
        )),
        Mp::Binary(bytes) | Mp::Ext(_, bytes) => {
            attachments.push(bytes.clone());
            serde_json::json!({ "_placeholder": true, "num": attachments.len() - 1 })
        }
        Mp::Array(items) => Json::Array(items.iter().map(|v| to_json(v, attachments)).collect()),
        Mp::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Mp::String(s) => s.as_str().unwrap_or_default().to_owned(),
                        other => other.to_string(),
                    };
                    (key, to_json(v, attachments))
                })
                .collect::<Map<_, _>>(),
        ),
    }
}

/// `value` as a Socket.IO value; each attachment moves into the one place that refers to it.
fn from_json(value: Json, attachments: &mut [Option<Vec<u8>>]) -> Result<Mp, PayloadError> {
    Ok(match value {
        Json::Null => Mp::Nil,
        Json::Bool(b) => Mp::Boolean(b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else {
                Mp::F64(n.as_f64().unwrap_or_default())
            }
        }
        Json::String(s) => Mp::String(s.into()),
        Json::Array(items) => Mp::Array(
            items
                .into_iter()
                .map(|v| from_json(v, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(map) => {
            if let Some(num) = placeholder(&map) {
                let slot = usize::try_from(num)
                    .ok()
                    .and_then(|i| attachments.get_mut(i))
                    .ok_or(PayloadError::MissingAttachment(num))?;
                let bytes = slot.take().ok_or(PayloadError::RepeatedAttachment(num))?;
                return Ok(Mp::Binary(bytes));
            }
            Mp::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((Mp::String(k.into()), from_json(v, attachments)?)))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// `{"_placeholder": true, "num": N}` exactly, as the Socket.IO parser writes it.
fn placeholder(map: &Map<String, Json>) -> Option<u64> {
    (map.len() == 2 && map.get("_placeholder") == Some(&Json::Bool(true)))
        .then(|| map.get("num").and_then(Json::as_u64))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_and_attachments_round_trip() {
        let args = Args(vec![
            Mp::from(1),
            Mp::from("2"),
            Mp::Map(vec![(
                Mp::from("3"),
                Mp::Array(vec![Mp::Boolean(true), Mp::Binary(vec![9, 8])]),
            )]),
            Mp::Binary(vec![1, 2, 3]),
            Mp::F64(1.5),
            Mp::Nil,
        ]);
        let payload = Payload::from_args(&args);
        assert_eq!(
            payload.json,
            r#"[1,"2",{"3":[true,{"_placeholder":true,"num":0}]},{"_placeholder":true,"num":1},1.5,null]"#
        );
        assert_eq!(payload.attachments, vec![vec![9, 8], vec![1, 2, 3]]);
        assert_eq!(payload.into_args(), Ok(args));
    }

    #[test]
    fn bad_payloads_are_refused() {
        let p = |json: &str| Payload {
            json: json.into(),
            attachments: vec![],
        };
        assert!(matches!(p("{").into_args(), Err(PayloadError::NotJson(_))));
        let fan_out = Payload {
            json: r#"[{"_placeholder":true,"num":0},[{"_placeholder":true,"num":0}]]"#.into(),
            attachments: vec![vec![7; 16]],
        };
        assert_eq!(
            fan_out.into_args(),
            Err(PayloadError::RepeatedAttachment(0)),
            "one attachment cannot be copied into many places"
        );
        assert_eq!(p("{}").into_args(), Err(PayloadError::NotAnArray));
        assert_eq!(
            p(r#"[{"_placeholder":true,"num":3}]"#).into_args(),
            Err(PayloadError::MissingAttachment(3))
        );
    }
}
