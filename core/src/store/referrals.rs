//! Referrals on the device: making one, asking for a transition, and showing where each
//! stands — confirmed by the server, waiting for it, or refused by it and why.
//!
//! A referral is a record like any other (sealed, in the outbox, synced as an operation), made
//! once by the sending agency. Its status is the server's: a transition is queued here as a
//! command (sealed, numbered by its own sequence) after the same pure check the server makes
//! ([`crate::referral::next_status`]), sent with every sync until the server answers, and
//! shown as pending until then. The server's answer is recorded in the same transaction as
//! the page it came with; a refusal is kept, with the status as it stands, for the person to
//! see. The status itself arrives as an ordinary operation from the server's device id.
//!
//! Case ownership (a transfer moves it) is kept current in `ownership.rs`.

use super::error::{Result, StoreError};
use super::records::StoredRecord;
use super::Store;
use crate::crypto::{Aad, StoreKeys};
use crate::ids::{AgencyCode, DeviceId, RecordId};
use crate::merge::op::{OpId, RecordKind};
use crate::model::codes::ServiceType;
use crate::model::date::Date;
use crate::model::Fields;
use crate::protocol::{CommandOutcome, CommandRejection, CommandResult, ReferralCommand};
use crate::referral::{
    check_shared_fields, next_status, HistoryEntry, Party, Referral, ReferralStatus, ServerState,
    Transition, Urgency,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const META_COMMAND_SEQ: &str = "command_seq";

/// A referral to make from this device.
#[derive(Clone, PartialEq)]
pub struct NewReferral {
    pub case_id: RecordId,
    pub to_agency: AgencyCode,
    pub services: BTreeSet<ServiceType>,
    pub reason: String,
    pub urgency: Urgency,
    /// Keys of the case the receiving agency may see; checked against the case's consent.
    pub shared_fields: BTreeSet<String>,
    pub transfer: bool,
    pub share_back: bool,
}

impl std::fmt::Debug for NewReferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewReferral")
            .field("case_id", &self.case_id)
            .field("to_agency", &self.to_agency)
            .field("services", &self.services)
            .field("urgency", &self.urgency)
            .field("shared_fields", &self.shared_fields)
            .field("transfer", &self.transfer)
            .field("share_back", &self.share_back)
            .finish_non_exhaustive()
    }
}

/// A transition asked for on this device and not yet answered by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingTransition {
    pub transition: Transition,
    pub reason: Option<String>,
    /// When it was asked for, in milliseconds since the Unix epoch.
    pub queued_ms: i64,
}

impl std::fmt::Debug for PendingTransition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTransition")
            .field("transition", &self.transition)
            .field("queued_ms", &self.queued_ms)
            .finish_non_exhaustive()
    }
}

/// The server's last refusal of a transition asked for on this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRejection {
    pub transition: Transition,
    pub code: CommandRejection,
    /// The referral's status when the server refused.
    pub current_status: Option<ReferralStatus>,
    /// When the refusal arrived, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl TransitionRejection {
    /// Why, in plain language, with the status as it stands.
    pub fn explain(&self) -> String {
        match self.current_status {
            Some(status) => format!(
                "{} was refused: {} (the referral is {status})",
                self.transition,
                self.code.explain()
            ),
            None => format!("{} was refused: {}", self.transition, self.code.explain()),
        }
    }
}

/// A referral as the app shows it.
#[derive(Clone, PartialEq)]
pub struct ReferralView {
    pub id: RecordId,
    pub referral: Referral,
    /// The status the server last decided (`sent` until the server has seen the referral).
    pub status: ReferralStatus,
    /// Whether the server has seen the referral.
    pub confirmed: bool,
    /// The reason given with the last transition.
    pub status_reason: Option<String>,
    /// Who did what, when, as the server recorded it.
    pub history: Vec<HistoryEntry>,
    /// Transitions waiting for the server, oldest first.
    pub pending: Vec<PendingTransition>,
    /// The server's last refusal, until another transition is asked for or applied.
    pub last_rejection: Option<TransitionRejection>,
    pub created_ms: i64,
}

impl std::fmt::Debug for ReferralView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferralView")
            .field("id", &self.id)
            .field("referral", &self.referral)
            .field("status", &self.status)
            .field("confirmed", &self.confirmed)
            .field("pending", &self.pending)
            .field("last_rejection", &self.last_rejection)
            .finish_non_exhaustive()
    }
}

impl ReferralView {
    /// The side `agency` is on.
    pub fn party(&self, agency: &AgencyCode) -> Option<Party> {
        Party::of(agency, &self.referral.from_agency, &self.referral.to_agency)
    }

    /// The status the referral will have once the pending transitions are applied.
    pub fn expected_status(&self) -> ReferralStatus {
        self.pending
            .last()
            .map_or(self.status, |p| p.transition.target())
    }
}

/// One line of a referral's timeline.
#[derive(Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at_ms: i64,
    pub agency: AgencyCode,
    /// The staff user id, when known.
    pub user: Option<String>,
    /// The transition; `None` for the creation.
    pub transition: Option<Transition>,
    /// The status reached (or to be reached, while pending).
    pub status: ReferralStatus,
    pub reason: Option<String>,
    /// `false` while the server has not confirmed it.
    pub confirmed: bool,
}

impl std::fmt::Debug for TimelineEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimelineEntry")
            .field("at_ms", &self.at_ms)
            .field("agency", &self.agency)
            .field("user", &self.user)
            .field("transition", &self.transition)
            .field("status", &self.status)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

/// What the store keeps for a queued command.
#[derive(Serialize, Deserialize)]
struct StoredCommand {
    command: ReferralCommand,
    queued_ms: i64,
}

fn command_aad(seq: &[u8; 8]) -> Aad<'_> {
    Aad {
        table: "referral_commands",
        record: seq,
        part: "command",
    }
}

fn rejection_aad(id: &RecordId) -> Aad<'_> {
    Aad {
        table: "referral_rejections",
        record: id.as_bytes(),
        part: "rejection",
    }
}

/// What applying the server's command results did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandReport {
    pub applied: usize,
    pub rejected: usize,
}

pub(crate) fn id_from_blob(bytes: Vec<u8>) -> Result<RecordId> {
    Ok(RecordId::from_bytes(
        bytes.try_into().map_err(|_| StoreError::Corrupt)?,
    ))
}

impl Store {
    /// Refers a case owned by this device's agency to another agency. The fields shared must
    /// be allowed by the case's consent ([`crate::referral::check_shared_fields`]); the
    /// referral is checked like any record and goes out with the next sync.
    pub fn create_referral(&mut self, new: &NewReferral) -> Result<RecordId> {
        let case = self.require(RecordKind::Case, &new.case_id)?;
        if case.owner_agency != self.identity.agency.as_str() {
            return Err(StoreError::NotOwner { id: new.case_id });
        }
        let referral = Referral {
            case_id: new.case_id,
            from_agency: self.identity.agency.clone(),
            to_agency: new.to_agency.clone(),
            services: new.services.clone(),
            reason: new.reason.clone(),
            urgency: new.urgency,
            shared_fields: new.shared_fields.clone(),
            transfer: new.transfer,
            share_back: new.share_back,
            created_by: self.identity.user.clone(),
            created_on: Date::today(),
        };
        let fields = referral.to_fields();
        let validate = |f: &Fields| Referral::from_fields(f).map(drop).map_err(StoreError::from);
        validate(&fields)?;
        check_shared_fields(&new.shared_fields, &case.state.values(), &new.to_agency)?;
        let id = RecordId::new();
        self.save_local_change(
            RecordKind::Referral,
            id,
            Some(new.case_id),
            fields,
            None,
            &validate,
        )?;
        Ok(id)
    }

    /// Asks the server for a transition of a referral. Checked here first with the same rule
    /// the server applies — party, status (after any transitions still pending), reason — so
    /// an impossible request fails at once with a typed error; a possible one is queued and
    /// shown as pending until the server answers.
    pub fn request_transition(
        &mut self,
        id: &RecordId,
        transition: Transition,
        reason: Option<&str>,
    ) -> Result<()> {
        let view = self.get_referral(id)?;
        let party = view
            .party(&self.identity.agency)
            .ok_or(StoreError::NoSuchRecord {
                kind: RecordKind::Referral,
                id: *id,
            })?;
        let expected = view.expected_status();
        next_status(expected, transition, party, view.referral.transfer, reason)?;
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let device = self.identity.device;
        let tx = self.conn.transaction()?;
        let seq = read_command_seq(&tx)? + 1;
        let stored = StoredCommand {
            command: ReferralCommand {
                command_id: OpId { device, seq },
                referral_id: *id,
                transition,
                expected_status: expected,
                reason: reason.map(str::to_owned),
            },
            queued_ms: crate::hlc::now_ms() as i64,
        };
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&stored).expect("serializes"));
        let seq_bytes = seq.to_be_bytes();
        tx.execute(
            "INSERT INTO referral_commands (seq, referral_id, command) VALUES (?1, ?2, ?3)",
            params![
                seq as i64,
                &id.as_bytes()[..],
                keys.seal.seal(command_aad(&seq_bytes), &plain)
            ],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![META_COMMAND_SEQ, seq.to_string().into_bytes()],
        )?;
        tx.execute(
            "DELETE FROM referral_rejections WHERE referral_id = ?1",
            [&id.as_bytes()[..]],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` commands waiting for the server, in the order they were asked.
    pub fn pending_commands(&self, limit: usize) -> Result<Vec<ReferralCommand>> {
        let keys = self.keys()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, command FROM referral_commands ORDER BY seq LIMIT ?1")?;
        let rows: Vec<(i64, Vec<u8>)> = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(seq, sealed)| Ok(open_command(keys, seq, &sealed)?.command))
            .collect()
    }

    /// One referral as the app shows it.
    pub fn get_referral(&self, id: &RecordId) -> Result<ReferralView> {
        let record = self.require(RecordKind::Referral, id)?;
        self.view_of(record)
    }

    /// Every referral this device holds (sent or received), oldest first.
    pub fn list_referrals(&self) -> Result<Vec<ReferralView>> {
        self.referral_views(None)
    }

    /// The referrals of one case, oldest first.
    pub fn referrals_of_case(&self, case_id: &RecordId) -> Result<Vec<ReferralView>> {
        self.referral_views(Some(case_id))
    }

    /// Who did what, when: the server's history of the referral, then what is still pending
    /// here. Before the server has seen the referral, its creation shows as unconfirmed.
    pub fn referral_timeline(&self, id: &RecordId) -> Result<Vec<TimelineEntry>> {
        let view = self.get_referral(id)?;
        let mut entries: Vec<TimelineEntry> = view
            .history
            .iter()
            .map(|h| TimelineEntry {
                at_ms: h.at_ms as i64,
                agency: h.agency.clone(),
                user: h.user.clone(),
                transition: h.transition,
                status: h.status,
                reason: h.reason.clone(),
                confirmed: true,
            })
            .collect();
        if entries.is_empty() {
            entries.push(TimelineEntry {
                at_ms: view.created_ms,
                agency: view.referral.from_agency.clone(),
                user: Some(view.referral.created_by.clone()),
                transition: None,
                status: ReferralStatus::Sent,
                reason: None,
                confirmed: false,
            });
        }
        for pending in &view.pending {
            entries.push(TimelineEntry {
                at_ms: pending.queued_ms,
                agency: self.identity.agency.clone(),
                user: Some(self.identity.user.clone()),
                transition: Some(pending.transition),
                status: pending.transition.target(),
                reason: pending.reason.clone(),
                confirmed: false,
            });
        }
        Ok(entries)
    }

    /// The referral timeline of a case: every entry of every referral of the case this
    /// device holds, with the referral it belongs to, oldest first.
    pub fn case_referral_timeline(
        &self,
        case_id: &RecordId,
    ) -> Result<Vec<(RecordId, TimelineEntry)>> {
        let mut entries = Vec::new();
        for view in self.referrals_of_case(case_id)? {
            for entry in self.referral_timeline(&view.id)? {
                entries.push((view.id, entry));
            }
        }
        entries.sort_by_key(|(_, e)| e.at_ms);
        Ok(entries)
    }

    fn referral_views(&self, case_id: Option<&RecordId>) -> Result<Vec<ReferralView>> {
        let keys = self.keys()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM records WHERE kind = 'referral' AND (?1 IS NULL OR case_id = ?1)
             ORDER BY created_ms, id",
        )?;
        let ids: Vec<Vec<u8>> = stmt
            .query_map([case_id.map(|c| c.as_bytes().to_vec())], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|bytes| {
                let id = id_from_blob(bytes)?;
                let record =
                    Self::load_record(&self.conn, keys, &id)?.ok_or(StoreError::Corrupt)?;
                self.view_of(record)
            })
            .collect()
    }

    fn view_of(&self, record: StoredRecord) -> Result<ReferralView> {
        let keys = self.keys()?;
        let values = record.state.values();
        let referral = Referral::from_stored(&values)?;
        let server = ServerState::read(&values);
        let pending = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, command FROM referral_commands WHERE referral_id = ?1 ORDER BY seq",
            )?;
            let rows: Vec<(i64, Vec<u8>)> = stmt
                .query_map([&record.id.as_bytes()[..]], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(seq, sealed)| {
                    let stored = open_command(keys, seq, &sealed)?;
                    Ok(PendingTransition {
                        transition: stored.command.transition,
                        reason: stored.command.reason,
                        queued_ms: stored.queued_ms,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        let last_rejection = self
            .conn
            .query_row(
                "SELECT rejection FROM referral_rejections WHERE referral_id = ?1",
                [&record.id.as_bytes()[..]],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(|sealed| {
                let integrity = || StoreError::Integrity {
                    table: "referral_rejections",
                    record: record.id.to_string(),
                };
                let plain = keys
                    .seal
                    .open(rejection_aad(&record.id), &sealed)
                    .map_err(|_| integrity())?;
                serde_json::from_slice(&plain).map_err(|_| integrity())
            })
            .transpose()?;
        Ok(ReferralView {
            id: record.id,
            referral,
            status: server.status.unwrap_or(ReferralStatus::Sent),
            confirmed: server.status.is_some(),
            status_reason: server.reason,
            history: server.history,
            pending,
            last_rejection,
            created_ms: record.created_ms,
        })
    }

    /// Records the server's answers to this device's commands, inside the caller's
    /// transaction: an answered command leaves the queue; a refusal is kept per referral.
    pub(crate) fn apply_command_results(
        conn: &Connection,
        keys: &StoreKeys,
        device: DeviceId,
        results: &[CommandResult],
        now_ms: i64,
    ) -> Result<CommandReport> {
        let mut report = CommandReport::default();
        for result in results.iter().filter(|r| r.command_id.device == device) {
            let seq = result.command_id.seq;
            let sealed: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT command FROM referral_commands WHERE seq = ?1",
                    [seq as i64],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(sealed) = sealed else {
                continue; // answered before (a resent reply)
            };
            let stored = open_command(keys, seq as i64, &sealed)?;
            let referral = stored.command.referral_id;
            conn.execute("DELETE FROM referral_commands WHERE seq = ?1", [seq as i64])?;
            match result.outcome {
                CommandOutcome::Applied { .. } => {
                    report.applied += 1;
                    conn.execute(
                        "DELETE FROM referral_rejections WHERE referral_id = ?1",
                        [&referral.as_bytes()[..]],
                    )?;
                }
                CommandOutcome::Rejected {
                    code,
                    current_status,
                } => {
                    report.rejected += 1;
                    let rejection = TransitionRejection {
                        transition: stored.command.transition,
                        code,
                        current_status,
                        at_ms: now_ms,
                    };
                    let plain = serde_json::to_vec(&rejection).expect("serializes");
                    conn.execute(
                        "INSERT INTO referral_rejections (referral_id, rejection) VALUES (?1, ?2)
                         ON CONFLICT (referral_id) DO UPDATE SET rejection = excluded.rejection",
                        params![
                            &referral.as_bytes()[..],
                            keys.seal.seal(rejection_aad(&referral), &plain)
                        ],
                    )?;
                }
            }
        }
        Ok(report)
    }
}

fn open_command(keys: &StoreKeys, seq: i64, sealed: &[u8]) -> Result<StoredCommand> {
    let integrity = || StoreError::Integrity {
        table: "referral_commands",
        record: seq.to_string(),
    };
    let plain = zeroize::Zeroizing::new(
        keys.seal
            .open(command_aad(&(seq as u64).to_be_bytes()), sealed)
            .map_err(|_| integrity())?,
    );
    serde_json::from_slice(&plain).map_err(|_| integrity())
}

fn read_command_seq(conn: &Connection) -> Result<u64> {
    let value: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [META_COMMAND_SEQ],
            |r| r.get(0),
        )
        .optional()?;
    match value {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(StoreError::Corrupt),
    }
}
