//! The rules between a case's fields, and the ages they rest on.
//!
//! Each value is checked on its own when it is read (`read.rs`); these rules relate several:
//! identifying data needs a consent record; consent given for a child needs a guardian; a
//! closure reason goes with a closed status and only with it; trafficking details go with the
//! `victim_of_trafficking` category; an age estimate is dated; a date of birth gives an age of
//! 0 to 120 at intake. A rule whose inputs failed to read is skipped, so a typo in one field
//! does not also raise a rule error that only its absence caused. No rule depends on today, so
//! a stored case that passed them passes them forever.
//!
//! A person counts as a child when they *may* be under 18 at intake: with a date of birth known
//! only to the year, someone who is 17 or 18 is a child, giving them the benefit of the doubt
//! that age assessment guidance asks for.

use super::case::Case;
use super::codes::{Category, Status};
use super::date::{AgeRange, Date};
use super::keys::*;
use super::read::MAX_AGE_YEARS;
use super::validate::{Collector, Reason};

/// When `consent.assistance` is required.
pub const IDENTIFYING_DATA: &str =
    "identifying data (a name, date of birth, phone, document or photo) is recorded";
/// When `consent.guardian` is required.
pub const CHILD_CONSENT: &str = "consent to assistance is given for a person under 18 at intake";
/// When `closure_reason` is required, and the only time it is allowed.
pub const CLOSED: &str = "status is closed";
/// The only time the trafficking fields are allowed.
pub const TRAFFICKED: &str = "categories include victim_of_trafficking";
/// When `age_estimated_on` is required, and the only time it is allowed.
pub const ESTIMATED: &str = "age_estimate is given";

/// The age below which a person is a child.
const ADULT_AGE: u32 = 18;

/// Records every broken rule. `failed(key)` says whether `key` failed to read.
pub(super) fn check(case: &Case, failed: &dyn Fn(&str) -> bool, c: &mut Collector) {
    consent_for_identifying_data(case, failed, c);
    guardian_for_a_child(case, failed, c);
    closure_reason_with_closed_status(case, failed, c);
    trafficking_details_with_category(case, failed, c);
    dated_age_estimate(case, failed, c);
    ages_at_intake(case, c);
}

fn has(case: &Case, key: &str) -> bool {
    match key {
        GIVEN_NAME => case.given_name.is_some(),
        FAMILY_NAME => case.family_name.is_some(),
        OTHER_NAMES => !case.other_names.is_empty(),
        DATE_OF_BIRTH => case.date_of_birth.is_some(),
        PHONE => case.phone.is_some(),
        DOCUMENT_NUMBERS => !case.document_numbers.is_empty(),
        PHOTO => case.photo.is_some(),
        EXPLOITATION_TYPES => !case.exploitation_types.is_empty(),
        LABOUR_SECTORS => !case.labour_sectors.is_empty(),
        TRAFFICKING_TYPE => case.trafficking_type.is_some(),
        COUNTRY_OF_DESTINATION => case.country_of_destination.is_some(),
        _ => false,
    }
}

fn consent_for_identifying_data(case: &Case, failed: &dyn Fn(&str) -> bool, c: &mut Collector) {
    // A field that failed to read was still typed in: it needs consent all the same.
    let identifying = IDENTIFYING.iter().any(|key| has(case, key) || failed(key));
    if identifying && case.consent.assistance.is_none() && !failed(CONSENT_ASSISTANCE) {
        c.push(CONSENT_ASSISTANCE, Reason::RequiredWhen(IDENTIFYING_DATA));
    }
}

fn guardian_for_a_child(case: &Case, failed: &dyn Fn(&str) -> bool, c: &mut Collector) {
    let Some(consent) = &case.consent.assistance else {
        return;
    };
    let inputs = [
        CONSENT_GUARDIAN,
        DATE_OF_BIRTH,
        AGE_ESTIMATE,
        AGE_ESTIMATED_ON,
        INTAKE_DATE,
    ];
    if !consent.given || case.consent.guardian.is_some() || inputs.iter().any(|k| failed(k)) {
        return;
    }
    let at_intake = case.intake_date.unwrap_or(consent.date);
    if may_be_child(case, at_intake) {
        c.push(CONSENT_GUARDIAN, Reason::RequiredWhen(CHILD_CONSENT));
    }
}

fn closure_reason_with_closed_status(
    case: &Case,
    failed: &dyn Fn(&str) -> bool,
    c: &mut Collector,
) {
    if failed(STATUS) || failed(CLOSURE_REASON) {
        return;
    }
    match (
        case.status == Some(Status::Closed),
        case.closure_reason.is_some(),
    ) {
        (true, false) => c.push(CLOSURE_REASON, Reason::RequiredWhen(CLOSED)),
        (false, true) => c.push(CLOSURE_REASON, Reason::OnlyAllowedWhen(CLOSED)),
        _ => {}
    }
}

fn trafficking_details_with_category(
    case: &Case,
    failed: &dyn Fn(&str) -> bool,
    c: &mut Collector,
) {
    if failed(CATEGORIES) || case.categories.contains(&Category::VictimOfTrafficking) {
        return;
    }
    for key in TRAFFICKING.iter().filter(|key| has(case, key)) {
        c.push(*key, Reason::OnlyAllowedWhen(TRAFFICKED));
    }
}

fn dated_age_estimate(case: &Case, failed: &dyn Fn(&str) -> bool, c: &mut Collector) {
    if failed(AGE_ESTIMATE) || failed(AGE_ESTIMATED_ON) {
        return;
    }
    match (case.age_estimate.is_some(), case.age_estimated_on.is_some()) {
        (true, false) => c.push(AGE_ESTIMATED_ON, Reason::RequiredWhen(ESTIMATED)),
        (false, true) => c.push(AGE_ESTIMATED_ON, Reason::OnlyAllowedWhen(ESTIMATED)),
        _ => {}
    }
}

fn ages_at_intake(case: &Case, c: &mut Collector) {
    let Some(intake) = case.intake_date else {
        return;
    };
    let out_of_range = Reason::AgeOutOfRange {
        min: 0,
        max: MAX_AGE_YEARS,
    };
    if let Some(birth) = case.date_of_birth {
        match birth.age_range_on(intake) {
            None => c.push(DATE_OF_BIRTH, Reason::BirthAfterIntake),
            Some(age) if age.min > MAX_AGE_YEARS => c.push(DATE_OF_BIRTH, out_of_range.clone()),
            Some(_) => {}
        }
    }
    if let Some(years) = estimated_age_on(case, intake) {
        if !(0..=MAX_AGE_YEARS as i32).contains(&years) {
            c.push(AGE_ESTIMATE, out_of_range);
        }
    }
}

/// The age estimate carried from the day it was made to `on`, in whole years (may be out of
/// range: the caller checks). An undated estimate is taken as it is.
fn estimated_age_on(case: &Case, on: Date) -> Option<i32> {
    let estimate = i32::from(case.age_estimate?);
    let elapsed = case
        .age_estimated_on
        .map_or(0, |made| made.whole_years_until(on));
    Some(estimate + elapsed)
}

/// See [`Case::age_on`].
pub(super) fn age_on(case: &Case, on: Date) -> Option<AgeRange> {
    if let Some(birth) = case.date_of_birth {
        return birth.age_range_on(on);
    }
    let years = u32::try_from(estimated_age_on(case, on)?).ok()?;
    Some(AgeRange {
        min: years,
        max: years,
    })
}

/// Whether the person may be under 18 on `on`, by their date of birth or their age estimate.
fn may_be_child(case: &Case, on: Date) -> bool {
    let by_birth = case
        .date_of_birth
        .and_then(|birth| birth.age_range_on(on))
        .is_some_and(|age| age.min < ADULT_AGE);
    let by_estimate = estimated_age_on(case, on).is_some_and(|years| years < ADULT_AGE as i32);
    by_birth || by_estimate
}

#[cfg(test)]
mod tests {
    use super::super::{Fields, ValidationErrors};
    use super::*;
    use serde_json::{json, Value};

    fn today() -> Date {
        Date::parse("2024-06-10").unwrap()
    }

    fn read(value: Value) -> Result<Case, ValidationErrors> {
        let fields: Fields = serde_json::from_value(value).unwrap();
        Case::from_fields_as_of(&fields, today())
    }

    fn consent(given: bool) -> Value {
        json!({"given": given, "date": "2024-06-01", "recorded_by": "cw_1"})
    }

    #[test]
    fn anonymous_intake_needs_no_consent() {
        let case =
            read(json!({"sex": "female", "nationality": "ERI", "intake_date": "2024-06-01"}));
        assert!(case.is_ok(), "{case:?}");
    }

    #[test]
    fn identifying_data_needs_a_consent_record_given_or_refused() {
        let required = Reason::RequiredWhen(IDENTIFYING_DATA);
        for key in IDENTIFYING {
            let value = match key {
                OTHER_NAMES => json!(["Alias"]),
                DOCUMENT_NUMBERS => json!([{"type": "passport", "number": "P1"}]),
                DATE_OF_BIRTH => json!("1990"),
                PHONE => json!("+256 700 123456"),
                _ => json!("text"),
            };
            let errors = read(json!({ key: value.clone() })).unwrap_err();
            assert_eq!(errors.reasons_for(CONSENT_ASSISTANCE), [&required], "{key}");
            for given in [true, false] {
                let with = read(json!({ key: value.clone(), CONSENT_ASSISTANCE: consent(given) }));
                assert!(with.is_ok(), "{key}: {with:?}");
            }
        }
        // A name that fails to read was still typed in.
        let errors = read(json!({"given_name": "x".repeat(500)})).unwrap_err();
        assert!(errors.contains(CONSENT_ASSISTANCE, &required));
        // Age alone does not identify.
        assert!(read(json!({"age_estimate": 30, "age_estimated_on": "2024-01-01"})).is_ok());
    }

    #[test]
    fn consent_given_for_a_child_needs_a_guardian() {
        let required = Reason::RequiredWhen(CHILD_CONSENT);
        let child = json!({
            "given_name": "A", "date_of_birth": "2010-05-01", "intake_date": "2024-06-01",
            "consent.assistance": consent(true),
        });
        assert_eq!(
            read(child.clone())
                .unwrap_err()
                .reasons_for(CONSENT_GUARDIAN),
            [&required]
        );
        let mut with_guardian = child.clone();
        with_guardian["consent.guardian"] = json!("Mother");
        assert!(read(with_guardian).is_ok());
        let mut refused = child;
        refused["consent.assistance"] = consent(false);
        assert!(read(refused).is_ok(), "a refusal needs no guardian");

        // By estimate, carried to intake: 16 in January 2023 is 17 at intake in June 2024.
        let estimated = json!({
            "age_estimate": 16, "age_estimated_on": "2023-01-01", "intake_date": "2024-06-01",
            "consent.assistance": consent(true),
        });
        assert!(read(estimated)
            .unwrap_err()
            .contains(CONSENT_GUARDIAN, &required));
        // Without intake date, the consent date is the reference.
        let undated = json!({"age_estimate": 17, "age_estimated_on": "2024-06-01",
            "consent.assistance": consent(true)});
        assert!(read(undated)
            .unwrap_err()
            .contains(CONSENT_GUARDIAN, &required));
        // Benefit of the doubt: born "2006" is 17 or 18 on 2024-06-01.
        let maybe = json!({"date_of_birth": "2006", "intake_date": "2024-06-01",
            "consent.assistance": consent(true)});
        assert!(read(maybe)
            .unwrap_err()
            .contains(CONSENT_GUARDIAN, &required));
        let adult = json!({"date_of_birth": "2006-01-01", "intake_date": "2024-06-01",
            "consent.assistance": consent(true)});
        assert!(read(adult).is_ok());
    }

    #[test]
    fn closure_reason_goes_with_closed_status_only() {
        let errors = read(json!({"status": "closed"})).unwrap_err();
        assert_eq!(
            errors.reasons_for(CLOSURE_REASON),
            [&Reason::RequiredWhen(CLOSED)]
        );
        assert!(read(json!({"status": "closed", "closure_reason": "lost_contact"})).is_ok());
        for status in [json!("active"), json!("open"), Value::Null] {
            let errors = read(json!({"status": status, "closure_reason": "deceased"})).unwrap_err();
            assert_eq!(
                errors.reasons_for(CLOSURE_REASON),
                [&Reason::OnlyAllowedWhen(CLOSED)]
            );
        }
        // A mistyped status raises its own error, not a closure one as well.
        let errors = read(json!({"status": "closd", "closure_reason": "deceased"})).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors.0[0].field, STATUS);
    }

    #[test]
    fn trafficking_details_need_the_trafficking_category() {
        let details = json!({
            "exploitation_types": ["sexual", "labour"], "labour_sectors": ["fishing"],
            "trafficking_type": "international", "country_of_destination": "THA",
        });
        let errors = read(details.clone()).unwrap_err();
        for key in TRAFFICKING {
            assert_eq!(
                errors.reasons_for(key),
                [&Reason::OnlyAllowedWhen(TRAFFICKED)],
                "{key}"
            );
        }
        let mut trafficked = details;
        trafficked["categories"] = json!(["stranded_migrant", "victim_of_trafficking"]);
        assert!(read(trafficked).is_ok());
    }

    #[test]
    fn an_age_estimate_is_dated() {
        let errors = read(json!({"age_estimate": 30})).unwrap_err();
        assert_eq!(
            errors.reasons_for(AGE_ESTIMATED_ON),
            [&Reason::RequiredWhen(ESTIMATED)]
        );
        let errors = read(json!({"age_estimated_on": "2024-01-01"})).unwrap_err();
        assert_eq!(
            errors.reasons_for(AGE_ESTIMATED_ON),
            [&Reason::OnlyAllowedWhen(ESTIMATED)]
        );
    }

    #[test]
    fn ages_at_intake_are_possible() {
        let errors = read(
            json!({"date_of_birth": "2024-06", "intake_date": "2024-05-31",
            "consent.assistance": consent(false)}),
        )
        .unwrap_err();
        assert_eq!(
            errors.reasons_for(DATE_OF_BIRTH),
            [&Reason::BirthAfterIntake]
        );
        assert!(
            read(
                json!({"date_of_birth": "2024-05", "intake_date": "2024-05-01",
            "consent.assistance": consent(false)})
            )
            .is_ok(),
            "may be born on intake day"
        );
        let out = Reason::AgeOutOfRange {
            min: 0,
            max: MAX_AGE_YEARS,
        };
        let errors = read(json!({"date_of_birth": "1890", "intake_date": "2012-01-01",
            "consent.assistance": consent(false)}))
        .unwrap_err();
        assert_eq!(errors.reasons_for(DATE_OF_BIRTH), [&out]);
        let errors = read(json!({"age_estimate": 2, "age_estimated_on": "2024-01-01",
            "intake_date": "2020-01-01"}))
        .unwrap_err();
        assert_eq!(
            errors.reasons_for(AGE_ESTIMATE),
            [&out],
            "born after intake by the estimate"
        );
    }

    #[test]
    fn ages_come_from_birth_or_estimate() {
        let case = read(json!({"date_of_birth": "2000", "intake_date": "2024-06-01",
            "consent.assistance": consent(false)}))
        .unwrap();
        assert_eq!(case.age_at_intake(), Some(AgeRange { min: 23, max: 24 }));
        let case = read(json!({"age_estimate": 30, "age_estimated_on": "2022-06-01",
            "intake_date": "2024-06-01"}))
        .unwrap();
        assert_eq!(case.age_at_intake(), Some(AgeRange { min: 32, max: 32 }));
        assert_eq!(Case::default().age_at_intake(), None);
    }

    #[test]
    fn check_rules_reports_rules_only() {
        let case = Case {
            status: Some(Status::Closed),
            ..Case::default()
        };
        let errors = case.check_rules().unwrap_err();
        assert_eq!(
            errors.reasons_for(CLOSURE_REASON),
            [&Reason::RequiredWhen(CLOSED)]
        );
        assert!(Case::default().check_rules().is_ok());
    }
}
