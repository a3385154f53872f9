//! Reading and writing sealed records, the outbox and the blind index — the one place where
//! record state meets SQLite.
//!
//! Every local change goes through [`Store::stage_local_change`] inside a transaction: load
//! the current state, build one operation carrying the changed fields (each naming the version
//! it replaces), merge it with the same pure rule remote operations use, validate the result,
//! then write record, summary, index tokens and outbox entry together.

use super::codec;
use super::error::{Result, StoreError};
use super::pending_index;
use super::pending_index::TokenJob;
use super::search::{index_tokens, indexed_part};
use super::Store;
use crate::crypto::{Aad, StoreKeys, Token};
use crate::hlc::{Clock, Hlc};
use crate::ids::{AgencyCode, RecordId};
use crate::merge::op::{FieldChange, OpId, Operation, RecordKind};
use crate::merge::{plan, RecordState};
use crate::model::Fields;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

/// One row of the blind index: a token and the id of the case it leads to.
pub(crate) type IndexRow = (Token, [u8; 16]);

/// Blind-index rows to remove and to add, applied together: in key order, so a page of a
/// thousand pulled cases walks the index b-tree once from left to right instead of jumping to
/// a random leaf for each of its tens of thousands of tokens (the tokens are keyed hashes).
#[derive(Default)]
pub(crate) struct IndexChanges {
    remove: Vec<IndexRow>,
    add: Vec<IndexRow>,
    /// New cases go on the pending list instead ([`super::pending_index`]): set while a sync
    /// applies its pages.
    defer_new_cases: bool,
    pending: Vec<[u8; 16]>,
    /// While a sync applies its pages: the pending cases written, for its token worker.
    token_jobs: Vec<TokenJob>,
}

impl IndexChanges {
    /// Changes that leave the tokens of cases new to the store for
    /// [`super::pending_index`] to write, when `defer` is set.
    pub(crate) fn deferring_new_cases(defer: bool) -> IndexChanges {
        IndexChanges {
            defer_new_cases: defer,
            ..IndexChanges::default()
        }
    }

    /// Removes `tokens` of record `id` (a case about to be deleted).
    pub(crate) fn remove_all(&mut self, id: &RecordId, tokens: impl IntoIterator<Item = Token>) {
        let id = *id.as_bytes();
        self.remove
            .extend(tokens.into_iter().map(|token| (token, id)));
    }

    /// Notes the token changes of case `id` going from `before` to `after`. A pending case's
    /// tokens are left to the pending pass; its version goes up, so tokens a sync's worker made
    /// from an earlier state are not used. (Writing them now too would also be correct — the
    /// tokens of `before` are removed, the pass adds what is missing — but would spend the
    /// random inserts the pending list is there to save.)
    fn track(
        &mut self,
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
        before: Option<&RecordState>,
        after: &RecordState,
    ) -> Result<()> {
        let pending_version = match before {
            None if self.defer_new_cases => {
                self.pending.push(*id.as_bytes());
                Some(0)
            }
            None => None,
            Some(_) => pending_index::touch(conn, id)?,
        };
        if let Some(version) = pending_version {
            if self.defer_new_cases {
                self.token_jobs
                    .push((*id.as_bytes(), version, indexed_part(after)));
            }
            return Ok(());
        }
        let old_tokens = before.map(|b| index_tokens(keys, b)).unwrap_or_default();
        let new_tokens = index_tokens(keys, after);
        if old_tokens != new_tokens {
            let id = *id.as_bytes();
            self.remove
                .extend(old_tokens.difference(&new_tokens).map(|token| (*token, id)));
            self.add
                .extend(new_tokens.difference(&old_tokens).map(|token| (*token, id)));
        }
        Ok(())
    }

    /// Applies the changes inside the caller's transaction. Removals go first: a row removed
    /// and added by the same page belongs to one record written once, so never both. Returns
    /// the pending cases written, for a sync's token worker once the transaction commits.
    pub(crate) fn apply(mut self, conn: &Connection) -> Result<Vec<TokenJob>> {
        self.remove.sort_unstable();
        self.add.sort_unstable();
        if !self.remove.is_empty() {
            let mut delete = conn
                .prepare_cached("DELETE FROM search_index WHERE token = ?1 AND record_id = ?2")?;
            for (token, id) in &self.remove {
                delete.execute(params![&token[..], &id[..]])?;
            }
        }
        insert_index_rows(conn, &self.add)?;
        pending_index::add(conn, &mut self.pending)?;
        Ok(self.token_jobs)
    }
}

/// Index rows written by one statement: one call into SQLite per batch instead of per row.
const INDEX_ROWS_PER_STATEMENT: usize = 64;

/// Inserts blind-index rows (already present ones are kept), best given in key order.
pub(crate) fn insert_index_rows(conn: &Connection, rows: &[IndexRow]) -> Result<()> {
    let statement = |n: usize| {
        let values = vec!["(?, ?)"; n].join(", ");
        format!("INSERT OR IGNORE INTO search_index (token, record_id) VALUES {values}")
    };
    let mut full = conn.prepare_cached(&statement(INDEX_ROWS_PER_STATEMENT))?;
    let mut batches = rows.chunks_exact(INDEX_ROWS_PER_STATEMENT);
    for batch in batches.by_ref() {
        bind_index_rows(&mut full, batch)?;
        full.raw_execute()?;
    }
    let rest = batches.remainder();
    if !rest.is_empty() {
        let mut last = conn.prepare_cached(&statement(rest.len()))?;
        bind_index_rows(&mut last, rest)?;
        last.raw_execute()?;
    }
    Ok(())
}

fn bind_index_rows(statement: &mut rusqlite::CachedStatement<'_>, rows: &[IndexRow]) -> Result<()> {
    for (n, (token, id)) in rows.iter().enumerate() {
        statement.raw_bind_parameter(2 * n + 1, &token[..])?;
        statement.raw_bind_parameter(2 * n + 2, &id[..])?;
    }
    Ok(())
}

/// Checks a record's merged values before a local change is written.
pub(crate) type Validator<'a> = &'a dyn Fn(&Fields) -> Result<()>;

/// A record as stored: clear columns plus the unsealed merge state.
#[derive(Clone, Debug)]
pub(crate) struct StoredRecord {
    pub id: RecordId,
    pub case_id: Option<RecordId>,
    pub owner_agency: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub state: RecordState,
}

/// The sequence and clock a batch of local changes advances; committed to the store's
/// in-memory copy only after the transaction commits.
pub(crate) struct Counters {
    pub last_seq: u64,
    pub clock: Clock,
}

pub(crate) fn record_aad(id: &RecordId) -> Aad<'_> {
    Aad {
        table: "records",
        record: id.as_bytes(),
        part: "state",
    }
}

pub(crate) fn outbox_aad(seq: &[u8; 8]) -> Aad<'_> {
    Aad {
        table: "outbox",
        record: seq,
        part: "op",
    }
}

impl Store {
    pub(crate) fn counters(&self) -> Counters {
        Counters {
            last_seq: self.last_seq,
            clock: self.clock.clone(),
        }
    }

    pub(crate) fn commit_counters(&mut self, counters: Counters) {
        self.last_seq = counters.last_seq;
        self.clock = counters.clock;
    }

    /// Loads and unseals one record.
    pub(crate) fn load_record(
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
    ) -> Result<Option<StoredRecord>> {
        let row = conn
            .prepare_cached(
                "SELECT case_id, owner_agency, created_ms, updated_ms, state FROM records WHERE id = ?1",
            )?
            .query_row([&id.as_bytes()[..]], |row| {
                Ok((
                    row.get::<_, Option<Vec<u8>>>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                ))
            })
            .optional()?;
        let Some((case_id, owner_agency, created_ms, updated_ms, sealed)) = row else {
            return Ok(None);
        };
        let integrity = || StoreError::Integrity {
            table: "records",
            record: id.to_string(),
        };
        let state = Self::unseal_state(keys, id, &sealed)?;
        let case_id = case_id
            .map(|b| b.try_into().map(RecordId::from_bytes))
            .transpose()
            .map_err(|_| integrity())?;
        Ok(Some(StoredRecord {
            id: *id,
            case_id,
            owner_agency,
            created_ms,
            updated_ms,
            state,
        }))
    }

    /// Unseals a record's state as read from its row.
    pub(crate) fn unseal_state(
        keys: &StoreKeys,
        id: &RecordId,
        sealed: &[u8],
    ) -> Result<RecordState> {
        let integrity = || StoreError::Integrity {
            table: "records",
            record: id.to_string(),
        };
        let plain = keys
            .seal
            .open(record_aad(id), sealed)
            .map_err(|_| integrity())?;
        codec::decode(&plain).ok_or_else(integrity)
    }

    /// Loads and unseals the records whose ids a query selects, in the query's order. A
    /// selected id without a row (or a malformed id) means the file is damaged.
    pub(crate) fn load_selected(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredRecord>> {
        let keys = self.keys()?;
        let ids: Vec<Vec<u8>> = self
            .conn
            .prepare_cached(sql)?
            .query_map(params, |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|bytes| {
                let id = RecordId::from_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt)?);
                Self::load_record(&self.conn, keys, &id)?.ok_or(StoreError::Corrupt)
            })
            .collect()
    }

    /// Seals and writes one record's new state, refreshing a case's summary and index tokens
    /// when the fields they come from changed.
    pub(crate) fn write_record(
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
        case_id: Option<&RecordId>,
        owner_agency: &str,
        before: Option<&RecordState>,
        after: &RecordState,
    ) -> Result<()> {
        let mut index = IndexChanges::default();
        Self::write_record_deferring_index(
            conn,
            keys,
            id,
            case_id,
            owner_agency,
            before,
            after,
            &mut index,
        )?;
        // Not deferring: no pending case is handed to a worker from here.
        index.apply(conn).map(drop)
    }

    /// [`Store::write_record`], with the index token changes added to `index` for the caller
    /// to apply (once, sorted, for a whole page of pulled records) before its transaction
    /// commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_record_deferring_index(
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
        case_id: Option<&RecordId>,
        owner_agency: &str,
        before: Option<&RecordState>,
        after: &RecordState,
        index: &mut IndexChanges,
    ) -> Result<()> {
        let sealed = keys.seal.seal(record_aad(id), &codec::encode(after));
        let ms = |h: Option<crate::hlc::Hlc>| h.map_or(0, |h| h.wall_ms as i64);
        let status = (after.kind == RecordKind::Case).then(|| {
            after
                .fields
                .get("status")
                .and_then(|s| s.value.as_str())
                .unwrap_or("open")
                .to_owned()
        });
        conn.prepare_cached(
            "INSERT INTO records (id, kind, case_id, owner_agency, status, created_ms, updated_ms, conflicts, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_ms = excluded.updated_ms,
                 conflicts = excluded.conflicts, state = excluded.state",
        )?
        .execute(params![
            &id.as_bytes()[..],
            after.kind.as_str(),
            case_id.map(|c| &c.as_bytes()[..]),
            owner_agency,
            status,
            ms(after.first_written()),
            ms(after.last_changed()),
            after.conflicts.len() as i64,
            sealed,
        ])?;
        if after.kind == RecordKind::Case {
            Self::refresh_summary(conn, keys, id, owner_agency, before, after)?;
            index.track(conn, keys, id, before, after)?;
        }
        Ok(())
    }

    /// Stages one local change inside `conn`'s open transaction and returns its operation,
    /// or `None` when nothing actually changes. `validate` sees the merged values; callers that
    /// validated already (bulk import of new records) pass `None`. The index changes go in
    /// `index`, for the caller to apply once for all it stages (an import's batch defers its
    /// new cases' tokens to the pending pass, `super::pending_index`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage_local_change(
        conn: &Connection,
        keys: &StoreKeys,
        counters: &mut Counters,
        agency: &AgencyCode,
        kind: RecordKind,
        id: RecordId,
        case_id: Option<RecordId>,
        changes: Fields,
        resolving: Option<(&str, Hlc)>,
        validate: Option<Validator<'_>>,
        index: &mut IndexChanges,
    ) -> Result<Option<Operation>> {
        let current = Self::load_record(conn, keys, &id)?;
        if let Some(existing) = &current {
            if existing.state.kind != kind {
                return Err(StoreError::NoSuchRecord { kind, id });
            }
            // Services and notes are append-only; a referral is written once by its device
            // and then only by the server.
            if kind.is_append_only() || kind == RecordKind::Referral {
                return Err(StoreError::AppendOnly { kind });
            }
        }
        let current_state = current.as_ref().map(|r| &r.state);
        let resolves = |key: &str| {
            resolving
                .filter(|(field, _)| *field == key)
                .map(|(_, hlc)| hlc)
        };
        let fields: BTreeMap<String, FieldChange> = changes
            .into_iter()
            .filter(|(key, value)| {
                // A resolution is written even when the value stays, to settle the conflict.
                let unchanged = current_state
                    .and_then(|s| s.fields.get(key))
                    .map(|f| &f.value)
                    == Some(value);
                let never_set =
                    value.is_null() && current_state.is_none_or(|s| !s.fields.contains_key(key));
                resolves(key).is_some() || !(unchanged || never_set)
            })
            .map(|(key, value)| {
                let shown = current_state.and_then(|s| s.version_of(&key));
                let seen = shown.into_iter().chain(resolves(&key)).collect();
                (key, FieldChange { value, seen })
            })
            .collect();
        if fields.is_empty() {
            return Ok(None);
        }
        let op = Operation {
            op_id: OpId {
                device: counters.clock.device(),
                seq: counters.last_seq + 1,
            },
            kind,
            record_id: id,
            hlc: counters.clock.tick_now(),
            fields,
        };
        let before: BTreeMap<_, _> = current.iter().map(|r| (r.id, r.state.clone())).collect();
        let mut merged = plan(&before, std::slice::from_ref(&op));
        let Some(outcome) = merged.records.remove(&id) else {
            return Ok(None);
        };
        if let Some(validate) = validate {
            validate(&outcome.after.values())?;
        }
        let owner = current
            .as_ref()
            .map_or(agency.as_str(), |r| r.owner_agency.as_str());
        let case_id = current.as_ref().and_then(|r| r.case_id).or(case_id);
        Self::write_record_deferring_index(
            conn,
            keys,
            &id,
            case_id.as_ref(),
            owner,
            current_state,
            &outcome.after,
            index,
        )?;
        Self::append_outbox(conn, keys, &op)?;
        counters.last_seq = op.op_id.seq;
        Ok(Some(op))
    }

    fn append_outbox(conn: &Connection, keys: &StoreKeys, op: &Operation) -> Result<()> {
        let seq = op.op_id.seq.to_be_bytes();
        let plain = serde_json::to_vec(op).expect("operations serialize");
        let sealed = keys.seal.seal(outbox_aad(&seq), &plain);
        conn.prepare_cached("INSERT INTO outbox (seq, record_id, op) VALUES (?1, ?2, ?3)")?
            .execute(params![
                op.op_id.seq as i64,
                &op.record_id.as_bytes()[..],
                sealed
            ])?;
        Ok(())
    }

    /// One local change in its own transaction: the path every interactive save takes.
    pub(crate) fn save_local_change(
        &mut self,
        kind: RecordKind,
        id: RecordId,
        case_id: Option<RecordId>,
        changes: Fields,
        resolving: Option<(&str, Hlc)>,
        validate: &dyn Fn(&Fields) -> Result<()>,
    ) -> Result<Option<Operation>> {
        let mut counters = self.counters();
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let tx = self.conn.transaction()?;
        let mut index = IndexChanges::default();
        let op = Self::stage_local_change(
            &tx,
            keys,
            &mut counters,
            &self.identity.agency,
            kind,
            id,
            case_id,
            changes,
            resolving,
            Some(validate),
            &mut index,
        )?;
        index.apply(&tx)?;
        if op.is_some() {
            Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
            tx.commit()?;
            self.commit_counters(counters);
        }
        Ok(op)
    }
}
