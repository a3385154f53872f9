//! The JSON bodies of the admin API (`/v1/admin/…`), shared by the server and `fieldcase admin`.
//!
//! Times are RFC 3339 UTC strings. Sync and enrollment bodies are not here: they are protocol
//! types in `fieldcase_core::protocol`, shared with devices.

use crate::roles::Role;
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/agencies`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgencyBody {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyBody {
    pub code: String,
    pub name: String,
    pub created_at: String,
}

/// `POST /v1/admin/users`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub agency: String,
    pub role: Role,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBody {
    pub id: String,
    pub agency: String,
    pub role: Role,
    pub display_name: String,
    pub created_at: String,
}

/// `POST /v1/admin/users/{user_id}/enrollment-codes`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentCodeBody {
    /// Hours until the code expires; the server's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_hours: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentCodeBody {
    /// Shown once; the server keeps only a hash.
    pub code: String,
    /// The code's public id, for listing and revoking it.
    pub id: String,
    pub user_id: String,
    pub agency: String,
    pub expires_at: String,
    /// Pins of the server's TLS key (`sha256/…`) when it serves TLS itself: the current key's,
    /// then any backup keys'. A device enrolled with them trusts no other key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBody {
    pub id: String,
    pub agency: String,
    pub user_id: String,
    pub label: String,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    pub last_seq: u64,
    pub revoked_at: Option<String>,
}

/// `POST /v1/admin/tokens`: an admin token for one agency's admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdminTokenBody {
    pub agency: String,
    pub label: String,
    /// Days until the token stops working; the server's default (90) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

/// A new admin token (`POST /v1/admin/tokens`, `POST /v1/admin/tokens/rotate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTokenBody {
    /// Shown once; the server keeps only a hash.
    pub token: String,
    /// The token's public id, for listing and revoking it.
    pub id: String,
    /// The agency it is limited to; `null` for a system-admin token.
    pub agency: Option<String>,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
}

/// `POST /v1/admin/tokens/rotate`: a new token like the caller's, which stops working.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateAdminTokenBody {
    /// Days until the new token stops working; the server's default (90) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

/// `GET /v1/admin/tokens`: one admin token, without its secret or hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTokenInfoBody {
    pub id: String,
    /// `null` for a system-admin token.
    pub agency: Option<String>,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// `GET /v1/admin/enrollment-codes`: one enrollment code, without the code or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentCodeInfoBody {
    pub id: String,
    pub user_id: String,
    pub agency: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// `GET /v1/admin/users?agency=…` and `GET /v1/admin/devices?agency=…`
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyFilter {
    #[serde(default)]
    pub agency: Option<String>,
}

/// `GET /healthz`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBody {
    pub status: String,
    pub protocol: u32,
    pub version: String,
}

/// `POST /v1/admin/forms` (the body is the form definition) and `GET /v1/admin/forms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormBody {
    pub agency: String,
    pub id: String,
    pub version: u32,
    /// Title by language code.
    pub title: std::collections::BTreeMap<String, String>,
    /// How many fields (questions and notes) the version has.
    pub fields: usize,
    /// This request published it; false when the same version was already published with
    /// the same definition.
    pub created: bool,
}

/// The query of `POST /v1/admin/forms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishQuery {
    /// The agency to publish for.
    #[serde(default)]
    pub agency: Option<String>,
    /// Publish for every agency, now and later (system admin).
    #[serde(default)]
    pub network: Option<bool>,
}

/// `GET /v1/admin/audit?case=…` or `?user=…`: whose audit trail (exactly one of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrailQuery {
    #[serde(default)]
    pub case: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// One entry of an audit trail: who (agency, device, user) did what (event, detail: codes
/// only) to which record, when, and where it stands in the audit chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryBody {
    /// The entry's sequence number in the chain (`null`: written outside it).
    pub seq: Option<u64>,
    pub at: String,
    pub event: String,
    pub agency: String,
    pub device_id: Option<String>,
    pub user_id: Option<String>,
    pub record_id: Option<String>,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
    pub ops: Option<u32>,
    pub detail: Option<String>,
}

/// `PUT /v1/admin/agencies/{code}/retention` and its `GET`: how many days the agency keeps
/// closed cases (`null`: for ever).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    pub days: Option<u32>,
}
