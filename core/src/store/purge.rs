//! Dropping a case the server purged under its agency's retention period.
//!
//! The server sends a purge notice ([`crate::protocol::PURGED_FIELD`], only from
//! [`crate::protocol::SERVER_DEVICE_ID`]); applying the page that holds it removes the case,
//! everything that hangs on it (services, notes, referrals, attachments and their chunks,
//! pending referral commands and refusals, review flags) and their search tokens and
//! summaries, in the page's transaction. The outbox is left alone: this device's unsynced
//! edits to the case are still pushed (the sequence must stay whole), refused by the server
//! as purged, and kept in `rejected_ops` with that reason — nothing typed is lost silently.

use super::error::Result;
use super::records::IndexChanges;
use super::search::index_tokens;
use super::Store;
use crate::crypto::StoreKeys;
use crate::ids::RecordId;
use crate::merge::op::{Operation, RecordKind};
use crate::protocol::{PURGED_FIELD, SERVER_DEVICE_ID};
use rusqlite::{params, Connection};

/// Whether `op` is the server's notice that its case was purged.
pub(super) fn is_purge_notice(op: &Operation) -> bool {
    op.kind == RecordKind::Case
        && op.op_id.device == SERVER_DEVICE_ID
        && op.fields.contains_key(PURGED_FIELD)
}

/// Removes `case` and everything that hangs on it, inside the caller's transaction; returns
/// whether the device held the case. The case's index tokens are computed from its state
/// (the index has no way in by record), so they go too.
pub(super) fn drop_case(conn: &Connection, keys: &StoreKeys, case: &RecordId) -> Result<bool> {
    let case_bytes = case.as_bytes().as_slice();
    if let Some(record) = Store::load_record(conn, keys, case)? {
        let mut index = IndexChanges::default();
        index.remove_all(case, index_tokens(keys, &record.state));
        index.apply(conn)?;
        super::pending_index::forget(conn, case)?;
    }
    let mut ids: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT id FROM records WHERE case_id = ?1")?
        .query_map([case_bytes], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let held: bool = conn.query_row(
        "SELECT count(*) > 0 FROM records WHERE id = ?1",
        [case_bytes],
        |row| row.get(0),
    )?;
    ids.push(case_bytes.to_vec());
    for id in &ids {
        for sql in [
            "DELETE FROM referral_commands WHERE referral_id = ?1",
            "DELETE FROM referral_rejections WHERE referral_id = ?1",
            "DELETE FROM review_flags WHERE record_id = ?1",
            "DELETE FROM case_summaries WHERE id = ?1",
            "DELETE FROM attachment_chunks WHERE attachment_id = ?1",
            "DELETE FROM attachments WHERE id = ?1",
            "DELETE FROM records WHERE id = ?1",
        ] {
            conn.execute(sql, params![id])?;
        }
    }
    conn.execute(
        "DELETE FROM attachment_chunks WHERE attachment_id IN
           (SELECT id FROM attachments WHERE case_id = ?1)",
        [case_bytes],
    )?;
    conn.execute("DELETE FROM attachments WHERE case_id = ?1", [case_bytes])?;
    Ok(held)
}
