//! Identifiers: records, devices and agencies.
//!
//! Record ids are UUIDv7 made on the device that creates the record, so two phones offline
//! never need to agree on an id and ids sort roughly by creation time. Device ids are UUIDs
//! assigned at enrollment (or made locally for a store that has never enrolled). Agency codes
//! are short lowercase codes such as `iom_uga`, the same codes `consent.data_sharing` lists.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The id of one record (case, service, note, referral, form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(pub Uuid);

impl RecordId {
    /// A fresh time-ordered id.
    pub fn new() -> Self {
        RecordId(Uuid::now_v7())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RecordId(Uuid::from_bytes(bytes))
    }

    /// An id in the server's namespace, made from 16 bytes of a digest: a UUID of version 8
    /// with the variant bits `111` ("reserved for future definition", RFC 9562 §4.1). No UUID
    /// generator makes that variant (devices make v7 ids, and v8 ids of the RFC variant for
    /// imports), so a device can never hold such an id by chance, and the server refuses any
    /// device operation on one: records the server writes (form versions) cannot be squatted.
    pub fn server_authored(digest: [u8; 16]) -> Self {
        let mut bytes = digest;
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x1f) | 0xe0;
        RecordId::from_bytes(bytes)
    }

    /// Whether this id is in the server's namespace ([`RecordId::server_authored`]).
    pub fn is_server_authored(&self) -> bool {
        self.as_bytes()[8] & 0xe0 == 0xe0
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for RecordId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(RecordId(Uuid::parse_str(s)?))
    }
}

/// The id of one device (one enrolled user's store on one phone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub Uuid);

impl DeviceId {
    pub fn new_random() -> Self {
        DeviceId(Uuid::new_v4())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DeviceId(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for DeviceId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DeviceId(Uuid::parse_str(s)?))
    }
}

/// A partner agency's code: 2 to 32 characters of `a-z`, `0-9` and `_`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyCode(String);

/// Why a string is not an agency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an agency code is 2 to 32 characters of a-z, 0-9 and _, starting with a letter")]
pub struct InvalidAgencyCode;

impl AgencyCode {
    pub fn parse(code: &str) -> Result<Self, InvalidAgencyCode> {
        let valid_len = (2..=32).contains(&code.len());
        let starts_with_letter = code.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let valid_chars = code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid_len && starts_with_letter && valid_chars {
            Ok(AgencyCode(code.to_owned()))
        } else {
            Err(InvalidAgencyCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgencyCode {
    type Error = InvalidAgencyCode;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        AgencyCode::parse(&value)
    }
}

impl From<AgencyCode> for String {
    fn from(code: AgencyCode) -> String {
        code.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_codes_are_validated() {
        assert!(AgencyCode::parse("iom_uga").is_ok());
        assert!(AgencyCode::parse("a").is_err());
        assert!(AgencyCode::parse("IOM").is_err());
        assert!(AgencyCode::parse("1iom").is_err());
        assert!(AgencyCode::parse("iom-uga").is_err());
    }

    #[test]
    fn record_ids_round_trip_through_bytes_and_text() {
        let id = RecordId::new();
        assert_eq!(RecordId::from_bytes(*id.as_bytes()), id);
        assert_eq!(id.to_string().parse::<RecordId>().unwrap(), id);
    }
}
