//! The store's side of sync: the outbox, acknowledgements, refused operations, the pull
//! cursor, and applying pages of remote operations atomically.
//!
//! A pulled page and its cursor are written in one transaction, so a crash or a dropped
//! connection loses at most the page in flight and never skips one. Acknowledged operations
//! leave the outbox in one statement; refused ones move to `rejected_ops`, sealed, and stay
//! there for a person to review — they are never resent and never silently dropped.

use super::error::{Result, StoreError};
use super::records::{outbox_aad, IndexChanges, StoredRecord};
use super::Store;
use crate::crypto::Aad;
use crate::ids::RecordId;
use crate::merge::op::{OpId, Operation, RecordKind};
use crate::merge::plan;
use crate::protocol::{CommandResult, SERVER_DEVICE_ID};
use crate::referral::record::SERVER_KEYS;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What a sync shows the user. `synced` is only true when nothing is waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    pub pending_ops: u64,
    /// Referral transitions waiting for the server's answer.
    pub pending_commands: u64,
    pub rejected_ops: u64,
    /// Attachments not yet wholly on the server, and their bytes.
    pub pending_attachments: u64,
    pub pending_attachment_bytes: u64,
    pub conflicts: u64,
    pub cases: u64,
    pub last_sync_ms: Option<i64>,
    /// The last sync failure, in plain language, if the last attempt failed.
    pub last_error: Option<String>,
    pub synced: bool,
}

/// Progress of a running sync, for a progress bar. `fraction` never exceeds 1.0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncProgress {
    pub pushed: u64,
    pub to_push: u64,
    pub pulled: u64,
    /// Whether the server said more is waiting.
    pub more_to_pull: bool,
    /// Attachment bytes the server has confirmed in this run, and the bytes it had not when
    /// the run began; both 0 when no attachment waits.
    pub attachment_bytes_sent: u64,
    pub attachment_bytes_to_send: u64,
}

impl SyncProgress {
    pub fn fraction(&self) -> f64 {
        // Operations and attachment bytes count as one amount of work to push: an operation
        // weighs what a small case does on the wire, about a kilobyte.
        const OP_BYTES: f64 = 1024.0;
        let total = self.to_push as f64 * OP_BYTES + self.attachment_bytes_to_send as f64;
        let done = self.pushed as f64 * OP_BYTES + self.attachment_bytes_sent as f64;
        let push = if total == 0.0 {
            1.0
        } else {
            (done / total).min(1.0)
        };
        if self.more_to_pull {
            // Pull size is unknown until the server stops saying "more": stay below done.
            (push * 0.5).min(0.99)
        } else {
            push
        }
    }
}

/// What applying one page of remote operations did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub records_changed: usize,
    pub new_conflicts: usize,
    pub skipped_ops: usize,
    /// Referral commands the server applied / refused, in this reply.
    pub commands_applied: usize,
    pub commands_rejected: usize,
    /// Cases this device held that the server purged (dropped with what hangs on them).
    pub cases_purged: usize,
}

fn rejected_aad(seq: &[u8; 8]) -> Aad<'_> {
    Aad {
        table: "rejected_ops",
        record: seq,
        part: "op",
    }
}

impl Store {
    /// Up to `limit` unacknowledged operations, in sequence order.
    pub fn pending_ops(&self, limit: usize) -> Result<Vec<Operation>> {
        let keys = self.keys()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, op FROM outbox ORDER BY seq LIMIT ?1")?;
        let rows: Vec<(i64, Vec<u8>)> = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(seq, sealed)| {
                let seq_bytes = (seq as u64).to_be_bytes();
                let integrity = || StoreError::Integrity {
                    table: "outbox",
                    record: seq.to_string(),
                };
                let plain = keys
                    .seal
                    .open(outbox_aad(&seq_bytes), &sealed)
                    .map_err(|_| integrity())?;
                serde_json::from_slice(&plain).map_err(|_| integrity())
            })
            .collect()
    }

    /// Records what the server processed: everything up to `acked_through` leaves the outbox;
    /// the refused ones among them are kept aside with their reason.
    pub fn acknowledge(&mut self, acked_through: u64, rejected: &[(OpId, String)]) -> Result<()> {
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let tx = self.conn.transaction()?;
        for (op_id, reason) in rejected.iter().filter(|(id, _)| id.seq <= acked_through) {
            let seq = op_id.seq.to_be_bytes();
            let sealed: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT op FROM outbox WHERE seq = ?1",
                    [op_id.seq as i64],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(sealed) = sealed else { continue };
            let plain =
                keys.seal
                    .open(outbox_aad(&seq), &sealed)
                    .map_err(|_| StoreError::Integrity {
                        table: "outbox",
                        record: op_id.seq.to_string(),
                    })?;
            tx.execute(
                "INSERT OR REPLACE INTO rejected_ops (seq, reason, op) VALUES (?1, ?2, ?3)",
                params![
                    op_id.seq as i64,
                    reason,
                    keys.seal.seal(rejected_aad(&seq), &plain)
                ],
            )?;
        }
        tx.execute("DELETE FROM outbox WHERE seq <= ?1", [acked_through as i64])?;
        tx.execute(
            "UPDATE sync_state SET acked_through = max(acked_through, ?1)",
            [acked_through as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Operations the server refused, with its reasons.
    pub fn rejected_ops(&self) -> Result<Vec<(Operation, String)>> {
        let keys = self.keys()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, reason, op FROM rejected_ops ORDER BY seq")?;
        let rows: Vec<(i64, String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(seq, reason, sealed)| {
                let seq_bytes = (seq as u64).to_be_bytes();
                let integrity = || StoreError::Integrity {
                    table: "rejected_ops",
                    record: seq.to_string(),
                };
                let plain = keys
                    .seal
                    .open(rejected_aad(&seq_bytes), &sealed)
                    .map_err(|_| integrity())?;
                Ok((
                    serde_json::from_slice(&plain).map_err(|_| integrity())?,
                    reason,
                ))
            })
            .collect()
    }

    /// The pull cursor, `None` before the first pull or after a reset.
    pub fn cursor(&self) -> Result<Option<String>> {
        self.ensure_not_wiped()?;
        Ok(self
            .conn
            .query_row("SELECT cursor FROM sync_state", [], |r| r.get(0))?)
    }

    /// Forgets the pull cursor so the next sync pulls everything again. Local records and
    /// unsynced work are kept; re-applying known operations changes nothing.
    pub fn reset_cursor(&mut self) -> Result<()> {
        self.ensure_not_wiped()?;
        self.conn
            .execute("UPDATE sync_state SET cursor = NULL", [])?;
        Ok(())
    }

    /// Applies one page of remote operations and stores `next_cursor`, in one transaction.
    pub fn apply_remote(&mut self, ops: &[Operation], next_cursor: &str) -> Result<ApplyReport> {
        self.apply_reply(ops, next_cursor, &[])
    }

    /// Applies one sync reply — its page of operations, its cursor and the server's answers to
    /// this device's referral commands — in one transaction.
    ///
    /// Referral status keys are taken only from the server's own operations: the server
    /// refuses them from devices, and a device refuses them from anyone else too. Cases whose
    /// referrals changed get their owner agency brought up to date.
    pub fn apply_reply(
        &mut self,
        ops: &[Operation],
        next_cursor: &str,
        command_results: &[CommandResult],
    ) -> Result<ApplyReport> {
        let mut counters = self.counters();
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        // Copies only when some operation carries forged status keys (never, from our server).
        let cleaned: Option<Vec<Operation>> = ops.iter().any(forges_status).then(|| {
            ops.iter()
                .map(|op| without_forged_status(op).into_owned())
                .collect()
        });
        let ops: &[Operation] = cleaned.as_deref().unwrap_or(ops);
        // Purge notices are not merged: they drop their case once the page is applied.
        let purged: Vec<RecordId> = ops
            .iter()
            .filter(|op| super::purge::is_purge_notice(op))
            .map(|op| op.record_id)
            .collect();
        let kept: Option<Vec<Operation>> = (!purged.is_empty()).then(|| {
            ops.iter()
                .filter(|op| !super::purge::is_purge_notice(op))
                .cloned()
                .collect()
        });
        let ops: &[Operation] = kept.as_deref().unwrap_or(ops);
        let tx = self.conn.transaction()?;
        let (mut report, token_jobs) = Self::merge_received_in(
            &tx,
            keys,
            &self.identity,
            ops,
            &mut counters,
            self.sync_writes,
        )?;
        let commands = Self::apply_command_results(
            &tx,
            keys,
            self.identity.device,
            command_results,
            crate::hlc::now_ms() as i64,
        )?;
        report.commands_applied = commands.applied;
        report.commands_rejected = commands.rejected;
        for case in &purged {
            if super::purge::drop_case(&tx, keys, case)? {
                report.cases_purged += 1;
            }
        }
        tx.execute("UPDATE sync_state SET cursor = ?1", [next_cursor])?;
        Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
        tx.commit()?;
        self.commit_counters(counters);
        if let Some(worker) = &self.token_worker {
            worker.send(token_jobs);
        }
        if self.sync_writes {
            self.index_pending_when_due()?;
        }
        Ok(report)
    }

    /// Merges operations received from elsewhere — a pulled page, or a handoff bundle read
    /// here — into their records inside the caller's transaction: the clock observes them,
    /// each record is merged and resealed, and the owners of cases whose referrals changed are
    /// brought up to date. With `defer_new_cases`, new cases go on the pending index list and
    /// the pending cases written are returned, for the sync's token worker.
    pub(crate) fn merge_received_in(
        tx: &rusqlite::Connection,
        keys: &crate::crypto::StoreKeys,
        identity: &super::Identity,
        ops: &[Operation],
        counters: &mut super::records::Counters,
        defer_new_cases: bool,
    ) -> Result<(ApplyReport, Vec<super::pending_index::TokenJob>)> {
        let mut current: BTreeMap<RecordId, StoredRecord> = BTreeMap::new();
        for op in ops {
            counters.clock.observe(op.hlc);
            if let std::collections::btree_map::Entry::Vacant(slot) = current.entry(op.record_id) {
                if let Some(record) = Self::load_record(tx, keys, &op.record_id)? {
                    slot.insert(record);
                }
            }
        }
        let states = current
            .iter()
            .map(|(id, r)| (*id, r.state.clone()))
            .collect();
        let merged = plan(&states, ops);
        let mut report = ApplyReport {
            skipped_ops: merged.skipped.len(),
            ..Default::default()
        };
        let mut touched = BTreeMap::new();
        let mut index = IndexChanges::deferring_new_cases(defer_new_cases);
        for (id, outcome) in &merged.records {
            let existing = current.get(id);
            let case_id = existing.and_then(|r| r.case_id).or_else(|| {
                outcome
                    .after
                    .values()
                    .get("case_id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
            });
            // Everything a device is sent belongs to, or is shared with, its agency.
            let owner = existing.map_or(identity.agency.as_str(), |r| r.owner_agency.as_str());
            Self::write_record_deferring_index(
                tx,
                keys,
                id,
                case_id.as_ref(),
                owner,
                outcome.before.as_ref(),
                &outcome.after,
                &mut index,
            )?;
            report.records_changed += 1;
            report.new_conflicts += outcome.new_conflicts();
            touched.insert(*id, (outcome.after.kind, case_id));
        }
        // In key order, once for the page (see `IndexChanges`); before any purge, which
        // reads a case's tokens from what was written here.
        let token_jobs = index.apply(tx)?;
        Self::refresh_case_owners(tx, keys, &super::ownership::cases_touched(&touched))?;
        Ok((report, token_jobs))
    }

    /// Notes the outcome of a sync attempt for [`Store::status`].
    pub fn record_sync_outcome(&mut self, now_ms: i64, error: Option<&str>) -> Result<()> {
        self.ensure_not_wiped()?;
        match error {
            None => self.conn.execute(
                "UPDATE sync_state SET last_sync_ms = ?1, last_error = NULL",
                [now_ms],
            )?,
            Some(message) => self
                .conn
                .execute("UPDATE sync_state SET last_error = ?1", [message])?,
        };
        Ok(())
    }

    /// Operations and referral commands waiting for the server: the two cheap counts a sync
    /// needs after every reply, without the rest of [`Store::status`].
    pub fn pending_work(&self) -> Result<(u64, u64)> {
        self.ensure_not_wiped()?;
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok((
            count("SELECT count(*) FROM outbox")?,
            count("SELECT count(*) FROM referral_commands")?,
        ))
    }

    /// Pending work, conflicts and the last sync, without unlocking anything.
    pub fn status(&self) -> Result<StoreStatus> {
        let (pending_ops, pending_commands) = self.pending_work()?;
        let (pending_attachments, pending_attachment_bytes) = self.pending_attachment_work()?;
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        let (last_sync_ms, last_error): (Option<i64>, Option<String>) =
            self.conn
                .query_row("SELECT last_sync_ms, last_error FROM sync_state", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        Ok(StoreStatus {
            pending_ops,
            pending_commands,
            rejected_ops: count("SELECT count(*) FROM rejected_ops")?,
            pending_attachments,
            pending_attachment_bytes,
            conflicts: count(
                "SELECT coalesce(sum(conflicts), 0) FROM records WHERE conflicts > 0",
            )?,
            cases: count("SELECT count(*) FROM records WHERE kind = 'case'")?,
            last_sync_ms,
            synced: pending_ops == 0
                && pending_commands == 0
                && pending_attachments == 0
                && last_sync_ms.is_some()
                && last_error.is_none(),
            last_error,
        })
    }
}

/// Whether `op` writes referral status keys without being the server's.
fn forges_status(op: &Operation) -> bool {
    op.kind == RecordKind::Referral
        && op.op_id.device != SERVER_DEVICE_ID
        && SERVER_KEYS.iter().any(|k| op.fields.contains_key(*k))
}

/// `op` without referral status keys, unless the server wrote it.
fn without_forged_status(op: &Operation) -> Cow<'_, Operation> {
    if !forges_status(op) {
        return Cow::Borrowed(op);
    }
    let mut clean = op.clone();
    clean
        .fields
        .retain(|key, _| !SERVER_KEYS.contains(&key.as_str()));
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::SyncProgress;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn progress_never_passes_one_and_is_only_one_when_done(
            pushed in 0u64..10_000, to_push in 0u64..10_000, pulled in 0u64..10_000, more in any::<bool>(),
        ) {
            let progress = SyncProgress { pushed, to_push, pulled, more_to_pull: more, ..Default::default() };
            let fraction = progress.fraction();
            prop_assert!((0.0..=1.0).contains(&fraction));
            if more {
                prop_assert!(fraction < 1.0, "more to pull yet shown complete");
            }
        }
    }
}
