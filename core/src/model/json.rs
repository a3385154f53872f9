//! The nested JSON form of a record, as imports and the HTTP API write it.
//!
//! The nested form has the same keys as [`Fields`] except that consent is an object
//! (`"consent": {"assistance": {...}, "data_sharing": [...], "research": true, "guardian": "..."}`)
//! and answers are an object (`"answers": {"<field id>": value}`), as are the form versions the
//! answers were recorded with (`"forms": {"<form id>": version}`). [`flatten_json`] and
//! [`nest_fields`] convert between the two forms and are inverse on what they accept. They check
//! structure only (that the nested parts are objects with known parts); values are checked by the
//! records that read the fields. Nulls are kept (a null means "absent", or "clear" in a change),
//! except that a null `consent` or `answers` object stands for no parts at all.

use super::answers::ANSWER_KEY_PREFIX;
use super::keys::{CONSENT_PARTS, CONSENT_PREFIX};
use super::read::AN_OBJECT;
use super::validate::{shown_key, Collector, Reason, ValidationErrors};
use super::Fields;
use crate::forms::FORM_KEY_PREFIX;
use serde_json::{Map, Value};

const CONSENT: &str = "consent";
const ANSWERS: &str = "answers";
const FORMS: &str = "forms";

/// The flat fields of a record in nested JSON form.
///
/// Errors for a value that is not an object, a `consent` or `answers` that is not an object, an
/// unknown consent part, and a top-level key with a `.` (flat keys belong to the flat form).
/// Other unknown keys pass through for the record to refuse.
pub fn flatten_json(value: &Value) -> Result<Fields, ValidationErrors> {
    let mut c = Collector::default();
    let fields = flatten(&mut c, value);
    c.finish(fields)
}

/// [`flatten_json`], recording errors in `c` and returning what could be flattened.
pub(crate) fn flatten(c: &mut Collector, value: &Value) -> Fields {
    let mut fields = Fields::new();
    let Some(object) = value.as_object() else {
        c.push(
            "record",
            Reason::WrongType {
                expected: AN_OBJECT,
            },
        );
        return fields;
    };
    for (key, value) in object {
        match key.as_str() {
            CONSENT => flatten_part(c, &mut fields, CONSENT, value, |part| {
                CONSENT_PARTS.contains(&part)
            }),
            ANSWERS => flatten_part(c, &mut fields, ANSWERS, value, |_| true),
            FORMS => flatten_part(c, &mut fields, FORMS, value, |_| true),
            _ if key.contains('.') => c.push(shown_key(key), Reason::UnknownKey),
            _ => {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    fields
}

/// Moves the parts of the object `value` under `name` to flat keys `name.part`.
fn flatten_part(
    c: &mut Collector,
    fields: &mut Fields,
    name: &str,
    value: &Value,
    known: impl Fn(&str) -> bool,
) {
    let parts = match value {
        Value::Null => return,
        Value::Object(parts) => parts,
        _ => {
            return c.push(
                name,
                Reason::WrongType {
                    expected: AN_OBJECT,
                },
            )
        }
    };
    for (part, value) in parts {
        let key = format!("{name}.{part}");
        if known(part) {
            fields.insert(key, value.clone());
        } else {
            c.push(shown_key(&key), Reason::UnknownKey);
        }
    }
}

/// The nested JSON form of flat fields: `consent.*` and `answers.*` keys gathered into objects.
pub fn nest_fields(fields: &Fields) -> Value {
    let mut object = Map::new();
    let mut consent = Map::new();
    let mut answers = Map::new();
    let mut forms = Map::new();
    for (key, value) in fields {
        if let Some(part) = key.strip_prefix(CONSENT_PREFIX) {
            consent.insert(part.to_owned(), value.clone());
        } else if let Some(id) = key.strip_prefix(ANSWER_KEY_PREFIX) {
            answers.insert(id.to_owned(), value.clone());
        } else if let Some(id) = key.strip_prefix(FORM_KEY_PREFIX) {
            forms.insert(id.to_owned(), value.clone());
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    if !consent.is_empty() {
        object.insert(CONSENT.to_owned(), Value::Object(consent));
    }
    if !answers.is_empty() {
        object.insert(ANSWERS.to_owned(), Value::Object(answers));
    }
    if !forms.is_empty() {
        object.insert(FORMS.to_owned(), Value::Object(forms));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nesting_and_flattening_are_inverse() {
        let nested = json!({
            "given_name": "Amina",
            "sex": null,
            "consent": {"research": true, "data_sharing": "none", "guardian": null},
            "answers": {"q1": 3, "q2": {"a": [1]}},
        });
        let flat = flatten_json(&nested).unwrap();
        let expected: Fields = serde_json::from_value(json!({
            "given_name": "Amina",
            "sex": null,
            "consent.research": true,
            "consent.data_sharing": "none",
            "consent.guardian": null,
            "answers.q1": 3,
            "answers.q2": {"a": [1]},
        }))
        .unwrap();
        assert_eq!(flat, expected);
        assert_eq!(nest_fields(&flat), nested);
    }

    #[test]
    fn null_parts_are_no_parts() {
        let flat = flatten_json(&json!({"consent": null, "answers": null})).unwrap();
        assert!(flat.is_empty());
        assert_eq!(nest_fields(&Fields::new()), json!({}));
    }

    #[test]
    fn structure_errors_name_the_place() {
        let errors = flatten_json(&json!({
            "consent": {"assistance": null, "marketing": true},
            "answers": [1],
            "consent.research": true,
            "id": "x",
        }))
        .unwrap_err();
        assert!(errors.contains("consent.marketing", &Reason::UnknownKey));
        assert!(errors.contains(
            "answers",
            &Reason::WrongType {
                expected: AN_OBJECT
            }
        ));
        assert!(errors.contains("consent.research", &Reason::UnknownKey));
        assert_eq!(
            errors.len(),
            3,
            "other unknown keys are for the record to refuse"
        );

        let errors = flatten_json(&json!(["not", "an", "object"])).unwrap_err();
        assert!(errors.contains(
            "record",
            &Reason::WrongType {
                expected: AN_OBJECT
            }
        ));
        let errors = flatten_json(&json!({"consent": "yes"})).unwrap_err();
        assert!(errors.contains(
            "consent",
            &Reason::WrongType {
                expected: AN_OBJECT
            }
        ));
    }
}
