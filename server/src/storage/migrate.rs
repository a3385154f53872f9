//! Moving house: copying an embedded server's SQLite database into PostgreSQL, so the network
//! can grow to several server processes without re-enrolling a single phone.
//!
//! The copy is verbatim, row by row: sealed payloads, states and facts stay sealed under the
//! same server key (nothing is opened, so the key is not needed here), log positions keep their
//! numbers and `server_meta` keeps the database's epoch — so every device's cursor and
//! credential stay valid, and the devices carry on syncing against the new database.
//!
//! - **Shapes apart**: SQLite's `report_facts` and `match_profiles` rows live in their
//!   record's `records` row in PostgreSQL, and its `match_blocks` rows packed beside the
//!   profile; they are written into those rows and counted and checksummed as SQLite's rows
//!   all the same (`folded`).
//! - **Order**: tables are copied parents first ([`TABLES`]), rows in insertion order, so every
//!   foreign key finds its row.
//! - **Resumable**: each table is copied in one PostgreSQL transaction that also records it as
//!   done (`fieldcase_migration`); an interrupted run leaves whole tables or nothing of a
//!   table, and the next run starts at the first table not done.
//! - **Verified**: every table's row count and an order-independent checksum of its rows (a
//!   wrapping sum of per-row SHA-256 digests over a typed, canonical encoding) must match on
//!   both sides, or the migration fails naming the table. Only then is the bookkeeping table
//!   dropped.
//! - **Safe to point at the wrong place**: a target that already holds data of its own (rows
//!   that no earlier run of this migration wrote) is refused before anything is written.
//!
//! Run it with the embedded server stopped (the SQLite file must not change underneath), then
//! start `fieldcase serve --database-url …` with the same data directory (the key stays there).

use crate::storage::StorageError;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod folded;

/// Every table of the logical schema, parents before children.
pub const TABLES: &[&str] = &[
    "server_meta",
    "agencies",
    "users",
    "devices",
    "enrollment_codes",
    "admin_tokens",
    "api_tokens",
    "records",
    "op_log",
    "op_audience",
    "referrals",
    "case_access",
    "referral_commands",
    "audit_log",
    "attachments",
    "attachment_chunks",
    "report_facts",
    "service_facts",
    "match_profiles",
    "match_blocks",
    "duplicate_decisions",
    "case_reviews",
];

/// Rows inserted per statement round trip inside a table's transaction: large enough that a
/// million-row log is not a million round trips' worth of waiting, small enough that one
/// batch's parameters stay a few megabytes (sealed attachment chunks are up to 1 MiB each).
const BATCH_ROWS: usize = 64;

/// What one table's copy found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub rows: u64,
    /// True when an earlier run had copied it already.
    pub resumed: bool,
}

/// Why a migration stopped. Names tables and counts, never a value.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the SQLite database: {0}")]
    Source(String),
    #[error("the PostgreSQL database: {0}")]
    Target(String),
    #[error(
        "the PostgreSQL database already holds data in {0} that this migration did not write; \
         migrate into an empty database"
    )]
    TargetNotEmpty(String),
    #[error("{table} does not match after copying: {detail}")]
    Mismatch { table: &'static str, detail: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn source_error(e: rusqlite::Error) -> MigrateError {
    MigrateError::Source(e.to_string())
}

fn target_error(e: postgres::Error) -> MigrateError {
    // PostgreSQL's detail can quote stored values (`Key (x)=(…)`): keep the code and message.
    let text = e
        .as_db_error()
        .map(|db| format!("{} ({})", db.message(), db.code().code()))
        // Not from the server (a connection or type error): its text names no stored value.
        .unwrap_or_else(|| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!("{e}{cause}")
        });
    MigrateError::Target(text)
}

/// One value, as both databases can hold it.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Cell, MigrateError> {
        Ok(match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(r) => Cell::Real(r),
            ValueRef::Text(t) => Cell::Text(
                String::from_utf8(t.to_vec())
                    .map_err(|_| MigrateError::Source("a text column is not UTF-8".into()))?,
            ),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        })
    }

    /// The parameter PostgreSQL's column of type `ty` takes for this value.
    fn to_param(&self, ty: &Type) -> Result<Box<dyn ToSql + Sync>, MigrateError> {
        let wrong = || MigrateError::Source(format!("a value does not fit a {ty} column"));
        Ok(match (self, ty) {
            (Cell::Null, t) if *t == Type::BOOL => Box::new(None::<bool>),
            (Cell::Null, t) if *t == Type::INT4 => Box::new(None::<i32>),
            (Cell::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
            (Cell::Null, t) if *t == Type::FLOAT8 => Box::new(None::<f64>),
            (Cell::Null, t) if *t == Type::BYTEA => Box::new(None::<Vec<u8>>),
            (Cell::Null, _) => Box::new(None::<String>),
            (Cell::Int(i), t) if *t == Type::BOOL => Box::new(*i != 0),
            (Cell::Int(i), t) if *t == Type::INT4 => {
                Box::new(i32::try_from(*i).map_err(|_| wrong())?)
            }
            (Cell::Int(i), t) if *t == Type::INT8 => Box::new(*i),
            (Cell::Real(r), t) if *t == Type::FLOAT8 => Box::new(*r),
            (Cell::Text(s), t) if *t == Type::TEXT || *t == Type::VARCHAR => Box::new(s.clone()),
            (Cell::Blob(b), t) if *t == Type::BYTEA => Box::new(b.clone()),
            _ => return Err(wrong()),
        })
    }

    /// Feeds a typed, canonical encoding of the value to a digest: booleans count as the
    /// integers SQLite stores, so both sides encode a row the same way.
    fn digest_into(&self, hasher: &mut Sha256) {
        match self {
            Cell::Null => hasher.update([0u8]),
            Cell::Int(i) => {
                hasher.update([1u8]);
                hasher.update(i.to_le_bytes());
            }
            Cell::Real(r) => {
                hasher.update([2u8]);
                hasher.update(r.to_le_bytes());
            }
            Cell::Text(s) => {
                hasher.update([3u8]);
                hasher.update((s.len() as u64).to_le_bytes());
                hasher.update(s.as_bytes());
            }
            Cell::Blob(b) => {
                hasher.update([4u8]);
                hasher.update((b.len() as u64).to_le_bytes());
                hasher.update(b);
            }
        }
    }
}

/// The count and order-independent checksum of a table's rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fingerprint {
    rows: u64,
    sum: u128,
}

impl Fingerprint {
    fn add(&mut self, row: &[Cell]) {
        let mut hasher = Sha256::new();
        for cell in row {
            cell.digest_into(&mut hasher);
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.rows += 1;
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
    }
}

/// The columns a table has in PostgreSQL, with their types, in a stable (name) order.
fn target_columns(pg: &mut Client, table: &str) -> Result<Vec<(String, Type)>, MigrateError> {
    let statement = pg
        .prepare(&format!(
            "SELECT * FROM {} LIMIT 0",
            folded::target_relation(table)
        ))
        .map_err(target_error)?;
    let mut columns: Vec<(String, Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_().clone()))
        .collect();
    columns.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(columns)
}

/// Whether a SQLite table has a rowid to keep insertion order by.
fn has_rowid(sqlite: &Connection, table: &str) -> bool {
    sqlite
        .prepare(&format!("SELECT rowid FROM {table} LIMIT 0"))
        .is_ok()
}

/// Reads every row of a SQLite table (insertion order where there is one), the columns in
/// `columns`' order, handing each to `visit`.
fn each_source_row(
    sqlite: &Connection,
    table: &str,
    columns: &[(String, Type)],
    mut visit: impl FnMut(Vec<Cell>) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let order = if has_rowid(sqlite, table) {
        " ORDER BY rowid"
    } else {
        ""
    };
    let mut stmt = sqlite
        .prepare(&format!("SELECT {} FROM {table}{order}", names.join(", ")))
        .map_err(source_error)?;
    let mut rows = stmt.query([]).map_err(source_error)?;
    while let Some(row) = rows.next().map_err(source_error)? {
        let cells = (0..names.len())
            .map(|i| Cell::from_sqlite(row.get_ref(i).map_err(source_error)?))
            .collect::<Result<Vec<_>, _>>()?;
        visit(cells)?;
    }
    Ok(())
}

fn source_fingerprint(
    sqlite: &Connection,
    table: &str,
    columns: &[(String, Type)],
) -> Result<Fingerprint, MigrateError> {
    let mut print = Fingerprint::default();
    each_source_row(sqlite, table, columns, |row| {
        print.add(&row);
        Ok(())
    })?;
    Ok(print)
}

fn target_fingerprint(
    pg: &mut Client,
    table: &str,
    columns: &[(String, Type)],
) -> Result<Fingerprint, MigrateError> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let mut print = Fingerprint::default();
    for row in pg
        .query(
            &format!(
                "SELECT {} FROM {}",
                names.join(", "),
                folded::target_relation(table)
            ),
            &[],
        )
        .map_err(target_error)?
    {
        let cells = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| target_cell(&row, i, ty))
            .collect::<Result<Vec<_>, _>>()?;
        print.add(&cells);
    }
    Ok(print)
}

fn target_cell(row: &postgres::Row, i: usize, ty: &Type) -> Result<Cell, MigrateError> {
    let get = |e: postgres::Error| target_error(e);
    Ok(if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)
            .map_err(get)?
            .map_or(Cell::Null, |b| Cell::Int(i64::from(b)))
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map_err(get)?
            .map_or(Cell::Null, |v| Cell::Int(i64::from(v)))
    } else if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(get)?
            .map_or(Cell::Null, Cell::Int)
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)
            .map_err(get)?
            .map_or(Cell::Null, Cell::Real)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(get)?
            .map_or(Cell::Null, Cell::Blob)
    } else {
        row.try_get::<_, Option<String>>(i)
            .map_err(get)?
            .map_or(Cell::Null, Cell::Text)
    })
}

/// Tables the bookkeeping says are copied.
fn tables_done(pg: &mut Client) -> Result<BTreeSet<String>, MigrateError> {
    pg.batch_execute(
        "CREATE TABLE IF NOT EXISTS fieldcase_migration (
             table_name TEXT PRIMARY KEY,
             rows       BIGINT NOT NULL
         )",
    )
    .map_err(target_error)?;
    Ok(pg
        .query("SELECT table_name FROM fieldcase_migration", &[])
        .map_err(target_error)?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect())
}

/// Copies one table in one transaction that also records it as done.
fn copy_table(
    sqlite: &Connection,
    pg: &mut Client,
    table: &'static str,
    columns: &[(String, Type)],
) -> Result<u64, MigrateError> {
    let mut tx = pg.transaction().map_err(target_error)?;
    let copied = if folded::is_folding(table) {
        folded::copy_folding(sqlite, &mut tx, table)?
    } else if folded::is_folded(table) {
        folded::source_rows(sqlite, table)?
    } else {
        copy_rows(sqlite, &mut tx, table, columns)?
    };
    tx.execute(
        "INSERT INTO fieldcase_migration (table_name, rows) VALUES ($1, $2)",
        &[&table, &(copied as i64)],
    )
    .map_err(target_error)?;
    tx.commit().map_err(target_error)?;
    Ok(copied)
}

/// Copies a table's rows as they are, column for column.
fn copy_rows(
    sqlite: &Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &'static str,
    columns: &[(String, Type)],
) -> Result<u64, MigrateError> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    // The target's own first-start rows (its epoch, key check): the source's replace them.
    if table == "server_meta" {
        tx.execute("DELETE FROM server_meta", &[])
            .map_err(target_error)?;
    }
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let insert = tx
        .prepare(&format!(
            "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
            names.join(", "),
            placeholders.join(", ")
        ))
        .map_err(target_error)?;
    let mut copied = 0u64;
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(BATCH_ROWS);
    let flush = |tx: &mut postgres::Transaction<'_>,
                 batch: &mut Vec<Vec<Cell>>|
     -> Result<(), MigrateError> {
        for row in batch.drain(..) {
            let params = row
                .iter()
                .zip(columns)
                .map(|(cell, (_, ty))| cell.to_param(ty))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            tx.execute(&insert, &refs).map_err(target_error)?;
        }
        Ok(())
    };
    each_source_row(sqlite, table, columns, |row| {
        batch.push(row);
        copied += 1;
        if batch.len() == BATCH_ROWS {
            flush(tx, &mut batch)?;
        }
        Ok(())
    })?;
    flush(tx, &mut batch)?;
    // Identity columns go on from the highest copied value, as SQLite's would.
    for (name, _) in columns {
        let sequence: Option<String> = tx
            .query_one("SELECT pg_get_serial_sequence($1, $2)", &[&table, name])
            .map_err(target_error)?
            .get(0);
        if let Some(sequence) = sequence {
            tx.execute(
                &format!(
                    "SELECT setval($1::text::regclass,
                                   GREATEST((SELECT MAX({name}) FROM {table}), 1),
                                   (SELECT MAX({name}) FROM {table}) IS NOT NULL)"
                ),
                &[&sequence],
            )
            .map_err(target_error)?;
        }
    }
    Ok(copied)
}

/// Copies the SQLite database at `source` into the PostgreSQL database at `target_url`
/// (see the module docs), reporting each table to `progress` as it is done.
pub fn sqlite_to_postgres(
    source: &Path,
    target_url: &str,
    mut progress: impl FnMut(&TableReport),
) -> Result<Vec<TableReport>, MigrateError> {
    let sqlite = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(source_error)?;
    let source_version: i64 = sqlite
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(source_error)?;
    if source_version != crate::storage::sqlite::schema::SCHEMA_VERSION {
        return Err(MigrateError::Source(format!(
            "its schema is version {source_version}; start this version of `fieldcase serve` on \
             it once (it upgrades the file), stop it, then migrate"
        )));
    }
    let config: postgres::Config = target_url
        .parse()
        .map_err(|_| MigrateError::Target("the database URL does not parse".into()))?;
    let mut pg = config.connect(NoTls).map_err(target_error)?;
    crate::storage::postgres::schema::prepare(&mut pg)?;
    let done = tables_done(&mut pg)?;
    if done.is_empty() {
        for table in TABLES.iter().filter(|t| **t != "server_meta") {
            let rows: i64 = pg
                .query_one(
                    &format!("SELECT count(*) FROM {}", folded::target_relation(table)),
                    &[],
                )
                .map_err(target_error)?
                .get(0);
            if rows > 0 {
                return Err(MigrateError::TargetNotEmpty((*table).to_owned()));
            }
        }
    }
    let mut reports = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns = target_columns(&mut pg, table)?;
        let resumed = done.contains(*table);
        let rows = if resumed {
            let print = target_fingerprint(&mut pg, table, &columns)?;
            print.rows
        } else {
            copy_table(&sqlite, &mut pg, table, &columns)?
        };
        let report = TableReport {
            table,
            rows,
            resumed,
        };
        progress(&report);
        reports.push(report);
    }
    verify(&sqlite, &mut pg)?;
    pg.batch_execute("DROP TABLE fieldcase_migration")
        .map_err(target_error)?;
    Ok(reports)
}

/// Every table's count and checksum on both sides.
fn verify(sqlite: &Connection, pg: &mut Client) -> Result<(), MigrateError> {
    let mut mismatches: BTreeMap<&'static str, String> = BTreeMap::new();
    for table in TABLES {
        let columns = target_columns(pg, table)?;
        let from = source_fingerprint(sqlite, table, &columns)?;
        let to = target_fingerprint(pg, table, &columns)?;
        if from != to {
            mismatches.insert(
                table,
                format!(
                    "{} rows in SQLite, {} in PostgreSQL{}",
                    from.rows,
                    to.rows,
                    if from.rows == to.rows {
                        ", and their checksums differ"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    match mismatches.into_iter().next() {
        None => Ok(()),
        Some((table, detail)) => Err(MigrateError::Mismatch { table, detail }),
    }
}

/// For tests: copies only the first `tables` tables, as a run interrupted after them would
/// have, leaving the bookkeeping for the next run to resume from.
#[doc(hidden)]
pub fn sqlite_to_postgres_interrupted(
    source: &Path,
    target_url: &str,
    tables: usize,
) -> Result<(), MigrateError> {
    let sqlite = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(source_error)?;
    let config: postgres::Config = target_url
        .parse()
        .map_err(|_| MigrateError::Target("the database URL does not parse".into()))?;
    let mut pg = config.connect(NoTls).map_err(target_error)?;
    crate::storage::postgres::schema::prepare(&mut pg)?;
    tables_done(&mut pg)?;
    for table in &TABLES[..tables.min(TABLES.len())] {
        let columns = target_columns(&mut pg, table)?;
        copy_table(&sqlite, &mut pg, table, &columns)?;
    }
    Ok(())
}
