//! Referral handoff with no network (`docs/handoff.md`): make a bundle of a referral for the
//! receiving agency's phone, read one, cut a bundle into QR codes' worth of bytes, and put
//! scanned codes back together in any order. The app picks the carrier (QR codes on screen, or
//! the bytes as a file over Bluetooth, Wi-Fi Direct or a USB stick); the bytes are the same.
//!
//! Every refusal is `FieldcaseError::Handoff` with a stable `code` (`expired`, `wrong_agency`,
//! `tampered`, `bad_signature`, `replayed`, `revoked_device`, `unknown_device`, `no_keys`, …)
//! and imports nothing.

use crate::error::{FieldcaseError, Result};
use crate::store::{record_id, FieldcaseStore};
use fieldcase_core::handoff::qr::{self, Assembler, ChunkError};
use fieldcase_core::handoff::DEFAULT_LIFETIME_MS;
use std::sync::Mutex;

/// A bundle made for the receiving agency. Its `toString` shows nothing (a bundle is
/// encrypted, but kilobytes of it in a log help no one).
#[derive(uniffi::Record)]
#[uniffi::export(Debug)]
pub struct HandoffBundle {
    pub bundle_id: String,
    /// Encrypted and signed: safe to hand to any carrier.
    pub bytes: Vec<u8>,
}
redacted_debug!(HandoffBundle);

/// What reading a bundle imported. The referral is then listed like any other, with its
/// creation unconfirmed until the server has it; accept or decline it at once as usual.
#[derive(Debug, uniffi::Record)]
pub struct HandoffImport {
    pub bundle_id: String,
    pub referral_id: String,
    pub case_id: String,
    pub from_agency: String,
    pub fields: u32,
    pub attachments: u32,
}

/// Where a QR assembly stands.
#[derive(Debug, uniffi::Record)]
pub struct ChunkProgress {
    pub received: u32,
    pub count: u32,
    pub complete: bool,
}

#[uniffi::export]
impl FieldcaseStore {
    /// Makes a bundle of a referral made on this phone, readable for `lifetime_minutes` (a day
    /// when `None`; at most a week). Needs one sync since enrollment (`no_keys` otherwise).
    pub fn make_handoff_bundle(
        &self,
        referral_id: String,
        lifetime_minutes: Option<u32>,
    ) -> Result<HandoffBundle> {
        let id = record_id("referral_id", &referral_id)?;
        let lifetime_ms = lifetime_minutes.map_or(DEFAULT_LIFETIME_MS, |m| u64::from(m) * 60_000);
        let made = self.store().make_handoff(&id, lifetime_ms)?;
        Ok(HandoffBundle {
            bundle_id: made.id.to_string(),
            bytes: made.bytes,
        })
    }

    /// Reads a bundle made for this phone's agency and imports the referral and what it
    /// shares; any failure imports nothing.
    pub fn read_handoff_bundle(&self, bytes: Vec<u8>) -> Result<HandoffImport> {
        let imported = self.store().read_handoff(&bytes)?;
        Ok(HandoffImport {
            bundle_id: imported.bundle_id.to_string(),
            referral_id: imported.referral_id.to_string(),
            case_id: imported.case_id.to_string(),
            from_agency: imported.from_agency.as_str().to_owned(),
            fields: imported.fields as u32,
            attachments: imported.attachments as u32,
        })
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// On the receiving phone, after accepting or declining a referral read from a bundle: a
    /// signed receipt of that answer (one QR code) for the referring phone to read.
    pub fn make_handoff_receipt(&self, referral_id: String) -> Result<Vec<u8>> {
        let id = record_id("referral_id", &referral_id)?;
        Ok(self.store().make_handoff_receipt(&id)?)
    }

    /// On the referring phone: reads the receiving phone's receipt; returns the transition it
    /// reports, which `handoff_reported` shows until the server's status arrives.
    pub fn read_handoff_receipt(&self, bytes: Vec<u8>) -> Result<crate::referrals::Transition> {
        Ok(self.store().read_handoff_receipt(&bytes)?)
    }

    /// The receiving phone's reported answer to a referral made here, while the server has
    /// not decided it yet.
    pub fn handoff_reported(
        &self,
        referral_id: String,
    ) -> Result<Option<crate::referrals::Transition>> {
        let id = record_id("referral_id", &referral_id)?;
        Ok(self.store().handoff_reported(&id)?)
    }
}

/// Cuts a bundle into chunks, each for one QR code (version 12, level M: show them one after
/// another, in any order).
#[uniffi::export]
pub fn handoff_qr_chunks(bundle: Vec<u8>) -> Result<Vec<Vec<u8>>> {
    Ok(qr::chunks(&bundle)?)
}

/// Puts scanned QR chunks back together. Any order; a duplicate changes nothing; a misread
/// code or one of another bundle is refused on its own.
#[derive(uniffi::Object)]
pub struct HandoffAssembler {
    inner: Mutex<Assembler>,
}

impl std::fmt::Debug for HandoffAssembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandoffAssembler { .. }")
    }
}

impl HandoffAssembler {
    fn lock(&self) -> std::sync::MutexGuard<'_, Assembler> {
        // A panic cannot happen while the lock is held (nothing in `Assembler` panics);
        // a poisoned lock still holds a consistent assembler.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[uniffi::export]
impl HandoffAssembler {
    #[uniffi::constructor]
    pub fn new() -> Self {
        HandoffAssembler {
            inner: Mutex::new(Assembler::new()),
        }
    }

    /// Takes one scanned chunk.
    pub fn add(&self, chunk: Vec<u8>) -> Result<ChunkProgress> {
        let progress = self.lock().add(&chunk).map_err(chunk_error)?;
        Ok(ChunkProgress {
            received: progress.received as u32,
            count: progress.count as u32,
            complete: progress.is_complete(),
        })
    }

    /// The chunk indexes still missing (0-based), for "show code 7 again".
    pub fn missing(&self) -> Vec<u32> {
        self.lock()
            .missing()
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }

    /// The whole bundle once every chunk is in; `None` before.
    pub fn bundle(&self) -> Option<Vec<u8>> {
        self.lock().bundle()
    }
}

impl Default for HandoffAssembler {
    fn default() -> Self {
        Self::new()
    }
}

fn chunk_error(error: ChunkError) -> FieldcaseError {
    let code = match error {
        ChunkError::NotAChunk => "not_a_chunk",
        ChunkError::Damaged => "chunk_damaged",
        ChunkError::OtherBundle => "other_bundle",
    };
    FieldcaseError::Handoff {
        code: code.into(),
        reason: error.to_string(),
    }
}
