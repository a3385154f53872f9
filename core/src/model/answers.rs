//! Form answers: everything a form asks beyond the core variables.
//!
//! A case holds answers as `answers.<field id>` → any JSON value, one flat key per answer so
//! each answer merges on its own. A field of a repeat group (household members) is answered once
//! per instance, as `answers.<repeat id>.<instance key>.<field id>` ([`AnswerPath`]): still one
//! flat key per answer, so two devices editing different members — or adding members at the
//! same time, under the distinct keys [`InstanceKey::generate`] makes — merge without loss.
//!
//! This module guarantees that a [`FieldId`] has the form `[a-z][a-z0-9_]{0,63}`, an
//! [`InstanceKey`] the form `[a-z0-9]{1,32}`, and that no answer is larger than
//! [`MAX_ANSWER_BYTES`]; it does not check answers against a form definition (forms are their
//! own records), and it treats every answer as possibly personal, so nothing here prints one.

use super::validate::Reason;
use crate::protocol::MAX_FIELD_KEY_BYTES;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The prefix of an answer's flat key: `answers.<field id>`.
pub const ANSWER_KEY_PREFIX: &str = "answers.";

/// Longest field id, in bytes: enough for any descriptive id, short enough to keep keys small.
pub const MAX_FIELD_ID_LEN: usize = 64;

/// Largest answer, in bytes of compact JSON. A form answer is a choice, a number or a short
/// narrative; 10 KiB holds several pages of text, while stopping a pasted document or a runaway
/// import from bloating every sync of the case.
pub const MAX_ANSWER_BYTES: usize = 10 * 1024;

/// Most answers one case holds. The source's database has about 200 variables; this leaves
/// room for several forms' worth while bounding the size of a case.
pub const MAX_ANSWERS: usize = 1000;

/// The id of a form field: a letter `a-z`, then up to 63 of `a-z`, `0-9` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldId(String);

impl FieldId {
    pub fn parse(id: &str) -> Result<FieldId, Reason> {
        let valid = (1..=MAX_FIELD_ID_LEN).contains(&id.len())
            && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(FieldId(id.to_owned()))
        } else {
            Err(Reason::InvalidFieldId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The flat key of this field's answer: `answers.<id>`.
    pub fn key(&self) -> String {
        format!("{ANSWER_KEY_PREFIX}{}", self.0)
    }
}

impl TryFrom<String> for FieldId {
    type Error = Reason;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        FieldId::parse(&id)
    }
}

/// Maps keyed by field id are looked up with a `&str`.
impl std::borrow::Borrow<str> for FieldId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<FieldId> for String {
    fn from(id: FieldId) -> String {
        id.0
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest repeat instance key, in bytes: [`InstanceKey::generate`] makes 20; the bound keeps
/// an answer's key well within what an error may show.
pub const MAX_INSTANCE_KEY_LEN: usize = 32;

/// The key of one instance of a repeat group (one household member): `[a-z0-9]{1,32}`.
/// Instances are ordered by key; [`InstanceKey::generate`] makes keys that sort in the order
/// they were made and that two devices never both make.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceKey(String);

impl InstanceKey {
    pub fn parse(key: &str) -> Result<InstanceKey, Reason> {
        let valid = (1..=MAX_INSTANCE_KEY_LEN).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(InstanceKey(key.to_owned()))
        } else {
            Err(Reason::InvalidInstanceKey)
        }
    }

    /// A new key: the time in milliseconds (10 base-36 digits, so keys sort by creation) then
    /// 10 random base-36 digits (about 51 bits, so two devices adding a member in the same
    /// millisecond still make different keys).
    pub fn generate(unix_millis: u64) -> InstanceKey {
        let random: u64 = rand::random::<u64>() % 36u64.pow(10);
        InstanceKey(format!(
            "{}{}",
            base36(unix_millis % 36u64.pow(10), 10),
            base36(random, 10)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("base-36 digits are ASCII")
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an answer lives after `answers.`: a field (`household_size`), or a field of one
/// instance of a repeat group (`member.<instance key>.member_age`). Repeats do not nest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnswerPath {
    text: String,
    instance: Option<(FieldId, InstanceKey)>,
    field: FieldId,
}

impl AnswerPath {
    /// Reads the part of an answer key after `answers.`. The whole key fits the sync
    /// protocol's [`MAX_FIELD_KEY_BYTES`], so every answer the model accepts can be synced.
    pub fn parse(text: &str) -> Result<AnswerPath, Reason> {
        if ANSWER_KEY_PREFIX.len() + text.len() > MAX_FIELD_KEY_BYTES {
            return Err(Reason::TooLong {
                max_chars: MAX_FIELD_KEY_BYTES,
            });
        }
        let parts: Vec<&str> = text.split('.').collect();
        let (instance, field) = match parts[..] {
            [field] => (None, FieldId::parse(field)?),
            [repeat, key, field] => (
                Some((FieldId::parse(repeat)?, InstanceKey::parse(key)?)),
                FieldId::parse(field)?,
            ),
            _ => return Err(Reason::InvalidFieldId),
        };
        Ok(AnswerPath {
            text: text.to_owned(),
            instance,
            field,
        })
    }

    /// The answer of `field` in one instance of `repeat`.
    pub fn in_instance(repeat: &FieldId, key: &InstanceKey, field: &FieldId) -> AnswerPath {
        AnswerPath {
            text: format!("{repeat}.{key}.{field}"),
            instance: Some((repeat.clone(), key.clone())),
            field: field.clone(),
        }
    }

    /// The field answered.
    pub fn field(&self) -> &FieldId {
        &self.field
    }

    /// The repeat and instance, for a field of a repeat group.
    pub fn instance(&self) -> Option<(&FieldId, &InstanceKey)> {
        self.instance.as_ref().map(|(r, k)| (r, k))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The flat key of this answer: `answers.<path>`.
    pub fn key(&self) -> String {
        format!("{ANSWER_KEY_PREFIX}{}", self.text)
    }
}

impl From<FieldId> for AnswerPath {
    fn from(field: FieldId) -> AnswerPath {
        AnswerPath {
            text: field.as_str().to_owned(),
            instance: None,
            field,
        }
    }
}

impl fmt::Display for AnswerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Checks one answer's value: any JSON at most [`MAX_ANSWER_BYTES`] long as compact JSON.
pub(crate) fn answer(value: &Value) -> Result<Value, Reason> {
    let too_large = Reason::TooLarge {
        max_bytes: MAX_ANSWER_BYTES,
    };
    let mut counter = ByteCounter {
        bytes: 0,
        limit: MAX_ANSWER_BYTES,
    };
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => Ok(value.clone()),
        Err(_) => Err(too_large),
    }
}

/// Counts bytes written, failing once past a limit so a huge value is not serialized whole.
struct ByteCounter {
    bytes: usize,
    limit: usize,
}

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        if self.bytes > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_ids_have_the_documented_form() {
        for ok in [
            "a",
            "household_size",
            "q12",
            &format!("a{}", "b".repeat(63)),
        ] {
            assert_eq!(FieldId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "1a",
            "_a",
            "A",
            "a-b",
            "a.b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(FieldId::parse(bad), Err(Reason::InvalidFieldId), "{bad:?}");
        }
        assert_eq!(FieldId::parse("q1").unwrap().key(), "answers.q1");
        let id: FieldId = serde_json::from_value(json!("q1")).unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), json!("q1"));
        assert!(serde_json::from_value::<FieldId>(json!("Q1")).is_err());
    }

    #[test]
    fn answer_paths_name_a_field_or_a_field_of_one_repeat_instance() {
        let plain = AnswerPath::parse("household_size").unwrap();
        assert_eq!(
            (plain.field().as_str(), plain.instance()),
            ("household_size", None)
        );
        let member = AnswerPath::parse("member.0k3x9q.member_age").unwrap();
        assert_eq!(member.field().as_str(), "member_age");
        let (repeat, key) = member.instance().unwrap();
        assert_eq!((repeat.as_str(), key.as_str()), ("member", "0k3x9q"));
        assert_eq!(member.key(), "answers.member.0k3x9q.member_age");
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "member..age",
            "member.K1.age",
            "member.k1.Age",
        ] {
            assert!(AnswerPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            AnswerPath::parse("member.k_1.age"),
            Err(Reason::InvalidInstanceKey)
        );
        assert!(AnswerPath::parse(&format!("m.{}.a", "k".repeat(33))).is_err());
        // The longest ids with the longest instance key would not fit a synced key.
        let long = format!("{}.{}.{}", "r".repeat(64), "k".repeat(32), "f".repeat(64));
        assert_eq!(
            AnswerPath::parse(&long),
            Err(Reason::TooLong {
                max_chars: MAX_FIELD_KEY_BYTES
            })
        );
    }

    #[test]
    fn generated_instance_keys_sort_by_time_and_differ() {
        let first = InstanceKey::generate(1_780_000_000_000);
        let same_time = InstanceKey::generate(1_780_000_000_000);
        let later = InstanceKey::generate(1_780_000_000_001);
        assert_ne!(first, same_time);
        assert!(first < later && same_time < later);
        assert_eq!(first.as_str().len(), 20);
        assert_eq!(InstanceKey::parse(first.as_str()), Ok(first));
    }

    #[test]
    fn answers_are_any_json_up_to_the_size_bound() {
        for ok in [
            json!(3),
            json!("yes"),
            json!([1, "a", null]),
            json!({"a": {"b": true}}),
        ] {
            assert_eq!(answer(&ok), Ok(ok.clone()));
        }
        // A string of n bytes serializes to n + 2 bytes (the quotes).
        let exactly = json!("x".repeat(MAX_ANSWER_BYTES - 2));
        assert!(answer(&exactly).is_ok());
        let over = json!("x".repeat(MAX_ANSWER_BYTES - 1));
        assert_eq!(
            answer(&over),
            Err(Reason::TooLarge {
                max_bytes: MAX_ANSWER_BYTES
            })
        );
        let nested = json!([["x".repeat(MAX_ANSWER_BYTES)]]);
        assert_eq!(
            answer(&nested),
            Err(Reason::TooLarge {
                max_bytes: MAX_ANSWER_BYTES
            })
        );
    }
}
