//! Index tokens of the cases a sync or a bulk import brings in, written once when it ends
//! instead of page by page (batch by batch).
//!
//! Why: a case has some thirty index tokens, and tokens are keyed hashes, so they land all over
//! the index b-tree. Written page by page, every page of a first sync rewrites most of the
//! index's leaves into the WAL again (ten pages of 1,000 cases wrote 68 MB of WAL for a 13 MB
//! index, and each row was a seek from the root). Written once, sorted, the index is built
//! from left to right and each of its pages is written once.
//!
//! How: while a sync runs ([`Store::begin_sync_writes`]), a case new to the store is written
//! with its row and summary but without tokens, and its id goes into `search_index_pending` in
//! the same transaction. A later change to a pending case (a later page, a local edit) writes
//! no tokens either: they are computed from the case's state when the pending cases are
//! indexed — when the sync ends, whether it succeeded or not ([`Store::end_sync_writes`]),
//! when [`MAX_PENDING_CASES`] are waiting, and at unlock (a store closed in the middle of a
//! sync). A purge drops a pending case's id with the case. Imports (JSON Lines, spreadsheets)
//! put their new cases on the same list and index them every [`MAX_PENDING_CASES`] and when
//! they end, after a failure too (`Store::indexing_pending_after`); they run no worker.
//!
//! Making the tokens is most of the work of indexing (unsealing, normalizing and hashing each
//! case), so while a sync runs a [`TokenWorker`] thread makes them from the states the pages
//! write, beside the sync; each case on the list carries a version that every write of it
//! raises, so at the end only tokens of a case's current version are used and any other case
//! (changed by a local edit meanwhile, or listed before the app was closed) is unsealed and
//! hashed then.
//!
//! What it costs: until then the new cases are listed (their summaries are written with them)
//! but not found by search. A case already on the device keeps its tokens up to date on every
//! page as before, so a sync never hides a case search could find before it began.

use super::error::{Result, StoreError};
use super::records::{insert_index_rows, IndexRow};
use super::search::{index_tokens, index_tokens_under};
use super::Store;
use crate::crypto::{IndexKey, StoreKeys, Token};
use crate::ids::RecordId;
use crate::merge::RecordState;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::mpsc;

/// Cases a sync may leave unsearchable before it indexes them in the middle of the sync: a
/// first sync of a large caseload over a slow link runs for a long time, and a caseworker may
/// search what arrived. Also bounds the memory of one pass (some thirty 32-byte rows a case,
/// about 20 MB at this count). Three in this crate's unit tests, which exercise the bound.
pub(crate) const MAX_PENDING_CASES: u64 = if cfg!(test) { 3 } else { 20_000 };

/// The version of a pending case, raised: case `id` is being written again while it waits.
/// `None` when the case is not pending.
pub(crate) fn touch(conn: &Connection, id: &RecordId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "UPDATE search_index_pending SET version = version + 1 WHERE record_id = ?1
             RETURNING version",
        )?
        .query_row([&id.as_bytes()[..]], |row| row.get(0))
        .optional()?)
}

/// Adds new cases to the pending list (at version 0), inside the caller's transaction.
pub(crate) fn add(conn: &Connection, ids: &mut [[u8; 16]]) -> Result<()> {
    ids.sort_unstable();
    let mut insert =
        conn.prepare_cached("INSERT OR IGNORE INTO search_index_pending (record_id) VALUES (?1)")?;
    for id in ids.iter() {
        insert.execute([&id[..]])?;
    }
    Ok(())
}

/// Removes case `id` from the pending list (it is being dropped), inside the caller's
/// transaction.
pub(crate) fn forget(conn: &Connection, id: &RecordId) -> Result<()> {
    conn.prepare_cached("DELETE FROM search_index_pending WHERE record_id = ?1")?
        .execute([&id.as_bytes()[..]])?;
    Ok(())
}

/// How many cases wait for their tokens.
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM search_index_pending", [], |row| {
            row.get::<_, i64>(0)
        })? as u64,
    )
}

/// Writes the tokens of every pending case and empties the list, in one transaction: the
/// tokens `prepared` holds for a case's current version, otherwise made from its state now.
/// Returns how many cases were indexed.
pub(crate) fn index_all(
    conn: &mut Connection,
    keys: &StoreKeys,
    prepared: &PreparedTokens,
) -> Result<usize> {
    // Most calls (every unlock, every sync's end) find nothing to do: no write transaction.
    if !conn
        .prepare_cached("SELECT 1 FROM search_index_pending")?
        .exists([])?
    {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    let listed: Vec<(Vec<u8>, i64)> = tx
        .prepare("SELECT record_id, version FROM search_index_pending")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows = Vec::new();
    let mut sealed = Vec::new();
    {
        let mut state_of = tx.prepare_cached("SELECT state FROM records WHERE id = ?1")?;
        for (id, version) in &listed {
            let id: [u8; 16] = id.as_slice().try_into().map_err(|_| StoreError::Corrupt)?;
            match prepared.get(&id) {
                Some((made_at, tokens)) if made_at == version => {
                    rows.extend(tokens.iter().map(|token| (*token, id)));
                }
                _ => {
                    // A case dropped since it was listed has no row left, and nothing to index.
                    if let Some(state) = state_of
                        .query_row([&id[..]], |row| row.get::<_, Vec<u8>>(0))
                        .optional()?
                    {
                        sealed.push((id, state));
                    }
                }
            }
        }
    }
    rows.extend(tokens_of(keys, &sealed)?);
    rows.sort_unstable();
    insert_index_rows(&tx, &rows)?;
    tx.execute("DELETE FROM search_index_pending", [])?;
    tx.commit()?;
    Ok(listed.len())
}

/// Tokens made ahead by a [`TokenWorker`]: per case, the version they were made from.
pub(crate) type PreparedTokens = HashMap<[u8; 16], (i64, Vec<Token>)>;

/// A pending case's state to make tokens from: its id, version and
/// [`super::search::indexed_part`].
pub(crate) type TokenJob = ([u8; 16], i64, RecordState);

/// A thread that makes the tokens of pending cases while a sync goes on, from the states its
/// pages wrote, on a core the sync's own thread does not use. It holds a copy of the index key
/// (zeroized when the thread ends), so the store stops it when it locks.
pub(crate) struct TokenWorker {
    jobs: mpsc::Sender<Vec<TokenJob>>,
    thread: std::thread::JoinHandle<PreparedTokens>,
}

impl TokenWorker {
    pub(crate) fn start(key: &IndexKey) -> TokenWorker {
        let key = key.duplicate();
        let (jobs, received) = mpsc::channel::<Vec<TokenJob>>();
        let thread = std::thread::spawn(move || {
            let mut prepared = PreparedTokens::new();
            for batch in received {
                for (id, version, state) in batch {
                    let tokens = index_tokens_under(&key, &state).into_iter().collect();
                    // Batches arrive in commit order, so a later version replaces an earlier.
                    prepared.insert(id, (version, tokens));
                }
            }
            prepared
        });
        TokenWorker { jobs, thread }
    }

    /// Hands over the cases a committed page wrote.
    pub(crate) fn send(&self, batch: Vec<TokenJob>) {
        if !batch.is_empty() {
            // A worker that is gone (it panicked) only means the cases are hashed at the end.
            let _ = self.jobs.send(batch);
        }
    }

    /// Waits for every case handed over and returns the tokens made.
    pub(crate) fn finish(self) -> PreparedTokens {
        drop(self.jobs);
        self.thread.join().unwrap_or_default()
    }
}

/// Most threads that unseal cases and compute their tokens at once.
const MAX_WORKERS: usize = 4;

/// The index rows of sealed cases (id, sealed state). Unsealing, decoding and hashing take
/// three quarters of indexing a first sync; they need nothing from the database, so they run
/// on every core (the sync's network work is over by then).
fn tokens_of(keys: &StoreKeys, sealed: &[([u8; 16], Vec<u8>)]) -> Result<Vec<IndexRow>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    let chunk = sealed.len().div_ceil(workers).max(1);
    let tokens_of_chunk = |cases: &[([u8; 16], Vec<u8>)]| -> Result<Vec<IndexRow>> {
        let mut rows = Vec::new();
        for (id, state) in cases {
            let id = *id;
            let state = Store::unseal_state(keys, &RecordId::from_bytes(id), state)?;
            rows.extend(index_tokens(keys, &state).into_iter().map(|t| (t, id)));
        }
        Ok(rows)
    };
    let parts: Vec<Result<Vec<IndexRow>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sealed
            .chunks(chunk)
            .map(|cases| scope.spawn(move || tokens_of_chunk(cases)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut rows = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for part in parts {
        rows.extend(part?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;
    use crate::merge::FieldState;
    use crate::sample::SampleCases;

    fn state_of(case: &serde_json::Value) -> RecordState {
        let mut state = RecordState::new(crate::merge::op::RecordKind::Case);
        for (field, value) in crate::model::Case::from_json(case).unwrap().to_fields() {
            state.fields.insert(
                field,
                FieldState {
                    value,
                    hlc: crate::hlc::Hlc {
                        wall_ms: 1,
                        counter: 0,
                        device: crate::ids::DeviceId::from_bytes([1; 16]),
                    },
                },
            );
        }
        state
    }

    #[test]
    fn a_long_sync_indexes_its_new_cases_every_max_pending_cases() {
        use crate::import::ImportOptions;
        use crate::store::{Durability, Identity, OpenOptions, SearchQuery};
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions {
            kdf: crate::crypto::KdfParams::insecure_fast_for_tests(),
            durability: Durability::Normal,
        };
        let store_of = |name: &str, device: u8| {
            let identity = Identity {
                device: crate::ids::DeviceId::from_bytes([device; 16]),
                agency: crate::ids::AgencyCode::parse("iom_uga").unwrap(),
                user: "user".into(),
            };
            Store::create(&dir.path().join(name), "pass", None, identity, &options).unwrap()
        };
        let mut source = store_of("source.db", 1);
        let cases: String = SampleCases::new(5)
            .take(5)
            .map(|c| format!("{c}\n"))
            .collect();
        source
            .import_jsonl(cases.as_bytes(), &ImportOptions::default(), &mut |_| {})
            .unwrap();
        let ops = source.pending_ops(usize::MAX).unwrap();
        let family = |n: usize| {
            ops[n].fields["family_name"]
                .value
                .as_str()
                .unwrap()
                .to_owned()
        };
        let mut store = store_of("synced.db", 2);
        store.begin_sync_writes().unwrap();
        store.apply_remote(&ops[..2], "c1").unwrap();
        assert_eq!(count(&store.conn).unwrap(), 2, "under the bound: waiting");
        store.apply_remote(&ops[2..4], "c2").unwrap();
        assert_eq!(
            count(&store.conn).unwrap(),
            0,
            "at the bound: indexed mid-sync"
        );
        let found = |store: &Store, n: usize| {
            store
                .search(&SearchQuery::Name(format!("{} ", family(n))))
                .unwrap()
                .iter()
                .any(|hit| hit.summary.id == ops[n].record_id)
        };
        assert!((0..4).all(|n| found(&store, n)));
        store.apply_remote(&ops[4..], "c3").unwrap();
        assert!(!found(&store, 4));
        store.end_sync_writes().unwrap();
        assert!(found(&store, 4));
    }

    #[test]
    fn a_worker_makes_the_tokens_the_store_makes_from_the_indexed_part_alone() {
        let keys = DataKey::generate().derive_store_keys();
        let cases: Vec<RecordState> = SampleCases::new(11)
            .take(50)
            .map(|c| state_of(&c))
            .collect();
        let worker = TokenWorker::start(&keys.index);
        let jobs = cases
            .iter()
            .enumerate()
            .map(|(n, state)| ([n as u8; 16], 3, super::super::search::indexed_part(state)))
            .collect();
        worker.send(jobs);
        let prepared = worker.finish();
        assert_eq!(prepared.len(), cases.len());
        for (n, state) in cases.iter().enumerate() {
            let (version, tokens) = &prepared[&[n as u8; 16]];
            assert_eq!(*version, 3);
            let expected: Vec<Token> = index_tokens(&keys, state).into_iter().collect();
            assert!(expected.len() > 10, "{} tokens", expected.len());
            assert_eq!(tokens, &expected);
        }
    }
}
