//! Property tests of the case model: every valid case round-trips through both forms, and no
//! error or `Debug` output ever repeats a value, whatever field it was typed into.

use super::codes::*;
use super::consent::{AssistanceConsent, Consent, DataSharing};
use super::country::{Country, COUNTRY_CODES};
use super::date::{Date, PartialDate};
use super::document::Document;
use super::keys::CASE_KEYS;
use super::{AnswerPath, Case, Fields, Note, Service, ValidationErrors};
use crate::ids::AgencyCode;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn today() -> Date {
    Date::parse("2024-06-10").unwrap()
}

/// A day from `from` to `to`, inclusive.
fn day(from: &str, to: &str) -> impl Strategy<Value = Date> {
    let (from, to) = (Date::parse(from).unwrap(), Date::parse(to).unwrap());
    (from.days_since_epoch()..=to.days_since_epoch())
        .prop_map(|d| Date::from_days_since_epoch(d).unwrap())
}

fn partial(date: impl Strategy<Value = Date>) -> impl Strategy<Value = PartialDate> {
    (date, 0..3u8).prop_map(|(d, precision)| match precision {
        0 => PartialDate::Year(d.year()),
        1 => PartialDate::Month(d.year(), d.month()),
        _ => PartialDate::Day(d),
    })
}

fn text() -> impl Strategy<Value = String> {
    "[\\p{L}][\\p{L}\\p{M} '.-]{0,30}"
}

fn country() -> impl Strategy<Value = Country> {
    select(COUNTRY_CODES.to_vec()).prop_map(|c| Country::parse(c).unwrap())
}

fn one<C: Code>() -> impl Strategy<Value = C> {
    select(C::ALL.to_vec())
}

fn set<C: Code>() -> impl Strategy<Value = BTreeSet<C>> {
    subsequence(C::ALL.to_vec(), 0..=C::ALL.len()).prop_map(|v| v.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e9..1.0e9f64).prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn answers() -> impl Strategy<Value = std::collections::BTreeMap<AnswerPath, Value>> {
    // A field's answer, or a field's answer in one instance of a repeat group.
    let id = "[a-z][a-z0-9_]{0,12}(\\.[a-z0-9]{1,8}\\.[a-z][a-z0-9_]{0,8})?"
        .prop_map(|id| AnswerPath::parse(&id).unwrap());
    btree_map(
        id,
        json_value().prop_filter("an answer is never null", |v| !v.is_null()),
        0..4,
    )
}

fn document() -> impl Strategy<Value = Document> {
    (
        one::<DocumentType>(),
        "[A-Z0-9][A-Z0-9 -]{0,15}",
        proptest::option::of(country()),
    )
        .prop_map(|(doc_type, number, issuing_country)| Document {
            doc_type,
            number,
            issuing_country,
        })
}

fn consent() -> impl Strategy<Value = Consent> {
    let assistance = (
        any::<bool>(),
        day("2006-01-01", "2024-06-01"),
        "[a-z][a-z0-9_]{1,10}",
    )
        .prop_map(|(given, date, recorded_by)| AssistanceConsent {
            given,
            date,
            recorded_by,
        });
    let agencies = proptest::collection::btree_set("[a-z][a-z0-9_]{1,8}", 1..4).prop_map(|codes| {
        DataSharing::Agencies(
            codes
                .iter()
                .map(|c| AgencyCode::parse(c).unwrap())
                .collect(),
        )
    });
    let sharing = prop_oneof![Just(DataSharing::NoAgency), agencies];
    use proptest::option::of;
    (of(assistance), of(sharing), of(any::<bool>()), of(text())).prop_map(
        |(assistance, data_sharing, research, guardian)| Consent {
            assistance,
            data_sharing,
            research,
            guardian,
        },
    )
}

prop_compose! {
    fn identity()(
        given_name in proptest::option::of(text()),
        family_name in proptest::option::of(text()),
        other_names in vec(text(), 0..3),
        date_of_birth in proptest::option::of(partial(day("1930-01-01", "2005-12-31"))),
        age_estimate in proptest::option::of(0..=100u8),
        age_estimated_on in proptest::option::of(day("2006-01-01", "2024-06-01")),
        phone in proptest::option::of("\\+?[0-9]{3}[ -]?[0-9]{3,12}"),
        document_numbers in proptest::collection::btree_set(document(), 0..3),
        photo in proptest::option::of("att:[0-9a-f]{8}"),
    ) -> Case {
        Case {
            given_name, family_name, other_names, date_of_birth, age_estimate, age_estimated_on,
            phone, document_numbers: document_numbers.into_iter().collect(), photo,
            ..Case::default()
        }
    }
}

prop_compose! {
    fn any_case()(
        identity in identity(),
        profile in (proptest::option::of(one::<Sex>()), proptest::option::of(country()),
            proptest::option::of(country()), proptest::option::of(day("2006-01-01", "2024-06-01")),
            set::<Category>(), proptest::option::of(one::<Programme>())),
        trafficking in (set::<ExploitationType>(), set::<LabourSector>(),
            proptest::option::of(one::<TraffickingType>()), proptest::option::of(country())),
        reintegration in (proptest::option::of(country()),
            proptest::option::of(day("2000-01-01", "2024-06-10")), set::<ReintegrationAssistance>()),
        management in (proptest::option::of(one::<Status>()), one::<ClosureReason>(),
            proptest::option::of(one::<RiskLevel>()), proptest::option::of("[a-z][a-z0-9_.@]{0,20}")),
        consent in consent(),
        answers in answers(),
    ) -> Case {
        let (sex, nationality, country_of_assistance, intake_date, categories, programme) = profile;
        let (exploitation_types, labour_sectors, trafficking_type, country_of_destination) = trafficking;
        let (host_country, return_date, reintegration_assistance) = reintegration;
        let (status, closure_reason, risk_level, assigned_to) = management;
        make_valid(Case {
            sex, nationality, country_of_assistance, intake_date, categories, programme,
            exploitation_types, labour_sectors, trafficking_type, country_of_destination,
            host_country, return_date, reintegration_assistance,
            status, closure_reason: Some(closure_reason), risk_level, assigned_to,
            consent, answers,
            ..identity
        })
    }
}

/// Adjusts a generated case to obey the rules between fields (each tested on its own in
/// `case_rules.rs`), keeping as much of what was generated as possible.
fn make_valid(mut case: Case) -> Case {
    if case.status != Some(Status::Closed) {
        case.closure_reason = None;
    }
    let trafficking = !case.exploitation_types.is_empty()
        || !case.labour_sectors.is_empty()
        || case.trafficking_type.is_some()
        || case.country_of_destination.is_some();
    if trafficking {
        case.categories.insert(Category::VictimOfTrafficking);
    }
    match (case.age_estimate, case.intake_date) {
        (None, _) => case.age_estimated_on = None,
        (Some(_), Some(intake)) => case.age_estimated_on = Some(intake),
        (Some(_), None) => {
            case.age_estimated_on
                .get_or_insert(Date::parse("2020-01-01").unwrap());
        }
    }
    let identifying = !case.search_names().is_empty()
        || case.date_of_birth.is_some()
        || case.phone.is_some()
        || !case.document_numbers.is_empty()
        || case.photo.is_some();
    if identifying && case.consent.assistance.is_none() {
        let date = Date::parse("2024-01-01").unwrap();
        let recorded_by = "cw".to_owned();
        case.consent.assistance = Some(AssistanceConsent {
            given: true,
            date,
            recorded_by,
        });
    }
    if case.check_rules().is_err() {
        // The one rule left: consent given for someone who may be a child needs a guardian.
        case.consent.guardian = Some("Guardian".to_owned());
    }
    case
}

proptest! {
    #[test]
    fn valid_cases_round_trip_through_both_forms(case in any_case()) {
        let fields = case.to_fields();
        prop_assert!(fields.values().all(|v| !v.is_null()));
        prop_assert_eq!(Case::from_fields_as_of(&fields, today()), Ok(case.clone()));
        prop_assert_eq!(Case::from_json_as_of(&case.to_json(), today()), Ok(case.clone()));
        prop_assert_eq!(super::flatten_json(&case.to_json()), Ok(fields));
    }
}

proptest! {
    // Each case feeds thousands of wrong values; a few random secrets are enough on top of the
    // fixed one of `errors_never_repeat_the_recognisable_name`.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn errors_never_repeat_a_value(suffix in "[a-z0-9]{4,8}") {
        let secret = format!("Zaynab-Secret-{suffix}");
        let count = assert_no_value_in_errors(&secret);
        prop_assert!(count > 300, "the wrong shapes must produce errors ({count})");
    }
}

/// Values in every wrong shape: wrong code, too long, control characters, duplicates, blank
/// items, wrong types, objects with unknown parts, the secret as a key.
fn wrong_shapes(secret: &str) -> Vec<Value> {
    let document = json!({"type": secret, "number": secret.repeat(10), "issuing_country": secret,
        secret: secret});
    vec![
        json!(secret),
        json!(secret.repeat(300)),
        json!(format!("{secret}\u{7}\n")),
        json!([secret, secret]),
        json!([secret, "", secret.repeat(100)]),
        json!([[secret]]),
        json!({ secret: secret }),
        document.clone(),
        json!([document.clone(), document]),
        json!({"given": secret, "date": secret, "recorded_by": secret.repeat(20), secret: 1}),
        json!({"given": true, "date": format!("2023-{secret}"), "recorded_by": format!("{secret}\u{0}")}),
        json!(secret.repeat(600)),
        json!(format!("+{secret}")),
    ]
}

/// Checks the `Display` and `Debug` of `errors`; returns how many errors there were.
fn check(errors: &ValidationErrors, secret: &str, context: &str) -> usize {
    let shown = format!("{errors} {errors:?} {errors:#?}");
    assert!(!shown.contains(secret), "{context}: {shown}");
    assert!(!shown.contains("Zaynab"), "{context}: {shown}");
    for error in errors.iter() {
        assert!(!format!("{error} {error:?} {}", error.reason).contains("Zaynab"));
    }
    errors.len()
}

/// Feeds `secret` into every field of every record in every wrong shape and asserts no error
/// shows it. Returns how many errors were checked.
fn assert_no_value_in_errors(secret: &str) -> usize {
    let mut count = 0;
    let mut keys: Vec<String> = CASE_KEYS.iter().map(|k| k.to_string()).collect();
    keys.extend(["answers.q1", "answers.", "id"].map(String::from));
    keys.extend([
        secret.to_owned(),
        format!("answers.{secret}"),
        format!("consent.{secret}"),
    ]);
    for key in &keys {
        for shape in wrong_shapes(secret) {
            let fields: Fields = [(key.clone(), shape.clone())].into();
            if let Err(errors) = Case::from_fields_as_of(&fields, today()) {
                count += check(&errors, secret, key);
            }
            let nested = super::nest_fields(&fields);
            if let Err(errors) = Case::from_json_as_of(&nested, today()) {
                count += check(&errors, secret, key);
            }
            for record in ["service", "note"] {
                let result = match record {
                    "service" => Service::from_fields_as_of(&fields, today()).err(),
                    _ => Note::from_fields_as_of(&fields, today()).err(),
                };
                count += check(&result.expect("never valid"), secret, key);
            }
        }
    }
    for key in [
        "case_id",
        "service_type",
        "date",
        "provider_agency",
        "notes",
        "text",
        "written_on",
        "author",
    ] {
        for shape in wrong_shapes(secret) {
            let fields: Fields = [(key.to_owned(), shape)].into();
            count += check(
                &Service::from_fields_as_of(&fields, today()).unwrap_err(),
                secret,
                key,
            );
            count += check(
                &Note::from_fields_as_of(&fields, today()).unwrap_err(),
                secret,
                key,
            );
        }
    }
    for nested in [
        json!({"consent": { secret: true }}),
        json!({"consent": secret}),
        json!({"answers": { secret: 1 }}),
        json!({"answers": [secret]}),
        json!(secret),
        json!([secret]),
    ] {
        count += check(
            &Case::from_json_as_of(&nested, today()).unwrap_err(),
            secret,
            "nested",
        );
    }
    count
}

#[test]
fn errors_never_repeat_the_recognisable_name() {
    let count = assert_no_value_in_errors("Zaynab-Secret-Name");
    assert!(
        count > 300,
        "the wrong shapes must produce errors ({count})"
    );
}

#[test]
fn debug_of_a_case_full_of_secrets_shows_none_of_them() {
    let secret = "Zaynab-Secret-Name";
    let case = Case::from_json_as_of(
        &json!({
            "given_name": secret, "family_name": secret, "other_names": [secret],
            "date_of_birth": "1990-04-13", "phone": "+256 700 987654",
            "document_numbers": [{"type": "passport", "number": secret}],
            "photo": secret, "assigned_to": "cw",
            "consent": {"assistance": {"given": true, "date": "2024-01-01", "recorded_by": "cw"},
                "guardian": secret},
            "answers": {"story": secret, "nested": {"deep": [secret]}},
        }),
        today(),
    )
    .unwrap();
    for shown in [
        format!("{case:?}"),
        format!("{case:#?}"),
        format!("{:?}", case.consent),
        format!("{:?}", case.document_numbers),
    ] {
        for value in [secret, "1990", "987654"] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }
}
