//! The many ways a workbook may spell the same thing, as pyxform reads them: column names in
//! any case and with spaces, their aliases, older type names, and form ids, field names and
//! versions that fieldcase stores in a stricter form. Everything here is pure text → text.

use crate::forms::definition::FieldType;
use crate::model::{Date, FieldId};

/// A column header in its canonical form: lower case, spaces as `_`, aliases resolved. The
/// language part after `::` keeps its case (`label::Français (fr)`).
pub(super) fn column_name(header: &str) -> String {
    let header = header.trim();
    let (base, language) = match header.split_once("::") {
        Some((b, l)) => (b, Some(l)),
        None => (header, None),
    };
    let base = base.trim().to_lowercase().replace(' ', "_");
    let base = match base.as_str() {
        "value" => "name",
        "list" => "list_name",
        "id_string" => "form_id",
        "title" => "form_title",
        "jr:constraintmsg" | "bind::jr:constraintmsg" => "constraint_message",
        "bind" => match language.map(|l| l.trim().to_lowercase()).as_deref() {
            Some("relevant") => return "relevant".into(),
            Some("constraint") => return "constraint".into(),
            Some("required") => return "required".into(),
            Some("calculate") => return "calculation".into(),
            Some("jr:constraintmsg") => return "constraint_message".into(),
            Some("fieldcase:core") => return "fieldcase::core".into(),
            _ => "bind",
        },
        "fieldcase" if language.is_some_and(|l| l.trim().eq_ignore_ascii_case("core")) => {
            return "fieldcase::core".into()
        }
        other => other,
    }
    .to_owned();
    match language {
        Some(language) => format!("{base}::{}", language.trim()),
        None => base,
    }
}

/// A name made into a fieldcase id (`[a-z][a-z0-9_]{0,63}`): accents dropped, lower case,
/// every run of other characters (`-`, `.`, spaces) one `_`, `f_` in front of a name that does
/// not start with a letter, cut to 64 characters. `None` when nothing is left.
pub(super) fn normalize_id(name: &str) -> Option<FieldId> {
    let ascii = deunicode::deunicode(name.trim()).to_ascii_lowercase();
    let mut out = String::new();
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() {
        return None;
    }
    let mut out = if out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.to_owned()
    } else {
        format!("f_{out}")
    };
    out.truncate(crate::model::answers::MAX_FIELD_ID_LEN);
    FieldId::parse(out.trim_end_matches('_')).ok()
}

/// A `version` cell as a whole number:
///
/// - a whole number from 1 is itself;
/// - a date (`2024-03-15`, or a date cell) is `YYYYMMDD00`, and a date and time
///   (`2024-03-15 10:30`) `YYYYMMDDHH` — ODK's own `yyyymmddrr` convention, so a later date is
///   a higher version and a form may move from dates to `yyyymmddrr` numbers;
/// - a dotted version (`v1.2`, `1.2.3`, `V2`) is `major × 10000 + minor × 100 + patch`, each
///   of minor and patch below 100 (`v1.2` → 10200, `v1.10` → 11000).
pub(super) fn version_number(text: &str) -> Result<u32, &'static str> {
    const WHAT: &str = "version: a whole number from 1, a date (2024-03-15) or a dotted version \
                        (v1.2, 1.2.3) with parts below 100";
    let text = text.trim();
    if let Ok(n) = text.parse::<u32>() {
        return if n >= 1 { Ok(n) } else { Err(WHAT) };
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    if let Ok(date) = Date::parse(date) {
        let hour = match time.map(|t| t.trim().split(':').next().map(str::parse::<u32>)) {
            None => 0,
            Some(Some(Ok(h))) if h < 24 => h,
            _ => return Err(WHAT),
        };
        let ymd: u32 = date
            .to_string()
            .replace('-', "")
            .parse()
            .map_err(|_| WHAT)?;
        return ymd
            .checked_mul(100)
            .and_then(|v| v.checked_add(hour))
            .ok_or(WHAT);
    }
    let dotted = text
        .strip_prefix(['v', 'V'])
        .unwrap_or(text)
        .trim_start_matches(['.', ' ']);
    let parts: Vec<&str> = dotted.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || (parts.len() == 1 && dotted == text) {
        return Err(WHAT);
    }
    let mut number: u32 = 0;
    for (i, part) in [0, 1, 2]
        .iter()
        .map(|i| parts.get(*i).copied().unwrap_or("0"))
        .enumerate()
    {
        let n: u32 = part.parse().map_err(|_| WHAT)?;
        if i > 0 && n >= 100 {
            return Err(WHAT);
        }
        number = number
            .checked_mul(100)
            .and_then(|v| v.checked_add(n))
            .ok_or(WHAT)?;
    }
    if number == 0 {
        return Err(WHAT);
    }
    Ok(number)
}

/// What a `type` cell says.
#[derive(Debug, PartialEq)]
pub(super) enum RowType {
    /// A metadata row (`start`, `today`, `deviceid`...): fieldcase records its own times and
    /// devices, so the row is read past, as pyxform-made forms are full of them.
    Metadata,
    BeginGroup,
    EndGroup,
    BeginRepeat,
    EndRepeat,
    /// `begin loop over LIST`: the questions inside, once per choice of the list.
    BeginLoop {
        list: String,
    },
    EndLoop,
    Field {
        field_type: FieldType,
        list: Option<String>,
        or_other: bool,
    },
}

/// Reads a `type` cell, in any of the spellings pyxform accepts, or says why not.
pub(super) fn row_type(cell: &str) -> Result<RowType, String> {
    let words: Vec<&str> = cell.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let whole = lower.join(" ");
    // The `add … prompt` forms of the oldest XLSForms.
    let plain = whole
        .strip_prefix("add ")
        .and_then(|w| w.strip_suffix(" prompt"))
        .unwrap_or(&whole);
    let simple = match plain {
        "" => return Err("type is empty".into()),
        "begin group" | "begin_group" => return Ok(RowType::BeginGroup),
        "end group" | "end_group" => return Ok(RowType::EndGroup),
        "begin repeat" | "begin_repeat" => return Ok(RowType::BeginRepeat),
        "end repeat" | "end_repeat" => return Ok(RowType::EndRepeat),
        "end loop" | "end_loop" => return Ok(RowType::EndLoop),
        "start" | "end" | "today" | "deviceid" | "username" | "simserial" | "subscriberid"
        | "phonenumber" | "email" | "audit" | "start-geopoint" | "imei" => {
            return Ok(RowType::Metadata)
        }
        "text" | "string" => Some(FieldType::Text),
        // pyxform's old `phone number` question is text; fieldcase adds no digit check of its
        // own (`phonenumber`, one word, is the device's number: metadata).
        "phone number" => Some(FieldType::Text),
        "integer" | "int" => Some(FieldType::Integer),
        "decimal" => Some(FieldType::Decimal),
        "date" => Some(FieldType::Date),
        "note" => Some(FieldType::Note),
        "calculate" => Some(FieldType::Calculate),
        "yes_no" => Some(FieldType::YesNo),
        "country" => Some(FieldType::Country),
        "partial_date" => Some(FieldType::PartialDate),
        _ => None,
    };
    if let Some(field_type) = simple {
        return Ok(RowType::Field {
            field_type,
            list: None,
            or_other: false,
        });
    }
    // `begin loop over LIST` (or `begin_loop over LIST`).
    let loop_words = match lower.first().map(String::as_str) {
        Some("begin") if lower.get(1).map(String::as_str) == Some("loop") => Some(2),
        Some("begin_loop") => Some(1),
        _ => None,
    };
    if let Some(skip) = loop_words {
        return match &words[skip..] {
            [over, list] if over.eq_ignore_ascii_case("over") => Ok(RowType::BeginLoop {
                list: (*list).to_owned(),
            }),
            _ => Err(format!(
                "type `{}`: write begin loop over LIST",
                words.join(" ")
            )),
        };
    }
    // Selects: the prefix names the type, the rest is the list and an optional "or other".
    const SELECTS: [(&str, FieldType); 10] = [
        ("select_one", FieldType::SelectOne),
        ("select one from", FieldType::SelectOne),
        ("select one", FieldType::SelectOne),
        ("select1", FieldType::SelectOne),
        ("add select one prompt using", FieldType::SelectOne),
        ("select_multiple", FieldType::SelectMultiple),
        ("select all that apply from", FieldType::SelectMultiple),
        ("select all that apply", FieldType::SelectMultiple),
        ("select multiple", FieldType::SelectMultiple),
        (
            "add select multiple prompt using",
            FieldType::SelectMultiple,
        ),
    ];
    for (prefix, field_type) in SELECTS {
        let prefix_words = prefix.split(' ').count();
        if lower.len() > prefix_words && lower[..prefix_words].join(" ") == prefix {
            let rest = &words[prefix_words..];
            let rest_lower = &lower[prefix_words..];
            let (list, or_other) = match rest_lower {
                [_] => (rest[0], false),
                [_, o] if o == "or_other" => (rest[0], true),
                [_, a, b, c] if [a, b, c] == ["or", "specify", "other"] => (rest[0], true),
                _ => {
                    return Err(format!(
                        "type `{}`: write {prefix} LIST, optionally followed by or_other",
                        words.join(" ")
                    ))
                }
            };
            return Ok(RowType::Field {
                field_type,
                list: Some(list.to_owned()),
                or_other,
            });
        }
    }
    if lower
        .first()
        .is_some_and(|w| w == "select_one" || w == "select_multiple")
    {
        return Err(format!("type `{whole}` needs one list name"));
    }
    let reason = match lower[0].as_str() {
        "select_one_from_file"
        | "select_multiple_from_file"
        | "select_one_external"
        | "csv-external"
        | "xml-external" => "it needs data outside the form",
        "geopoint" | "geotrace" | "geoshape" | "image" | "audio" | "video" | "file"
        | "background-audio" | "signature" | "barcode" => {
            "media and locations are not recorded in a case"
        }
        "time" | "datetime" => "times of day are not recorded in a case",
        "range" | "rank" | "acknowledge" | "hidden" | "trigger" => {
            "fieldcase has no such question type"
        }
        _ => {
            return Err(format!(
                "type `{whole}` is not an XLSForm type fieldcase knows"
            ))
        }
    };
    Err(format!("type `{whole}` is not supported: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised() {
        let id = |s: &str| normalize_id(s).map(|i| i.to_string());
        assert_eq!(
            id("Household-Screening"),
            Some("household_screening".into())
        );
        assert_eq!(id("HH.Member Age"), Some("hh_member_age".into()));
        assert_eq!(id("Évaluation 2024"), Some("evaluation_2024".into()));
        assert_eq!(id("2024_intake"), Some("f_2024_intake".into()));
        assert_eq!(id("__x__"), Some("x".into()));
        assert_eq!(id("---"), None);
        assert_eq!(id(&"a".repeat(80)).map(|s| s.len()), Some(64));
    }

    #[test]
    fn versions_map_to_whole_numbers() {
        for (text, want) in [
            ("3", Ok(3)),
            ("2024031501", Ok(2024031501)),
            ("2024-03-15", Ok(2024031500)),
            ("2024-03-15 10:30", Ok(2024031510)),
            ("2024-03-15T10:30:00", Ok(2024031510)),
            ("v1.2", Ok(10200)),
            ("V1.10", Ok(11000)),
            ("1.2.3", Ok(10203)),
            ("v2", Ok(20000)),
        ] {
            assert_eq!(version_number(text), want, "{text}");
        }
        for bad in [
            "0",
            "",
            "v",
            "1.100",
            "15/03/2024",
            "beta",
            "1.2.3.4",
            "2024-02-30",
            "v0",
        ] {
            assert!(version_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_are_canonical() {
        assert_eq!(column_name(" LABEL::EN "), "label::EN");
        assert_eq!(column_name("List Name"), "list_name");
        assert_eq!(
            column_name("Constraint Message::English (en)"),
            "constraint_message::English (en)"
        );
        assert_eq!(column_name("bind::relevant"), "relevant");
        assert_eq!(column_name("bind::fieldcase:core"), "fieldcase::core");
        assert_eq!(column_name("Choice Filter"), "choice_filter");
        assert_eq!(column_name("id_string"), "form_id");
    }

    #[test]
    fn old_spellings_of_types() {
        let select = |t, l: &str, o| {
            Ok(RowType::Field {
                field_type: t,
                list: Some(l.to_owned()),
                or_other: o,
            })
        };
        assert_eq!(
            row_type("select one from Sex"),
            select(FieldType::SelectOne, "Sex", false)
        );
        assert_eq!(
            row_type("select all that apply from needs"),
            select(FieldType::SelectMultiple, "needs", false)
        );
        assert_eq!(
            row_type("select_one yn or_other"),
            select(FieldType::SelectOne, "yn", true)
        );
        assert_eq!(
            row_type("select one from yn or specify other"),
            select(FieldType::SelectOne, "yn", true)
        );
        let text = Ok(RowType::Field {
            field_type: FieldType::Text,
            list: None,
            or_other: false,
        });
        assert_eq!(row_type("phone number"), text);
        assert_eq!(row_type("add text prompt"), text);
        assert_eq!(row_type("Begin Group"), Ok(RowType::BeginGroup));
        assert_eq!(
            row_type("Begin Loop Over hh"),
            Ok(RowType::BeginLoop { list: "hh".into() })
        );
        assert_eq!(
            row_type("begin_loop over hh"),
            Ok(RowType::BeginLoop { list: "hh".into() })
        );
        assert_eq!(row_type("end loop"), Ok(RowType::EndLoop));
        assert!(row_type("begin loop hh")
            .unwrap_err()
            .contains("begin loop over LIST"));
        assert_eq!(row_type("Begin_Repeat"), Ok(RowType::BeginRepeat));
        assert_eq!(row_type("END REPEAT"), Ok(RowType::EndRepeat));
        assert!(row_type("geopoint").unwrap_err().contains("not supported"));
        assert_eq!(row_type("today"), Ok(RowType::Metadata));
        assert_eq!(row_type("deviceid"), Ok(RowType::Metadata));
        assert!(row_type("texx")
            .unwrap_err()
            .contains("not an XLSForm type"));
        assert!(row_type("select_one")
            .unwrap_err()
            .contains("needs one list"));
    }
}
