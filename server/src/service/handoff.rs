//! Offline handoff on the server (`docs/handoff.md`): registering devices' signing keys, the
//! directory phones need to make and read bundles with no network, and reconciling referrals
//! handed over phone to phone.
//!
//! - Keys: a device sends its Ed25519 public key with every sync; the first one is registered
//!   and a different one later is refused. Each agency gets an X25519 key pair the first time
//!   a directory is built; its secret is a sealed setting and goes only to the agency's own
//!   devices.
//! - Reconciling: the receiving phone presents the signed part of a bundle it read. The server
//!   checks the signature against the registered key, that the signer belongs to the
//!   referring agency and is not revoked, that the presenter belongs to the receiving agency,
//!   the bundle's age, and that no other device presented it; then decides the referral
//!   operation exactly as if the referring device had pushed it ([`super::push`]'s rules),
//!   so consent, ownership (a case transferred meanwhile) and validity are judged by the one
//!   set of rules. The referral is created once whichever phone arrives first: from the
//!   bundle, or from the referring phone's push, which then finds it already recorded. Fields
//!   the bundle carried that consent no longer allows come back as `withdrawn`, for the
//!   receiving phone to drop.
//! - A bundle whose case the server does not hold yet (made on a phone that has not synced
//!   the case) is `Pending`: the phone presents it again, and the receiving agency's commands
//!   on it wait unanswered until the referring phone syncs.

use super::push;
use crate::storage::port::StoreTx;
use crate::storage::{DeviceAuth, Storage, StorageError};
use fieldcase_core::handoff::{AgencySecretKey, BundleId, DevicePublicKey, Header, SignedReferral};
use fieldcase_core::protocol::{
    DirectoryDevice, HandoffDirectory, HandoffOutcome, HandoffReply, HandoffResult, HandoffSync,
    RejectReason, MAX_CLOCK_AHEAD_MS, MAX_PUSH_HANDOFFS,
};
use fieldcase_core::referral::shareable;
use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

const DEVICE_KEY_PREFIX: &str = "handoff/device_key/";
const AGENCY_PUBLIC_PREFIX: &str = "handoff/agency_public/";
const AGENCY_SECRET_PREFIX: &str = "handoff/agency_secret/";
const BUNDLE_PREFIX: &str = "handoff/bundle/";
const PENDING_PREFIX: &str = "handoff/pending/";

/// How long after a bundle's expiry the server still reconciles it: a phone that read it in
/// time may stay without a network for two more weeks.
pub const RECONCILE_GRACE_MS: u64 = 14 * 24 * 60 * 60 * 1000;

/// Why a whole handoff part of a sync is refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoffSyncError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What the server keeps about a reconciled bundle.
#[derive(Serialize, Deserialize)]
struct BundleRecord {
    referral_id: RecordId,
    device: DeviceId,
    withdrawn: Vec<String>,
}

/// Handles the handoff part of a sync: registers the key, reconciles the signed referrals
/// (each in its own transaction), and sends the directory when the device's is out of date.
pub fn sync(
    storage: &dyn Storage,
    device: &DeviceAuth,
    request: &HandoffSync,
    now_ms: u64,
) -> Result<HandoffReply, HandoffSyncError> {
    if request.referrals.len() > MAX_PUSH_HANDOFFS {
        return Err(HandoffSyncError::BadRequest(
            "a sync presents at most 50 handed-over referrals; send the rest in the next sync",
        ));
    }
    let key = DevicePublicKey::parse_hex(&request.signing_key).ok_or(
        HandoffSyncError::BadRequest("handoff.signing_key must be 64 hex digits"),
    )?;
    register_key(storage, device, &key)?;
    let mut results = Vec::with_capacity(request.referrals.len());
    for signed in &request.referrals {
        results.push(reconcile(storage, device, signed, now_ms)?);
    }
    let directory = directory(storage, &device.agency)?;
    Ok(HandoffReply {
        directory: (request.directory_digest.as_deref() != Some(&directory.digest))
            .then_some(directory),
        results,
    })
}

fn register_key(
    storage: &dyn Storage,
    device: &DeviceAuth,
    key: &DevicePublicKey,
) -> Result<(), HandoffSyncError> {
    let name = format!("{DEVICE_KEY_PREFIX}{}", device.id);
    let known = crate::storage::read(storage, |tx| tx.setting(&name))?;
    match known {
        Some(bytes) if bytes == key.0 => Ok(()),
        Some(_) => Err(HandoffSyncError::BadRequest(
            "this device registered another signing key; re-enroll it to use a new one",
        )),
        None => {
            let inserted = crate::storage::write(storage, |tx| tx.insert_setting(&name, &key.0));
            match inserted {
                Ok(()) => Ok(()),
                // A concurrent sync of the same device registered it first: check it is ours.
                Err(StorageError::AlreadyExists(_)) => register_key(storage, device, key),
                Err(other) => Err(other.into()),
            }
        }
    }
}

/// Gives every agency without one an X25519 key pair, in one transaction.
fn ensure_agency_keys(storage: &dyn Storage) -> Result<(), StorageError> {
    let missing: Vec<AgencyCode> = crate::storage::read(storage, |tx| {
        let have: BTreeSet<String> = tx
            .settings_with_prefix(AGENCY_PUBLIC_PREFIX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        Ok(tx
            .agency_codes()?
            .into_iter()
            .filter(|a| !have.contains(&format!("{AGENCY_PUBLIC_PREFIX}{a}")))
            .collect())
    })?;
    if missing.is_empty() {
        return Ok(());
    }
    let written = crate::storage::write(storage, |tx| {
        for agency in &missing {
            let secret = AgencySecretKey::generate();
            tx.insert_secret_setting(
                &format!("{AGENCY_SECRET_PREFIX}{agency}"),
                secret.expose_bytes().as_ref(),
            )?;
            tx.insert_setting(
                &format!("{AGENCY_PUBLIC_PREFIX}{agency}"),
                &secret.public().0,
            )?;
        }
        Ok(())
    });
    match written {
        // Another sync made them at the same time: its keys stand.
        Err(StorageError::AlreadyExists(_)) => Ok(()),
        other => other,
    }
}

/// The directory as a device of `agency` receives it.
pub fn directory(
    storage: &dyn Storage,
    agency: &AgencyCode,
) -> Result<HandoffDirectory, StorageError> {
    ensure_agency_keys(storage)?;
    let devices = storage.list_devices(None)?;
    crate::storage::read(storage, |tx| {
        let agencies: BTreeMap<AgencyCode, String> = tx
            .settings_with_prefix(AGENCY_PUBLIC_PREFIX)?
            .into_iter()
            .filter_map(|(k, v)| {
                let code = AgencyCode::parse(k.strip_prefix(AGENCY_PUBLIC_PREFIX)?).ok()?;
                Some((code, hex(&v)))
            })
            .collect();
        let keys: BTreeMap<String, Vec<u8>> = tx
            .settings_with_prefix(DEVICE_KEY_PREFIX)?
            .into_iter()
            .collect();
        let devices: Vec<DirectoryDevice> = devices
            .iter()
            .filter_map(|d| {
                let key = keys.get(&format!("{DEVICE_KEY_PREFIX}{}", d.id))?;
                Some(DirectoryDevice {
                    device: d.id,
                    agency: d.agency.clone(),
                    key: hex(key),
                    revoked: d.revoked_at_ms.is_some(),
                })
            })
            .collect();
        let secret = tx
            .secret_setting(&format!("{AGENCY_SECRET_PREFIX}{agency}"))?
            .ok_or_else(|| StorageError::Integrity("an agency has no handoff key".into()))?;
        let mut digest = Sha256::new();
        digest.update(serde_json::to_vec(&(&agencies, &devices)).expect("serializes"));
        Ok(HandoffDirectory {
            digest: hex(&digest.finalize()),
            agency_key: hex(&secret),
            agencies,
            devices,
        })
    })
}

fn refused(
    header: Option<&Header>,
    referral: Option<RecordId>,
    code: &str,
    reason: String,
) -> HandoffResult {
    HandoffResult {
        bundle_id: header.map_or(BundleId(uuid::Uuid::nil()), |h| h.id),
        referral_id: referral.unwrap_or(RecordId(uuid::Uuid::nil())),
        outcome: HandoffOutcome::Refused {
            code: code.to_owned(),
            reason,
        },
    }
}

/// Reconciles one signed referral presented by `device` (see the module docs).
fn reconcile(
    storage: &dyn Storage,
    device: &DeviceAuth,
    signed: &SignedReferral,
    now_ms: u64,
) -> Result<HandoffResult, StorageError> {
    let header = match signed.header() {
        Ok(header) => header,
        Err(e) => return Ok(refused(None, None, e.code(), e.to_string())),
    };
    let key_name = format!("{DEVICE_KEY_PREFIX}{}", header.device);
    let Some(key) = crate::storage::read(storage, |tx| tx.setting(&key_name))? else {
        let e = fieldcase_core::handoff::HandoffError::UnknownDevice;
        return Ok(refused(Some(&header), None, e.code(), e.to_string()));
    };
    let key =
        DevicePublicKey(key.try_into().map_err(|_| {
            StorageError::Integrity("a registered signing key is not 32 bytes".into())
        })?);
    let (header, payload, referral) = match signed.verify(&key) {
        Ok(verified) => verified,
        Err(e) => return Ok(refused(Some(&header), None, e.code(), e.to_string())),
    };
    let referral_id = payload.referral.record_id;
    let refuse = |e: fieldcase_core::handoff::HandoffError| {
        Ok(refused(
            Some(&header),
            Some(referral_id),
            e.code(),
            e.to_string(),
        ))
    };
    use fieldcase_core::handoff::HandoffError as E;
    if device.agency != header.to {
        return refuse(E::WrongAgency);
    }
    if header.created_ms > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return refuse(E::NotYetValid);
    }
    if now_ms > header.expires_ms.saturating_add(RECONCILE_GRACE_MS) {
        return refuse(E::Expired);
    }
    crate::storage::write(storage, |tx| {
        let bundle_name = format!("{BUNDLE_PREFIX}{}", header.id);
        if let Some(bytes) = tx.setting(&bundle_name)? {
            let known: BundleRecord = serde_json::from_slice(&bytes)
                .map_err(|_| StorageError::Integrity("a handoff record does not parse".into()))?;
            if known.device != device.id {
                return refuse(E::Replayed);
            }
            // The same phone again (its last reply was lost): the same answer.
            return Ok(HandoffResult {
                bundle_id: header.id,
                referral_id,
                outcome: HandoffOutcome::Reconciled {
                    withdrawn: known.withdrawn,
                },
            });
        }
        match tx.device_agency(header.device)? {
            Some(agency) if agency == header.from => {}
            _ => return refuse(E::BadSignature),
        }
        if tx
            .device_progress(header.device)?
            .is_some_and(|p| p.revoked)
        {
            return refuse(E::RevokedDevice);
        }
        let case = tx.record(referral.case_id)?;
        if case.is_none() && !tx.is_purged(referral.case_id)? {
            tx.put_setting(
                &format!("{PENDING_PREFIX}{referral_id}"),
                header.id.to_string().as_bytes(),
            )?;
            return Ok(HandoffResult {
                bundle_id: header.id,
                referral_id,
                outcome: HandoffOutcome::Pending,
            });
        }
        let signer = signer_auth(tx, &header, &referral)?;
        let decided = push::create_from_handoff(tx, &signer, &payload.referral, now_ms)?;
        if let Some(reason) = decided {
            let why = match reason {
                RejectReason::Forbidden => {
                    "the case no longer belongs to the referring agency (transferred) or the \
                     referral is not theirs to make"
                        .to_owned()
                }
                RejectReason::Purged => "the case was purged under its retention period".into(),
                other => format!("the server refused the referral: {other:?}"),
            };
            return Ok(refused(
                Some(&header),
                Some(referral_id),
                "refused_by_server",
                why,
            ));
        }
        // What the server shares now, against what the bundle carried.
        let row = tx.referral(referral_id)?.ok_or_else(|| {
            StorageError::Integrity("a reconciled referral has no referral row".into())
        })?;
        let values = tx
            .record_state(referral.case_id)?
            .map(|s| s.values())
            .unwrap_or_default();
        let allowed = shareable(&row.shared_fields, &values, &row.to_agency);
        let withdrawn: Vec<String> = payload
            .case_copies
            .iter()
            .flat_map(|c| c.fields.keys())
            .chain(payload.attachments.iter().map(|a| &a.field))
            .filter(|k| !allowed.contains(*k))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let record = BundleRecord {
            referral_id,
            device: device.id,
            withdrawn: withdrawn.clone(),
        };
        tx.insert_setting(
            &bundle_name,
            &serde_json::to_vec(&record).expect("serializes"),
        )?;
        Ok(HandoffResult {
            bundle_id: header.id,
            referral_id,
            outcome: HandoffOutcome::Reconciled { withdrawn },
        })
    })
}

/// Whether a command on `referral` should wait: the referral is not on the server yet, but a
/// handed-over bundle of it is pending its case.
pub(super) fn waits_for_case(
    tx: &mut dyn StoreTx,
    referral: RecordId,
) -> Result<bool, StorageError> {
    Ok(tx
        .setting(&format!("{PENDING_PREFIX}{referral}"))?
        .is_some())
}

/// The referring device as the referral's history and audit name it.
fn signer_auth(
    tx: &mut dyn StoreTx,
    header: &Header,
    referral: &fieldcase_core::referral::Referral,
) -> Result<DeviceAuth, StorageError> {
    let progress = tx.device_progress(header.device)?;
    Ok(DeviceAuth {
        id: header.device,
        agency: header.from.clone(),
        user_id: referral.created_by.clone(),
        role: crate::roles::Role::Caseworker,
        revoked: progress.is_some_and(|p| p.revoked),
        last_seen_at_ms: None,
        last_seq: progress.map_or(0, |p| p.last_seq),
        credential: crate::storage::CredentialSlot::Current,
        credential_issued_at_ms: 0,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
