//! Offline handoff in the store: making a bundle of a referral made here, reading one made for
//! this agency, and keeping what reconciliation needs (`docs/handoff.md`).
//!
//! Everything is sealed in `meta` under the store key: this device's Ed25519 signing key (made
//! on first use), the directory the server sends (this agency's X25519 secret, every agency's
//! public key, every device's signing key and whether it is revoked), and the handoff state —
//! bundles read here (so none is read twice), signed referrals waiting for the server, and the
//! server's refusals for the person to see.
//!
//! Reading a bundle checks everything ([`crate::handoff::open`]) before writing anything, then
//! writes in one transaction the referral and the shared case fields — merged exactly like
//! operations pulled from the server (the same operations arrive again from the server later
//! and merge to nothing) — the attachments, and the bundle's state. The caseworker can then accept or decline at once with
//! [`Store::request_transition`]: the command waits, pending, like any other. The server's
//! answer about the bundle ([`Store::apply_handoff_reply`]) wins: fields it no longer shares
//! (consent withdrawn meanwhile) are dropped, and a refused bundle's referral and case copies
//! are removed, with the reason kept.

use super::error::{Result, StoreError};
use super::Store;
use crate::crypto::Aad;
use crate::handoff::{
    self, AgencyPublicKey, AgencySecretKey, BundleId, CandidateAttachment, DevicePublicKey,
    DeviceSigningKey, HandoffError, KnownSigner, MadeBundle, MakeInput, ReadContext,
    SignedReferral,
};
use crate::ids::RecordId;
use crate::merge::op::{FieldChange, OpId, Operation, RecordKind};
use crate::protocol::{HandoffDirectory, HandoffOutcome, HandoffReply, HandoffSync};
use crate::referral::record::REFERRAL_KEYS;
use crate::referral::Referral;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

const SIGNING_KEY: &str = "handoff_signing_key";
const DIRECTORY: &str = "handoff_directory";
const STATE: &str = "handoff_state";

/// A referral read from a bundle, waiting for the server.
#[derive(Clone, Serialize, Deserialize)]
struct PendingHandoff {
    bundle_id: BundleId,
    referral_id: RecordId,
    case_id: RecordId,
    signed: SignedReferral,
    /// The server answered `pending` (it does not hold the case yet): commands on the
    /// referral wait until it reconciles the bundle.
    #[serde(default)]
    waiting: bool,
}

/// The server's refusal of a bundle read here, kept for the person to see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffRefusal {
    pub bundle_id: BundleId,
    pub referral_id: RecordId,
    pub code: String,
    /// Why, in plain language.
    pub reason: String,
}

#[derive(Default, Serialize, Deserialize)]
struct HandoffState {
    /// Every bundle read here, with its referral.
    seen: BTreeMap<BundleId, RecordId>,
    pending: Vec<PendingHandoff>,
    refusals: Vec<HandoffRefusal>,
    /// On the referring phone: the receiving phone's answers, read from its receipts.
    #[serde(default)]
    reported: BTreeMap<RecordId, crate::handoff::receipt::Receipt>,
}

/// What reading a bundle imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffImport {
    pub bundle_id: BundleId,
    pub referral_id: RecordId,
    pub case_id: RecordId,
    pub from_agency: crate::ids::AgencyCode,
    /// How many case fields and attachments came with it.
    pub fields: usize,
    pub attachments: usize,
}

/// What applying the server's handoff answers did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandoffReport {
    pub reconciled: usize,
    pub refused: usize,
    pub pending: usize,
    /// Fields dropped because the server no longer shares them.
    pub withdrawn_fields: usize,
}

fn aad(name: &str) -> Aad<'_> {
    Aad {
        table: "meta",
        record: name.as_bytes(),
        part: "handoff",
    }
}

impl Store {
    fn meta_sealed(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let keys = self.keys()?;
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        sealed
            .map(|s| {
                keys.seal
                    .open(aad(name), &s)
                    .map(Zeroizing::new)
                    .map_err(StoreError::from)
            })
            .transpose()
    }

    fn handoff_state(&self) -> Result<HandoffState> {
        match self.meta_sealed(STATE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt),
            None => Ok(HandoffState::default()),
        }
    }

    fn directory(&self) -> Result<Option<HandoffDirectory>> {
        self.meta_sealed(DIRECTORY)?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt))
            .transpose()
    }

    /// This device's signing key, made and sealed here on first use.
    fn signing_key(&mut self) -> Result<DeviceSigningKey> {
        if let Some(bytes) = self.meta_sealed(SIGNING_KEY)? {
            let bytes: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt)?;
            return Ok(DeviceSigningKey::from_bytes(&bytes));
        }
        let key = DeviceSigningKey::generate();
        seal_meta(
            &self.conn,
            self.keys()?,
            SIGNING_KEY,
            key.expose_bytes().as_ref(),
        )?;
        Ok(key)
    }

    /// What the next sync tells the server about handoffs: this device's signing key, the
    /// directory it holds, and the referrals read here that the server has not answered.
    pub fn handoff_sync(&mut self) -> Result<HandoffSync> {
        let signing_key = self.signing_key()?.public().to_hex();
        let state = self.handoff_state()?;
        Ok(HandoffSync {
            signing_key,
            directory_digest: self.directory()?.map(|d| d.digest),
            referrals: state
                .pending
                .iter()
                .take(crate::protocol::MAX_PUSH_HANDOFFS)
                .map(|p| p.signed.clone())
                .collect(),
        })
    }

    /// Whether this device holds what it needs to make and read bundles (it has synced since
    /// handoff keys were set up).
    pub fn handoff_ready(&self) -> Result<bool> {
        Ok(self.directory()?.is_some())
    }

    /// The server's refusals of bundles read here, oldest first.
    pub fn handoff_refusals(&self) -> Result<Vec<HandoffRefusal>> {
        Ok(self.handoff_state()?.refusals)
    }

    /// Referrals read from bundles whose case the server does not hold yet: the sync holds
    /// back commands on them until the server reconciles the bundle.
    pub fn handoff_waiting(&self) -> Result<std::collections::BTreeSet<RecordId>> {
        Ok(self
            .handoff_state()?
            .pending
            .iter()
            .filter(|p| p.waiting)
            .map(|p| p.referral_id)
            .collect())
    }

    /// How many queued commands are held back by [`Store::handoff_waiting`].
    pub fn handoff_waiting_commands(&self) -> Result<u64> {
        let mut count = 0;
        for id in self.handoff_waiting()? {
            count += self.conn.query_row(
                "SELECT count(*) FROM referral_commands WHERE referral_id = ?1",
                [&id.as_bytes()[..]],
                |r| r.get::<_, i64>(0),
            )? as u64;
        }
        Ok(count)
    }

    /// Bundles read here still waiting for the server's answer.
    pub fn pending_handoffs(&self) -> Result<usize> {
        Ok(self.handoff_state()?.pending.len())
    }

    /// Makes a bundle of a referral made on this device, for its receiving agency, readable
    /// for `lifetime_ms` ([`handoff::DEFAULT_LIFETIME_MS`] is a day).
    pub fn make_handoff(&mut self, referral_id: &RecordId, lifetime_ms: u64) -> Result<MadeBundle> {
        let record = self.require(RecordKind::Referral, referral_id)?;
        let referral = Referral::from_stored(&record.state.values())?;
        if referral.from_agency != self.identity.agency {
            return Err(StoreError::NotOwner { id: *referral_id });
        }
        let Some(created) = record.state.first_written() else {
            return Err(StoreError::Corrupt);
        };
        if created.device != self.identity.device {
            return Err(HandoffError::Invalid(
                "only the phone that made a referral can hand it over",
            )
            .into());
        }
        let directory = self.directory()?.ok_or(HandoffError::NoKeys)?;
        let recipient = directory
            .agencies
            .get(&referral.to_agency)
            .and_then(|hex| AgencyPublicKey::parse_hex(hex))
            .ok_or(HandoffError::NoKeys)?;
        // The referral's creation, as written here: its op id from the outbox while unsynced.
        let seq = self
            .pending_ops(usize::MAX)?
            .into_iter()
            .find(|op| op.record_id == *referral_id)
            .map_or(0, |op| op.op_id.seq);
        let referral_op = Operation {
            op_id: OpId {
                device: self.identity.device,
                seq,
            },
            kind: RecordKind::Referral,
            record_id: *referral_id,
            hlc: created,
            fields: record
                .state
                .fields
                .iter()
                .filter(|(k, f)| REFERRAL_KEYS.contains(&k.as_str()) && f.hlc == created)
                .map(|(k, f)| (k.clone(), FieldChange::fresh(f.value.clone())))
                .collect(),
        };
        let case = self.require(RecordKind::Case, &referral.case_id)?;
        let mut candidates = Vec::new();
        for meta in self.attachments_of_case(&referral.case_id)? {
            // Only what this phone holds; the rule decides which of these may go.
            let Ok(bytes) = self.read_attachment(&meta.id) else {
                continue;
            };
            candidates.push(CandidateAttachment {
                id: meta.id,
                field: meta.field.clone(),
                content_type: meta.content_type,
                label: meta.label.clone(),
                declared_by: self.identity.agency.clone(),
                created_at_ms: meta.created_ms.max(0) as u64,
                bytes: bytes.to_vec(),
            });
        }
        let signer = self.signing_key()?;
        Ok(handoff::make(
            &MakeInput {
                referral_op: &referral_op,
                case: &case.state,
                attachments: &candidates,
                device: self.identity.device,
                now_ms: crate::hlc::now_ms(),
                lifetime_ms,
            },
            &signer,
            &recipient,
        )?)
    }

    /// Reads a bundle made for this agency and imports it; any failure imports nothing.
    pub fn read_handoff(&mut self, bytes: &[u8]) -> Result<HandoffImport> {
        self.read_handoff_at(bytes, crate::hlc::now_ms())
    }

    /// [`Store::read_handoff`] at a given time (tests of expiry).
    pub fn read_handoff_at(&mut self, bytes: &[u8], now_ms: u64) -> Result<HandoffImport> {
        let directory = self.directory()?.ok_or(HandoffError::NoKeys)?;
        let secret: [u8; 32] = parse_hex32(&directory.agency_key).ok_or(StoreError::Corrupt)?;
        let agency_key = AgencySecretKey::from_bytes(secret);
        let mut state = self.handoff_state()?;
        let devices: BTreeMap<_, _> = directory
            .devices
            .iter()
            .filter_map(|d| {
                Some((
                    d.device,
                    KnownSigner {
                        agency: d.agency.clone(),
                        key: DevicePublicKey::parse_hex(&d.key)?,
                        revoked: d.revoked,
                    },
                ))
            })
            .collect();
        let signer = |device| devices.get(&device).cloned();
        let seen = |id| state.seen.contains_key(&id);
        let opened = handoff::open(
            bytes,
            &ReadContext {
                agency: &self.identity.agency,
                agency_key: &agency_key,
                now_ms,
                signer: &signer,
                seen: &seen,
            },
        )?;
        let referral_id = opened.payload.referral.record_id;
        if self.record_exists(&referral_id)? {
            // The same referral by another bundle, or already synced: nothing new to read.
            return Err(HandoffError::Replayed.into());
        }
        let mut ops = vec![opened.payload.referral.clone()];
        ops.extend(opened.payload.case_operations(&opened.referral));
        let fields = opened
            .payload
            .case_copies
            .iter()
            .map(|c| c.fields.len())
            .sum();
        state.seen.insert(opened.header.id, referral_id);
        state.pending.push(PendingHandoff {
            bundle_id: opened.header.id,
            referral_id,
            case_id: opened.referral.case_id,
            signed: opened.signed.clone(),
            waiting: false,
        });
        let state_json = Zeroizing::new(serde_json::to_vec(&state).expect("serializes"));
        // One transaction: the records, the attachments and the bundle's state, or nothing.
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let mut counters = self.counters();
        let tx = self.conn.transaction()?;
        // A handoff's case is searched for at once: its tokens are written now.
        Self::merge_received_in(&tx, keys, &self.identity, &ops, &mut counters, false)?;
        for (entry, content) in opened.payload.attachments.iter().zip(&opened.attachments) {
            let info = crate::attachments::wire::AttachmentInfo {
                id: entry.id,
                case_id: opened.referral.case_id,
                field: entry.field.clone(),
                content_type: entry.content_type.clone(),
                size: entry.size,
                chunk_size: crate::attachments::CHUNK_BYTES,
                chunk_count: crate::attachments::chunk_count(
                    entry.size,
                    crate::attachments::CHUNK_BYTES,
                ),
                sha256: entry.sha256,
                label: entry.label.clone(),
                complete: true,
                created_at_ms: entry.created_at_ms,
            };
            Self::save_received_attachment_in(&tx, keys, &info, content)?;
        }
        seal_meta(&tx, keys, STATE, &state_json)?;
        Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
        tx.commit()?;
        self.commit_counters(counters);
        Ok(HandoffImport {
            bundle_id: opened.header.id,
            referral_id,
            case_id: opened.referral.case_id,
            from_agency: opened.header.from.clone(),
            fields,
            attachments: opened.attachments.len(),
        })
    }

    /// On the receiving phone: a signed receipt of the answer given here to a referral read
    /// from a bundle (its last transition still waiting for the server), for the referring
    /// phone to read. Fits one QR code.
    pub fn make_handoff_receipt(&mut self, referral_id: &RecordId) -> Result<Vec<u8>> {
        let state = self.handoff_state()?;
        let bundle_id = state
            .seen
            .iter()
            .find(|(_, r)| *r == referral_id)
            .map(|(b, _)| *b)
            .ok_or(HandoffError::Invalid(
                "this referral was not read from a bundle here",
            ))?;
        let view = self.get_referral(referral_id)?;
        let transition = view
            .pending
            .last()
            .map(|p| p.transition)
            .ok_or(HandoffError::Invalid(
                "accept or decline the referral first",
            ))?;
        let receipt = crate::handoff::receipt::Receipt {
            bundle_id,
            referral_id: *referral_id,
            transition,
            device: self.identity.device,
            at_ms: crate::hlc::now_ms(),
        };
        let key = self.signing_key()?;
        Ok(crate::handoff::receipt::make_receipt(&receipt, &key))
    }

    /// On the referring phone: reads the receiving phone's receipt and records its answer as
    /// reported, shown by [`Store::handoff_reported`] until the server's status arrives.
    pub fn read_handoff_receipt(&mut self, bytes: &[u8]) -> Result<crate::referral::Transition> {
        let directory = self.directory()?.ok_or(HandoffError::NoKeys)?;
        let signer = |device| {
            let d = directory.devices.iter().find(|d| d.device == device)?;
            Some(KnownSigner {
                agency: d.agency.clone(),
                key: DevicePublicKey::parse_hex(&d.key)?,
                revoked: d.revoked,
            })
        };
        let (receipt, known) = crate::handoff::receipt::read_receipt(bytes, &signer)?;
        let view = self.get_referral(&receipt.referral_id)?;
        if view.referral.from_agency != self.identity.agency
            || view.referral.to_agency != known.agency
        {
            return Err(HandoffError::WrongAgency.into());
        }
        let mut state = self.handoff_state()?;
        let transition = receipt.transition;
        state.reported.insert(receipt.referral_id, receipt);
        let json = Zeroizing::new(serde_json::to_vec(&state).expect("serializes"));
        seal_meta(&self.conn, self.keys()?, STATE, &json)?;
        Ok(transition)
    }

    /// The receiving phone's answer to a referral made here, as its receipt reported it, while
    /// the server has not decided the referral's status yet (`None` after, or with no receipt).
    pub fn handoff_reported(
        &self,
        referral_id: &RecordId,
    ) -> Result<Option<crate::referral::Transition>> {
        let Some(receipt) = self.handoff_state()?.reported.remove(referral_id) else {
            return Ok(None);
        };
        let view = self.get_referral(referral_id)?;
        let undecided = view.status == crate::referral::ReferralStatus::Sent;
        Ok(undecided.then_some(receipt.transition))
    }

    fn record_exists(&self, id: &RecordId) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT count(*) > 0 FROM records WHERE id = ?1",
            [&id.as_bytes()[..]],
            |r| r.get(0),
        )?)
    }

    /// Applies the server's answer about handoffs: keeps the directory, and settles each
    /// bundle read here (see the module docs), in one transaction.
    pub fn apply_handoff_reply(&mut self, reply: &HandoffReply) -> Result<HandoffReport> {
        let mut state = self.handoff_state()?;
        let mut report = HandoffReport::default();
        let mut withdrawn_by_case: Vec<(RecordId, Vec<String>)> = Vec::new();
        let mut dropped_cases = Vec::new();
        for result in &reply.results {
            let Some(at) = state
                .pending
                .iter()
                .position(|p| p.bundle_id == result.bundle_id)
            else {
                continue;
            };
            match &result.outcome {
                HandoffOutcome::Pending => {
                    state.pending[at].waiting = true;
                    report.pending += 1;
                }
                HandoffOutcome::Reconciled { withdrawn } => {
                    let pending = state.pending.remove(at);
                    report.reconciled += 1;
                    report.withdrawn_fields += withdrawn.len();
                    if !withdrawn.is_empty() {
                        withdrawn_by_case.push((pending.case_id, withdrawn.clone()));
                    }
                }
                HandoffOutcome::Refused { code, reason } => {
                    let pending = state.pending.remove(at);
                    report.refused += 1;
                    dropped_cases.push(pending.case_id);
                    state.refusals.push(HandoffRefusal {
                        bundle_id: pending.bundle_id,
                        referral_id: pending.referral_id,
                        code: code.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        // Attachments hanging on a withdrawn field go with it.
        let mut withdrawn_attachments = Vec::new();
        for (case_id, fields) in &withdrawn_by_case {
            for meta in self.attachments_of_case(case_id)? {
                if fields.contains(&meta.field) {
                    withdrawn_attachments.push(meta.id);
                }
            }
        }
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let state_json = Zeroizing::new(serde_json::to_vec(&state).expect("serializes"));
        let directory_json = reply
            .directory
            .as_ref()
            .map(|d| Zeroizing::new(serde_json::to_vec(d).expect("serializes")));
        let tx = self.conn.transaction()?;
        for (case_id, fields) in &withdrawn_by_case {
            if let Some(mut record) = Self::load_record(&tx, keys, case_id)? {
                let before = record.state.clone();
                record.state.fields.retain(|k, _| !fields.contains(k));
                record
                    .state
                    .conflicts
                    .retain(|c| !fields.contains(&c.field));
                Self::write_record(
                    &tx,
                    keys,
                    case_id,
                    record.case_id.as_ref(),
                    &record.owner_agency,
                    Some(&before),
                    &record.state,
                )?;
            }
        }
        for id in &withdrawn_attachments {
            tx.execute(
                "DELETE FROM attachment_chunks WHERE attachment_id = ?1",
                [&id.as_bytes()[..]],
            )?;
            tx.execute(
                "DELETE FROM attachments WHERE id = ?1",
                [&id.as_bytes()[..]],
            )?;
        }
        for case in &dropped_cases {
            super::purge::drop_case(&tx, keys, case)?;
        }
        seal_meta(&tx, keys, STATE, &state_json)?;
        if let Some(json) = &directory_json {
            seal_meta(&tx, keys, DIRECTORY, json)?;
        }
        tx.commit()?;
        Ok(report)
    }
}

/// Writes a sealed `meta` value inside the caller's transaction.
fn seal_meta(
    conn: &Connection,
    keys: &crate::crypto::StoreKeys,
    name: &str,
    plain: &[u8],
) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![name, keys.seal.seal(aad(name), plain)],
    )?;
    Ok(())
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    AgencyPublicKey::parse_hex(text).map(|k| k.0)
}
