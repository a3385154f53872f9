//! The real server as a separate OS process, so a test can SIGKILL it and start it again on
//! the same data directory and port.
//!
//! [`ServerProcess::start`] runs `BIN serve --data-dir D --listen 127.0.0.1:0` (BIN is this
//! crate's `fieldcase-e2e-server`, the real command line), reads the address it prints
//! (`listening on http://127.0.0.1:PORT`), waits for `/healthz` and reads the first admin
//! token from `D/admin.token`. [`ServerProcess::kill`] sends SIGKILL — no graceful shutdown,
//! no checkpoint, exactly a crash — and [`ServerProcess::restart`] starts the binary again on
//! the same directory and port (retrying the bind briefly), so devices and proxies keep
//! their URLs.
//!
//! The child's stdout and stderr go to files beside the data directory
//! (`D.start-N.out` / `.err`), which a failing test can point to. The process is killed when
//! the value is dropped.

use anyhow::{anyhow, bail, Context};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How long a start may take before the test gives up: a guard against a hung child, not a
/// timing assertion (a debug build on a loaded 2-core machine can be slow).
pub const START_PATIENCE: Duration = Duration::from_secs(60);

/// Attempts to bind the old port again after a kill before giving up.
pub const REBIND_ATTEMPTS: u32 = 50;

/// Pause between polls of the child's output and of `/healthz`.
const POLL: Duration = Duration::from_millis(20);

/// A running `fieldcase serve` child process.
pub struct ServerProcess {
    bin: PathBuf,
    data_dir: PathBuf,
    /// `--database-url` (PostgreSQL), passed in `FIELDCASE_DATABASE_URL`; `None`: SQLite.
    database_url: Option<String>,
    child: Option<Child>,
    addr: SocketAddr,
    admin_token: String,
    starts: u32,
}

impl ServerProcess {
    /// Starts the server binary `bin` on a fresh (or existing) data directory, on a port the
    /// OS chooses.
    pub async fn start(
        bin: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
    ) -> anyhow::Result<Self> {
        Self::start_on_database(bin, data_dir, None).await
    }

    /// As [`ServerProcess::start`], keeping the data in the PostgreSQL database at
    /// `database_url` when given (the key and admin token stay in `data_dir`).
    pub async fn start_on_database(
        bin: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        database_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let mut server = ServerProcess {
            bin: bin.into(),
            data_dir: data_dir.into(),
            database_url,
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: String::new(),
            starts: 0,
        };
        let (child, addr) = server.spawn(server.addr).await?;
        server.child = Some(child);
        server.addr = addr;
        server.wait_healthy().await?;
        server.admin_token = std::fs::read_to_string(server.data_dir.join("admin.token"))
            .context("reading admin.token written on first start")?
            .trim()
            .to_owned();
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The system-admin token written at first start.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process with SIGKILL (`Child::kill` sends SIGKILL on Unix) and reaps it.
    /// Returns its exit status, which names the signal.
    pub fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow!("the server is not running"))?;
        // An already-exited child makes kill fail; wait() still reports how it ended.
        let _ = child.kill();
        Ok(child.wait()?)
    }

    /// Starts the binary again on the same data directory and port. The port was the OS's
    /// choice at first start; binding it again may briefly fail, so it is retried.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("restart after kill: the server is still running");
        }
        let mut last_error = None;
        for _ in 0..REBIND_ATTEMPTS {
            match self.spawn(self.addr).await {
                Ok((child, addr)) => {
                    self.child = Some(child);
                    debug_assert_eq!(addr, self.addr);
                    return self.wait_healthy().await;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no attempt made")))
    }

    /// Spawns the binary and waits for the address it prints. Fails if the child exits
    /// first (a port still taken, a bad data directory).
    async fn spawn(&mut self, listen: SocketAddr) -> anyhow::Result<(Child, SocketAddr)> {
        self.starts += 1;
        let out_path = self.log_path("out");
        let err_path = self.log_path("err");
        let stdout = std::fs::File::create(&out_path)?;
        let stderr = std::fs::File::create(&err_path)?;
        let mut command = Command::new(&self.bin);
        for var in [
            "FIELDCASE_DATA_DIR",
            "FIELDCASE_LISTEN",
            "FIELDCASE_SERVER_KEY_FILE",
            "FIELDCASE_SERVER_KEY",
            "FIELDCASE_SERVER_KEY_COMMAND",
            "FIELDCASE_LOG_FORMAT",
            "FIELDCASE_ENROLLMENT_CODE_HOURS",
            "FIELDCASE_DATABASE_URL",
        ] {
            command.env_remove(var);
        }
        if let Some(url) = &self.database_url {
            command.env("FIELDCASE_DATABASE_URL", url);
        }
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(listen.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(url) = printed
                .lines()
                .find_map(|line| line.strip_prefix("listening on http://"))
            {
                let addr: SocketAddr = url.trim().parse().context("the printed address")?;
                return Ok((child, addr));
            }
            if let Some(status) = child.try_wait()? {
                let err = std::fs::read_to_string(&err_path).unwrap_or_default();
                bail!(
                    "the server exited ({status}) before listening: {}",
                    err.trim()
                );
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server printed no address within {START_PATIENCE:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("{}/healthz", self.base_url());
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if !self.is_running() {
                bail!("the server exited before answering /healthz");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("/healthz did not answer within {START_PATIENCE:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_path(&self, stream: &str) -> PathBuf {
        let mut name = self
            .data_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".start-{}.{stream}", self.starts));
        self.data_dir.with_file_name(name)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
