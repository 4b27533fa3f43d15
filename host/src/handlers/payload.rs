//! Event arguments between socketioxide (`Args`, `rmpv` values with real bytes) and handlers
//! (the WIT `payload`: a JSON array with Socket.IO `{"_placeholder": true, "num": N}` markers and
//! a list of attachments).

use std::borrow::Cow;
use std::cell::RefCell;

use rmpv::Value as Mp;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

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
    /// Read into Socket.IO values, a payload holds more than its text: `[0,0,...]` takes two
    /// bytes a value as text and [`VALUE_BYTES`] once read.
    #[error("payload would hold more than {max} bytes once read ({VALUE_BYTES} bytes a value)")]
    TooLarge { max: usize },
}

/// What one value read from a payload holds besides its text (strings and bytes are counted
/// by the text and the attachments): the value itself, twice for a map entry's key.
pub const VALUE_BYTES: usize = 2 * std::mem::size_of::<Mp>();

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

    /// The handler's arguments as Socket.IO values, read straight from the JSON text (no
    /// serde_json tree in between); each placeholder takes its attachment's bytes.
    pub fn into_args(self) -> Result<Args, PayloadError> {
        self.into_args_within(usize::MAX).map(|(args, _)| args)
    }

    /// [`Self::into_args`], refused as [`PayloadError::TooLarge`] once the values would hold
    /// more than `max` bytes (text and attachments included), before they are all made.
    /// Returns the values and the bytes they hold.
    pub fn into_args_within(self, max: usize) -> Result<(Args, usize), PayloadError> {
        let Payload { json, attachments } = self;
        let carried = json.len() + attachments.iter().map(Vec::len).sum::<usize>();
        let mut reader = Reader {
            attachments: attachments.into_iter().map(Some).collect(),
            refused: None,
            values: 0,
            max_values: max.saturating_sub(carried) / VALUE_BYTES,
            max,
        };
        if carried > max {
            return Err(PayloadError::TooLarge { max });
        }
        let mut parser = serde_json::Deserializer::from_str(&json);
        let read = TopLevel(&mut reader)
            .deserialize(&mut parser)
            .and_then(|args| parser.end().map(|()| args));
        match read {
            Ok(args) => Ok((Args(args), carried + reader.values * VALUE_BYTES)),
            // Reading the text again as a tree would hold as much: refused as it stands.
            Err(_) if matches!(reader.refused, Some(PayloadError::TooLarge { .. })) => {
                Err(reader.refused.unwrap_or(PayloadError::TooLarge { max }))
            }
            // On this path only, the text is read again to the end (as a tree once was, keeping
            // nothing: a tree would hold ~40x the text): bad JSON anywhere is reported
            // in serde_json's words, before what the values mean (a top level that is not an
            // array, an attachment missing or taken twice).
            Err(_) => match serde_json::from_str::<Skip>(&json) {
                Err(e) => Err(PayloadError::NotJson(e.to_string())),
                Ok(_) => Err(reader.refused.unwrap_or(PayloadError::NotAnArray)),
            },
        }
    }
}

/// Any JSON value, read as a tree is read (so that bad JSON fails with the same words) and
/// kept nowhere. serde's `IgnoredAny` takes serde_json's quicker skipping path, whose errors
/// differ (a trailing comma is "expected value" there).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(parser: D) -> Result<Skip, D::Error> {
        parser.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Skip, A::Error> {
        while items.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Skip, A::Error> {
        while fields.next_key::<Skip>()?.is_some() {
            fields.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// What reading a payload's values needs besides the text: the attachments not yet taken, and
/// why reading stopped when the text was fine but its values were not.
struct Reader {
    attachments: Vec<Option<Vec<u8>>>,
    refused: Option<PayloadError>,
    /// Values read so far, and the most the payload's bound allows.
    values: usize,
    max_values: usize,
    max: usize,
}

impl Reader {
    fn refuse<E: serde::de::Error>(&mut self, why: PayloadError) -> E {
        let error = E::custom(&why);
        self.refused = Some(why);
        error
    }

    /// The bytes of attachment `num`, which only one placeholder may take.
    fn take<E: serde::de::Error>(&mut self, num: u64) -> Result<Mp, E> {
        let Some(slot) = usize::try_from(num)
            .ok()
            .and_then(|i| self.attachments.get_mut(i))
        else {
            return Err(self.refuse(PayloadError::MissingAttachment(num)));
        };
        match slot.take() {
            Some(bytes) => Ok(Mp::Binary(bytes)),
            None => Err(self.refuse(PayloadError::RepeatedAttachment(num))),
        }
    }
}

/// The payload's top level: an array of arguments (anything else fails as the wrong type).
struct TopLevel<'r>(&'r mut Reader);

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Vec<Mp>;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Vec<Mp>, D::Error> {
        parser.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Vec<Mp>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of arguments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, items: A) -> Result<Vec<Mp>, A::Error> {
        read_items(self.0, items)
    }
}

/// The values of a JSON array, in order.
fn read_items<'de, A: SeqAccess<'de>>(
    reader: &mut Reader,
    mut items: A,
) -> Result<Vec<Mp>, A::Error> {
    let mut values = Vec::with_capacity(items.size_hint().unwrap_or(0));
    while let Some(value) = items.next_element_seed(ArgValue(&mut *reader))? {
        values.push(value);
    }
    Ok(values)
}

/// One JSON value as a Socket.IO value: integers as integers (signed when they fit), other
/// numbers as f64, objects as maps with their keys sorted and, of a repeated key, the last
/// value kept (as a serde_json object held them), and a placeholder as its attachment.
/// Placeholders take their attachments in the order they are written; a placeholder under a
/// repeated key that is then dropped has taken its attachment all the same (no payload the SDKs
/// write repeats a key).
struct ArgValue<'r>(&'r mut Reader);

impl<'de> DeserializeSeed<'de> for ArgValue<'_> {
    type Value = Mp;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Mp, D::Error> {
        self.0.values += 1;
        if self.0.values > self.0.max_values {
            let max = self.0.max;
            return Err(self.0.refuse(PayloadError::TooLarge { max }));
        }
        parser.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArgValue<'_> {
    type Value = Mp;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Mp, E> {
        Ok(Mp::Nil)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Mp, E> {
        Ok(Mp::Boolean(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Mp, E> {
        Ok(Mp::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Mp, E> {
        Ok(Mp::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Mp, E> {
        Ok(Mp::F64(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Mp, E> {
        Ok(Mp::String(s.into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Mp, E> {
        Ok(Mp::String(s.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, items: A) -> Result<Mp, A::Error> {
        read_items(self.0, items).map(Mp::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Mp, A::Error> {
        let mut entries: Vec<(String, Mp)> = Vec::new();
        while let Some(key) = fields.next_key::<String>()? {
            let value = fields.next_value_seed(ArgValue(&mut *self.0))?;
            entries.push((key, value));
        }
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: of a repeated key, the last entry is the one kept.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(String, Mp)> = Vec::with_capacity(entries.len());
            for entry in entries {
                if kept.last().is_some_and(|last| last.0 == entry.0) {
                    kept.pop();
                }
                kept.push(entry);
            }
            entries = kept;
        }
        if let [(flag, Mp::Boolean(true)), (num, Mp::Integer(n))] = entries.as_slice()
            && flag == "_placeholder"
            && num == "num"
            && let Some(n) = n.as_u64()
        {
            return self.0.take(n);
        }
        Ok(Mp::Map(
            entries
                .into_iter()
                .map(|(key, value)| (Mp::String(key.into()), value))
                .collect(),
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value as Json};

    #[test]
    fn what_values_hold_is_bounded_before_they_are_made() {
        let zeros = |n: usize| Payload {
            json: format!("[[{}0]]", "0,".repeat(n - 1)),
            attachments: vec![vec![7; 10]],
        };
        let text = zeros(1000).json.len() + 10;
        assert_eq!(VALUE_BYTES, 80, "the README says 80 bytes a value");
        // 1000 zeros and their array: 1001 values.
        let (args, held) = zeros(1000).into_args_within(usize::MAX).expect("fits");
        assert_eq!(held, text + 1001 * VALUE_BYTES);
        assert_eq!(args.0.len(), 1);
        assert!(zeros(1000).into_args_within(held).is_ok());
        assert_eq!(
            zeros(1000).into_args_within(held - 1).err(),
            Some(PayloadError::TooLarge { max: held - 1 })
        );
        // The text alone over the bound: refused before any reading.
        assert_eq!(
            zeros(1000).into_args_within(text - 1).err(),
            Some(PayloadError::TooLarge { max: text - 1 })
        );
        // Other errors read as before.
        let bad = Payload {
            json: "{".to_owned(),
            attachments: vec![],
        };
        assert!(matches!(
            bad.into_args_within(1 << 20),
            Err(PayloadError::NotJson(_))
        ));
    }

    /// How `into_args` read a payload before it read the text directly: the whole text parsed
    /// into a serde_json tree, then converted. The oracle for the direct reader.
    fn oracle_into_args(payload: Payload) -> Result<Args, PayloadError> {
        let json: Json = serde_json::from_str(&payload.json)
            .map_err(|e| PayloadError::NotJson(e.to_string()))?;
        let Json::Array(items) = json else {
            return Err(PayloadError::NotAnArray);
        };
        let mut attachments: Vec<Option<Vec<u8>>> =
            payload.attachments.into_iter().map(Some).collect();
        items
            .into_iter()
            .map(|v| from_json(v, &mut attachments))
            .collect::<Result<_, _>>()
            .map(Args)
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

        /// Up to four arguments, nested up to three deep.
        fn args(&mut self) -> Args {
            Args((0..self.next() % 5).map(|_| self.value(3)).collect())
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
            let args = values.args();
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

    /// Same outcome as the oracle: the same values, or the same refusal (for bad JSON, the same
    /// message).
    fn reads_as_the_oracle_does(payload: Payload) {
        let text = payload.json.clone();
        let (direct, oracle) = (payload.clone().into_args(), oracle_into_args(payload));
        match (&direct, &oracle) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(a), Err(b)) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "{text}: {a} against {b}"
            ),
            _ => panic!("{text}: {direct:?} against the oracle's {oracle:?}"),
        }
        if let (Err(PayloadError::NotJson(a)), Err(PayloadError::NotJson(b))) = (&direct, &oracle) {
            assert_eq!(a, b, "{text}");
        }
    }

    #[test]
    fn handler_payloads_read_as_the_json_tree_read_them() {
        let mut values = Values(0x2545_f491_4f6c_dd1d);
        for _ in 0..2_000 {
            let args = values.args();
            let payload = Payload::from_args(&args);
            reads_as_the_oracle_does(payload.clone());
            // What a handler may write instead: keys out of order and repeated, cut short,
            // attachments missing or referred to twice, not an array.
            let text = payload.json.clone();
            let cut = (values.next() as usize) % (text.len() + 1);
            let variants = [
                text.get(..cut).unwrap_or_default().to_owned(),
                text.replacen(
                    '[',
                    r#"[{"z":1,"a":[2],"z":{"_placeholder":true,"num":0}},"#,
                    1,
                ),
                text.replacen('[', r#"[{"num":0,"_placeholder":true},"#, 1),
                text.replacen('[', r#"[{"_placeholder":true,"num":0,"extra":1},"#, 1),
                text.replacen('[', r#"[{"_placeholder":true,"num":7},"#, 1),
                text.replacen(
                    '[',
                    r#"[{"_placeholder":true,"num":-1},{"_placeholder":false,"num":0},"#,
                    1,
                ),
                format!("{text} "),
                format!("{text}]"),
                format!(r#"{{"args":{text}}}"#),
                text.replace(':', ""),
            ];
            for json in variants {
                for attachments in [vec![], payload.attachments.clone(), vec![vec![1]; 9]] {
                    reads_as_the_oracle_does(Payload {
                        json: json.clone(),
                        attachments,
                    });
                }
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
