//! Services given: append-only records linked to a case.
//!
//! One record per service given (a night of shelter, a medical consultation, return travel), so
//! reports can count both "assistance given" and "individuals assisted". A [`Service`] always
//! has its case, type, date (a full date, not in the future) and provider agency; its notes are
//! optional free text. Fields are private and set once, as befits an append-only record; `Debug`
//! redacts the notes.

use super::codes::ServiceType;
use super::date::Date;
use super::read::{self, optional, reject_unknown_keys, required};
use super::validate::{Collector, ValidationErrors};
use super::{redacted, Fields};
use crate::ids::{AgencyCode, RecordId};
use serde_json::Value;
use std::fmt;

pub const CASE_ID: &str = "case_id";
pub const SERVICE_TYPE: &str = "service_type";
pub const DATE: &str = "date";
pub const PROVIDER_AGENCY: &str = "provider_agency";
pub const NOTES: &str = "notes";

/// Every key of a service record.
pub const SERVICE_KEYS: [&str; 5] = [CASE_ID, SERVICE_TYPE, DATE, PROVIDER_AGENCY, NOTES];

/// Longest service notes, in characters: a few paragraphs on what was given. A longer account
/// belongs in a note, which is sized for narratives.
pub const MAX_SERVICE_NOTES_CHARS: usize = 4000;

/// One service given to the person of a case.
#[derive(Clone, PartialEq)]
pub struct Service {
    case_id: RecordId,
    service_type: ServiceType,
    date: Date,
    provider_agency: AgencyCode,
    notes: Option<String>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("case_id", &self.case_id)
            .field("service_type", &self.service_type)
            .field("date", &self.date)
            .field("provider_agency", &self.provider_agency)
            .field("notes", redacted(&self.notes))
            .finish()
    }
}

impl Service {
    /// A checked service record (the date must not be in the future by the system clock).
    pub fn new(
        case_id: RecordId,
        service_type: ServiceType,
        date: Date,
        provider_agency: AgencyCode,
        notes: Option<String>,
    ) -> Result<Service, ValidationErrors> {
        let service = Service {
            case_id,
            service_type,
            date,
            provider_agency,
            notes,
        };
        Service::from_fields(&service.to_fields())?;
        Ok(service)
    }

    /// Reads and validates a flat field map, taking today from the system clock (UTC).
    pub fn from_fields(fields: &Fields) -> Result<Service, ValidationErrors> {
        Service::from_fields_as_of(fields, Date::today())
    }

    /// Reads and validates a flat field map, reporting every fault.
    pub fn from_fields_as_of(fields: &Fields, today: Date) -> Result<Service, ValidationErrors> {
        let mut c = Collector::default();
        reject_unknown_keys(&mut c, fields, &SERVICE_KEYS);
        let case_id =
            required(&mut c, fields, CASE_ID).and_then(|v| c.take(CASE_ID, read::record_id(v)));
        let service_type = required(&mut c, fields, SERVICE_TYPE)
            .and_then(|v| c.take(SERVICE_TYPE, read::code(v)));
        let date =
            required(&mut c, fields, DATE).and_then(|v| c.take(DATE, read::full_date(v, today)));
        let provider_agency = required(&mut c, fields, PROVIDER_AGENCY)
            .and_then(|v| c.take(PROVIDER_AGENCY, read::agency(v)));
        let notes = match optional(fields, NOTES) {
            Some(v) => c
                .take(NOTES, read::prose(v, MAX_SERVICE_NOTES_CHARS))
                .map(Some),
            None => Some(None),
        };
        let service = (|| {
            Some(Service {
                case_id: case_id?,
                service_type: service_type?,
                date: date?,
                provider_agency: provider_agency?,
                notes: notes?,
            })
        })();
        c.finish_some(service)
    }

    /// The flat field map; reads back to an equal service.
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        fields.insert(CASE_ID.into(), Value::from(self.case_id.to_string()));
        fields.insert(SERVICE_TYPE.into(), Value::from(self.service_type.as_str()));
        fields.insert(DATE.into(), Value::from(self.date.to_string()));
        fields.insert(
            PROVIDER_AGENCY.into(),
            Value::from(self.provider_agency.as_str()),
        );
        if let Some(notes) = &self.notes {
            fields.insert(NOTES.into(), Value::from(notes.as_str()));
        }
        fields
    }

    pub fn case_id(&self) -> RecordId {
        self.case_id
    }

    pub fn service_type(&self) -> ServiceType {
        self.service_type
    }

    pub fn date(&self) -> Date {
        self.date
    }

    pub fn provider_agency(&self) -> &AgencyCode {
        &self.provider_agency
    }

    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate::Reason;
    use super::*;
    use serde_json::json;

    const CASE: &str = "0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10";

    fn today() -> Date {
        Date::parse("2024-06-10").unwrap()
    }

    fn read(value: Value) -> Result<Service, ValidationErrors> {
        let fields: Fields = serde_json::from_value(value).unwrap();
        Service::from_fields_as_of(&fields, today())
    }

    #[test]
    fn services_round_trip_and_expose_typed_values() {
        let value = json!({"case_id": CASE, "service_type": "return_travel", "date": "2024-06-01",
            "provider_agency": "iom_uga", "notes": "Bus to Kampala.\nEscorted."});
        let service = read(value.clone()).unwrap();
        assert_eq!(service.case_id(), CASE.parse().unwrap());
        assert_eq!(service.service_type(), ServiceType::ReturnTravel);
        assert_eq!(service.date(), Date::parse("2024-06-01").unwrap());
        assert_eq!(service.provider_agency().as_str(), "iom_uga");
        assert_eq!(service.notes(), Some("Bus to Kampala.\nEscorted."));
        assert_eq!(serde_json::to_value(service.to_fields()).unwrap(), value);
        assert_eq!(
            Service::from_fields_as_of(&service.to_fields(), today()),
            Ok(service)
        );

        let without_notes = json!({"case_id": CASE, "service_type": "medical",
            "date": "2024-06-01", "provider_agency": "msf", "notes": null});
        assert_eq!(read(without_notes).unwrap().notes(), None);
    }

    #[test]
    fn every_field_is_checked_and_all_faults_reported() {
        let errors = read(json!({})).unwrap_err();
        for key in [CASE_ID, SERVICE_TYPE, DATE, PROVIDER_AGENCY] {
            assert_eq!(errors.reasons_for(key), [&Reason::Required], "{key}");
        }
        assert_eq!(errors.len(), 4);

        let errors = read(json!({"case_id": "case-1", "service_type": "massage",
            "date": "2024-06-20", "provider_agency": "IOM Uganda", "notes": " ", "cost": 3}))
        .unwrap_err();
        assert!(errors.contains(CASE_ID, &Reason::InvalidRecordId));
        assert!(errors.contains(
            SERVICE_TYPE,
            &Reason::UnknownCode {
                allowed: ServiceType::CODES
            }
        ));
        assert!(errors.contains(DATE, &Reason::FutureDate));
        assert!(errors.contains(PROVIDER_AGENCY, &Reason::InvalidAgencyCode));
        assert!(errors.contains(NOTES, &Reason::EmptyText));
        assert!(errors.contains("cost", &Reason::UnknownKey));
        assert_eq!(errors.len(), 6);

        let long = "n".repeat(MAX_SERVICE_NOTES_CHARS + 1);
        let errors = read(
            json!({"case_id": CASE, "service_type": "legal", "date": "2024-06",
            "provider_agency": "iom_uga", "notes": long}),
        )
        .unwrap_err();
        assert!(errors.contains(DATE, &Reason::PartialDate));
        assert!(errors.contains(
            NOTES,
            &Reason::TooLong {
                max_chars: MAX_SERVICE_NOTES_CHARS
            }
        ));
    }

    #[test]
    fn new_checks_and_debug_hides_the_notes() {
        let agency = AgencyCode::parse("iom_uga").unwrap();
        let date = Date::parse("2024-06-01").unwrap();
        let notes = Some("Met Secretname at the border".to_owned());
        let service = Service::new(
            RecordId::new(),
            ServiceType::Shelter,
            date,
            agency.clone(),
            notes,
        )
        .unwrap();
        let debug = format!("{service:?}");
        assert!(
            !debug.contains("Secretname") && debug.contains("notes: <redacted>"),
            "{debug}"
        );
        let too_long = Some("x".repeat(MAX_SERVICE_NOTES_CHARS + 1));
        assert!(Service::new(
            RecordId::new(),
            ServiceType::Shelter,
            date,
            agency,
            too_long
        )
        .is_err());
    }
}
