//! Published reports kept while nothing they count can have changed, so the dashboard's
//! repeated requests (back to a filter, another tab, another analyst on the same view) do not
//! pay for another pass over every facts row.
//!
//! What a report counts changes only through the operation log (cases, services, referrals
//! and their answers, transfers all arrive as operations) and through duplicate decisions
//! (confirmed links make individuals); purges keep every figure as it was (`docs/reports.md`).
//! So an answer is reused only for the same request while the log ends where it ended and the
//! confirmed links are the same; the check reads the log's end and the links, as the engine
//! does anyway, in every server process sharing the database. Public answers are cached after
//! publication: cell keys make them deterministic, so a cached answer is the answer.

use super::table::{Cell, Table};
use crate::storage::{Storage, StorageError};
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// The tables of one request, published, and its count of linked cases.
pub type Published = (Vec<Table>, Cell);

/// How many answers are kept (the oldest go first): a few screens of a few analysts.
pub const CAPACITY: usize = 64;

struct Entry {
    request: String,
    state: (u64, u64),
    answer: Arc<Published>,
}

/// The last [`CAPACITY`] answers, shared by the report routes of one server process.
#[derive(Default)]
pub struct ReportCache {
    entries: Mutex<VecDeque<Entry>>,
}

impl ReportCache {
    /// The answer to `request` (a description of everything that decides the figures: filter,
    /// count, tables, disclosure and threshold), from `compute` unless an answer to the same
    /// request is kept and the log and the confirmed links have not changed since.
    pub fn get_or_compute(
        &self,
        storage: &dyn Storage,
        request: &str,
        compute: impl FnOnce() -> Result<Published, StorageError>,
    ) -> Result<Arc<Published>, StorageError> {
        let state = data_state(storage)?;
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = entries
                .iter()
                .find(|e| e.request == request && e.state == state)
            {
                return Ok(hit.answer.clone());
            }
        }
        let answer = Arc::new(compute()?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.request != request);
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Entry {
            request: request.to_owned(),
            state,
            answer: answer.clone(),
        });
        Ok(answer)
    }
}

/// Where the log ends, and a digest of the confirmed duplicate links: what every figure
/// depends on besides the request.
fn data_state(storage: &dyn Storage) -> Result<(u64, u64), StorageError> {
    let log_end = storage.log_end()?;
    let mut links = storage.confirmed_duplicate_links()?;
    links.sort_unstable();
    let mut hasher = DefaultHasher::new();
    links.hash(&mut hasher);
    Ok((log_end, hasher.finish()))
}
