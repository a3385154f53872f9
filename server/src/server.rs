//! Starting and stopping a server: what `fieldcase serve` runs and what tests embed.
//!
//! [`Server::bind`] prepares everything that can fail (data directory, key, database, first
//! admin token, listening socket) before a single request is accepted; [`Server::run`] serves
//! until the shutdown future resolves, lets in-flight requests finish (at most
//! [`SHUTDOWN_GRACE`]) and checkpoints the database. [`Server::spawn`] does both on a task and
//! hands back a [`RunningServer`], which is how tests start a real server on a port the OS
//! chose:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let server = fieldcase_server::Server::spawn(fieldcase_server::ServerConfig::new(dir.path())).await?;
//! let admin_token = server.admin_token().expect("first start writes one");
//! // … HTTP calls to server.base_url …
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

use crate::config::{ServerConfig, SHUTDOWN_GRACE};
use crate::credentials::{self, SecretKind};
use crate::fsutil;
use crate::http::{self, AppState};
use crate::seal::SealError;
use crate::storage::postgres::{describe_url, PostgresStorage};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{AdminScope, NewAdminToken, Storage, StorageError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a server could not start. Names paths and causes, never data.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] SealError),
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("writing the admin token to {path}: {source}")]
    AdminToken {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the metrics token must be at least {} characters",
        crate::config::MIN_METRICS_TOKEN_CHARS
    )]
    MetricsToken,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A server ready to serve: storage open, socket bound.
pub struct Server {
    listener: TcpListener,
    storage: Arc<dyn Storage>,
    state: AppState,
    addr: SocketAddr,
    admin_token_written: Option<PathBuf>,
    /// [`crate::config::HEADER_READ_TIMEOUT`] unless the config shortened it.
    header_read_timeout: std::time::Duration,
    /// The TLS certificate served, when the config names one.
    certificate: Option<Arc<crate::tls::ReloadingCertificate>>,
    tls_reload_interval: std::time::Duration,
    time: Arc<dyn crate::time::TimeSource>,
    /// [`crate::config::MAINTENANCE_INTERVAL`] unless the config shortened it.
    maintenance_interval: std::time::Duration,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> Result<Server, StartError> {
        if let Some(token) = &config.metrics_token {
            if token.trim().chars().count() < crate::config::MIN_METRICS_TOKEN_CHARS {
                return Err(StartError::MetricsToken);
            }
        }
        // Before anything is created: a wrong certificate path is the commonest start failure.
        let certificate = match config.tls.clone() {
            Some(files) => Some(Arc::new(
                tokio::task::spawn_blocking(move || crate::tls::ReloadingCertificate::load(files))
                    .await
                    .expect("reading the certificate does not panic")?,
            )),
            None => None,
        };
        fsutil::create_private_dir(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let key = config.key.clone();
        let default_key_path = config.default_key_path();
        let (sealer, key_created) =
            tokio::task::spawn_blocking(move || key.load(&default_key_path))
                .await
                .expect("loading the key does not panic")?;
        if let Some(path) = key_created {
            tracing::info!(path = %path.display(), "created a new server key; back it up with the database");
        }
        if config.key.is_in_data_dir() {
            tracing::warn!(
                "the server key is in the data directory: a copy of the directory opens \
                 everything sealed; keep it elsewhere with --key-file, FIELDCASE_SERVER_KEY or \
                 --key-command (docs/security.md)"
            );
        }
        let storage: Arc<dyn Storage> = match config.database_url.clone() {
            Some(url) => {
                tracing::info!(database = %describe_url(&url), "using PostgreSQL");
                let storage =
                    tokio::task::spawn_blocking(move || PostgresStorage::connect(&url, sealer))
                        .await
                        .expect("opening the database does not panic")?;
                Arc::new(storage)
            }
            None => {
                let db_path = config.database_path();
                let storage =
                    tokio::task::spawn_blocking(move || SqliteStorage::open(&db_path, sealer))
                        .await
                        .expect("opening the database does not panic")?;
                Arc::new(storage)
            }
        };
        // Storage calls block (the PostgreSQL client runs its own runtime): off the async
        // threads, like every request's.
        let admin_token_written = {
            let storage = storage.clone();
            let path = config.admin_token_path();
            let now = config.time.now_ms();
            tokio::task::spawn_blocking(move || ensure_admin_token(&*storage, &path, now))
                .await
                .expect("writing the admin token does not panic")?
        };

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut state = AppState::new(
            storage.clone(),
            config.time.clone(),
            config.enrollment_code_hours,
        );
        state.report_threshold = config.report_threshold;
        state.admin_token_file = Some(config.admin_token_path());
        state.throttle = Arc::new(crate::http::throttle::Throttle::new(
            config.trusted_proxies.clone(),
        ));
        state.metrics_token = config
            .metrics_token
            .as_deref()
            .map(|t| credentials::hash_secret(SecretKind::AdminToken, t.trim()));
        state.request_timeout = config.request_timeout;
        state.certificate = certificate.clone();
        state.tls_backup_pins = config.tls_backup_pins.clone();
        state.credential_policy = config.credential_policy;
        if let Some(certificate) = &certificate {
            tracing::info!(pin = %certificate.pin(), "serving TLS");
        }
        Ok(Server {
            certificate,
            tls_reload_interval: config.tls_reload_interval,
            time: config.time.clone(),
            maintenance_interval: config.maintenance_interval,
            header_read_timeout: config.header_read_timeout,
            listener,
            storage,
            state,
            addr,
            admin_token_written,
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The scheme devices and admins reach this server with: `https` when it serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.certificate.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The pin of the TLS certificate served, if any.
    pub fn tls_pin(&self) -> Option<fieldcase_core::sync::Pin> {
        self.certificate.as_ref().map(|c| c.pin())
    }

    /// Where this start wrote the first system-admin token, if it did.
    pub fn admin_token_written(&self) -> Option<&Path> {
        self.admin_token_written.as_deref()
    }

    /// The router with its state, for embedding in another server or calling with `tower`.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (bounded) and closes
    /// the storage.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let refresh_reports = tokio::spawn(crate::reports::cache::refresh_every(
            self.storage.clone(),
            self.state.report_cache.clone(),
        ));
        let router = http::router(self.state);
        let housekeeping = tokio::spawn(crate::service::maintenance::every(
            self.storage.clone(),
            self.time.clone(),
            self.maintenance_interval,
        ));
        let (fired_tx, fired_rx) = oneshot::channel::<()>();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = fired_tx.send(());
        };
        let tls = self.certificate.as_ref().map(|c| c.server_config());
        let reload = self
            .certificate
            .clone()
            .map(|c| tokio::spawn(crate::tls::watch(c, self.tls_reload_interval)));
        let serve = crate::listen::serve(
            self.listener,
            router,
            self.header_read_timeout,
            tls,
            graceful,
        );
        let result = tokio::select! {
            result = serve => result,
            _ = async {
                if fired_rx.await.is_ok() {
                    tokio::time::sleep(SHUTDOWN_GRACE).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!("requests still running after the shutdown grace period; closing");
                Ok(())
            }
        };
        if let Some(reload) = reload {
            reload.abort();
        }
        housekeeping.abort();
        let _ = housekeeping.await;
        refresh_reports.abort();
        let _ = refresh_reports.await;
        let storage = self.storage;
        let _ = tokio::task::spawn_blocking(move || storage.close()).await;
        result
    }

    /// Binds and serves on a task; for tests and embedding.
    pub async fn spawn(config: ServerConfig) -> Result<RunningServer, StartError> {
        let data_dir = config.data_dir.clone();
        let server = Server::bind(config).await?;
        let addr = server.local_addr();
        let scheme = server.scheme();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stop_rx.await;
        }));
        Ok(RunningServer {
            addr,
            base_url: format!("{scheme}://{addr}"),
            data_dir,
            stop: Some(stop_tx),
            task,
        })
    }
}

/// On first start (no live system-admin token), makes one and writes it to `path`, owner-only.
/// It expires like any admin token ([`crate::config::DEFAULT_TOKEN_DAYS`]); an operator rotates
/// it (`fieldcase admin token rotate`), which deletes the file. Should every system token have
/// expired or been revoked, the next start writes a new one: whoever holds the data directory
/// can always recover the network.
/// The file is written before the token is stored: if storing fails the file is stale and the
/// next start overwrites it, whereas the other order could leave a token nobody can read.
fn ensure_admin_token(
    storage: &dyn Storage,
    path: &Path,
    now_ms: u64,
) -> Result<Option<PathBuf>, StartError> {
    if storage.has_system_admin(now_ms)? {
        return Ok(None);
    }
    let token = credentials::new_bearer_secret();
    fsutil::write_secret_file(path, format!("{token}\n").as_bytes()).map_err(|source| {
        StartError::AdminToken {
            path: path.display().to_string(),
            source,
        }
    })?;
    storage.create_admin_token(&NewAdminToken {
        token_hash: credentials::hash_secret(SecretKind::AdminToken, &token),
        scope: AdminScope::System,
        label: "first system admin".into(),
        created_at_ms: now_ms,
        expires_at_ms: now_ms + u64::from(crate::config::DEFAULT_TOKEN_DAYS) * 86_400_000,
    })?;
    tracing::info!(path = %path.display(), "wrote the system admin token");
    Ok(Some(path.to_owned()))
}

/// A server running on a task.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The system-admin token written at first start (read from `<data-dir>/admin.token`).
    pub fn admin_token(&self) -> Option<String> {
        std::fs::read_to_string(self.data_dir.join("admin.token"))
            .ok()
            .map(|t| t.trim().to_owned())
    }

    /// Stops accepting, drains, closes the database.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
