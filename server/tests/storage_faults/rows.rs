//! Row-write faults on the server's SQLite file: a `BEFORE INSERT/UPDATE/DELETE` trigger on
//! every table counts row writes down in `fault_countdown` and raises `RAISE(ABORT)` at zero,
//! so the Nth row an operation writes fails inside whatever port call writes it — in the middle
//! of an append of an operation and its audience rows, say, where a failing port call cannot
//! reach. The countdown is written in the operation's own transaction: rolled back whole, it is
//! back where it was armed; after a success it shows how many rows were written.

use rusqlite::Connection;
use std::path::Path;

pub struct RowFaults {
    conn: Connection,
}

impl RowFaults {
    /// Installs the triggers (disarmed) on the database at `path`, raising `message`.
    pub fn install(path: &Path, message: &str) -> RowFaults {
        let conn = Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut sql = String::from(
            "CREATE TABLE fault_countdown (n INTEGER NOT NULL);
             INSERT INTO fault_countdown VALUES (-1);",
        );
        for table in &tables {
            for event in ["INSERT", "UPDATE", "DELETE"] {
                // A negative countdown (disarmed) only goes further down and never reaches 0.
                sql.push_str(&format!(
                    "CREATE TRIGGER fault_{table}_{event} BEFORE {event} ON \"{table}\" BEGIN
                         UPDATE fault_countdown SET n = n - 1;
                         SELECT RAISE(ABORT, '{message}') WHERE (SELECT n FROM fault_countdown) = 0;
                     END;"
                ));
            }
        }
        conn.execute_batch(&sql).unwrap();
        RowFaults { conn }
    }

    /// Makes the `n`th row write from now on fail (and, the countdown staying at zero, every
    /// later one in that transaction: a disk that is full stays full).
    pub fn arm(&self, n: u64) {
        self.conn
            .execute("UPDATE fault_countdown SET n = ?1", [n as i64])
            .unwrap();
    }

    /// Stops failing writes; returns what was left of the countdown.
    pub fn disarm(&self) -> i64 {
        let left = self
            .conn
            .query_row("SELECT n FROM fault_countdown", [], |r| r.get(0))
            .unwrap();
        self.conn
            .execute("UPDATE fault_countdown SET n = -1", [])
            .unwrap();
        left
    }
}
