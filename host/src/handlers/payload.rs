//! Event arguments between socketioxide (`Args`, `rmpv` values with real bytes) and handlers
//! (the WIT `payload`: a JSON array with Socket.IO `{"_placeholder": true, "num": N}` markers and
//! a list of attachments).

use std::borrow::Cow;
use std::cell::RefCell;

use rmpv::Value as Mp;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value as Json};

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
        let attachments = RefCell::new(Vec::new());
        let items: Vec<AsJson<'_>> = args
            .0
            .iter()
            .map(|value| AsJson {
                value,
                attachments: &attachments,
            })
            .collect();
        // Written straight from the Socket.IO values: no JSON tree in between. It cannot fail
        // (every map key is written as a string), but if it did the handler would see no
        // arguments rather than a broken array.
        let json = serde_json::to_string(&items).unwrap_or_else(|e| {
            tracing::error!("event arguments not written as JSON: {e}");
            "[]".to_owned()
        });
        drop(items);
        Self {
            json,
            attachments: attachments.into_inner(),
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

/// A Socket.IO value written as the JSON a handler reads: binary values become
/// `{"_placeholder": true, "num": N}` and move to `attachments`, numbered in the order they
/// are written; non-finite numbers are `null`; a map's keys are strings, sorted, and a key
/// given twice keeps its last value (as a JSON object of `serde_json` holds it).
struct AsJson<'a> {
    value: &'a Mp,
    attachments: &'a RefCell<Vec<Vec<u8>>>,
}

impl AsJson<'_> {
    fn of<'v>(&self, value: &'v Mp) -> AsJson<'v>
    where
        Self: 'v,
    {
        AsJson {
            value,
            attachments: self.attachments,
        }
    }
}

impl Serialize for AsJson<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Mp::Nil => out.serialize_unit(),
            Mp::Boolean(b) => out.serialize_bool(*b),
            Mp::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(n), _) => out.serialize_i64(n),
                (None, Some(n)) => out.serialize_u64(n),
                (None, None) => out.serialize_unit(),
            },
            // serde_json writes NaN and the infinities as `null`.
            Mp::F32(f) => out.serialize_f64(f64::from(*f)),
            Mp::F64(f) => out.serialize_f64(*f),
            Mp::String(s) => match s.as_str() {
                Some(text) => out.serialize_str(text),
                None => out.serialize_str(&String::from_utf8_lossy(s.as_bytes())),
            },
            Mp::Binary(bytes) | Mp::Ext(_, bytes) => {
                let num = {
                    let mut attachments = self.attachments.borrow_mut();
                    attachments.push(bytes.clone());
                    attachments.len() - 1
                };
                let mut placeholder = out.serialize_map(Some(2))?;
                placeholder.serialize_entry("_placeholder", &true)?;
                placeholder.serialize_entry("num", &num)?;
                placeholder.end()
            }
            Mp::Array(items) => out.collect_seq(items.iter().map(|v| self.of(v))),
            Mp::Map(entries) => {
                let mut keyed: Vec<(Cow<'_, str>, &Mp)> =
                    entries.iter().map(|(k, v)| (map_key(k), v)).collect();
                // Sorted, stable: of a repeated key, the last entry is the one kept.
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                let kept = keyed
                    .iter()
                    .enumerate()
                    .filter(|(i, (key, _))| keyed.get(i + 1).is_none_or(|next| next.0 != *key))
                    .map(|(_, (key, value))| (key, self.of(value)));
                out.collect_map(kept)
            }
        }
    }
}

/// A map key as JSON has it: a string as itself (invalid UTF-8 as empty), anything else as
/// MessagePack's text form of it.
fn map_key(key: &Mp) -> Cow<'_, str> {
    match key {
        Mp::String(s) => Cow::Borrowed(s.as_str().unwrap_or_default()),
        other => Cow::Owned(other.to_string()),
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

    /// The JSON tree the payload was once built through (serde_json's map: sorted keys, the
    /// last of a repeated key kept), the oracle for the direct writer.
    fn tree(value: &Mp, attachments: &mut Vec<Vec<u8>>) -> Json {
        match value {
            Mp::Nil => Json::Null,
            Mp::Boolean(b) => Json::Bool(*b),
            Mp::Integer(i) => i
                .as_i64()
                .map(serde_json::Number::from)
                .or_else(|| i.as_u64().map(serde_json::Number::from))
                .map_or(Json::Null, Json::Number),
            Mp::F32(f) => {
                serde_json::Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
            }
            Mp::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Mp::String(s) => Json::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            Mp::Binary(bytes) | Mp::Ext(_, bytes) => {
                attachments.push(bytes.clone());
                serde_json::json!({ "bytes": bytes })
            }
            Mp::Array(items) => Json::Array(items.iter().map(|v| tree(v, attachments)).collect()),
            Mp::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Mp::String(s) => s.as_str().unwrap_or_default().to_owned(),
                            other => other.to_string(),
                        };
                        (key, tree(v, attachments))
                    })
                    .collect(),
            ),
        }
    }

    /// `json` with each placeholder replaced by `{"bytes": [...]}` of its attachment.
    fn resolved(json: Json, attachments: &[Vec<u8>]) -> Json {
        match json {
            Json::Array(items) => Json::Array(
                items
                    .into_iter()
                    .map(|v| resolved(v, attachments))
                    .collect(),
            ),
            Json::Object(map) => match placeholder(&map) {
                Some(num) => serde_json::json!({ "bytes": attachments[num as usize] }),
                None => Json::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, resolved(v, attachments)))
                        .collect(),
                ),
            },
            other => other,
        }
    }

    /// The placeholders' numbers in `json`, in the order they are written (keys are sorted
    /// as written).
    fn placeholders(json: &Json, nums: &mut Vec<u64>) {
        match json {
            Json::Array(items) => items.iter().for_each(|v| placeholders(v, nums)),
            Json::Object(map) => match placeholder(map) {
                Some(num) => nums.push(num),
                None => map.values().for_each(|v| placeholders(v, nums)),
            },
            _ => {}
        }
    }

    /// A small deterministic generator of Socket.IO values: every kind rmpv has, odd numbers
    /// and strings, binaries, nested arrays and maps with repeated and non-string keys.
    struct Values(u64);

    impl Values {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn value(&mut self, depth: u32) -> Mp {
            let kinds = if depth == 0 { 9 } else { 11 };
            match self.next() % kinds {
                0 => Mp::Nil,
                1 => Mp::Boolean(self.next().is_multiple_of(2)),
                2 => Mp::from(self.next() as i64),
                3 => Mp::from(u64::MAX - self.next() % 3),
                4 => Mp::F32([0.1, f32::NAN, f32::INFINITY, -0.0][(self.next() % 4) as usize]),
                5 => Mp::F64([0.1, 1e300, f64::NAN, f64::NEG_INFINITY][(self.next() % 4) as usize]),
                6 => Mp::from(
                    ["", "a\"b", "ünï\u{1F600}", "line\nbreak", "</script>"]
                        [(self.next() % 5) as usize],
                ),
                // A MessagePack string that is not UTF-8.
                7 => rmpv::decode::read_value(&mut &[0xa2, 0xff, 0x61][..])
                    .expect("a two-byte MessagePack string"),
                8 => Mp::Binary((0..self.next() % 4).map(|b| b as u8).collect()),
                9 => Mp::Array(
                    (0..self.next() % 4)
                        .map(|_| self.value(depth - 1))
                        .collect(),
                ),
                _ => Mp::Map(
                    (0..self.next() % 5)
                        .map(|_| {
                            let key = match self.next() % 4 {
                                0 => Mp::from(self.next() as i64 % 10),
                                1 => Mp::Boolean(true),
                                _ => Mp::from(
                                    ["a", "b", "c", "_placeholder"][(self.next() % 4) as usize],
                                ),
                            };
                            (key, self.value(depth - 1))
                        })
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn arguments_are_written_as_the_json_tree_would_have_them() {
        let mut values = Values(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let args = Args((0..values.next() % 5).map(|_| values.value(3)).collect());
            let payload = Payload::from_args(&args);
            let mut oracle_attachments = Vec::new();
            let oracle = Json::Array(
                args.0
                    .iter()
                    .map(|v| tree(v, &mut oracle_attachments))
                    .collect(),
            );
            let written: Json = serde_json::from_str(&payload.json).expect("valid JSON");
            // Attachments are numbered in the order their placeholders are written (as
            // Socket.IO numbers them), each once, and nothing else is attached (the tree kept
            // the bytes of a repeated key's dropped values too, referred to by nothing).
            let mut nums = Vec::new();
            placeholders(&written, &mut nums);
            assert_eq!(
                nums,
                (0..payload.attachments.len() as u64).collect::<Vec<_>>(),
                "{}",
                payload.json
            );
            assert_eq!(
                resolved(written, &payload.attachments),
                oracle,
                "args {args:?} written as {}",
                payload.json
            );
            if oracle_attachments.is_empty() {
                assert_eq!(
                    payload.json,
                    oracle.to_string(),
                    "same text without binaries"
                );
            }
        }
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
