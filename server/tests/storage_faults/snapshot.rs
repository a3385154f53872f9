//! Every row of every table of a database, to compare before and after a failed write: what
//! "nothing changed" means, read with a connection of its own rather than through the storage
//! under test.

use std::collections::BTreeMap;

/// Each table's rows as text, sorted (row order is not part of the state).
#[derive(PartialEq, Eq)]
pub struct Snapshot(BTreeMap<String, Vec<String>>);

impl Snapshot {
    /// The rows of an SQLite file, after checking it passes `PRAGMA integrity_check`.
    pub fn of_sqlite(path: &std::path::Path) -> Snapshot {
        let conn = rusqlite::Connection::open(path).unwrap();
        let check: Vec<String> = conn
            .prepare("PRAGMA integrity_check")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(check, ["ok"], "SQLite integrity check");
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'fault_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut out = BTreeMap::new();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |row| {
                    (0..columns)
                        .map(|i| row.get::<_, rusqlite::types::Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|values| format!("{values:?}"))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.sort();
            out.insert(table, rows);
        }
        Snapshot(out)
    }

    /// The rows of every table of a PostgreSQL database (sequences are left out: PostgreSQL
    /// never gives back a value a rolled-back transaction took, by design).
    pub fn of_postgres(config: &postgres::Config) -> Snapshot {
        let mut client = config.connect(postgres::NoTls).unwrap();
        let tables: Vec<String> = client
            .query(
                "SELECT tablename::text FROM pg_tables
                 WHERE schemaname = current_schema() AND tablename NOT LIKE 'fault\\_%'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!tables.is_empty());
        let mut out = BTreeMap::new();
        for table in tables {
            let mut rows: Vec<String> = client
                .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            rows.sort();
            out.insert(table, rows);
        }
        Snapshot(out)
    }

    /// What differs from `other`, by table and row count (never the rows: they hold sealed
    /// values, and a test log is no place for them), or `None`.
    pub fn difference(&self, other: &Snapshot) -> Option<String> {
        let tables: std::collections::BTreeSet<&String> =
            self.0.keys().chain(other.0.keys()).collect();
        let changed: Vec<String> = tables
            .into_iter()
            .filter(|t| self.0.get(*t) != other.0.get(*t))
            .map(|t| {
                let count = |s: &Snapshot| s.0.get(t).map_or(0, Vec::len);
                format!("{t} ({} rows before, {} after)", count(self), count(other))
            })
            .collect();
        (!changed.is_empty()).then(|| format!("tables changed: {}", changed.join(", ")))
    }
}
