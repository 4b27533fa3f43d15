//! The arguments of one event or acknowledgement, any number of them, binary attachments intact.

use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Event or ack arguments in order. socketioxide spreads a value that serialises as a tuple into
/// separate arguments (a `Vec` would arrive as one array argument), and `rmpv::Value` keeps binary
/// attachments as bytes where `serde_json::Value` would turn them into arrays of numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Vec<rmpv::Value>);

impl Args {
    pub fn first(&self) -> Option<&rmpv::Value> {
        self.0.first()
    }

    /// About how many bytes the arguments hold: text and binary at their length, every other
    /// value at 8, for bounding what a client's answer makes iohost keep.
    pub fn size(&self) -> usize {
        fn size(value: &rmpv::Value) -> usize {
            match value {
                rmpv::Value::String(s) => s.as_bytes().len(),
                rmpv::Value::Binary(b) | rmpv::Value::Ext(_, b) => b.len(),
                rmpv::Value::Array(items) => 8 + items.iter().map(size).sum::<usize>(),
                rmpv::Value::Map(entries) => {
                    8 + entries
                        .iter()
                        .map(|(k, v)| size(k) + size(v))
                        .sum::<usize>()
                }
                _ => 8,
            }
        }
        self.0.iter().map(size).sum()
    }

    /// The first argument as JSON (binary data becomes arrays of numbers), `Null` if none.
    pub fn first_json(&self) -> serde_json::Value {
        self.first()
            .and_then(|v| serde_json::to_value(v).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for value in &self.0 {
            tuple.serialize_element(value)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(value) = seq.next_element()? {
                    values.push(value);
                }
                Ok(Args(values))
            }
        }
        // Asking for a tuple (of unknown length) is what makes socketioxide hand over every argument.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_as_a_list() {
        let args: Args = serde_json::from_str(r#"[1,"2",{"3":[true]}]"#).expect("decode");
        assert_eq!(args.0.len(), 3);
        assert_eq!(
            serde_json::to_string(&args).expect("encode"),
            r#"[1,"2",{"3":[true]}]"#
        );
    }

    #[test]
    fn empty_is_empty() {
        let args: Args = serde_json::from_str("[]").expect("decode");
        assert!(args.first().is_none());
    }
}
