//! A tiny connection pool: at most [`POOL_SIZE`] open clients, opened on demand, handed out
//! one per transaction and returned when the transaction ends.
//!
//! Kept small on purpose (one mutex, one condition variable, no background thread): storage
//! methods are synchronous and short, run on blocking threads, and never hold a client across
//! network I/O to a device. A client that broke (the server closed it, a network error) is
//! dropped when it comes back instead of being reused; the next caller opens a fresh one.
//! What this pool does not do: health checks of idle clients, idle timeouts, TLS.

use super::statements::StatementCache;
use crate::storage::StorageError;
use ::postgres::{Client, Config, NoTls};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Connections one server process keeps at most. PostgreSQL's default `max_connections` is
/// 100: several server processes of 8 stay far below it, and 8 concurrent transactions keep a
/// small database server busy (beyond that they only queue on its locks and cores).
pub const POOL_SIZE: usize = 8;

/// How long a caller waits for a free connection before the request fails. Transactions are
/// short; a wait this long means the database is stuck, and failing tells the device to retry
/// later instead of piling up blocking threads.
pub const POOL_WAIT: Duration = Duration::from_secs(30);

/// An open client and the statements prepared on it.
struct Conn {
    client: Client,
    statements: StatementCache,
}

struct Slots {
    idle: Vec<Conn>,
    /// Clients open, idle or lent.
    open: usize,
}

/// The pool. See the module docs.
pub struct Pool {
    config: Config,
    size: usize,
    slots: Mutex<Slots>,
    returned: Condvar,
}

/// A client lent by the [`Pool`]; goes back to it when dropped.
pub struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Pooled<'_> {
    /// The client and the statements prepared on it, to start a [`super::Tx`].
    pub fn parts(&mut self) -> (&mut Client, &mut StatementCache) {
        let conn = self
            .conn
            .as_mut()
            .expect("a lent client is present until dropped");
        (&mut conn.client, &mut conn.statements)
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self
            .conn
            .as_ref()
            .expect("a lent client is present until dropped")
            .client
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self
            .conn
            .as_mut()
            .expect("a lent client is present until dropped")
            .client
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let conn = self.conn.take().expect("dropped once");
        let mut slots = lock(&self.pool.slots);
        if conn.client.is_closed() {
            slots.open -= 1;
        } else {
            slots.idle.push(conn);
        }
        drop(slots);
        self.pool.returned.notify_one();
    }
}

fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    pub fn new(config: Config, size: usize) -> Pool {
        Pool {
            config,
            size: size.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// An idle client, a new one if fewer than the pool's size are open, else waits (at most
    /// [`POOL_WAIT`]) for one to come back.
    pub fn get(&self) -> Result<Pooled<'_>, StorageError> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut slots = lock(&self.slots);
        loop {
            if let Some(conn) = slots.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if slots.open < self.size {
                slots.open += 1;
                drop(slots);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: StatementCache::default(),
                        }),
                    }),
                    Err(e) => {
                        lock(&self.slots).open -= 1;
                        self.returned.notify_one();
                        Err(super::backend(e))
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StorageError::Backend(
                    "no database connection became free in time".into(),
                ));
            }
            slots = self
                .returned
                .wait_timeout(slots, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Closes every idle client (lent ones close when they come back broken or at drop).
    pub fn close_idle(&self) {
        let idle = {
            let mut slots = lock(&self.slots);
            let idle = std::mem::take(&mut slots.idle);
            slots.open -= idle.len();
            idle
        };
        close_off_runtime(idle);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut lock(&self.slots).idle);
        close_off_runtime(idle);
    }
}

/// Closes clients on a thread of its own: closing one blocks on the client's own runtime,
/// which panics on a thread that drives async tasks — and the last handle on a storage may be
/// dropped on one (a server's tasks ending at shutdown).
fn close_off_runtime(clients: Vec<Conn>) {
    if clients.is_empty() {
        return;
    }
    let _ = std::thread::spawn(move || drop(clients)).join();
}
