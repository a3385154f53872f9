//! How a case's review reasons are kept at rest by every backend: sealed under the server key
//! bound to the case (`seal::case_review_ad`), so a copy of the database shows which cases are
//! flagged and since when, not which fields of which forms they break.

use crate::seal::{case_review_ad, Sealer};
use crate::storage::StorageError;
use fieldcase_core::RecordId;

pub(crate) fn seal(sealer: &Sealer, case: RecordId, reasons: &str) -> Vec<u8> {
    sealer.seal(&case_review_ad(case), reasons.as_bytes())
}

pub(crate) fn open(sealer: &Sealer, case: RecordId, sealed: &[u8]) -> Result<String, StorageError> {
    let integrity = || StorageError::Integrity("a case's review reasons do not open".into());
    let plain = sealer
        .open(&case_review_ad(case), sealed)
        .map_err(|_| integrity())?;
    String::from_utf8(plain).map_err(|_| integrity())
}
