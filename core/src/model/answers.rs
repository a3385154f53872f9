//! Form answers: everything a form asks beyond the core variables.
//!
//! A case holds answers as `answers.<field id>` → any JSON value, one flat key per answer so
//! each answer merges on its own. This module guarantees that a [`FieldId`] has the form
//! `[a-z][a-z0-9_]{0,63}` and that no answer is larger than [`MAX_ANSWER_BYTES`]; it does not
//! check answers against a form definition (forms are their own records), and it treats every
//! answer as possibly personal, so nothing here prints one.

use super::validate::Reason;
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
