//! What the facade's integration tests share: a valid case as an app would fill it in.
#![allow(dead_code)]

use fieldcase_ffi::*;

/// An open case of a stranded migrant, valid against the case model, named `given`.
pub fn case(given: &str) -> CaseData {
    CaseData {
        given_name: Some(given.into()),
        family_name: Some("Okello".into()),
        sex: Some(Sex::Female),
        nationality: Some("UGA".into()),
        country_of_assistance: Some("KEN".into()),
        intake_date: Some("2024-06-01".into()),
        categories: vec![Category::StrandedMigrant],
        consent_assistance: Some(AssistanceConsent {
            given: true,
            date: "2024-06-01".into(),
            recorded_by: "cw_1".into(),
        }),
        status: Some(CaseStatus::Open),
        ..CaseData::default()
    }
}
