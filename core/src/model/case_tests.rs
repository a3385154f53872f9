//! Tests of reading and writing a case: every core variable, every per-value reason, both
//! forms, search values and redaction. The rules between fields are tested in `case_rules.rs`.

use super::*;
use crate::model::answers::MAX_ANSWER_BYTES;
use crate::model::read::{self as r, MAX_NAME_CHARS};
use crate::model::validate::MASKED_KEY;
use serde_json::json;

fn today() -> Date {
    Date::parse("2024-06-10").unwrap()
}

fn fields(value: Value) -> Fields {
    serde_json::from_value(value).unwrap()
}

fn read(value: Value) -> Result<Case, ValidationErrors> {
    Case::from_fields_as_of(&fields(value), today())
}

/// A case with every core variable and two answers, in flat form.
fn full() -> Value {
    json!({
        "given_name": "Amina",
        "family_name": "Haile",
        "other_names": ["Amna", "Ameena"],
        "date_of_birth": "1998-03",
        "age_estimate": 25,
        "age_estimated_on": "2023-11-02",
        "phone": "+256 700 123456",
        "document_numbers": [
            {"type": "passport", "number": "EP1234567", "issuing_country": "ERI"},
            {"type": "other", "number": "UNHCR-77"},
        ],
        "photo": "att:0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10",
        "sex": "female",
        "nationality": "ERI",
        "country_of_assistance": "UGA",
        "intake_date": "2023-11-02",
        "categories": ["victim_of_trafficking", "health_needs"],
        "programme": "direct_assistance",
        "exploitation_types": ["sexual", "labour"],
        "labour_sectors": ["domestic_work"],
        "trafficking_type": "international",
        "country_of_destination": "SAU",
        "host_country": "SAU",
        "return_date": "2023-10-20",
        "reintegration_assistance": ["vocational_training", "medical", "psychosocial"],
        "consent.assistance": {"given": true, "date": "2023-11-02", "recorded_by": "cw_17"},
        "consent.data_sharing": ["iom_eri", "iom_uga"],
        "consent.research": true,
        "consent.guardian": "Not needed but recorded",
        "status": "closed",
        "closure_reason": "assistance_completed",
        "risk_level": "high",
        "assigned_to": "cw_17",
        "answers.household_size": 4,
        "answers.recruitment": {"how": "agency", "paid": [true, 300.5]},
    })
}

/// The same case in nested form.
fn full_nested() -> Value {
    let mut nested = full();
    let object = nested.as_object_mut().unwrap();
    let mut consent = serde_json::Map::new();
    let mut answers = serde_json::Map::new();
    for key in object.keys().cloned().collect::<Vec<_>>() {
        if let Some(part) = key.strip_prefix("consent.") {
            consent.insert(part.into(), object.remove(&key).unwrap());
        } else if let Some(id) = key.strip_prefix("answers.") {
            answers.insert(id.into(), object.remove(&key).unwrap());
        }
    }
    object.insert("consent".into(), Value::Object(consent));
    object.insert("answers".into(), Value::Object(answers));
    nested
}

#[test]
fn every_core_variable_is_read_typed() {
    let case = read(full()).unwrap();
    assert_eq!(case.given_name.as_deref(), Some("Amina"));
    assert_eq!(case.other_names, ["Amna", "Ameena"]);
    assert_eq!(case.date_of_birth, Some(PartialDate::Month(1998, 3)));
    assert_eq!(case.age_estimate, Some(25));
    assert_eq!(case.document_numbers[0].doc_type, DocumentType::Passport);
    assert_eq!(case.document_numbers[1].issuing_country, None);
    assert_eq!(case.sex, Some(Sex::Female));
    assert_eq!(case.nationality.map(Country::as_str), Some("ERI"));
    assert_eq!(
        case.categories.iter().copied().collect::<Vec<_>>(),
        [Category::VictimOfTrafficking, Category::HealthNeeds]
    );
    assert_eq!(case.programme, Some(Programme::DirectAssistance));
    assert!(case.exploitation_types.contains(&ExploitationType::Labour));
    assert_eq!(case.trafficking_type, Some(TraffickingType::International));
    assert_eq!(case.return_date, Some(Date::parse("2023-10-20").unwrap()));
    assert_eq!(case.consent.research, Some(true));
    assert!(matches!(&case.consent.data_sharing, Some(DataSharing::Agencies(a)) if a.len() == 2));
    assert_eq!(
        case.closure_reason,
        Some(ClosureReason::AssistanceCompleted)
    );
    assert_eq!(case.risk_level, Some(RiskLevel::High));
    assert_eq!(case.answers.len(), 2);
    assert_eq!(case.status_code(), "closed");
}

#[test]
fn flat_and_nested_forms_round_trip() {
    let case = read(full()).unwrap();
    assert_eq!(
        case.to_fields(),
        fields(full()),
        "canonical input comes back as it was"
    );
    assert_eq!(
        Case::from_fields_as_of(&case.to_fields(), today()).unwrap(),
        case
    );
    assert_eq!(case.to_json(), full_nested());
    assert_eq!(
        Case::from_json_as_of(&full_nested(), today()).unwrap(),
        case
    );
    assert_eq!(
        Case::from_json_as_of(&case.to_json(), today()).unwrap(),
        case
    );
    assert!(case.validate_as_of(today()).is_ok());
    assert!(case.validate().is_ok(), "the system clock is after 2023");
}

#[test]
fn the_empty_case_is_valid_and_open() {
    let case = read(json!({})).unwrap();
    assert_eq!(case, Case::default());
    assert!(case.to_fields().is_empty());
    assert_eq!(case.to_json(), json!({}));
    assert_eq!(case.status_code(), "open");
    assert_eq!(
        Case {
            status: Some(Status::Active),
            ..case
        }
        .status_code(),
        "active"
    );
}

#[test]
fn null_and_empty_sets_mean_absent() {
    let mut all_null = serde_json::Map::new();
    for key in crate::model::keys::CASE_KEYS {
        all_null.insert(key.into(), Value::Null);
    }
    all_null.insert("answers.q1".into(), Value::Null);
    assert_eq!(read(Value::Object(all_null)).unwrap(), Case::default());
    let empty = json!({"other_names": [], "document_numbers": [], "categories": [],
        "reintegration_assistance": []});
    assert_eq!(read(empty).unwrap(), Case::default());
}

#[test]
fn sets_are_written_in_code_order_whatever_order_they_came_in() {
    let case = read(json!({"categories": ["other_vulnerable", "stranded_migrant"]})).unwrap();
    assert_eq!(
        case.to_fields()["categories"],
        json!(["stranded_migrant", "other_vulnerable"])
    );
}

/// One bad value per reason a single value can have, with where the error must point.
#[test]
fn every_value_reason_names_its_field() {
    let cases: Vec<(&str, Value, &str, Reason)> = vec![
        (
            "sex",
            json!("f"),
            "sex",
            Reason::UnknownCode {
                allowed: Sex::CODES,
            },
        ),
        (
            "programme",
            json!("avr"),
            "programme",
            Reason::UnknownCode {
                allowed: Programme::CODES,
            },
        ),
        (
            "status",
            json!("Closed"),
            "status",
            Reason::UnknownCode {
                allowed: Status::CODES,
            },
        ),
        (
            "risk_level",
            json!("urgent"),
            "risk_level",
            Reason::UnknownCode {
                allowed: RiskLevel::CODES,
            },
        ),
        (
            "trafficking_type",
            json!("cross_border"),
            "trafficking_type",
            Reason::UnknownCode {
                allowed: TraffickingType::CODES,
            },
        ),
        (
            "closure_reason",
            json!("done"),
            "closure_reason",
            Reason::UnknownCode {
                allowed: ClosureReason::CODES,
            },
        ),
        (
            "categories",
            json!(["refugee"]),
            "categories[0]",
            Reason::UnknownCode {
                allowed: Category::CODES,
            },
        ),
        (
            "exploitation_types",
            json!(["sexual", "sexual"]),
            "exploitation_types[1]",
            Reason::DuplicateItem,
        ),
        (
            "labour_sectors",
            json!(["fishing", ""]),
            "labour_sectors[1]",
            Reason::EmptyItem,
        ),
        (
            "reintegration_assistance",
            json!("medical"),
            "reintegration_assistance",
            Reason::WrongType {
                expected: r::A_LIST,
            },
        ),
        (
            "nationality",
            json!("ER"),
            "nationality",
            Reason::NotCountry,
        ),
        (
            "country_of_assistance",
            json!("uga"),
            "country_of_assistance",
            Reason::NotCountry,
        ),
        (
            "country_of_destination",
            json!(566),
            "country_of_destination",
            Reason::WrongType {
                expected: r::A_STRING,
            },
        ),
        (
            "host_country",
            json!("Saudi Arabia"),
            "host_country",
            Reason::NotCountry,
        ),
        (
            "intake_date",
            json!("02/11/2023"),
            "intake_date",
            Reason::MalformedDate {
                expected: "YYYY-MM-DD",
            },
        ),
        (
            "intake_date",
            json!("2023-02-30"),
            "intake_date",
            Reason::ImpossibleDate,
        ),
        (
            "intake_date",
            json!("2023-11"),
            "intake_date",
            Reason::PartialDate,
        ),
        (
            "intake_date",
            json!("2024-06-12"),
            "intake_date",
            Reason::FutureDate,
        ),
        (
            "return_date",
            json!("2023"),
            "return_date",
            Reason::PartialDate,
        ),
        (
            "age_estimated_on",
            json!("2023-13-01"),
            "age_estimated_on",
            Reason::ImpossibleDate,
        ),
        (
            "date_of_birth",
            json!("1998-3"),
            "date_of_birth",
            Reason::MalformedDate {
                expected: "YYYY-MM-DD, YYYY-MM or YYYY",
            },
        ),
        (
            "date_of_birth",
            json!("1998-13"),
            "date_of_birth",
            Reason::ImpossibleDate,
        ),
        (
            "date_of_birth",
            json!("2025"),
            "date_of_birth",
            Reason::FutureDate,
        ),
        (
            "age_estimate",
            json!(121),
            "age_estimate",
            Reason::AgeOutOfRange { min: 0, max: 120 },
        ),
        (
            "age_estimate",
            json!("25"),
            "age_estimate",
            Reason::WrongType {
                expected: "a whole number of years",
            },
        ),
        (
            "given_name",
            json!("x".repeat(MAX_NAME_CHARS + 1)),
            "given_name",
            Reason::TooLong {
                max_chars: MAX_NAME_CHARS,
            },
        ),
        ("family_name", json!(""), "family_name", Reason::EmptyText),
        (
            "family_name",
            json!("Haile\nAmina"),
            "family_name",
            Reason::ControlCharacters,
        ),
        (
            "other_names",
            json!(["Amna", " "]),
            "other_names[1]",
            Reason::EmptyItem,
        ),
        (
            "other_names",
            json!(vec!["a"; 21]),
            "other_names",
            Reason::TooManyItems { max_items: 20 },
        ),
        ("phone", json!("0772"), "phone", Reason::InvalidPhone),
        (
            "document_numbers",
            json!([{"type": "visa", "number": "1"}]),
            "document_numbers[0].type",
            Reason::UnknownCode {
                allowed: DocumentType::CODES,
            },
        ),
        (
            "document_numbers",
            json!([{"type": "passport", "number": "1", "issuing_country": "XX"}]),
            "document_numbers[0].issuing_country",
            Reason::NotCountry,
        ),
        (
            "document_numbers",
            json!([{"type": "passport"}]),
            "document_numbers[0].number",
            Reason::Required,
        ),
        (
            "document_numbers",
            json!([{"type": "passport", "number": "1"},
            {"type": "passport", "number": "1"}]),
            "document_numbers[1]",
            Reason::DuplicateItem,
        ),
        (
            "photo",
            json!(42),
            "photo",
            Reason::WrongType {
                expected: r::A_STRING,
            },
        ),
        (
            "consent.research",
            json!("yes"),
            "consent.research",
            Reason::WrongType {
                expected: r::A_BOOLEAN,
            },
        ),
        (
            "consent.data_sharing",
            json!([]),
            "consent.data_sharing",
            Reason::EmptyList,
        ),
        (
            "consent.data_sharing",
            json!(["IOM"]),
            "consent.data_sharing[0]",
            Reason::InvalidAgencyCode,
        ),
        (
            "consent.assistance",
            json!({"given": true, "date": "2024-06-01"}),
            "consent.assistance.recorded_by",
            Reason::Required,
        ),
        (
            "consent.guardian",
            json!(["Mother"]),
            "consent.guardian",
            Reason::WrongType {
                expected: r::A_STRING,
            },
        ),
        (
            "assigned_to",
            json!("x".repeat(129)),
            "assigned_to",
            Reason::TooLong { max_chars: 128 },
        ),
        (
            "answers.q1",
            json!("x".repeat(MAX_ANSWER_BYTES)),
            "answers.q1",
            Reason::TooLarge {
                max_bytes: MAX_ANSWER_BYTES,
            },
        ),
        ("answers.q-1", json!(1), MASKED_KEY, Reason::InvalidFieldId),
        ("answers.", json!(1), "answers.", Reason::InvalidFieldId),
        (
            "nationalty",
            json!("ERI"),
            "nationalty",
            Reason::UnknownKeyNear {
                near: vec!["nationality"],
            },
        ),
        ("Given Name", json!("Amina"), MASKED_KEY, Reason::UnknownKey),
        (
            "id",
            json!("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10"),
            "id",
            Reason::UnknownKey,
        ),
    ];
    for (key, value, field, reason) in cases {
        // Consent is recorded so that identifying fields raise only their own error.
        let consent = json!({"given": false, "date": "2024-06-01", "recorded_by": "cw"});
        let mut input = json!({ key: value });
        if !key.starts_with("consent.") {
            input["consent.assistance"] = consent;
        }
        let errors = read(input).expect_err(key);
        assert_eq!(errors.reasons_for(field), [&reason], "{key}: {errors}");
        assert_eq!(errors.len(), 1, "{key}: {errors}");
    }
}

#[test]
fn all_faults_are_reported_together() {
    let errors = read(json!({
        "sex": "f", "nationality": "Eritrea", "intake_date": "2023-02-30", "phone": "12",
        "status": "closed", "given_name": "", "color": "red",
    }))
    .unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|e| e.key()).collect();
    for key in [
        "sex",
        "nationality",
        "intake_date",
        "phone",
        "closure_reason",
        "given_name",
        "color",
        "consent.assistance",
    ] {
        assert!(keys.contains(&key), "{key} missing from {errors}");
    }
    assert_eq!(errors.len(), 8, "{errors}");
}

#[test]
fn from_json_refuses_flat_keys_and_ids() {
    let errors =
        Case::from_json_as_of(&json!({"id": "x", "consent.research": true}), today()).unwrap_err();
    assert!(errors.contains("id", &Reason::UnknownKey));
    assert!(errors.contains("consent.research", &Reason::UnknownKey));
    let errors = Case::from_json_as_of(&json!({"answers": {"Bad": 1}}), today()).unwrap_err();
    assert!(errors.contains(MASKED_KEY, &Reason::InvalidFieldId));
}

#[test]
fn merged_state_that_breaks_a_rule_still_parses() {
    let merged = fields(json!({"status": "active", "closure_reason": "transferred"}));
    let case = Case::parse_fields_as_of(&merged, today()).unwrap();
    assert_eq!(case.closure_reason, Some(ClosureReason::Transferred));
    let errors = case.check_rules().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(Case::from_fields_as_of(&merged, today()).is_err());
    let bad_value = fields(json!({"status": "reopened"}));
    assert!(Case::parse_fields_as_of(&bad_value, today()).is_err());
    assert!(Case::parse_fields(&bad_value).is_err());
}

#[test]
fn validate_checks_a_hand_built_case() {
    let mut case = Case {
        given_name: Some("x".repeat(MAX_NAME_CHARS + 1)),
        ..Case::default()
    };
    let errors = case.validate_as_of(today()).unwrap_err();
    assert!(errors.contains(
        "given_name",
        &Reason::TooLong {
            max_chars: MAX_NAME_CHARS
        }
    ));
    assert!(errors.contains(
        "consent.assistance",
        &Reason::RequiredWhen(case_rules::IDENTIFYING_DATA)
    ));
    case.given_name = None;
    assert!(case.validate_as_of(today()).is_ok());
}

#[test]
fn search_values_are_the_raw_text() {
    let case = read(full()).unwrap();
    assert_eq!(case.search_names(), ["Amina", "Haile", "Amna", "Ameena"]);
    assert_eq!(case.search_phones(), ["+256 700 123456"]);
    assert_eq!(case.search_documents(), ["EP1234567", "UNHCR-77"]);
    let anonymous = Case::default();
    assert!(anonymous.search_names().is_empty());
    assert!(anonymous.search_phones().is_empty() && anonymous.search_documents().is_empty());
}

#[test]
fn debug_redacts_identity_guardian_and_answers() {
    let case = read(full()).unwrap();
    let debug = format!("{case:?}");
    for secret in [
        "Amina",
        "Haile",
        "Amna",
        "Ameena",
        "1998",
        "700 123456",
        "EP1234567",
        "UNHCR-77",
        "att:",
        "Not needed",
        "agency",
        "300.5",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("given_name: <redacted>"), "{debug}");
    assert!(debug.contains("other_names: <2 redacted>"), "{debug}");
    assert!(
        debug.contains("household_size"),
        "answer ids are not personal: {debug}"
    );
    assert!(debug.contains("Female") && debug.contains("ERI"), "{debug}");
    let pretty = format!("{case:#?}");
    assert!(!pretty.contains("Amina"));
    assert!(format!("{:?}", Case::default()).contains("given_name: None"));
}

#[test]
fn an_unknown_key_names_the_field_it_is_close_to_and_nothing_from_a_value() {
    let mut value = full();
    value["natonality"] = json!("UGA");
    value["date_of_brith"] = json!("1990-01-01");
    value["favourite_colour"] = json!("blue");
    value["Amina Yusuf"] = json!("x");
    let errors = read(value).unwrap_err();
    assert!(errors.contains(
        "natonality",
        &Reason::UnknownKeyNear {
            near: vec!["nationality"]
        }
    ));
    assert!(errors.contains(
        "date_of_brith",
        &Reason::UnknownKeyNear {
            near: vec!["date_of_birth"]
        }
    ));
    assert!(errors.contains("favourite_colour", &Reason::UnknownKey));
    // A key that looks like a value is masked, and gets no suggestion derived from it.
    let text = errors.to_string();
    assert!(!text.contains("Amina"), "{text}");
    assert!(text.contains("did you mean nationality?"), "{text}");
}
