//! One transaction with its connection's prepared statements.
//!
//! The `postgres` crate prepares a statement on every `query("…")` with text: a round trip to
//! the server (Parse and Describe) and a fresh plan before the round trip that runs it. The
//! storage code runs the same few dozen statements over and over, so each connection keeps
//! the statements it prepared ([`StatementCache`], lent with the connection by the pool) and
//! [`Tx`] runs a statement it has seen before in one round trip.
//!
//! Prepared statements belong to the connection, not to a transaction: they outlive a
//! rollback or a serialization failure, and die with the connection (the pool drops a broken
//! one, cache and all). The schema is created or upgraded when a storage opens, before any
//! statement is cached, so a cached statement never outlives the table shape it was planned
//! for within one process.

use ::postgres::types::ToSql;
use ::postgres::{Error, GenericClient, Row, RowIter, Statement, Transaction};
use std::collections::HashMap;

/// Statements one connection keeps prepared at most. The storage code has fewer than a
/// hundred distinct statements; the bound only guards against SQL built with values in it
/// (there is none today), which would otherwise grow the cache without end.
pub const MAX_CACHED_STATEMENTS: usize = 256;

/// The statements a connection has prepared, by their SQL.
#[derive(Default)]
pub struct StatementCache {
    prepared: HashMap<String, Statement>,
}

impl StatementCache {
    /// The statement for `sql`, prepared on `client` the first time it is asked for.
    pub fn prepared(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, Error> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        if self.prepared.len() < MAX_CACHED_STATEMENTS {
            self.prepared.insert(sql.to_owned(), statement.clone());
        }
        Ok(statement)
    }
}

/// A transaction that prepares each distinct statement once per connection. Same methods
/// as [`Transaction`], taking SQL text.
pub struct Tx<'a> {
    inner: Transaction<'a>,
    statements: &'a mut StatementCache,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<'a> Tx<'a> {
    pub fn new(inner: Transaction<'a>, statements: &'a mut StatementCache) -> Tx<'a> {
        Tx { inner, statements }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        self.statements.prepared(&mut self.inner, sql)
    }

    pub fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        let statement = self.statement(sql)?;
        self.inner.execute(&statement, params)
    }

    pub fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        let statement = self.statement(sql)?;
        self.inner.query(&statement, params)
    }

    pub fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, Error> {
        let statement = self.statement(sql)?;
        self.inner.query_opt(&statement, params)
    }

    pub fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, Error> {
        let statement = self.statement(sql)?;
        self.inner.query_one(&statement, params)
    }

    /// Rows as the server sends them, without collecting them first.
    pub fn query_raw<'p>(
        &mut self,
        sql: &str,
        params: impl ExactSizeIterator<Item = &'p (dyn ToSql + Sync)>,
    ) -> Result<RowIter<'_>, Error> {
        let statement = self.statement(sql)?;
        self.inner.query_raw(&statement, params)
    }

    /// Runs statements without parameters (not prepared: the simple query protocol).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.inner.batch_execute(sql)
    }

    pub fn commit(self) -> Result<(), Error> {
        self.inner.commit()
    }
}
