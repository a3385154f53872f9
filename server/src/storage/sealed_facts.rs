//! How report facts and match profiles are kept at rest: sealed under the server key, one
//! sealed value per row, bound to its table and record.
//!
//! A copy of the database must not be a table of people (issue 10, item 5), so every
//! per-person value of `report_facts`, `service_facts` and `match_profiles` is sealed
//! (XChaCha20-Poly1305, [`crate::seal`]) with associated data naming the table, the record and
//! the encoding version ([`crate::seal::report_facts_ad`] and its siblings): a sealed row
//! copied onto another record, or altered, fails to open. What stays in the clear is what SQL
//! needs to find rows — record ids, a service's case id (as `records.case_id` already shows),
//! a case's intake *month* ([`intake_month`]) for period scans — and the keyed block tokens of
//! `match_blocks`.
//!
//! The plaintext encodings are compact and versioned by the associated data: a change of
//! encoding bumps the version there and `FACTS_VERSION`, and the next start rebuilds every
//! row from the sealed states. A row that does not open or decode is an integrity error,
//! never a silent `unknown`: it means the file was tampered with. Decoding an individual code
//! stays lenient, as the derivation is (a code no longer known reads as absent).

use crate::reports::facts::{age_label, join_codes, split_codes, CaseFacts, ServiceFacts};
use crate::seal::{report_facts_ad, service_facts_ad, Sealer};
use crate::storage::StorageError;
use fieldcase_core::model::codes::Code;
use fieldcase_core::model::{Country, Date};
use fieldcase_core::{AgencyCode, RecordId};
use zeroize::Zeroizing;

/// Separates the fields of a sealed facts row. Codes, ISO dates, countries, age labels and
/// agency codes never contain it.
const FIELD_SEP: char = '|';

/// Fields of a case's facts row, in encoding order (see [`encode_case`]).
const CASE_FIELDS: usize = 14;

/// Fields of a service's facts row.
const SERVICE_FIELDS: usize = 3;

pub(crate) fn integrity(what: &str) -> StorageError {
    StorageError::Integrity(format!("a sealed {what} row does not open"))
}

/// The month of a day, `YYYY-MM`: the only trace of a case's intake date kept in the clear,
/// so a period report reads only the months it covers. Coarse and shared by every case of
/// that month at the agency; the operation log's timestamps already place each record's
/// creation to the millisecond.
pub(crate) fn intake_month(date: Option<Date>) -> Option<String> {
    date.map(|d| format!("{:04}-{:02}", d.year(), d.month()))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn encode_case(f: &CaseFacts) -> String {
    [
        opt(f.intake_date),
        opt(f.sex.map(|s| s.as_str())),
        opt(f.age_group),
        opt(f.age_band),
        opt(f.nationality.map(|c| c.as_str())),
        opt(f.country_of_assistance.map(|c| c.as_str())),
        opt(f.programme.map(|p| p.as_str())),
        join_codes(&f.categories),
        join_codes(&f.exploitation_types),
        join_codes(&f.labour_sectors),
        opt(f.trafficking_type.map(|t| t.as_str())),
        opt(f.country_of_destination.map(|c| c.as_str())),
        join_codes(&f.reintegration_assistance),
        opt(f.status.map(|s| s.as_str())),
    ]
    .join(&FIELD_SEP.to_string())
}

fn date(text: &str) -> Option<Date> {
    (!text.is_empty()).then(|| Date::parse(text).ok()).flatten()
}

fn country(text: &str) -> Option<Country> {
    Country::parse(text).ok()
}

fn code<T: Code>(text: &str) -> Option<T> {
    T::parse(text)
}

fn decode_case(text: &str) -> Option<CaseFacts> {
    let f: Vec<&str> = text.split(FIELD_SEP).collect();
    if f.len() != CASE_FIELDS {
        return None;
    }
    Some(CaseFacts {
        intake_date: date(f[0]),
        sex: code(f[1]),
        age_group: age_label(f[2]),
        age_band: age_label(f[3]),
        nationality: country(f[4]),
        country_of_assistance: country(f[5]),
        programme: code(f[6]),
        categories: split_codes(f[7]),
        exploitation_types: split_codes(f[8]),
        labour_sectors: split_codes(f[9]),
        trafficking_type: code(f[10]),
        country_of_destination: country(f[11]),
        reintegration_assistance: split_codes(f[12]),
        status: code(f[13]),
    })
}

/// Seals a case's facts for `report_facts.facts`.
pub(crate) fn seal_case(sealer: &Sealer, record: RecordId, facts: &CaseFacts) -> Vec<u8> {
    let plain = Zeroizing::new(encode_case(facts));
    sealer.seal(&report_facts_ad(record), plain.as_bytes())
}

fn open_text(
    sealer: &Sealer,
    ad: &[u8],
    sealed: &[u8],
    what: &str,
) -> Result<Zeroizing<String>, StorageError> {
    let plain = Zeroizing::new(sealer.open(ad, sealed).map_err(|_| integrity(what))?);
    std::str::from_utf8(&plain)
        .map(|s| Zeroizing::new(s.to_owned()))
        .map_err(|_| integrity(what))
}

/// Opens a case's sealed facts.
pub(crate) fn open_case(
    sealer: &Sealer,
    record: RecordId,
    sealed: &[u8],
) -> Result<CaseFacts, StorageError> {
    let text = open_text(sealer, &report_facts_ad(record), sealed, "report facts")?;
    decode_case(&text).ok_or_else(|| integrity("report facts"))
}

/// Opens only as much of a case's sealed facts as the intake date (the review list's
/// summaries need nothing else).
pub(crate) fn open_case_intake(
    sealer: &Sealer,
    record: RecordId,
    sealed: &[u8],
) -> Result<Option<Date>, StorageError> {
    let text = open_text(sealer, &report_facts_ad(record), sealed, "report facts")?;
    let first = text.split(FIELD_SEP).next().unwrap_or("");
    Ok(date(first))
}

/// Seals a service's facts (type, date, provider) for `service_facts.facts`; the case id
/// stays in its own clear column.
pub(crate) fn seal_service(sealer: &Sealer, record: RecordId, facts: &ServiceFacts) -> Vec<u8> {
    let plain = Zeroizing::new(format!(
        "{}{FIELD_SEP}{}{FIELD_SEP}{}",
        facts.service_type.as_str(),
        facts.date,
        facts.provider_agency.as_str()
    ));
    sealer.seal(&service_facts_ad(record), plain.as_bytes())
}

/// Opens a service's sealed facts. `Ok(None)` when a value no longer reads (a service type
/// dropped from the code list): the service is left out, as the derivation leaves it out.
pub(crate) fn open_service(
    sealer: &Sealer,
    record: RecordId,
    case_id: RecordId,
    sealed: &[u8],
) -> Result<Option<ServiceFacts>, StorageError> {
    let text = open_text(sealer, &service_facts_ad(record), sealed, "service facts")?;
    let f: Vec<&str> = text.split(FIELD_SEP).collect();
    if f.len() != SERVICE_FIELDS {
        return Err(integrity("service facts"));
    }
    let (Some(service_type), Some(date), Ok(provider_agency)) =
        (code(f[0]), date(f[1]), AgencyCode::parse(f[2]))
    else {
        return Ok(None);
    };
    Ok(Some(ServiceFacts {
        case_id,
        service_type,
        date,
        provider_agency,
    }))
}

// --- what a filter checks on an opened row (SQL sees only the intake month) -----------

/// Whether a day lies in the filter's period; without a date, only in an unbounded one.
pub(crate) fn in_period(day: Option<Date>, filter: &crate::reports::facts::FactFilter) -> bool {
    match day {
        Some(d) => filter.from.is_none_or(|f| d >= f) && filter.to.is_none_or(|t| d <= t),
        None => filter.from.is_none() && filter.to.is_none(),
    }
}

/// Whether a country of assistance is in the filter's list (any, without a list).
pub(crate) fn in_countries(
    country: Option<Country>,
    filter: &crate::reports::facts::FactFilter,
) -> bool {
    match &filter.countries {
        None => true,
        Some(list) => country.is_some_and(|c| list.contains(&c)),
    }
}

/// Whether the filter's country list is empty, which matches nothing.
pub(crate) fn no_country_matches(filter: &crate::reports::facts::FactFilter) -> bool {
    filter.countries.as_ref().is_some_and(|l| l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::model::codes::*;
    use fieldcase_core::model::Case;
    use serde_json::json;

    fn sealer() -> Sealer {
        Sealer::from_key(&[9; 32])
    }

    fn case() -> Case {
        let fields = fieldcase_core::model::flatten_json(&json!({
            "given_name": "Amina", "family_name": "Nakato", "date_of_birth": "1990-05-12",
            "sex": "female", "nationality": "UGA", "country_of_assistance": "KEN",
            "intake_date": "2025-03-04", "categories": ["victim_of_trafficking"],
            "exploitation_types": ["labour", "sexual"], "labour_sectors": ["fishing"],
            "programme": "avrr", "trafficking_type": "international",
            "country_of_destination": "ARE", "reintegration_assistance": ["medical"],
            "status": "active", "phone": "+256 772 123456",
            "document_numbers": [{"type": "passport", "number": "B1234567"}]
        }))
        .unwrap();
        Case::parse_fields(&fields).unwrap()
    }

    #[test]
    fn case_facts_round_trip_and_stay_bound_to_their_record() {
        let facts = CaseFacts::from_case(&case());
        assert_eq!(
            facts.exploitation_types.len(),
            2,
            "the fixture fills every field"
        );
        let record = RecordId::new();
        let sealed = seal_case(&sealer(), record, &facts);
        assert_eq!(open_case(&sealer(), record, &sealed).unwrap(), facts);
        assert_eq!(
            open_case_intake(&sealer(), record, &sealed).unwrap(),
            facts.intake_date
        );
        assert!(matches!(
            open_case(&sealer(), RecordId::new(), &sealed),
            Err(StorageError::Integrity(_))
        ));
        let empty = CaseFacts::default();
        let sealed = seal_case(&sealer(), record, &empty);
        assert_eq!(open_case(&sealer(), record, &sealed).unwrap(), empty);
    }

    #[test]
    fn a_row_of_one_table_does_not_open_as_another() {
        let record = RecordId::new();
        let sealed = seal_case(&sealer(), record, &CaseFacts::from_case(&case()));
        assert!(crate::storage::sealed_profile::open_profile(&sealer(), record, &sealed).is_err());
        assert!(open_service(&sealer(), record, record, &sealed).is_err());
    }

    #[test]
    fn service_facts_round_trip() {
        let facts = ServiceFacts {
            case_id: RecordId::new(),
            service_type: ServiceType::Shelter,
            date: Date::parse("2025-04-01").unwrap(),
            provider_agency: AgencyCode::parse("iom_uga").unwrap(),
        };
        let record = RecordId::new();
        let sealed = seal_service(&sealer(), record, &facts);
        assert_eq!(
            open_service(&sealer(), record, facts.case_id, &sealed).unwrap(),
            Some(facts.clone())
        );
    }

    #[test]
    fn damaged_plaintexts_are_refused_not_misread() {
        assert!(decode_case("2025-01-01|female").is_none());
    }
}
