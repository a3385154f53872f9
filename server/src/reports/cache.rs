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
//!
//! After new data, [`ReportCache::refresh`] (run every [`REFRESH_INTERVAL`] by
//! [`refresh_every`]) computes again the few answers people asked for most recently, so the
//! next analyst opening the dashboard does not wait for the pass either. It costs a pass per
//! refreshed answer after each change, bounded by [`REFRESH_MOST`] and [`RECENT`].

use super::table::{Cell, Table};
use crate::storage::{Storage, StorageError};
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tables of one request, published, and its count of linked cases.
pub type Published = (Vec<Table>, Cell);

/// How many answers are kept (the oldest go first): a few screens of a few analysts.
pub const CAPACITY: usize = 64;

/// How often stale answers are refreshed: new data shows within this plus a pass.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// At most this many answers are computed again after a change: the dashboard's first screen
/// (a report, the same period a year before, a month-by-month series) for a couple of views.
pub const REFRESH_MOST: usize = 4;

/// Only answers asked within this time are refreshed: nobody is waiting for older ones.
pub const RECENT: Duration = Duration::from_secs(3600);

/// How to compute an answer again (the request, its disclosure and publication).
pub type Recipe = Arc<dyn Fn(&dyn Storage) -> Result<Published, StorageError> + Send + Sync>;

struct Entry {
    request: String,
    state: (u64, u64),
    answer: Arc<Published>,
    recipe: Recipe,
    asked_at: Instant,
    /// Whether a refresh may compute it again (whole-period reports; not a series' months,
    /// each cheap and many).
    refreshable: bool,
}

/// The last [`CAPACITY`] answers, shared by the report routes of one server process.
#[derive(Default)]
pub struct ReportCache {
    entries: Mutex<VecDeque<Entry>>,
}

impl ReportCache {
    /// The answer to `request` (a description of everything that decides the figures: filter,
    /// count, tables, disclosure and threshold), from `recipe` unless an answer to the same
    /// request is kept and the log and the confirmed links have not changed since.
    pub fn get_or_compute(
        &self,
        storage: &dyn Storage,
        request: &str,
        recipe: Recipe,
        refreshable: bool,
    ) -> Result<Arc<Published>, StorageError> {
        let state = data_state(storage)?;
        {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = entries
                .iter_mut()
                .find(|e| e.request == request && e.state == state)
            {
                hit.asked_at = Instant::now();
                return Ok(hit.answer.clone());
            }
        }
        let answer = Arc::new(recipe(storage)?);
        self.keep(
            request,
            state,
            answer.clone(),
            (recipe, refreshable),
            Instant::now(),
        );
        Ok(answer)
    }

    fn keep(
        &self,
        request: &str,
        state: (u64, u64),
        answer: Arc<Published>,
        (recipe, refreshable): (Recipe, bool),
        asked_at: Instant,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.request != request);
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Entry {
            request: request.to_owned(),
            state,
            answer,
            recipe,
            asked_at,
            refreshable,
        });
    }

    /// Computes again, from the current data, the (at most `most`) stale refreshable answers
    /// asked most recently within `recent`; returns how many.
    pub fn refresh(
        &self,
        storage: &dyn Storage,
        most: usize,
        recent: Duration,
    ) -> Result<usize, StorageError> {
        let state = data_state(storage)?;
        let mut stale: Vec<(String, Recipe, Instant)> = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .iter()
                .filter(|e| e.refreshable && e.state != state && e.asked_at.elapsed() <= recent)
                .map(|e| (e.request.clone(), e.recipe.clone(), e.asked_at))
                .collect()
        };
        stale.sort_by_key(|e| std::cmp::Reverse(e.2));
        stale.truncate(most);
        for (request, recipe, asked_at) in &stale {
            let answer = Arc::new(recipe(storage)?);
            self.keep(request, state, answer, (recipe.clone(), true), *asked_at);
        }
        Ok(stale.len())
    }
}

/// Refreshes `cache` every [`REFRESH_INTERVAL`] while the server runs.
pub async fn refresh_every(storage: Arc<dyn Storage>, cache: Arc<ReportCache>) {
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + REFRESH_INTERVAL,
        REFRESH_INTERVAL,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (storage, cache) = (storage.clone(), cache.clone());
        match tokio::task::spawn_blocking(move || cache.refresh(&*storage, REFRESH_MOST, RECENT))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(reports = n, "refreshed cached reports after new data"),
            Ok(Err(e)) => tracing::warn!(error = %e, "refreshing cached reports failed"),
            Err(_) => tracing::error!("refreshing cached reports stopped unexpectedly"),
        }
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
