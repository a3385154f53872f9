//! A fresh PostgreSQL database per test, for the conformance suite and end-to-end tests.
//!
//! The server to use comes from `FIELDCASE_TEST_DATABASE_URL` (set by
//! `scripts/with-postgres.sh`, which starts a throwaway server). Each [`TempDatabase`] creates a
//! database of its own with a random name, so tests run in parallel, and drops it (closing any
//! connection still open) when dropped. Without the variable a test **fails**: PostgreSQL tests
//! are never skipped silently.

use super::PostgresStorage;
use crate::seal::Sealer;
use ::postgres::{Config, NoTls};

/// The variable naming the PostgreSQL server tests use.
pub const TEST_DATABASE_URL_VAR: &str = "FIELDCASE_TEST_DATABASE_URL";

/// The test server's configuration. Panics with instructions when the variable is missing.
pub fn test_server_config() -> Config {
    let url = std::env::var(TEST_DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{TEST_DATABASE_URL_VAR} is not set: PostgreSQL tests need a server. Run them \
             through scripts/with-postgres.sh (e.g. `scripts/with-postgres.sh cargo test -p \
             fieldcase-server`), which starts a throwaway one."
        )
    });
    url.parse()
        .unwrap_or_else(|_| panic!("{TEST_DATABASE_URL_VAR} does not parse as a PostgreSQL URL"))
}

/// An empty database on the test server, dropped with this value.
pub struct TempDatabase {
    server: Config,
    name: String,
}

impl TempDatabase {
    pub fn create() -> TempDatabase {
        let server = test_server_config();
        let name = format!("fieldcase_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = server
            .connect(NoTls)
            .expect("connect to the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        TempDatabase { server, name }
    }

    /// The configuration that connects to this database.
    pub fn config(&self) -> Config {
        let mut config = self.server.clone();
        config.dbname(&self.name);
        config
    }

    /// A URL for this database, for `fieldcase serve --database-url` (a unix-socket host is
    /// percent-encoded, as `scripts/with-postgres.sh` writes it).
    pub fn url(&self) -> String {
        let host = self
            .server
            .get_hosts()
            .first()
            .map(|h| match h {
                ::postgres::config::Host::Tcp(name) => name.clone(),
                ::postgres::config::Host::Unix(path) => {
                    path.display().to_string().replace('/', "%2F")
                }
            })
            .unwrap_or_else(|| "localhost".into());
        let port = self.server.get_ports().first().copied().unwrap_or(5432);
        let user = self.server.get_user().unwrap_or("postgres");
        let password = self
            .server
            .get_password()
            .map(|p| format!(":{}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        format!("postgresql://{user}{password}@{host}:{port}/{}", self.name)
    }
}

impl Drop for TempDatabase {
    /// Drops the database on a thread of its own: the synchronous client may not block a thread
    /// that drives async tasks, and an async test drops its harness on one.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) = server.connect(NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// A [`PostgresStorage`] on its own temporary database.
pub struct TempPostgres {
    // Declared first: dropped (its connections closed) before the database is.
    store: PostgresStorage,
    database: TempDatabase,
}

impl TempPostgres {
    /// The database under the store (to open a second store on it, as a second process would).
    pub fn database(&self) -> &TempDatabase {
        &self.database
    }
}

impl std::ops::Deref for TempPostgres {
    type Target = PostgresStorage;
    fn deref(&self) -> &PostgresStorage {
        &self.store
    }
}

/// A fresh store on a fresh database, sealing with a fixed test key.
pub fn temp_postgres() -> TempPostgres {
    let database = TempDatabase::create();
    let store = PostgresStorage::open(database.config(), Sealer::from_key(&[3; 32]))
        .expect("open a PostgreSQL store on a fresh database");
    TempPostgres { store, database }
}
