//! Identity documents: the entries of `document_numbers`.
//!
//! An entry is `{"type": code, "number": text, "issuing_country": ISO3}`; `type` and `number`
//! are required, `issuing_country` may be absent (a caseworker may see a number without the
//! document). The number is kept as written (search folds it through
//! `crate::normalize::document_number`). A [`Document`]'s `Debug` never shows the number.

use super::codes::DocumentType;
use super::country::Country;
use super::read::{self, MAX_DOCUMENT_NUMBER_CHARS};
use super::validate::{shown_key, Collector, Reason};
use serde_json::{Map, Value};
use std::fmt;

/// One identity document.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Document {
    pub doc_type: DocumentType,
    /// As written on the document.
    pub number: String,
    pub issuing_country: Option<Country>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("doc_type", &self.doc_type)
            .field("number", &super::Redacted)
            .field("issuing_country", &self.issuing_country)
            .finish()
    }
}

impl Document {
    /// The JSON object form.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(self.doc_type.as_str()));
        object.insert("number".into(), Value::from(self.number.as_str()));
        if let Some(country) = self.issuing_country {
            object.insert("issuing_country".into(), Value::from(country.as_str()));
        }
        Value::Object(object)
    }

    /// Reads the JSON object form, recording errors against `path.type` etc.
    pub(crate) fn read(c: &mut Collector, path: &str, value: &Value) -> Option<Document> {
        let Some(object) = value.as_object() else {
            c.push(
                path,
                Reason::WrongType {
                    expected: read::AN_OBJECT,
                },
            );
            return None;
        };
        let mut ok = true;
        for key in object.keys() {
            if !matches!(key.as_str(), "type" | "number" | "issuing_country") {
                c.push(format!("{path}.{}", shown_key(key)), Reason::UnknownKey);
                ok = false;
            }
        }
        let field = |c: &mut Collector, name: &str, required: bool| {
            let field_path = format!("{path}.{name}");
            match object.get(name) {
                None | Some(Value::Null) if required => {
                    c.push(field_path, Reason::Required);
                    None
                }
                None | Some(Value::Null) => None,
                Some(v) => Some((field_path, v)),
            }
        };
        let doc_type = field(c, "type", true).and_then(|(p, v)| c.take(&p, read::code(v)));
        let number = field(c, "number", true)
            .and_then(|(p, v)| c.take(&p, read::line(v, MAX_DOCUMENT_NUMBER_CHARS)));
        let country = match field(c, "issuing_country", false) {
            Some((p, v)) => c.take(&p, read::country(v)).map(Some),
            None => Some(None),
        };
        match (doc_type, number, country) {
            (Some(doc_type), Some(number), Some(issuing_country)) if ok => Some(Document {
                doc_type,
                number,
                issuing_country,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<Document, super::super::ValidationErrors> {
        let mut c = Collector::default();
        let document = Document::read(&mut c, "d[0]", &value);
        c.finish(document).map(Option::unwrap)
    }

    #[test]
    fn documents_round_trip_through_json() {
        for value in [
            json!({"type": "passport", "number": "P1234567", "issuing_country": "UGA"}),
            json!({"type": "other", "number": "card 42"}),
        ] {
            assert_eq!(read(value.clone()).unwrap().to_value(), value);
        }
    }

    #[test]
    fn every_part_of_a_document_is_checked() {
        let errors =
            read(json!({"type": "visa", "issuing_country": "Uganda", "extra": 1})).unwrap_err();
        assert!(errors.contains(
            "d[0].type",
            &Reason::UnknownCode {
                allowed: DocumentType::CODES
            }
        ));
        assert!(errors.contains("d[0].number", &Reason::Required));
        assert!(errors.contains("d[0].issuing_country", &Reason::NotCountry));
        assert!(errors.contains("d[0].extra", &Reason::UnknownKey));
        assert_eq!(errors.len(), 4);

        let long = "1".repeat(MAX_DOCUMENT_NUMBER_CHARS + 1);
        let errors = read(json!({"type": "passport", "number": long})).unwrap_err();
        assert!(errors.contains(
            "d[0].number",
            &Reason::TooLong {
                max_chars: MAX_DOCUMENT_NUMBER_CHARS
            }
        ));
        let errors = read(json!("P123")).unwrap_err();
        assert!(errors.contains(
            "d[0]",
            &Reason::WrongType {
                expected: read::AN_OBJECT
            }
        ));
    }

    #[test]
    fn debug_hides_the_number() {
        let document = read(json!({"type": "passport", "number": "P-SECRET-99"})).unwrap();
        let debug = format!("{document:?}");
        assert!(!debug.contains("P-SECRET-99"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("Passport"),
            "{debug}"
        );
    }
}
