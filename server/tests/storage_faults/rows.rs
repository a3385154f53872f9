//! Row-write faults inside the database itself: a `BEFORE INSERT/UPDATE/DELETE` trigger on
//! every table counts row writes down in `fault_countdown` and raises at zero, so the Nth row
//! an operation writes fails inside whatever port call writes it — in the middle of an append
//! of an operation and its audience rows, say, where a failing port call cannot reach. The
//! countdown is written in the operation's own transaction: rolled back whole, it is back where
//! it was armed; after a success it shows how many rows were written. SQLite raises with
//! `RAISE(ABORT)`, PostgreSQL with a PL/pgSQL `RAISE EXCEPTION`.

use std::path::Path;
use std::sync::Mutex;

pub enum RowFaults {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Mutex<postgres::Client>>),
}

impl RowFaults {
    /// Installs the triggers (disarmed) on the SQLite database at `path`, raising `message`.
    pub fn sqlite(path: &Path, message: &str) -> RowFaults {
        let conn = rusqlite::Connection::open(path).unwrap();
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
        RowFaults::Sqlite(conn)
    }

    /// Installs the triggers (disarmed) on the PostgreSQL database `config` names.
    pub fn postgres(config: &postgres::Config, message: &str) -> RowFaults {
        let mut client = config.connect(postgres::NoTls).unwrap();
        let tables: Vec<String> = client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!tables.is_empty());
        let mut sql = format!(
            "CREATE TABLE fault_countdown (n BIGINT NOT NULL);
             INSERT INTO fault_countdown VALUES (-1);
             CREATE FUNCTION fault_tick() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE remaining BIGINT;
             BEGIN
                 UPDATE fault_countdown SET n = n - 1 RETURNING n INTO remaining;
                 IF remaining = 0 THEN RAISE EXCEPTION '{message}'; END IF;
                 IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                 RETURN NEW;
             END $$;"
        );
        for table in &tables {
            sql.push_str(&format!(
                "CREATE TRIGGER fault_tick BEFORE INSERT OR UPDATE OR DELETE ON \"{table}\"
                 FOR EACH ROW EXECUTE FUNCTION fault_tick();"
            ));
        }
        client.batch_execute(&sql).unwrap();
        RowFaults::Postgres(Box::new(Mutex::new(client)))
    }

    /// Makes the `n`th row write from now on fail (and, the countdown staying at zero, every
    /// later one in that transaction: a disk that is full stays full).
    pub fn arm(&self, n: u64) {
        self.set(n as i64);
    }

    /// Stops failing writes; returns what was left of the countdown.
    pub fn disarm(&self) -> i64 {
        let left = match self {
            RowFaults::Sqlite(conn) => conn
                .query_row("SELECT n FROM fault_countdown", [], |r| r.get(0))
                .unwrap(),
            RowFaults::Postgres(client) => client
                .lock()
                .unwrap()
                .query_one("SELECT n FROM fault_countdown", &[])
                .unwrap()
                .get(0),
        };
        self.set(-1);
        left
    }

    fn set(&self, n: i64) {
        match self {
            RowFaults::Sqlite(conn) => {
                conn.execute("UPDATE fault_countdown SET n = ?1", [n])
                    .unwrap();
            }
            RowFaults::Postgres(client) => {
                client
                    .lock()
                    .unwrap()
                    .execute("UPDATE fault_countdown SET n = $1", &[&n])
                    .unwrap();
            }
        }
    }
}
