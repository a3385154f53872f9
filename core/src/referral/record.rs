//! The referral record: what a device writes when it refers a case, and what the server adds.
//!
//! A referral is a record of kind `referral`, created once by the sending agency's device with
//! the keys of [`REFERRAL_KEYS`] and never edited by a device afterwards. Its status lives in
//! [`SERVER_KEYS`] (`status`, `status_reason`, `history`), which only the server writes — as
//! operations of its own device id ([`crate::protocol::SERVER_DEVICE_ID`]) — so the ordinary
//! merge distributes the server's decisions without ever producing a conflict. `Debug` never
//! shows the free-text reason.

use super::status::{ReferralStatus, Transition, Urgency};
use crate::ids::{AgencyCode, RecordId};
use crate::model::answers::MAX_ANSWERS;
use crate::model::codes::ServiceType;
use crate::model::date::Date;
use crate::model::keys::CASE_KEYS;
use crate::model::read::{self, reject_unknown_keys, required};
use crate::model::validate::{Collector, Reason, ValidationErrors};
use crate::model::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

pub const CASE_ID: &str = "case_id";
pub const FROM_AGENCY: &str = "from_agency";
pub const TO_AGENCY: &str = "to_agency";
pub const SERVICES: &str = "services";
pub const REASON: &str = "reason";
pub const URGENCY: &str = "urgency";
pub const SHARED_FIELDS: &str = "shared_fields";
pub const TRANSFER: &str = "transfer";
pub const SHARE_BACK: &str = "share_back";
pub const CREATED_BY: &str = "created_by";
pub const CREATED_ON: &str = "created_on";

/// Every key a device writes when it creates a referral.
pub const REFERRAL_KEYS: [&str; 11] = [
    CASE_ID,
    FROM_AGENCY,
    TO_AGENCY,
    SERVICES,
    REASON,
    URGENCY,
    SHARED_FIELDS,
    TRANSFER,
    SHARE_BACK,
    CREATED_BY,
    CREATED_ON,
];

/// The referral's status, as the server last decided it.
pub const STATUS: &str = "status";
/// The reason given with the last transition (a decline's why).
pub const STATUS_REASON: &str = "status_reason";
/// Every status the referral went through: who, what, when ([`HistoryEntry`]).
pub const HISTORY: &str = "history";

/// The keys only the server writes.
pub const SERVER_KEYS: [&str; 3] = [STATUS, STATUS_REASON, HISTORY];

/// Longest referral reason, in characters: what the person needs and why, in a few
/// paragraphs. A full account belongs in a note on the case.
pub const MAX_REFERRAL_REASON_CHARS: usize = 4000;

/// Most shared fields: every core variable and every answer a case may hold.
pub const MAX_SHARED_FIELDS: usize = CASE_KEYS.len() + MAX_ANSWERS;

/// A referral as the sending agency made it.
#[derive(Clone, PartialEq)]
pub struct Referral {
    pub case_id: RecordId,
    pub from_agency: AgencyCode,
    pub to_agency: AgencyCode,
    /// What the person needs from the receiving agency; never empty.
    pub services: BTreeSet<ServiceType>,
    /// Why, in the caseworker's words.
    pub reason: String,
    pub urgency: Urgency,
    /// The keys of the case the receiving agency may see (bounded by consent).
    pub shared_fields: BTreeSet<String>,
    /// Ownership of the case moves to the receiving agency when it accepts.
    pub transfer: bool,
    /// Services and notes the receiving agency adds are visible to the sending agency.
    pub share_back: bool,
    /// The user id of the caseworker who made it.
    pub created_by: String,
    pub created_on: Date,
}

impl fmt::Debug for Referral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Referral")
            .field("case_id", &self.case_id)
            .field("from_agency", &self.from_agency)
            .field("to_agency", &self.to_agency)
            .field("services", &self.services)
            .field("reason", &crate::model::Redacted)
            .field("urgency", &self.urgency)
            .field("shared_fields", &self.shared_fields)
            .field("transfer", &self.transfer)
            .field("share_back", &self.share_back)
            .field("created_by", &self.created_by)
            .field("created_on", &self.created_on)
            .finish()
    }
}

impl Referral {
    /// Reads the keys a device writes, taking today from the system clock (UTC). Server keys
    /// are refused ([`Reason::ServerOnly`]).
    pub fn from_fields(fields: &Fields) -> Result<Referral, ValidationErrors> {
        Referral::from_fields_as_of(fields, Date::today())
    }

    /// Reads and validates a referral as a device writes it, reporting every fault.
    pub fn from_fields_as_of(fields: &Fields, today: Date) -> Result<Referral, ValidationErrors> {
        let mut c = Collector::default();
        for key in SERVER_KEYS.iter().filter(|k| fields.contains_key(**k)) {
            c.push(*key, Reason::ServerOnly);
        }
        let device_written: Fields = fields
            .iter()
            .filter(|(k, _)| !SERVER_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let referral = read_referral(&mut c, &device_written, today);
        c.finish_some(referral)
    }

    /// The creation part of a stored referral (server keys ignored), checking values without
    /// the date bound: a referral stored yesterday stays readable whatever the clock says.
    pub fn from_stored(fields: &Fields) -> Result<Referral, ValidationErrors> {
        let device_written: Fields = fields
            .iter()
            .filter(|(k, _)| !SERVER_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut c = Collector::default();
        let far_future = Date::parse("9999-12-31").expect("a valid date");
        let referral = read_referral(&mut c, &device_written, far_future);
        c.finish_some(referral)
    }

    /// The flat field map; reads back to an equal referral.
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        let mut put = |k: &str, v: Value| {
            fields.insert(k.to_owned(), v);
        };
        put(CASE_ID, self.case_id.to_string().into());
        put(FROM_AGENCY, self.from_agency.as_str().into());
        put(TO_AGENCY, self.to_agency.as_str().into());
        put(
            SERVICES,
            self.services
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect(),
        );
        put(REASON, self.reason.as_str().into());
        put(URGENCY, self.urgency.as_str().into());
        put(
            SHARED_FIELDS,
            self.shared_fields
                .iter()
                .map(|k| Value::from(k.as_str()))
                .collect(),
        );
        put(TRANSFER, self.transfer.into());
        put(SHARE_BACK, self.share_back.into());
        put(CREATED_BY, self.created_by.as_str().into());
        put(CREATED_ON, self.created_on.to_string().into());
        fields
    }
}

fn read_referral(c: &mut Collector, fields: &Fields, today: Date) -> Option<Referral> {
    reject_unknown_keys(c, fields, &REFERRAL_KEYS);
    let case_id = required(c, fields, CASE_ID).and_then(|v| c.take(CASE_ID, read::record_id(v)));
    let from_agency =
        required(c, fields, FROM_AGENCY).and_then(|v| c.take(FROM_AGENCY, read::agency(v)));
    let to_agency = required(c, fields, TO_AGENCY).and_then(|v| c.take(TO_AGENCY, read::agency(v)));
    if let (Some(from), Some(to)) = (&from_agency, &to_agency) {
        if from == to {
            c.push(TO_AGENCY, Reason::SameAgency);
        }
    }
    let services = required(c, fields, SERVICES).and_then(|v| {
        let services = read::code_set::<ServiceType>(c, SERVICES, v)?;
        if services.is_empty() {
            c.push(SERVICES, Reason::Required);
            return None;
        }
        Some(services)
    });
    let reason = required(c, fields, REASON)
        .and_then(|v| c.take(REASON, read::prose(v, MAX_REFERRAL_REASON_CHARS)));
    let urgency = required(c, fields, URGENCY).and_then(|v| c.take(URGENCY, read::code(v)));
    let shared_fields = required(c, fields, SHARED_FIELDS).and_then(|v| {
        read::set(c, SHARED_FIELDS, v, MAX_SHARED_FIELDS, |c, path, item| {
            let key = c.take(path, read::string(item))?;
            if super::sharing::is_case_key(key) {
                Some(key.to_owned())
            } else {
                c.push(path, Reason::NotACaseField);
                None
            }
        })
    });
    let transfer = required(c, fields, TRANSFER).and_then(|v| c.take(TRANSFER, read::boolean(v)));
    let share_back =
        required(c, fields, SHARE_BACK).and_then(|v| c.take(SHARE_BACK, read::boolean(v)));
    let created_by =
        required(c, fields, CREATED_BY).and_then(|v| c.take(CREATED_BY, read::user_id(v)));
    let created_on =
        required(c, fields, CREATED_ON).and_then(|v| c.take(CREATED_ON, read::full_date(v, today)));
    Some(Referral {
        case_id: case_id?,
        from_agency: from_agency?,
        to_agency: to_agency?,
        services: services?,
        reason: reason?,
        urgency: urgency?,
        shared_fields: shared_fields?,
        transfer: transfer?,
        share_back: share_back?,
        created_by: created_by?,
        created_on: created_on?,
    })
}

/// One step of a referral's life, as the server recorded it: who did what, when.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The status the referral reached.
    pub status: ReferralStatus,
    /// The transition that led there; `None` for the creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// The agency that acted.
    pub agency: AgencyCode,
    /// The user (staff) id of the device that acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When the server applied it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The reason given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl fmt::Debug for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryEntry")
            .field("status", &self.status)
            .field("transition", &self.transition)
            .field("agency", &self.agency)
            .field("user", &self.user)
            .field("at_ms", &self.at_ms)
            .field("reason", crate::model::redacted(&self.reason))
            .finish()
    }
}

/// What the server wrote on a referral: its status and history.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServerState {
    /// `None` until the server has seen the referral.
    pub status: Option<ReferralStatus>,
    pub reason: Option<String>,
    pub history: Vec<HistoryEntry>,
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerState")
            .field("status", &self.status)
            .field("reason", crate::model::redacted(&self.reason))
            .field("history", &self.history)
            .finish()
    }
}

impl ServerState {
    /// Reads the server keys of a stored referral. They come from the server only, so a value
    /// that does not read is treated as absent rather than refused.
    pub fn read(fields: &Fields) -> ServerState {
        ServerState {
            status: fields
                .get(STATUS)
                .and_then(Value::as_str)
                .and_then(ReferralStatus::parse),
            reason: fields
                .get(STATUS_REASON)
                .and_then(Value::as_str)
                .map(str::to_owned),
            history: fields
                .get(HISTORY)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        }
    }

    /// The server keys as fields (a cleared reason is `null`).
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        if let Some(status) = self.status {
            fields.insert(STATUS.into(), status.as_str().into());
        }
        fields.insert(
            STATUS_REASON.into(),
            self.reason.as_deref().map_or(Value::Null, Value::from),
        );
        fields.insert(
            HISTORY.into(),
            serde_json::to_value(&self.history).expect("history serializes"),
        );
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> Date {
        Date::parse("2026-10-01").unwrap()
    }

    fn fields() -> Fields {
        let value = json!({
            "case_id": RecordId::new().to_string(),
            "from_agency": "iom_uga", "to_agency": "iom_eth",
            "services": ["shelter", "return_travel"], "reason": "Return home; needs a bed on arrival.",
            "urgency": "high", "shared_fields": ["nationality", "sex"],
            "transfer": true, "share_back": false,
            "created_by": "cw-1", "created_on": "2026-09-30"
        });
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn a_referral_round_trips() {
        let fields = fields();
        let referral = Referral::from_fields_as_of(&fields, today()).unwrap();
        assert!(referral.transfer && !referral.share_back);
        assert_eq!(referral.urgency, Urgency::High);
        assert_eq!(referral.to_fields(), fields);
        assert_eq!(Referral::from_stored(&fields).unwrap(), referral);
        assert!(!format!("{referral:?}").contains("bed on arrival"));
    }

    #[test]
    fn every_fault_is_reported_by_field() {
        let mut bad = fields();
        bad.insert(TO_AGENCY.into(), json!("iom_uga"));
        bad.insert(SERVICES.into(), json!([]));
        bad.insert(SHARED_FIELDS.into(), json!(["sex", "Amina Secret", "sex"]));
        bad.insert(STATUS.into(), json!("accepted"));
        bad.insert(URGENCY.into(), json!("whenever"));
        bad.remove(REASON);
        let errors = Referral::from_fields_as_of(&bad, today()).unwrap_err();
        assert!(errors.contains(TO_AGENCY, &Reason::SameAgency));
        assert!(errors.contains(SERVICES, &Reason::Required));
        assert!(errors.contains("shared_fields[1]", &Reason::NotACaseField));
        assert!(errors.contains("shared_fields[2]", &Reason::DuplicateItem));
        assert!(errors.contains(STATUS, &Reason::ServerOnly));
        assert!(errors.contains(REASON, &Reason::Required));
        assert_eq!(errors.reasons_for(URGENCY).len(), 1);
        assert!(!errors.to_string().contains("Amina"));
    }

    #[test]
    fn server_state_round_trips_and_tolerates_absence() {
        assert_eq!(ServerState::read(&fields()), ServerState::default());
        let state = ServerState {
            status: Some(ReferralStatus::Declined),
            reason: Some("no bed".into()),
            history: vec![HistoryEntry {
                status: ReferralStatus::Declined,
                transition: Some(Transition::Decline),
                agency: AgencyCode::parse("iom_eth").unwrap(),
                user: Some("u-2".into()),
                at_ms: 5,
                reason: Some("no bed".into()),
            }],
        };
        assert_eq!(ServerState::read(&state.to_fields()), state);
        assert!(!format!("{state:?}").contains("no bed"));
    }
}
