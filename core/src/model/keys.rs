//! The flat field keys of a case: one key is one unit of last-writer-wins merge.
//!
//! These are the keys of `docs/case-format.md`, with consent flattened to
//! `consent.<part>`; form answers add `answers.<field id>` (see [`super::answers`]). The lists
//! here say which keys hold identity data, so the store, referrals and exports can treat them
//! apart. This module only names keys; it does not read values.

pub const GIVEN_NAME: &str = "given_name";
pub const FAMILY_NAME: &str = "family_name";
pub const OTHER_NAMES: &str = "other_names";
pub const DATE_OF_BIRTH: &str = "date_of_birth";
pub const AGE_ESTIMATE: &str = "age_estimate";
pub const AGE_ESTIMATED_ON: &str = "age_estimated_on";
pub const PHONE: &str = "phone";
pub const DOCUMENT_NUMBERS: &str = "document_numbers";
pub const PHOTO: &str = "photo";
pub const SEX: &str = "sex";
pub const NATIONALITY: &str = "nationality";
pub const COUNTRY_OF_ASSISTANCE: &str = "country_of_assistance";
pub const INTAKE_DATE: &str = "intake_date";
pub const CATEGORIES: &str = "categories";
pub const PROGRAMME: &str = "programme";
pub const EXPLOITATION_TYPES: &str = "exploitation_types";
pub const LABOUR_SECTORS: &str = "labour_sectors";
pub const TRAFFICKING_TYPE: &str = "trafficking_type";
pub const COUNTRY_OF_DESTINATION: &str = "country_of_destination";
pub const HOST_COUNTRY: &str = "host_country";
pub const RETURN_DATE: &str = "return_date";
pub const REINTEGRATION_ASSISTANCE: &str = "reintegration_assistance";
pub const CONSENT_ASSISTANCE: &str = "consent.assistance";
pub const CONSENT_DATA_SHARING: &str = "consent.data_sharing";
pub const CONSENT_RESEARCH: &str = "consent.research";
pub const CONSENT_GUARDIAN: &str = "consent.guardian";
pub const STATUS: &str = "status";
pub const CLOSURE_REASON: &str = "closure_reason";
pub const RISK_LEVEL: &str = "risk_level";
pub const ASSIGNED_TO: &str = "assigned_to";

/// The prefix of the flattened consent keys.
pub const CONSENT_PREFIX: &str = "consent.";

/// Every fixed key of a case (answers come on top), in the domain document's order.
pub const CASE_KEYS: [&str; 30] = [
    GIVEN_NAME,
    FAMILY_NAME,
    OTHER_NAMES,
    DATE_OF_BIRTH,
    AGE_ESTIMATE,
    AGE_ESTIMATED_ON,
    PHONE,
    DOCUMENT_NUMBERS,
    PHOTO,
    SEX,
    NATIONALITY,
    COUNTRY_OF_ASSISTANCE,
    INTAKE_DATE,
    CATEGORIES,
    PROGRAMME,
    EXPLOITATION_TYPES,
    LABOUR_SECTORS,
    TRAFFICKING_TYPE,
    COUNTRY_OF_DESTINATION,
    HOST_COUNTRY,
    RETURN_DATE,
    REINTEGRATION_ASSISTANCE,
    CONSENT_ASSISTANCE,
    CONSENT_DATA_SHARING,
    CONSENT_RESEARCH,
    CONSENT_GUARDIAN,
    STATUS,
    CLOSURE_REASON,
    RISK_LEVEL,
    ASSIGNED_TO,
];

/// The consent parts, as the keys of the nested `consent` object.
pub const CONSENT_PARTS: [&str; 4] = ["assistance", "data_sharing", "research", "guardian"];

/// The identity section of the domain document (with `age_estimated_on`, which dates the
/// estimate): sensitive, sealed at rest everywhere, never in aggregate output.
pub const IDENTITY: [&str; 9] = [
    GIVEN_NAME,
    FAMILY_NAME,
    OTHER_NAMES,
    DATE_OF_BIRTH,
    AGE_ESTIMATE,
    AGE_ESTIMATED_ON,
    PHONE,
    DOCUMENT_NUMBERS,
    PHOTO,
];

/// The fields that identify a person: recording any of them requires `consent.assistance`.
pub const IDENTIFYING: [&str; 7] = [
    GIVEN_NAME,
    FAMILY_NAME,
    OTHER_NAMES,
    DATE_OF_BIRTH,
    PHONE,
    DOCUMENT_NUMBERS,
    PHOTO,
];

/// The trafficking section: only allowed when `categories` has `victim_of_trafficking`.
pub const TRAFFICKING: [&str; 4] = [
    EXPLOITATION_TYPES,
    LABOUR_SECTORS,
    TRAFFICKING_TYPE,
    COUNTRY_OF_DESTINATION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_the_sub_lists_are_case_keys() {
        let mut keys = CASE_KEYS.to_vec();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), CASE_KEYS.len());
        for key in IDENTITY.iter().chain(&IDENTIFYING).chain(&TRAFFICKING) {
            assert!(CASE_KEYS.contains(key), "{key}");
        }
        for part in CONSENT_PARTS {
            assert!(CASE_KEYS.contains(&format!("{CONSENT_PREFIX}{part}").as_str()));
        }
    }
}
