//! Reading one JSON value into a typed value: the per-value checks and their bounds.
//!
//! Each reader checks one value in isolation (its JSON type, its syntax, its bounds, whether a
//! date is in the future) and answers with the typed value or a [`Reason`]; list readers record
//! an error per bad item (`key[i]`) in a collector. Readers never copy input into a reason.
//! Rules that relate several fields live with the records (`case_rules.rs`), not here. Every
//! bound is a named constant saying why it has its value.

use super::codes::Code;
use super::country::Country;
use super::date::{Date, DateError, PartialDate};
use super::validate::{shown_key, unknown_key_reason, Collector, Reason};
use super::Fields;
use crate::ids::{AgencyCode, RecordId};
use serde_json::Value;
use std::collections::BTreeSet;

/// Longest name (`given_name`, `family_name`, each of `other_names`, `consent.guardian`), in
/// characters. Far longer than any real name with its transliteration, short enough that a
/// pasted paragraph is refused instead of landing in a name field and its search index.
pub const MAX_NAME_CHARS: usize = 200;

/// Most aliases and transliterations in `other_names`; a person seldom has more than a handful.
pub const MAX_OTHER_NAMES: usize = 20;

/// Most entries in `document_numbers`; a person seldom holds more than a handful.
pub const MAX_DOCUMENTS: usize = 20;

/// Longest document number, in characters. Passport and identity numbers are under 20; the
/// margin allows for prefixes and separators as printed.
pub const MAX_DOCUMENT_NUMBER_CHARS: usize = 64;

/// Longest `phone` text, in characters: 15 digits (E.164's maximum) with room for `+`,
/// spaces, dashes and parentheses as people write them.
pub const MAX_PHONE_CHARS: usize = 32;

/// Fewest digits in a `phone`: shorter is no reachable number, even a local one.
pub const MIN_PHONE_DIGITS: usize = 6;

/// Most digits in a `phone`: E.164 numbers have at most 15 digits.
pub const MAX_PHONE_DIGITS: usize = 15;

/// Longest `photo` attachment reference, in characters: ids and content hashes are far shorter.
pub const MAX_ATTACHMENT_REF_CHARS: usize = 256;

/// Longest user id (`assigned_to`, `recorded_by`, a note's `author`), in characters: room for
/// an e-mail address, which some agencies use as user ids.
pub const MAX_USER_ID_CHARS: usize = 128;

/// Most agencies listed in `consent.data_sharing`: more than any referral network has.
pub const MAX_AGENCIES: usize = 100;

/// Most items in a set of codes. A set holds each code at most once, and no code list is
/// this long; the bound only keeps a runaway list cheap to refuse, while shorter lists get an
/// error naming each repeated item.
pub const MAX_CODE_SET_ITEMS: usize = 64;

/// Oldest age accepted, in years (`age_estimate`, and the age a date of birth gives at intake):
/// no one alive is older, so a larger age is a typing error.
pub const MAX_AGE_YEARS: u32 = 120;

pub(crate) const A_STRING: &str = "a string";
pub(crate) const A_BOOLEAN: &str = "true or false";
pub(crate) const A_LIST: &str = "a list";
pub(crate) const AN_OBJECT: &str = "an object";

pub(crate) fn string(value: &Value) -> Result<&str, Reason> {
    value
        .as_str()
        .ok_or(Reason::WrongType { expected: A_STRING })
}

fn check_text(text: &str, max_chars: usize, multi_line: bool) -> Result<(), Reason> {
    if text.trim().is_empty() {
        return Err(Reason::EmptyText);
    }
    if text.chars().count() > max_chars {
        return Err(Reason::TooLong { max_chars });
    }
    let allowed = |c: char| !c.is_control() || (multi_line && matches!(c, '\n' | '\r' | '\t'));
    if !text.chars().all(allowed) {
        return Err(Reason::ControlCharacters);
    }
    Ok(())
}

/// Single-line text of 1 to `max_chars` characters, not blank, without control characters.
pub(crate) fn line(value: &Value, max_chars: usize) -> Result<String, Reason> {
    let text = string(value)?;
    check_text(text, max_chars, false)?;
    Ok(text.to_owned())
}

/// Text of 1 to `max_chars` characters, not blank; line breaks and tabs allowed.
pub(crate) fn prose(value: &Value, max_chars: usize) -> Result<String, Reason> {
    let text = string(value)?;
    check_text(text, max_chars, true)?;
    Ok(text.to_owned())
}

pub(crate) fn name(value: &Value) -> Result<String, Reason> {
    line(value, MAX_NAME_CHARS)
}

pub(crate) fn user_id(value: &Value) -> Result<String, Reason> {
    line(value, MAX_USER_ID_CHARS)
}

pub(crate) fn boolean(value: &Value) -> Result<bool, Reason> {
    value.as_bool().ok_or(Reason::WrongType {
        expected: A_BOOLEAN,
    })
}

pub(crate) fn code<C: Code>(value: &Value) -> Result<C, Reason> {
    C::parse(string(value)?).ok_or(Reason::UnknownCode { allowed: C::CODES })
}

pub(crate) fn country(value: &Value) -> Result<Country, Reason> {
    Country::parse(string(value)?).map_err(|_| Reason::NotCountry)
}

fn date_reason(error: DateError, expected: &'static str) -> Reason {
    match error {
        DateError::Malformed => Reason::MalformedDate { expected },
        DateError::Impossible => Reason::ImpossibleDate,
        DateError::Partial => Reason::PartialDate,
    }
}

/// A full date (`YYYY-MM-DD`) that is not in the future.
pub(crate) fn full_date(value: &Value, today: Date) -> Result<Date, Reason> {
    let date = Date::parse(string(value)?).map_err(|e| date_reason(e, "YYYY-MM-DD"))?;
    if date.is_future(today) {
        return Err(Reason::FutureDate);
    }
    Ok(date)
}

/// A full or partial date that may have begun by today.
pub(crate) fn partial_date(value: &Value, today: Date) -> Result<PartialDate, Reason> {
    let date = PartialDate::parse(string(value)?)
        .map_err(|e| date_reason(e, "YYYY-MM-DD, YYYY-MM or YYYY"))?;
    if date.earliest().is_future(today) {
        return Err(Reason::FutureDate);
    }
    Ok(date)
}

/// Whole years, 0 to [`MAX_AGE_YEARS`].
pub(crate) fn age(value: &Value) -> Result<u8, Reason> {
    let out_of_range = Reason::AgeOutOfRange {
        min: 0,
        max: MAX_AGE_YEARS,
    };
    match value {
        Value::Number(n) if n.is_u64() => match n.as_u64() {
            Some(years) if years <= u64::from(MAX_AGE_YEARS) => Ok(years as u8),
            _ => Err(out_of_range),
        },
        Value::Number(n) if n.is_i64() => Err(out_of_range),
        _ => Err(Reason::WrongType {
            expected: "a whole number of years",
        }),
    }
}

/// A phone number as written: 6 to 15 digits, with only a leading `+`, spaces, dashes and
/// parentheses besides. Kept as written; search folds it (`crate::normalize::phone`).
pub(crate) fn phone(value: &Value) -> Result<String, Reason> {
    let text = string(value)?;
    if text.trim().is_empty() {
        return Err(Reason::EmptyText);
    }
    if text.chars().count() > MAX_PHONE_CHARS {
        return Err(Reason::TooLong {
            max_chars: MAX_PHONE_CHARS,
        });
    }
    let allowed = text.char_indices().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0)
    });
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if !allowed || !(MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits) {
        return Err(Reason::InvalidPhone);
    }
    Ok(text.to_owned())
}

pub(crate) fn agency(value: &Value) -> Result<AgencyCode, Reason> {
    AgencyCode::parse(string(value)?).map_err(|_| Reason::InvalidAgencyCode)
}

/// A record id in its canonical hyphenated form (any case of hex digits).
pub(crate) fn record_id(value: &Value) -> Result<RecordId, Reason> {
    let text = string(value)?;
    let hyphenated = text.len() == 36
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    if !hyphenated {
        return Err(Reason::InvalidRecordId);
    }
    text.parse().map_err(|_| Reason::InvalidRecordId)
}

/// The value of a required field of a record, or `None` after recording it missing.
pub(crate) fn required<'a>(c: &mut Collector, fields: &'a Fields, key: &str) -> Option<&'a Value> {
    match fields.get(key) {
        None | Some(Value::Null) => {
            c.push(key, Reason::Required);
            None
        }
        Some(value) => Some(value),
    }
}

/// The value of an optional field of a record (`None` when absent or null).
pub(crate) fn optional<'a>(fields: &'a Fields, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|v| !v.is_null())
}

/// Records an error for each key of `fields` that is not in `known`.
pub(crate) fn reject_unknown_keys(c: &mut Collector, fields: &Fields, known: &[&'static str]) {
    for key in fields.keys().filter(|k| !known.contains(&k.as_str())) {
        c.push(shown_key(key), unknown_key_reason(key, known));
    }
}

/// The field name of item `index` of `key`.
pub(crate) fn item_path(key: &str, index: usize) -> String {
    format!("{key}[{index}]")
}

/// Whether an item is blank: null, or text that is empty or only spaces.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Reads a JSON list of at most `max_items`, each item with `item` (which records its own
/// errors against the path it is given). Blank items are [`Reason::EmptyItem`]. Returns the
/// items that were read with their indexes, and whether everything was valid.
fn items<T>(
    c: &mut Collector,
    key: &str,
    value: &Value,
    max_items: usize,
    mut item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> (Vec<(usize, T)>, bool) {
    let Some(values) = value.as_array() else {
        c.push(key, Reason::WrongType { expected: A_LIST });
        return (Vec::new(), false);
    };
    if values.len() > max_items {
        c.push(key, Reason::TooManyItems { max_items });
        return (Vec::new(), false);
    }
    let mut ok = true;
    let mut read = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let path = item_path(key, i);
        if is_blank(v) {
            c.push(path, Reason::EmptyItem);
            ok = false;
            continue;
        }
        match item(c, &path, v) {
            Some(t) => read.push((i, t)),
            None => ok = false,
        }
    }
    (read, ok)
}

/// A list, order kept, duplicates allowed.
pub(crate) fn list<T>(
    c: &mut Collector,
    key: &str,
    value: &Value,
    max_items: usize,
    item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> Option<Vec<T>> {
    let (read, ok) = items(c, key, value, max_items, item);
    ok.then(|| read.into_iter().map(|(_, t)| t).collect())
}

/// A list whose items must be distinct, order kept; each repeat is [`Reason::DuplicateItem`].
pub(crate) fn unique_list<T: Ord + Clone>(
    c: &mut Collector,
    key: &str,
    value: &Value,
    max_items: usize,
    item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> Option<Vec<T>> {
    let (read, mut ok) = items(c, key, value, max_items, item);
    let mut seen = BTreeSet::new();
    for (i, t) in &read {
        if !seen.insert(t.clone()) {
            c.push(item_path(key, *i), Reason::DuplicateItem);
            ok = false;
        }
    }
    ok.then(|| read.into_iter().map(|(_, t)| t).collect())
}

/// A set: a list whose items must be distinct, kept in the items' order.
pub(crate) fn set<T: Ord + Clone>(
    c: &mut Collector,
    key: &str,
    value: &Value,
    max_items: usize,
    item: impl FnMut(&mut Collector, &str, &Value) -> Option<T>,
) -> Option<BTreeSet<T>> {
    unique_list(c, key, value, max_items, item).map(|items| items.into_iter().collect())
}

/// A set of codes (at most one of each code).
pub(crate) fn code_set<C: Code>(
    c: &mut Collector,
    key: &str,
    value: &Value,
) -> Option<BTreeSet<C>> {
    set(c, key, value, MAX_CODE_SET_ITEMS, |c, path, v| {
        c.take(path, code::<C>(v))
    })
}

#[cfg(test)]
mod tests {
    use super::super::codes::Sex;
    use super::*;
    use serde_json::json;

    fn today() -> Date {
        Date::parse("2024-06-10").unwrap()
    }

    #[test]
    fn text_is_bounded_non_blank_and_free_of_control_characters() {
        assert_eq!(name(&json!("Amina")), Ok("Amina".to_owned()));
        assert_eq!(name(&json!("  ")), Err(Reason::EmptyText));
        assert_eq!(name(&json!("")), Err(Reason::EmptyText));
        assert_eq!(
            name(&json!(7)),
            Err(Reason::WrongType { expected: A_STRING })
        );
        let long = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            name(&json!(long)),
            Err(Reason::TooLong {
                max_chars: MAX_NAME_CHARS
            })
        );
        assert!(
            name(&json!("é".repeat(MAX_NAME_CHARS))).is_ok(),
            "bound is characters"
        );
        assert_eq!(name(&json!("a\nb")), Err(Reason::ControlCharacters));
        assert_eq!(prose(&json!("a\nb\tc"), 10), Ok("a\nb\tc".to_owned()));
        assert_eq!(prose(&json!("a\u{0}b"), 10), Err(Reason::ControlCharacters));
    }

    #[test]
    fn phones_need_6_to_15_digits_and_only_phone_punctuation() {
        for ok in [
            "+256 700 123456",
            "(0772) 12-34-56",
            "123456",
            "+123456789012345",
        ] {
            assert_eq!(phone(&json!(ok)), Ok(ok.to_owned()), "{ok}");
        }
        for bad in [
            "12345",
            "+1234567890123456",
            "0772 ext 5",
            "0772+123456",
            "07.72.12.34",
            "tel",
        ] {
            assert_eq!(phone(&json!(bad)), Err(Reason::InvalidPhone), "{bad}");
        }
        assert_eq!(phone(&json!(" ")), Err(Reason::EmptyText));
        assert_eq!(
            phone(&json!("1 ".repeat(20))),
            Err(Reason::TooLong {
                max_chars: MAX_PHONE_CHARS
            })
        );
    }

    #[test]
    fn ages_are_whole_years_up_to_the_maximum() {
        assert_eq!(age(&json!(0)), Ok(0));
        assert_eq!(age(&json!(120)), Ok(120));
        let out = Reason::AgeOutOfRange {
            min: 0,
            max: MAX_AGE_YEARS,
        };
        assert_eq!(age(&json!(121)), Err(out.clone()));
        assert_eq!(age(&json!(-1)), Err(out));
        assert!(matches!(age(&json!(12.5)), Err(Reason::WrongType { .. })));
        assert!(matches!(age(&json!("12")), Err(Reason::WrongType { .. })));
    }

    #[test]
    fn dates_say_what_is_wrong_with_them() {
        assert_eq!(full_date(&json!("2024-06-10"), today()), Ok(today()));
        assert_eq!(
            full_date(&json!("10/06/2024"), today()),
            Err(Reason::MalformedDate {
                expected: "YYYY-MM-DD"
            })
        );
        assert_eq!(
            full_date(&json!("2023-02-30"), today()),
            Err(Reason::ImpossibleDate)
        );
        assert_eq!(
            full_date(&json!("2024-06"), today()),
            Err(Reason::PartialDate)
        );
        assert_eq!(
            full_date(&json!("2024-06-12"), today()),
            Err(Reason::FutureDate)
        );
        assert_eq!(
            partial_date(&json!("2024"), today()),
            Ok(PartialDate::Year(2024))
        );
        assert_eq!(
            partial_date(&json!("2024-07"), today()),
            Err(Reason::FutureDate)
        );
        assert_eq!(
            partial_date(&json!("2024-13"), today()),
            Err(Reason::ImpossibleDate)
        );
    }

    #[test]
    fn ids_codes_and_countries_are_checked() {
        assert!(record_id(&json!("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10")).is_ok());
        assert_eq!(
            record_id(&json!("0190a6f87e1c7cc38a5b3f1f2f9e4b10")),
            Err(Reason::InvalidRecordId)
        );
        assert_eq!(
            record_id(&json!("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4bzz")),
            Err(Reason::InvalidRecordId)
        );
        assert_eq!(agency(&json!("IOM")), Err(Reason::InvalidAgencyCode));
        assert_eq!(
            code::<Sex>(&json!("f")),
            Err(Reason::UnknownCode {
                allowed: Sex::CODES
            })
        );
        assert_eq!(country(&json!("Uganda")), Err(Reason::NotCountry));
        assert_eq!(
            boolean(&json!("yes")),
            Err(Reason::WrongType {
                expected: A_BOOLEAN
            })
        );
    }

    #[test]
    fn lists_report_each_bad_item_and_sets_each_repeat() {
        let mut c = Collector::default();
        let v = json!(["female", "", "x", "female", null]);
        assert_eq!(code_set::<Sex>(&mut c, "k", &v), None);
        let errors = c.finish(()).unwrap_err();
        assert!(errors.contains("k[1]", &Reason::EmptyItem));
        assert!(errors.contains(
            "k[2]",
            &Reason::UnknownCode {
                allowed: Sex::CODES
            }
        ));
        assert!(errors.contains("k[3]", &Reason::DuplicateItem));
        assert!(errors.contains("k[4]", &Reason::EmptyItem));
        assert_eq!(errors.len(), 4);

        let mut c = Collector::default();
        assert_eq!(code_set::<Sex>(&mut c, "k", &json!("female")), None);
        let too_many = json!(["a", "b", "c"]);
        assert_eq!(
            list(&mut c, "l", &too_many, 2, |c, p, v| c.take(p, name(v))),
            None
        );
        let errors = c.finish(()).unwrap_err();
        assert!(errors.contains("k", &Reason::WrongType { expected: A_LIST }));
        assert!(errors.contains("l", &Reason::TooManyItems { max_items: 2 }));

        let mut c = Collector::default();
        let names = json!(["a", "a"]);
        let read = list(&mut c, "l", &names, 5, |c, p, v| c.take(p, name(v)));
        assert_eq!(
            read,
            Some(vec!["a".to_owned(), "a".to_owned()]),
            "lists allow repeats"
        );
    }
}
