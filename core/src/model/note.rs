//! Narrative notes: append-only free text linked to a case.
//!
//! A caseworker's account of a meeting, a call, what the person said. A [`Note`] always has its
//! case, its text (1 to [`MAX_NOTE_CHARS`] characters, line breaks allowed), the day it was
//! written (a full date, not in the future) and its author's user id. Narratives are the most
//! sensitive text the engine holds: `Debug` never shows the text, and nothing here interprets it.

use super::date::Date;
use super::read::{self, reject_unknown_keys, required};
use super::validate::{Collector, ValidationErrors};
use super::{Fields, Redacted};
use crate::ids::RecordId;
use serde_json::Value;
use std::fmt;

pub const CASE_ID: &str = "case_id";
pub const TEXT: &str = "text";
pub const WRITTEN_ON: &str = "written_on";
pub const AUTHOR: &str = "author";

/// Every key of a note record.
pub const NOTE_KEYS: [&str; 4] = [CASE_ID, TEXT, WRITTEN_ON, AUTHOR];

/// Longest note, in characters: about ten pages, enough for a full interview account, while
/// keeping one record well within a sync batch.
pub const MAX_NOTE_CHARS: usize = 20_000;

/// One narrative note on a case.
#[derive(Clone, PartialEq)]
pub struct Note {
    case_id: RecordId,
    text: String,
    written_on: Date,
    author: String,
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("case_id", &self.case_id)
            .field("text", &Redacted)
            .field("written_on", &self.written_on)
            .field("author", &self.author)
            .finish()
    }
}

impl Note {
    /// A checked note (the date must not be in the future by the system clock).
    pub fn new(
        case_id: RecordId,
        text: String,
        written_on: Date,
        author: String,
    ) -> Result<Note, ValidationErrors> {
        let note = Note {
            case_id,
            text,
            written_on,
            author,
        };
        Note::from_fields(&note.to_fields())?;
        Ok(note)
    }

    /// Reads and validates a flat field map, taking today from the system clock (UTC).
    pub fn from_fields(fields: &Fields) -> Result<Note, ValidationErrors> {
        Note::from_fields_as_of(fields, Date::today())
    }

    /// Reads and validates a flat field map, reporting every fault.
    pub fn from_fields_as_of(fields: &Fields, today: Date) -> Result<Note, ValidationErrors> {
        let mut c = Collector::default();
        reject_unknown_keys(&mut c, fields, &NOTE_KEYS);
        let text = required(&mut c, fields, TEXT)
            .and_then(|v| c.take(TEXT, read::prose(v, MAX_NOTE_CHARS)));
        let author =
            required(&mut c, fields, AUTHOR).and_then(|v| c.take(AUTHOR, read::user_id(v)));
        let case_id =
            required(&mut c, fields, CASE_ID).and_then(|v| c.take(CASE_ID, read::record_id(v)));
        let written_on = required(&mut c, fields, WRITTEN_ON)
            .and_then(|v| c.take(WRITTEN_ON, read::full_date(v, today)));
        let note = (|| {
            Some(Note {
                case_id: case_id?,
                text: text?,
                written_on: written_on?,
                author: author?,
            })
        })();
        c.finish_some(note)
    }

    /// The flat field map; reads back to an equal note.
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        fields.insert(CASE_ID.into(), Value::from(self.case_id.to_string()));
        fields.insert(TEXT.into(), Value::from(self.text.as_str()));
        fields.insert(WRITTEN_ON.into(), Value::from(self.written_on.to_string()));
        fields.insert(AUTHOR.into(), Value::from(self.author.as_str()));
        fields
    }

    pub fn case_id(&self) -> RecordId {
        self.case_id
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn written_on(&self) -> Date {
        self.written_on
    }

    /// The author's user id.
    pub fn author(&self) -> &str {
        &self.author
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate::Reason;
    use super::*;
    use serde_json::json;

    const CASE: &str = "0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10";

    fn today() -> Date {
        Date::parse("2024-06-10").unwrap()
    }

    fn read(value: Value) -> Result<Note, ValidationErrors> {
        let fields: Fields = serde_json::from_value(value).unwrap();
        Note::from_fields_as_of(&fields, today())
    }

    #[test]
    fn notes_round_trip_and_expose_typed_values() {
        let value = json!({"case_id": CASE, "text": "Called.\n\tShe is safe.",
            "written_on": "2024-06-10", "author": "cw_17"});
        let note = read(value.clone()).unwrap();
        assert_eq!(note.case_id(), CASE.parse().unwrap());
        assert_eq!(note.text(), "Called.\n\tShe is safe.");
        assert_eq!(note.written_on(), today());
        assert_eq!(note.author(), "cw_17");
        assert_eq!(serde_json::to_value(note.to_fields()).unwrap(), value);
        assert_eq!(
            Note::from_fields_as_of(&note.to_fields(), today()),
            Ok(note)
        );
    }

    #[test]
    fn every_field_is_checked_and_all_faults_reported() {
        let errors = read(json!({"text": null})).unwrap_err();
        for key in NOTE_KEYS {
            assert_eq!(errors.reasons_for(key), [&Reason::Required], "{key}");
        }
        let errors = read(json!({"case_id": 7, "text": "", "written_on": "2024-02-30",
            "author": "a\u{7}b", "tags": []}))
        .unwrap_err();
        assert!(errors.contains(
            CASE_ID,
            &Reason::WrongType {
                expected: read::A_STRING
            }
        ));
        assert!(errors.contains(TEXT, &Reason::EmptyText));
        assert!(errors.contains(WRITTEN_ON, &Reason::ImpossibleDate));
        assert!(errors.contains(AUTHOR, &Reason::ControlCharacters));
        assert!(errors.contains("tags", &Reason::UnknownKey));
        assert_eq!(errors.len(), 5);

        let errors = read(
            json!({"case_id": CASE, "text": "x".repeat(MAX_NOTE_CHARS + 1),
            "written_on": "2024-07-01", "author": "cw"}),
        )
        .unwrap_err();
        assert!(errors.contains(
            TEXT,
            &Reason::TooLong {
                max_chars: MAX_NOTE_CHARS
            }
        ));
        assert!(errors.contains(WRITTEN_ON, &Reason::FutureDate));
        let longest = read(json!({"case_id": CASE, "text": "é".repeat(MAX_NOTE_CHARS),
            "written_on": "2024-06-01", "author": "cw"}));
        assert!(longest.is_ok());
    }

    #[test]
    fn new_checks_and_debug_hides_the_text() {
        let date = Date::parse("2024-06-01").unwrap();
        let note = Note::new(
            RecordId::new(),
            "Secretname told me".into(),
            date,
            "cw".into(),
        )
        .unwrap();
        let debug = format!("{note:?}");
        assert!(
            !debug.contains("Secretname") && debug.contains("text: <redacted>"),
            "{debug}"
        );
        assert!(Note::new(RecordId::new(), " ".into(), date, "cw".into()).is_err());
    }
}
