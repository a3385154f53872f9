//! Opening the SQLite connection with the pragmas every store uses, in one place.
//!
//! WAL is set before the first transaction so readers never block the writer and a crash
//! mid-write leaves the last committed state intact. `secure_delete` overwrites freed pages so
//! a deleted value (a wiped key envelope, an outbox entry) does not linger in free pages.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How hard a commit pushes to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced; survives power loss. The default, because
    /// a phone's battery dies and nothing a caseworker typed may be lost.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives the app being killed, may lose the last commits on
    /// power loss. For bulk work that can be redone (benchmarks, re-runnable imports).
    Normal,
}

/// How long a statement waits for another connection's lock before failing with "busy".
/// Long enough to ride out a checkpoint, short enough that a stuck UI shows an error.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages written before SQLite checkpoints on its own, inside a committing save. Larger
/// than SQLite's 1000 so that the copy-back lands on fewer interactive saves (it is the main
/// cause of slow saves); the store also checkpoints when it is locked or closed and after a
/// sync, when no one is waiting. 4000 pages is 16 MB of WAL at most.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;

/// WAL pages SQLite may accumulate during a sync before it checkpoints on its own. A
/// checkpoint copies every page written so far back into the main file; at the interactive
/// threshold (16 MB) a 10,000-case first sync, which leaves a 24 MB database and rewrites
/// index pages in every page it applies, checkpointed several times on the way. The sync
/// checkpoints once when it ends; this bound (400 MB of WAL) only keeps an exceptionally large
/// first sync from growing the WAL without end.
pub const SYNC_WAL_AUTOCHECKPOINT_PAGES: u32 = 100_000;

/// Page cache per connection (SQLite's default is 2 MB). Index pages of a 100,000-case store
/// (blind-index tokens are random, so inserts touch pages all over) stay cached; memory stays
/// far below what a phone allows an app.
pub const CACHE_SIZE_KIB: i64 = 16 * 1024;

/// Page cache while a sync applies pages ([`SYNC_WAL_AUTOCHECKPOINT_PAGES`]' companion): a
/// first sync of 10,000 cases builds a 35 MB database whose index pages it touches all over;
/// with the interactive cache most of them go back to the OS and are read again. Released
/// when the sync ends.
pub const SYNC_CACHE_SIZE_KIB: i64 = 64 * 1024;

/// Sets the page cache size, in KiB.
pub fn set_cache_size(conn: &Connection, kib: i64) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -kib)
}

/// WAL size kept after a checkpoint; larger WALs are truncated back to this.
pub const JOURNAL_SIZE_LIMIT_BYTES: i64 = 4 * 1024 * 1024;

/// Opens (creating when `create` is set) a database file with the store's pragmas.
pub fn open(path: &Path, create: bool, durability: Durability) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    set_pragmas(&conn, durability)?;
    Ok(conn)
}

/// A checkpoint running on a connection and thread of its own, so whoever waited for the
/// work that filled the WAL (a sync) does not wait for its copy into the main file too. In WAL
/// mode a checkpoint runs beside the store's own reads and writes; a checkpoint the store
/// starts meanwhile (SQLite's automatic one after a commit) finds this one running and skips.
/// Joined before the store locks, wipes or closes, and when dropped.
#[derive(Default)]
pub struct BackgroundCheckpoint(Option<std::thread::JoinHandle<()>>);

impl BackgroundCheckpoint {
    /// Starts a passive checkpoint of the database at `path` (after any still running).
    /// Best effort, like every checkpoint: one that fails only leaves more for the next.
    pub fn start(&mut self, path: &Path) {
        self.wait();
        let path = path.to_owned();
        self.0 = Some(std::thread::spawn(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if let Ok(conn) = Connection::open_with_flags(&path, flags) {
                let _ = conn.busy_timeout(BUSY_TIMEOUT);
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        }));
    }

    /// Waits for a running checkpoint to end.
    pub fn wait(&mut self) {
        if let Some(running) = self.0.take() {
            // The thread only runs SQLite calls whose errors it drops; a panic there is
            // nothing the store can act on.
            let _ = running.join();
        }
    }
}

impl Drop for BackgroundCheckpoint {
    fn drop(&mut self) {
        self.wait();
    }
}

/// Sets the WAL page count after which a commit checkpoints (0 turns it off).
pub fn set_wal_autocheckpoint(conn: &Connection, pages: u32) -> rusqlite::Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", pages)
}

/// Sets the pragmas. Called once per connection, before any transaction.
pub fn set_pragmas(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // journal_mode answers with a row, so it is read rather than executed.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{CACHE_SIZE_KIB};
         PRAGMA secure_delete = ON;
         PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES};
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
    ))?;
    Ok(())
}
