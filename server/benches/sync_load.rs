//! Sync load generator: the sync figures of the issue, measured end to end against the real
//! `fieldcase` server binary, with core's encrypted device store and sync client.
//!
//! Reference (CouchDB/PouchDB, 10,000 cases between two processes on one machine): ~5 s,
//! ~500 HTTP requests, ~385 bytes/case on the wire gzipped; 6 requests and 3.6 KB to learn
//! that nothing changed.
//!
//! What it measures (one JSON object per figure on stdout, a human summary at the end):
//!
//! 1. **Initial sync on loopback** (`initial_push`, `initial_pull`, `initial_pull_limit_5000`):
//!    device A bulk-imports 10,000 generated cases (`fieldcase_core::sample`) and pushes them;
//!    a fresh device B of the same agency pulls everything (default page of 1,000, and a third
//!    device with the largest page, 5,000). Wall seconds, HTTP requests, body bytes (what
//!    `SyncOutcome` counts: zstd bodies both ways) and TCP payload bytes (bodies + HTTP
//!    headers, counted by a relay between client and server), per case. Targets: pull under
//!    1 s, under 200 bytes per case.
//!    `initial_pull_profile` then replays B's pull with raw HTTP to split the time (server
//!    and loopback vs decoding vs applying to a fresh store, both durabilities, with SQLite's
//!    checkpoints deferred to one at the end as the sync client does) and the bytes
//!    (JSON of field values vs the per-operation envelope; zstd at other levels), and reports
//!    the resulting device database's size per case by table (SQLite `dbstat`) and what the
//!    store's `status()` costs at that size (the sync client calls it around every request).
//! 2. **A sync with nothing to say** (`idle_sync_warm`, `idle_sync_cold`): requests, body
//!    bytes, TCP payload bytes through the relay (with each HTTP header line and its size,
//!    the credential redacted), and TCP segments (system-wide `OutSegs`
//!    delta from `/proc/net/snmp`, direct to the server, min of 20) × 52 bytes of IPv4 + TCP
//!    header (with timestamps) for the wire total. Warm = kept-alive connection; cold = a new
//!    TCP connection (handshake and teardown included). Targets: 1 request, under 1 KB.
//! 3. **1,000 changed cases over an emulated 2G link** (`2g_*`): a relay that delays each
//!    direction by half of an 800 ms round trip and paces each direction to 400 kbit/s
//!    (50,000 bytes/s, in 1,448-byte segments), and delays the first byte of each new
//!    connection by one round trip (the TCP handshake; no TLS). Device A edits 1,000 cases
//!    (two fields each) and syncs; device B pulls them. Then the same with 1,000 new cases.
//!    Seconds each, against a floor of (1 + requests) round trips plus bytes / bandwidth.
//!    Target: under 10 s.
//! 4. **Server ingest** (`server_ingest_batched`, `server_ingest_single_op`): a fresh
//!    server; several devices, each in its own agency (so replies carry no pulled data), push
//!    their backlog concurrently in 500-operation requests with a lean raw-HTTP client
//!    (outboxes read beforehand, cursor carried like the real client). Operations applied
//!    per second of wall time, and server CPU per operation (load-independent). Then the same
//!    with one operation per request (per-request cost: auth, transaction, fsync).
//! 5. **200 concurrent devices** (`fleet_round_1`, `fleet_round_2`): a fresh server; 200
//!    enrolled devices in 5 agencies, 3 pending cases each, all sync at once; then each edits
//!    one case and all sync again. Per-sync latency p50/p99 seen by the devices (they share
//!    this process's 2 cores, so it includes client-side queueing) and by the server (from its
//!    `/metrics` histogram, bucket bounds), errors, convergence, and the server's peak memory
//!    (`VmHWM` of the server process, which ran nothing else).
//! 6. **Bytes per case at rest** (`server_footprint`): 10,000 generated cases pushed to a
//!    fresh server, which is then stopped (its WAL checkpointed); the database file's size per
//!    case and where it goes (`dbstat`, per table and index). Twice, each on a fresh server:
//!    intake-sized cases (the generator's cases without their free-text narrative, ~0.6 KB of
//!    JSON: what the target is set for — under 1.2 KB per case) and the generator's full cases
//!    (~1.1 KB, with a narrative). On PostgreSQL (`SYNC_LOAD_DATABASE_URL`) the figure is
//!    `pg_total_relation_size` of every table, split into heap, TOAST and each index.
//!    Measured (4 December 2026, 10,000 intake-sized cases of 670 B JSON): SQLite 1,106 B/case;
//!    PostgreSQL 2,251 B/case with one `match_blocks` row per block key (949 B of it) and
//!    1,409 B/case with the keys packed into `match_profiles` (PostgreSQL schema step
//!    `PACK_MATCH_BLOCKS`): op_log 457, match_profiles 306, report_facts 284, records 229,
//!    op_audience 82, the ~20 nearly empty tables ~57 (8 KiB pages over 10,000 cases).
//!
//! Every figure runs against `fieldcase serve` as a separate process
//! (`env!("CARGO_BIN_EXE_fieldcase")`, `--listen 127.0.0.1:0`, logs to a file), with its
//! default settings (SQLite, `synchronous=FULL`). Device stores use the insecure test KDF and
//! `Durability::Normal` (a phone uses `Full`: one extra fsync per applied page). Server and
//! load generator share the machine: every figure reports the server's CPU seconds and this
//! process's, and the 1-minute load average when it finished.
//!
//! The first line (`run`) records the machine: CPUs, load average, and the latency of a 4 KiB
//! write + fdatasync in the work directory (what every server commit pays).
//!
//! Run (release): `cargo bench -p fieldcase-server --bench sync_load`.
//! `SYNC_LOAD_SCALE=0.1` scales every count down for a quick run;
//! `SYNC_LOAD_ONLY=codec,sync,initial,ingest,fleet,footprint` (any subset) picks figure groups
//! (`sync` = figures 1–3; `initial` = figure 1 alone, the initial sync and its profile; `codec` =
//! what encoding and decoding the small bodies of every sync costs, `codec_small_bodies`).
//! Progress and the summary lines go to stderr as they happen; stdout has the JSON lines, then
//! the summary.
//!
//! Figures 4–6 can run on PostgreSQL instead (figures 1–3 always use SQLite):
//!
//! - `SYNC_LOAD_DATABASE_URL=postgresql://…/DBNAME`: each of figures 4–6 creates a fresh
//!   database on that server (`CREATE DATABASE`, run in `DBNAME`; dropped afterwards) and starts
//!   its servers with `FIELDCASE_DATABASE_URL` pointing at it. Figure 6 then reports
//!   `pg_total_relation_size` summed over the database's tables (heap, indexes, TOAST) per
//!   case, and `pg_database_size` (which includes the system catalog) beside it.
//! - `SYNC_LOAD_PROCESSES=2` (default 1; needs `SYNC_LOAD_DATABASE_URL`): that many `fieldcase
//!   serve` processes on the one database, sharing a data directory (server key, admin token);
//!   devices are split between them round-robin. CPU figures add the processes up; memory is
//!   reported per process.
//! - `SYNC_LOAD_FLEET_DEVICES=500`: figure 5's device count (not scaled; default 200 × scale).
//!
//! With the throwaway server of `scripts/with-postgres.sh` (started with `fsync=off`,
//! `synchronous_commit=off`: not comparable with SQLite's `synchronous=FULL` on durability):
//!
//! ```text
//! scripts/with-postgres.sh sh -c 'SYNC_LOAD_DATABASE_URL=$FIELDCASE_TEST_DATABASE_URL \
//!     SYNC_LOAD_PROCESSES=2 SYNC_LOAD_ONLY=ingest,fleet,footprint \
//!     cargo bench -p fieldcase-server --bench sync_load'
//! ```

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::import::ImportOptions;
use fieldcase_core::model::{Case, Fields};
use fieldcase_core::protocol::{self, Cursor, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient, SyncOutcome};
use fieldcase_core::{AgencyCode, DeviceId, Operation};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");
const PASSPHRASE: &str = "load generator pass phrase";
const AGENCY: &str = "iom_uga";
/// IPv4 (20) + TCP (20) + the timestamp option Linux puts on every segment (12).
const TCP_IP_HEADER_BYTES: u64 = 52;
/// What the throttling relay forwards at a time: a TCP segment's payload at MTU 1500.
const SEGMENT_BYTES: usize = 1448;
/// 400 kbit/s each way, 800 ms round trip.
const TWO_G: Link = Link {
    one_way: Duration::from_millis(400),
    bytes_per_s: 50_000.0,
};
/// Repetitions of the idle sync.
const IDLE_RUNS: usize = 20;
/// A guard against a hung child, not a timing.
const PATIENCE: Duration = Duration::from_secs(60);

// --- settings and output -----------------------------------------------------------------

struct Config {
    scale: f64,
    only: Option<Vec<String>>,
    /// `SYNC_LOAD_DATABASE_URL`: figures 4–6 on PostgreSQL (a fresh database per figure).
    database_url: Option<String>,
    /// `SYNC_LOAD_PROCESSES`: server processes per figure on that database.
    processes: usize,
    /// `SYNC_LOAD_FLEET_DEVICES`: devices of figure 5 (unscaled).
    fleet_devices: Option<usize>,
}

impl Config {
    fn from_env() -> Config {
        let scale = std::env::var("SYNC_LOAD_SCALE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0);
        let only = std::env::var("SYNC_LOAD_ONLY")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
        let database_url = std::env::var("SYNC_LOAD_DATABASE_URL")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let processes = std::env::var("SYNC_LOAD_PROCESSES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        assert!(
            processes == 1 || database_url.is_some(),
            "SYNC_LOAD_PROCESSES > 1 needs SYNC_LOAD_DATABASE_URL (SQLite is one process's)"
        );
        let fleet_devices = std::env::var("SYNC_LOAD_FLEET_DEVICES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0);
        Config {
            scale,
            only,
            database_url,
            processes,
            fleet_devices,
        }
    }

    /// What figures 4–6 run against, for the report.
    fn backend(&self) -> String {
        match self.database_url {
            None => "SQLite, synchronous=FULL".into(),
            Some(_) => format!("PostgreSQL, {} process(es) on one database", self.processes),
        }
    }

    /// `full` scaled, at least 1.
    fn n(&self, full: usize) -> usize {
        ((full as f64 * self.scale).round() as usize).max(1)
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g == group))
    }
}

#[derive(Default)]
struct Report {
    summary: Vec<String>,
    missed: Vec<String>,
}

impl Report {
    fn emit(&mut self, mut figure: Value) {
        figure["loadavg_1m"] = json!(loadavg().0);
        println!("{figure}");
    }

    fn line(&mut self, text: String) {
        eprintln!("  {text}");
        self.summary.push(text);
    }

    /// A summary line with a target verdict.
    fn target(&mut self, what: &str, value: String, target: &str, met: bool) {
        let verdict = if met { "met" } else { "MISSED" };
        self.line(format!("{what}: {value}  [target {target}: {verdict}]"));
        if !met {
            self.missed.push(what.to_owned());
        }
    }
}

fn loadavg() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    match v.as_slice() {
        [a, b, c] => (*a, *b, *c),
        _ => (0.0, 0.0, 0.0),
    }
}

fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

fn median_u64(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

fn round(value: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (value * f).round() / f
}

// --- /proc readings ----------------------------------------------------------------------

fn clock_ticks_per_s() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process (`self` or a pid).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After "pid (comm)": field 3 is at index 0, so utime (14) and stime (15) are 11 and 12.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks_per_s()
}

/// A `kB` line of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in KiB.
fn status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// TCP segments sent by every process on this machine (`Tcp: OutSegs`).
fn tcp_out_segments() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutSegs")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

// --- the server process ------------------------------------------------------------------

struct ServerProcess {
    child: tokio::process::Child,
    pid: String,
    url: String,
    addr: SocketAddr,
    admin: AdminClient,
    /// The largest `VmHWM` seen before a reset (see [`ServerProcess::reset_peak`]).
    peak_kib: AtomicU64,
}

impl ServerProcess {
    /// `fieldcase serve --data-dir <dir> --listen 127.0.0.1:0`, logs to `<dir>.log`.
    async fn start(data_dir: &Path) -> ServerProcess {
        ServerProcess::start_with(data_dir, &data_dir.with_extension("log"), None).await
    }

    /// The same, logging to `log`, on PostgreSQL when `database_url` is given
    /// (`FIELDCASE_DATABASE_URL`).
    async fn start_with(data_dir: &Path, log: &Path, database_url: Option<&str>) -> ServerProcess {
        let log_file = std::fs::File::create(log).expect("server log file");
        let mut command = tokio::process::Command::new(BIN);
        for var in [
            "FIELDCASE_DATA_DIR",
            "FIELDCASE_LISTEN",
            "FIELDCASE_SERVER_KEY_FILE",
            "FIELDCASE_LOG_FORMAT",
            "FIELDCASE_DATABASE_URL",
            "RUST_LOG",
        ] {
            command.env_remove(var);
        }
        if let Some(url) = database_url {
            command.env("FIELDCASE_DATABASE_URL", url);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("start the fieldcase binary");
        let pid = child.id().expect("a running child").to_string();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .expect("serve prints its address")
            .expect("read stdout")
            .expect("a line on stdout");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {first:?}"))
            .trim()
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let addr: SocketAddr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("an http://IP:PORT address");
        let token = std::fs::read_to_string(data_dir.join("admin.token"))
            .expect("the first start writes admin.token")
            .trim()
            .to_owned();
        let admin = AdminClient::new(&url, token).expect("admin client");
        ServerProcess {
            child,
            pid,
            url,
            addr,
            admin,
            peak_kib: AtomicU64::new(0),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid)
    }

    fn kib(&self, key: &str) -> u64 {
        status_kib(&self.pid, key)
    }

    /// Starts a new peak-memory window: Linux resets `VmHWM` to the current RSS when "5" is
    /// written to `clear_refs`. The old peak is kept for [`ServerProcess::overall_peak_kib`].
    fn reset_peak(&self) {
        self.peak_kib
            .fetch_max(self.kib("VmHWM"), Ordering::Relaxed);
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    /// The peak RSS since the server started.
    fn overall_peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed).max(self.kib("VmHWM"))
    }

    /// SIGTERM (by pid, to this child only), then wait; SIGKILL if it does not stop.
    async fn stop(mut self) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// The `/v1/sync` request-duration histogram: `(upper bound s, cumulative count)`.
    async fn sync_histogram(&self) -> Vec<(f64, u64)> {
        // `/metrics` needs a system-admin token.
        let (_, body) = self
            .admin
            .get_raw("/metrics", &[])
            .await
            .expect("GET /metrics");
        let text = String::from_utf8_lossy(&body);
        let mut buckets: Vec<(f64, u64)> = text
            .lines()
            .filter(|l| {
                l.starts_with("fieldcase_http_request_duration_seconds_bucket")
                    && l.contains("route=\"/v1/sync\"")
            })
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                let count = l.rsplit(' ').next()?.parse::<f64>().ok()? as u64;
                Some((le, count))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

// --- the servers of figures 4–6 ----------------------------------------------------------

/// The servers of one figure: one process on SQLite, or `SYNC_LOAD_PROCESSES` processes on one
/// fresh PostgreSQL database. They share one data directory (so one server key and one admin
/// token); devices are split between them round-robin ([`Cluster::for_device`]).
struct Cluster {
    servers: Vec<ServerProcess>,
    database: Option<PgDatabase>,
}

impl Cluster {
    async fn start(cfg: &Config, data_dir: &Path) -> Cluster {
        let Some(base_url) = &cfg.database_url else {
            return Cluster {
                servers: vec![ServerProcess::start(data_dir).await],
                database: None,
            };
        };
        let figure = data_dir.file_name().map_or("figure".into(), |n| {
            n.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        });
        let database = PgDatabase::create(
            base_url,
            format!("fieldcase_load_{figure}_{}", std::process::id()),
        );
        let mut servers = Vec::new();
        for i in 0..cfg.processes {
            let log = data_dir.with_extension(format!("{i}.log"));
            servers.push(ServerProcess::start_with(data_dir, &log, Some(&database.url)).await);
        }
        Cluster {
            servers,
            database: Some(database),
        }
    }

    /// The first process: the one admin calls go to.
    fn first(&self) -> &ServerProcess {
        &self.servers[0]
    }

    /// The process device `i` talks to.
    fn for_device(&self, i: usize) -> &ServerProcess {
        &self.servers[i % self.servers.len()]
    }

    /// Each process's peak RSS since it started, in KiB.
    fn overall_peaks_kib(&self) -> Vec<u64> {
        self.servers
            .iter()
            .map(ServerProcess::overall_peak_kib)
            .collect()
    }

    /// The `/v1/sync` histograms of all processes, added up.
    async fn sync_histogram(&self) -> Vec<(f64, u64)> {
        let mut merged: Vec<(f64, u64)> = Vec::new();
        for server in &self.servers {
            for (le, count) in server.sync_histogram().await {
                match merged.iter_mut().find(|(b, _)| *b == le) {
                    Some(bucket) => bucket.1 += count,
                    None => merged.push((le, count)),
                }
            }
        }
        merged.sort_by(|a, b| a.0.total_cmp(&b.0));
        merged
    }

    async fn stop(&mut self) {
        for server in self.servers.drain(..) {
            server.stop().await;
        }
    }
}

fn mib(kib: &[u64]) -> Vec<f64> {
    kib.iter().map(|k| round(*k as f64 / 1024.0, 1)).collect()
}

/// A database of its own on the PostgreSQL server of `SYNC_LOAD_DATABASE_URL`, dropped with
/// this value. The synchronous client runs on a thread of its own (it may not block a thread
/// that drives async tasks).
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// `base_url` must end in `/DBNAME` (no query string): that database is where
    /// `CREATE DATABASE` runs; the new one's URL replaces the name.
    fn create(base_url: &str, name: String) -> PgDatabase {
        let (server, _) = base_url
            .rsplit_once('/')
            .expect("SYNC_LOAD_DATABASE_URL ends in /DBNAME");
        let database = PgDatabase {
            admin_url: base_url.to_owned(),
            url: format!("{server}/{name}"),
            name,
        };
        let (url, sql) = (
            database.admin_url.clone(),
            format!("CREATE DATABASE {}", database.name),
        );
        on_thread(move || pg_connect(&url).batch_execute(&sql)).expect("CREATE DATABASE");
        database
    }

    /// `pg_database_size`, and `pg_total_relation_size` (heap, indexes, TOAST) of each table
    /// with its parts: the heap alone, its TOAST (with the TOAST index) and each index.
    fn sizes(&self) -> (u64, Vec<TableSize>) {
        let url = self.url.clone();
        on_thread(move || {
            let mut client = pg_connect(&url);
            let total: i64 = client
                .query_one("SELECT pg_database_size(current_database())", &[])
                .expect("pg_database_size")
                .get(0);
            let tables = client
                .query(
                    "SELECT c.relname::text, pg_total_relation_size(c.oid), \
                       pg_relation_size(c.oid), \
                       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0), \
                       COALESCE((SELECT json_object_agg(i.relname, pg_relation_size(i.oid)) \
                                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                                 WHERE x.indrelid = c.oid)::text, '{}') \
                     FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                     ORDER BY 2 DESC",
                    &[],
                )
                .expect("table sizes")
                .iter()
                .map(|row| TableSize {
                    name: row.get(0),
                    total: row.get::<_, i64>(1) as u64,
                    heap: row.get::<_, i64>(2) as u64,
                    toast: row.get::<_, i64>(3) as u64,
                    indexes: serde_json::from_str(&row.get::<_, String>(4))
                        .expect("index sizes"),
                })
                .collect();
            (total as u64, tables)
        })
    }
}

/// One table's bytes on disk (main fork of the heap; TOAST with its index; each index).
struct TableSize {
    name: String,
    total: u64,
    heap: u64,
    toast: u64,
    indexes: serde_json::Map<String, Value>,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, sql) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let _ = on_thread(move || pg_connect(&url).batch_execute(&sql));
    }
}

fn pg_connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect to SYNC_LOAD_DATABASE_URL")
}

fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("database thread")
}

/// The bucket bound under which fraction `p` of the requests between two scrapes finished.
fn histogram_quantile_ms(before: &[(f64, u64)], after: &[(f64, u64)], p: f64) -> Option<f64> {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, count)| {
            let old = before.iter().find(|(b, _)| b == le).map_or(0, |(_, c)| *c);
            (*le, count.saturating_sub(old))
        })
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let wanted = (total as f64 * p).ceil() as u64;
    delta
        .iter()
        .find(|(_, count)| *count >= wanted)
        .map(|(le, _)| le * 1e3)
}

// --- relays: counting, and throttling ------------------------------------------------------

#[derive(Clone, Copy)]
struct Link {
    one_way: Duration,
    bytes_per_s: f64,
}

#[derive(Default)]
struct Traffic {
    /// Client → server TCP payload bytes.
    up: AtomicU64,
    /// Server → client TCP payload bytes.
    down: AtomicU64,
    connections: AtomicU64,
    /// The last HTTP header block seen each way (request, response), credential redacted.
    headers: Mutex<[Vec<String>; 2]>,
}

impl Traffic {
    /// Keeps the header block when `chunk` starts an HTTP message.
    fn note_headers(&self, up: bool, chunk: &[u8]) {
        if !(chunk.starts_with(b"POST ") || chunk.starts_with(b"HTTP/")) {
            return;
        }
        let Some(end) = chunk.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let lines = String::from_utf8_lossy(&chunk[..end])
            .split("\r\n")
            .map(|line| match line.split_once(':') {
                Some((name, value)) if name.eq_ignore_ascii_case("authorization") => {
                    let secret = value.trim().strip_prefix("Bearer ").unwrap_or("");
                    format!(
                        "{name}: Bearer <{} characters> ({} B)",
                        secret.len(),
                        line.len() + 2
                    )
                }
                _ => format!("{line} ({} B)", line.len() + 2),
            })
            .collect();
        let mut headers = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        headers[usize::from(!up)] = lines;
    }
}

/// A TCP relay in front of the server that counts every byte of payload both ways, and with
/// a [`Link`] emulates a slow, long link.
struct Relay {
    url: String,
    traffic: Arc<Traffic>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(target: SocketAddr, link: Option<Link>) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("http://{}", listener.local_addr().expect("relay address"));
        let traffic = Arc::new(Traffic::default());
        let counted = traffic.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let accepted = tokio::time::Instant::now();
                let traffic = counted.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    traffic.connections.fetch_add(1, Ordering::Relaxed);
                    let (client_read, client_write) = inbound.into_split();
                    let (server_read, server_write) = outbound.into_split();
                    // The client's connect() returned at once; on a real link its first
                    // byte leaves one round trip later (SYN, SYN-ACK).
                    let handshake = link.map_or(Duration::ZERO, |l| l.one_way * 2);
                    tokio::join!(
                        pipe(
                            client_read,
                            server_write,
                            link,
                            accepted + handshake,
                            traffic.clone(),
                            true
                        ),
                        pipe(
                            server_read,
                            client_write,
                            link,
                            accepted,
                            traffic.clone(),
                            false
                        ),
                    );
                });
            }
        });
        Relay { url, traffic, task }
    }

    fn snapshot(&self) -> [u64; 3] {
        [
            self.traffic.up.load(Ordering::Relaxed),
            self.traffic.down.load(Ordering::Relaxed),
            self.traffic.connections.load(Ordering::Relaxed),
        ]
    }
}

/// Copies one direction. With a link, each segment leaves when the link is free and the
/// previous segment has been serialized at the link's rate, and arrives `one_way` later.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: Option<Link>,
    link_free_at: tokio::time::Instant,
    traffic: Arc<Traffic>,
    up: bool,
) {
    let counted = traffic.clone();
    let count = move |n: usize| {
        let counter = if up { &counted.up } else { &counted.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    };
    let Some(link) = link else {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            count(n);
            traffic.note_headers(up, &buf[..n]);
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
        return;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut free_at = link_free_at;
        let mut buf = vec![0u8; SEGMENT_BYTES];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            count(n);
            let begin = free_at.max(tokio::time::Instant::now());
            free_at = begin + Duration::from_secs_f64(n as f64 / link.bytes_per_s);
            if tx
                .send((free_at + link.one_way, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

// --- measuring a phase -------------------------------------------------------------------

/// Wall time, relay traffic, server CPU and this process's CPU over one phase.
struct Meter {
    start: Instant,
    traffic: [u64; 3],
    server_cpu: f64,
    own_cpu: f64,
}

struct Metered {
    seconds: f64,
    up: u64,
    down: u64,
    connections: u64,
    server_cpu_s: f64,
    bench_cpu_s: f64,
    /// The server's peak RSS during the phase (the largest of the processes').
    server_peak_kib: u64,
    /// Each server process's peak RSS during the phase.
    server_peak_kib_each: Vec<u64>,
}

impl Meter {
    fn start(server: &ServerProcess, relay: Option<&Relay>) -> Meter {
        Meter::start_all(std::slice::from_ref(server), relay)
    }

    fn stop(self, server: &ServerProcess, relay: Option<&Relay>) -> Metered {
        self.stop_all(std::slice::from_ref(server), relay)
    }

    /// Over several server processes: their CPU summed, their peaks one by one.
    fn start_all(servers: &[ServerProcess], relay: Option<&Relay>) -> Meter {
        servers.iter().for_each(ServerProcess::reset_peak);
        Meter {
            traffic: relay.map_or([0; 3], Relay::snapshot),
            server_cpu: servers.iter().map(ServerProcess::cpu_seconds).sum(),
            own_cpu: cpu_seconds("self"),
            start: Instant::now(),
        }
    }

    fn stop_all(self, servers: &[ServerProcess], relay: Option<&Relay>) -> Metered {
        let seconds = self.start.elapsed().as_secs_f64();
        let now = relay.map_or([0; 3], Relay::snapshot);
        let peaks: Vec<u64> = servers.iter().map(|s| s.kib("VmHWM")).collect();
        let server_cpu: f64 = servers.iter().map(ServerProcess::cpu_seconds).sum();
        Metered {
            seconds,
            up: now[0] - self.traffic[0],
            down: now[1] - self.traffic[1],
            connections: now[2] - self.traffic[2],
            server_cpu_s: server_cpu - self.server_cpu,
            bench_cpu_s: cpu_seconds("self") - self.own_cpu,
            server_peak_kib: peaks.iter().copied().max().unwrap_or(0),
            server_peak_kib_each: peaks,
        }
    }
}

fn sync_json(figure: &str, outcome: &SyncOutcome, m: &Metered, cases: u64) -> Value {
    let body = outcome.bytes_sent + outcome.bytes_received;
    let tcp = m.up + m.down;
    let per_case = |b: u64| round(b as f64 / cases.max(1) as f64, 1);
    json!({
        "figure": figure,
        "cases": cases,
        "seconds": round(m.seconds, 3),
        "requests": outcome.requests,
        "pushed": outcome.pushed,
        "pulled": outcome.pulled,
        "body_bytes_sent": outcome.bytes_sent,
        "body_bytes_received": outcome.bytes_received,
        "body_bytes_per_case": per_case(body),
        "tcp_payload_bytes_up": m.up,
        "tcp_payload_bytes_down": m.down,
        "tcp_payload_bytes_per_case": per_case(tcp),
        "http_header_bytes": tcp.saturating_sub(body),
        "tcp_connections": m.connections,
        "server_cpu_s": round(m.server_cpu_s, 3),
        "bench_process_cpu_s": round(m.bench_cpu_s, 3),
        "server_peak_rss_mib": round(m.server_peak_kib as f64 / 1024.0, 1),
    })
}

// --- devices -----------------------------------------------------------------------------

struct Device {
    store: Mutex<Store>,
    /// Straight to the server.
    client: SyncClient,
    credential: String,
}

impl Device {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client of this device through another address (a relay).
    fn client_via(&self, base_url: &str) -> SyncClient {
        SyncClient::new(base_url, self.credential.clone()).expect("sync client")
    }

    async fn sync_via(&self, client: &SyncClient) -> SyncOutcome {
        sync_once(&self.store, client, &|_| {})
            .await
            .expect("sync succeeds")
    }
}

fn store_options() -> OpenOptions {
    OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    }
}

/// Enrolls a caseworker's device the way a phone does and creates its store.
async fn enroll_device(server: &ServerProcess, agency: &str, dir: &Path, name: &str) -> Device {
    let user = server
        .admin
        .create_user(agency, Role::Caseworker, name)
        .await
        .expect("create user");
    let code = server
        .admin
        .enrollment_code(&user.id, None)
        .await
        .expect("enrollment code");
    let enrolled = enroll(&server.url, &code.code, name).await.expect("enroll");
    let identity = Identity {
        device: enrolled.device_id,
        agency: AgencyCode::parse(agency).expect("agency code"),
        user: enrolled.user_id,
    };
    let mut store = Store::create(
        &dir.join(format!("{name}.db")),
        PASSPHRASE,
        None,
        identity,
        &store_options(),
    )
    .expect("create store");
    store
        .set_server(&server.url, &enrolled.credential)
        .expect("set server");
    let client = SyncClient::for_store(&store).expect("client");
    Device {
        store: Mutex::new(store),
        client,
        credential: enrolled.credential,
    }
}

/// Bulk-imports `count` generated cases; returns (seconds, mean case JSON bytes).
fn import_cases(store: &mut Store, seed: u64, count: usize) -> (f64, f64) {
    import_shaped_cases(store, seed, count, CaseShape::Full)
}

/// Which of the generator's cases a figure imports.
#[derive(Clone, Copy, Debug)]
enum CaseShape {
    /// As generated (~1.1 KB of JSON, with a free-text narrative).
    Full,
    /// Without the narrative (~0.6 KB): what an intake form alone records.
    Intake,
}

fn import_shaped_cases(store: &mut Store, seed: u64, count: usize, shape: CaseShape) -> (f64, f64) {
    let mut jsonl = Vec::new();
    for mut case in SampleCases::new(seed).take(count) {
        if let CaseShape::Intake = shape {
            if let Some(answers) = case["answers"].as_object_mut() {
                answers.remove("narrative");
            }
        }
        serde_json::to_writer(&mut jsonl, &case).expect("serialize");
        jsonl.push(b'\n');
    }
    let mean_bytes = (jsonl.len() - count) as f64 / count as f64;
    let start = Instant::now();
    let report = store
        .import_jsonl(
            std::io::Cursor::new(&jsonl),
            &ImportOptions::default(),
            &mut |_| {},
        )
        .expect("import");
    assert_eq!(report.totals.failed, 0, "{:?}", report.errors.first());
    (start.elapsed().as_secs_f64(), mean_bytes)
}

/// Raw `POST /v1/sync`: the reply, the request body size, the reply body and its JSON.
async fn raw_sync(
    http: &reqwest::Client,
    base_url: &str,
    credential: &str,
    request: &SyncRequest,
) -> Result<(SyncResponse, usize, Vec<u8>, Vec<u8>), String> {
    let body = protocol::encode_body(request);
    let sent = body.len();
    let response = http
        .post(format!("{base_url}/v1/sync"))
        .bearer_auth(credential)
        .header(reqwest::header::CONTENT_TYPE, protocol::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let json = zstd::stream::decode_all(&bytes[..]).map_err(|e| e.to_string())?;
    let reply: SyncResponse = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    Ok((reply, sent, bytes.to_vec(), json))
}

// --- figures 1–3: initial sync, idle sync, 2G --------------------------------------------

async fn figures_sync(cfg: &Config, report: &mut Report, root: &Path) {
    let cases = cfg.n(10_000);
    let server = ServerProcess::start(&root.join("server-sync")).await;
    server
        .admin
        .create_agency(AGENCY, "IOM Uganda")
        .await
        .expect("agency");
    let devices = root.join("devices-sync");
    std::fs::create_dir_all(&devices).expect("device dir");
    let fast = Relay::start(server.addr, None).await;

    // 1. Device A imports and pushes.
    let a = enroll_device(&server, AGENCY, &devices, "a").await;
    let (import_s, mean_case_bytes) = import_cases(&mut a.store(), 1, cases);
    report.emit(json!({
        "figure": "device_import", "cases": cases, "seconds": round(import_s, 3),
        "cases_per_s": round(cases as f64 / import_s, 0),
        "mean_case_json_bytes": round(mean_case_bytes, 0),
    }));
    let client = a.client_via(&fast.url);
    let meter = Meter::start(&server, Some(&fast));
    let pushed = a.sync_via(&client).await;
    let m = meter.stop(&server, Some(&fast));
    assert_eq!(pushed.pushed, cases as u64);
    let mut fig = sync_json("initial_push", &pushed, &m, cases as u64);
    fig["mean_case_json_bytes"] = json!(round(mean_case_bytes, 0));
    report.emit(fig);
    report.line(format!(
        "initial push of {cases} cases (A): {:.2} s, {} requests, {:.0} body B/case, {:.0} TCP B/case, server CPU {:.2} s",
        m.seconds,
        pushed.requests,
        (pushed.bytes_sent + pushed.bytes_received) as f64 / cases as f64,
        (m.up + m.down) as f64 / cases as f64,
        m.server_cpu_s
    ));

    // 1. Fresh device B pulls everything (default page), then one with the largest page.
    let b = enroll_device(&server, AGENCY, &devices, "b").await;
    let b5 = enroll_device(&server, AGENCY, &devices, "b5").await;
    for (name, limit) in [
        ("initial_pull", None),
        ("initial_pull_limit_5000", Some(5000)),
    ] {
        let (device, client) = match limit {
            None => (&b, b.client_via(&fast.url)),
            Some(l) => (&b5, b5.client_via(&fast.url).with_pull_limit(l)),
        };
        let meter = Meter::start(&server, Some(&fast));
        let pulled = device.sync_via(&client).await;
        let m = meter.stop(&server, Some(&fast));
        assert_eq!(pulled.pulled, cases as u64);
        assert_eq!(
            device.store().count_cases(None).unwrap(),
            cases as u64,
            "B has every case"
        );
        let fig = sync_json(name, &pulled, &m, cases as u64);
        let body_per_case = fig["body_bytes_per_case"].as_f64().unwrap_or(0.0);
        let tcp_per_case = fig["tcp_payload_bytes_per_case"].as_f64().unwrap_or(0.0);
        let mut fig = fig;
        fig["targets"] = json!({"seconds_under": 1.0, "bytes_per_case_under": 200});
        fig["met"] = json!(m.seconds < 1.0 && tcp_per_case < 200.0);
        report.emit(fig);
        let label = match limit {
            None => format!("initial pull of {cases} cases (B, page 1000)"),
            Some(l) => format!("initial pull of {cases} cases (page {l})"),
        };
        report.target(
            &format!("{label}: time"),
            format!(
                "{:.2} s, {} requests, server CPU {:.2} s, this process CPU {:.2} s, server peak RSS {:.0} MiB",
                m.seconds,
                pulled.requests,
                m.server_cpu_s,
                m.bench_cpu_s,
                m.server_peak_kib as f64 / 1024.0
            ),
            "< 1 s",
            m.seconds < 1.0,
        );
        report.target(
            &format!("{label}: bytes"),
            format!("{body_per_case:.0} body B/case, {tcp_per_case:.0} TCP payload B/case"),
            "< 200 B/case",
            tcp_per_case < 200.0,
        );
    }

    profile_initial_pull(report, &server, &b, &devices, cases).await;
    if cfg.wants("sync") {
        idle_figures(report, &server, &fast, &b).await;
        two_g_figures(cfg, report, &server, &a, &b).await;
    }

    let hwm = server.overall_peak_kib();
    report.emit(json!({"figure": "server_memory_sync_phase", "vm_hwm_kib": hwm}));
    report.line(format!(
        "server peak memory over figures 1-3: {:.1} MiB",
        hwm as f64 / 1024.0
    ));
    drop(fast);
    server.stop().await;
}

/// Replays B's initial pull with raw HTTP and splits where its time and bytes go.
async fn profile_initial_pull(
    report: &mut Report,
    server: &ServerProcess,
    b: &Device,
    dir: &Path,
    cases: usize,
) {
    let http = reqwest::Client::new();
    let mut cursor: Option<Cursor> = None;
    // (reply, compressed body, JSON)
    let mut pages: Vec<(SyncResponse, Vec<u8>, Vec<u8>)> = Vec::new();
    let meter = Meter::start(server, None);
    loop {
        let request = SyncRequest {
            // B's own counter, moved on as for any request it sends: the server refuses a
            // device that reported one before and sends none now.
            store: Some(b.store().next_store_report().expect("store report")),
            protocol: PROTOCOL_VERSION,
            ops: vec![],
            cursor: cursor.clone(),
            pull_limit: None,
            commands: Vec::new(),
            handoff: None,
        };
        let (reply, _, received, json) = raw_sync(&http, &server.url, &b.credential, &request)
            .await
            .expect("raw pull");
        cursor = Some(reply.next_cursor.clone());
        let more = reply.more;
        pages.push((reply, received, json));
        if !more {
            break;
        }
    }
    let fetch = meter.stop(server, None);
    let ops: usize = pages.iter().map(|p| p.0.ops.len()).sum();
    let compressed: usize = pages.iter().map(|p| p.1.len()).sum();
    let json_bytes: usize = pages.iter().map(|p| p.2.len()).sum();
    let fields_json: usize = pages
        .iter()
        .flat_map(|p| p.0.ops.iter())
        .map(|op| serde_json::to_vec(&op.fields).map_or(0, |v| v.len()))
        .sum();
    // zstd at other levels, on the same page JSON, and the time each takes on this machine.
    let mut levels = serde_json::Map::new();
    // Level 19 takes seconds per page: measured on the first page only.
    for level in [1, 3, 6, 9, 19] {
        let sample = if level >= 19 { &pages[..1] } else { &pages[..] };
        let sample_ops: usize = sample.iter().map(|p| p.0.ops.len()).sum();
        let start = Instant::now();
        let size: usize = sample
            .iter()
            .map(|p| zstd::bulk::compress(&p.2, level).map_or(0, |c| c.len()))
            .sum();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        levels.insert(
            format!("zstd_{level}"),
            json!({"bytes_per_case": round(size as f64 / sample_ops.max(1) as f64, 1),
                   "compress_us_per_case": round(ms * 1e3 / sample_ops.max(1) as f64, 2)}),
        );
    }
    // Only the field values, all ops in one stream: what the data itself compresses to.
    let all_fields: Vec<u8> = pages
        .iter()
        .flat_map(|p| p.0.ops.iter())
        .flat_map(|op| serde_json::to_vec(&op.fields).unwrap_or_default())
        .collect();
    let fields_only_zstd3 = zstd::bulk::compress(&all_fields, 3).map_or(0, |c| c.len());

    // Client-side costs on this machine: decompress + parse, then apply to a fresh store.
    let start = Instant::now();
    let decoded: Vec<SyncResponse> = pages
        .iter()
        .map(|p| protocol::decode_body(&p.1).expect("decode"))
        .collect();
    let decode_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for p in &pages {
        let _ = serde_json::to_vec(&p.0).expect("serialize");
    }
    let serialize_s = start.elapsed().as_secs_f64();
    let identity = Identity {
        device: DeviceId::from_bytes(rand::random()),
        agency: AgencyCode::parse(AGENCY).expect("agency"),
        user: "profile".into(),
    };
    let mut store = Store::create(
        &dir.join("profile.db"),
        PASSPHRASE,
        None,
        identity,
        &store_options(),
    )
    .expect("store");
    // As the sync client applies: SQLite's checkpoints deferred, one at the end (timed).
    let start = Instant::now();
    store.begin_sync_writes().expect("defer checkpoints");
    for page in &decoded {
        store
            .apply_remote(&page.ops, &page.next_cursor.0)
            .expect("apply");
    }
    store.end_sync_writes().expect("checkpoint");
    let apply_s = start.elapsed().as_secs_f64();
    store.close().expect("close");
    // After the closing checkpoint the main file holds everything.
    let db_bytes = std::fs::metadata(dir.join("profile.db")).map_or(0, |m| m.len());
    let db_layout = device_db_layout(&dir.join("profile.db"), ops);
    let mut full_store = {
        let identity = Identity {
            device: DeviceId::from_bytes(rand::random()),
            agency: AgencyCode::parse(AGENCY).expect("agency"),
            user: "profile".into(),
        };
        let options = OpenOptions {
            durability: Durability::Full,
            ..store_options()
        };
        Store::create(
            &dir.join("profile-full.db"),
            PASSPHRASE,
            None,
            identity,
            &options,
        )
        .expect("store")
    };
    let start = Instant::now();
    full_store.begin_sync_writes().expect("defer checkpoints");
    for page in &decoded {
        full_store
            .apply_remote(&page.ops, &page.next_cursor.0)
            .expect("apply");
    }
    full_store.end_sync_writes().expect("checkpoint");
    let apply_full_s = start.elapsed().as_secs_f64();
    // The sync client asks the store for its status (to count pending operations) before
    // the first request and after every reply: what that costs on a store of this size.
    let status_runs = 20;
    let start = Instant::now();
    for _ in 0..status_runs {
        std::hint::black_box(b.store().status().expect("status"));
    }
    let status_ms = start.elapsed().as_secs_f64() * 1e3 / status_runs as f64;
    assert_eq!(ops, cases);
    report.emit(json!({
        "figure": "initial_pull_profile",
        "cases": ops,
        "pages": pages.len(),
        "fetch_only_seconds": round(fetch.seconds, 3),
        "fetch_server_cpu_s": round(fetch.server_cpu_s, 3),
        "decode_seconds": round(decode_s, 3),
        "serialize_json_seconds": round(serialize_s, 3),
        "apply_seconds_durability_normal": round(apply_s, 3),
        "apply_seconds_durability_full": round(apply_full_s, 3),
        "apply_us_per_case": round(apply_s * 1e6 / ops as f64, 1),
        "device_status_ms_per_call": round(status_ms, 2),
        "device_db_bytes_per_case": round(db_bytes as f64 / ops as f64, 0),
        "device_db_layout": db_layout,
        "json_bytes_per_case": round(json_bytes as f64 / ops as f64, 1),
        "field_values_json_bytes_per_case": round(fields_json as f64 / ops as f64, 1),
        "envelope_json_bytes_per_case": round((json_bytes - fields_json) as f64 / ops as f64, 1),
        "compressed_bytes_per_case": round(compressed as f64 / ops as f64, 1),
        "compression_ratio": round(json_bytes as f64 / compressed as f64, 2),
        "field_values_only_one_stream_zstd3_bytes_per_case": round(fields_only_zstd3 as f64 / ops as f64, 1),
        "levels": Value::Object(levels),
    }));
    report.line(format!(
        "  where B's pull goes: server+loopback fetch {:.2} s (server CPU {:.2} s), decode {:.2} s, apply {:.2} s (Full durability {:.2} s); JSON {:.0} B/case ({:.0} field values + {:.0} envelope) -> zstd-3 {:.0} B/case",
        fetch.seconds, fetch.server_cpu_s, decode_s, apply_s, apply_full_s,
        json_bytes as f64 / ops as f64, fields_json as f64 / ops as f64,
        (json_bytes - fields_json) as f64 / ops as f64, compressed as f64 / ops as f64
    ));
}

/// Where a device database's bytes go (SQLite's `dbstat`): bytes per case of each table and
/// index, how many of them are overflow pages, and the mean sealed record state.
fn device_db_layout(path: &Path, cases: usize) -> Value {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Value::Null;
    };
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap_or(0);
    let state_bytes: f64 = conn
        .query_row("SELECT avg(length(state)) FROM records", [], |r| r.get(0))
        .unwrap_or(0.0);
    let mut tables = serde_json::Map::new();
    if let Ok(mut stmt) = conn.prepare(
        "SELECT name, sum(pgsize), sum(pagetype = 'overflow'), sum(pgsize - unused)
         FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC",
    ) {
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        });
        for (name, bytes, overflow, used) in rows.into_iter().flatten().flatten() {
            tables.insert(
                name,
                json!({
                    "bytes_per_case": round(bytes as f64 / cases as f64, 0),
                    "used_bytes_per_case": round(used as f64 / cases as f64, 0),
                    "overflow_pages": overflow,
                }),
            );
        }
    }
    // The aggregates `Store::status()` runs, one by one (cold-ish: the first run reads).
    let mut status_queries = serde_json::Map::new();
    for (name, sql) in [
        ("count_outbox", "SELECT count(*) FROM outbox"),
        ("count_rejected", "SELECT count(*) FROM rejected_ops"),
        (
            "sum_conflicts",
            "SELECT coalesce(sum(conflicts), 0) FROM records",
        ),
        (
            "sum_conflicts_via_partial_index",
            "SELECT coalesce(sum(conflicts), 0) FROM records WHERE conflicts > 0",
        ),
        (
            "count_cases",
            "SELECT count(*) FROM records WHERE kind = 'case'",
        ),
    ] {
        let runs = 10;
        let start = Instant::now();
        for _ in 0..runs {
            let _: i64 = conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0);
        }
        status_queries.insert(
            name.into(),
            json!(round(start.elapsed().as_secs_f64() * 1e3 / runs as f64, 3)),
        );
    }
    json!({
        "page_size": page_size,
        "mean_sealed_state_bytes": round(state_bytes, 0),
        "by_table": Value::Object(tables),
        "status_query_ms": Value::Object(status_queries),
    })
}

async fn idle_figures(report: &mut Report, server: &ServerProcess, fast: &Relay, b: &Device) {
    // Through the counting relay: requests, body bytes, TCP payload bytes.
    let mut rows: Vec<(bool, SyncOutcome, Metered)> = Vec::new();
    let warm = b.client_via(&fast.url);
    b.sync_via(&warm).await; // opens the connection
    for _ in 0..IDLE_RUNS {
        let meter = Meter::start(server, Some(fast));
        let outcome = b.sync_via(&warm).await;
        rows.push((true, outcome, meter.stop(server, Some(fast))));
    }
    for _ in 0..IDLE_RUNS {
        let cold = b.client_via(&fast.url);
        let meter = Meter::start(server, Some(fast));
        let outcome = b.sync_via(&cold).await;
        drop(cold);
        tokio::time::sleep(Duration::from_millis(20)).await;
        rows.push((false, outcome, meter.stop(server, Some(fast))));
    }
    let headers = fast
        .traffic
        .headers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Straight to the server: TCP segments (both directions, handshake and FIN included).
    let mut segments_warm = Vec::new();
    let direct = b.client_via(&server.url);
    b.sync_via(&direct).await;
    for _ in 0..IDLE_RUNS {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = tcp_out_segments();
        b.sync_via(&direct).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        segments_warm.push(tcp_out_segments() - before);
    }
    let mut segments_cold = Vec::new();
    for _ in 0..IDLE_RUNS {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = tcp_out_segments();
        let cold = b.client_via(&server.url);
        b.sync_via(&cold).await;
        drop(cold);
        tokio::time::sleep(Duration::from_millis(100)).await;
        segments_cold.push(tcp_out_segments() - before);
    }
    for (warm, name, segments) in [
        (true, "idle_sync_warm", &segments_warm),
        (false, "idle_sync_cold", &segments_cold),
    ] {
        let runs: Vec<&(bool, SyncOutcome, Metered)> =
            rows.iter().filter(|r| r.0 == warm).collect();
        let requests = runs.iter().map(|r| r.1.requests).max().unwrap_or(0);
        let body = median_u64(
            &runs
                .iter()
                .map(|r| r.1.bytes_sent + r.1.bytes_received)
                .collect::<Vec<_>>(),
        );
        let up = median_u64(&runs.iter().map(|r| r.2.up).collect::<Vec<_>>());
        let down = median_u64(&runs.iter().map(|r| r.2.down).collect::<Vec<_>>());
        let latencies: Vec<Duration> = runs
            .iter()
            .map(|r| Duration::from_secs_f64(r.2.seconds))
            .collect();
        let seg_min = segments.iter().copied().min().unwrap_or(0);
        let seg_median = median_u64(segments);
        let wire = up + down + seg_min * TCP_IP_HEADER_BYTES;
        let met = requests == 1 && wire < 1024;
        let body_up = median_u64(&runs.iter().map(|r| r.1.bytes_sent).collect::<Vec<_>>());
        let body_down = median_u64(&runs.iter().map(|r| r.1.bytes_received).collect::<Vec<_>>());
        report.emit(json!({
            "figure": name,
            "runs": runs.len(),
            "requests": requests,
            "body_bytes_sent": body_up,
            "body_bytes_received": body_down,
            "tcp_payload_bytes_up": up,
            "tcp_payload_bytes_down": down,
            "http_header_bytes": (up + down).saturating_sub(body),
            "tcp_segments_min": seg_min,
            "tcp_segments_median": seg_median,
            "tcp_ip_header_bytes": seg_min * TCP_IP_HEADER_BYTES,
            "wire_bytes_total": wire,
            "latency_ms_p50": round(percentile_ms(&latencies, 0.5), 2),
            "request_headers": headers[0],
            "response_headers": headers[1],
            "targets": {"requests": 1, "bytes_under": 1024},
            "met": met,
        }));
        report.target(
            &format!(
                "sync with nothing to say ({} connection)",
                if warm { "kept-alive" } else { "new TCP" }
            ),
            format!(
                "{requests} request, {body} body B, {} B TCP payload (HTTP headers {} B), {seg_min} TCP segments -> {wire} B on the wire, p50 {:.1} ms",
                up + down,
                (up + down).saturating_sub(body),
                percentile_ms(&latencies, 0.5)
            ),
            "1 request, < 1 KB",
            met,
        );
    }
}

fn next_risk(current: Option<&Value>) -> &'static str {
    match current.and_then(Value::as_str) {
        Some("low") => "medium",
        Some("medium") => "high",
        _ => "low",
    }
}

async fn two_g_figures(
    cfg: &Config,
    report: &mut Report,
    server: &ServerProcess,
    a: &Device,
    b: &Device,
) {
    let changed = cfg.n(1_000);
    let slow = Relay::start(server.addr, Some(TWO_G)).await;

    // Edits: two fields of `changed` existing cases.
    let start = Instant::now();
    {
        let mut store = a.store();
        let records = store.list_cases(None, changed, 0).expect("list");
        for (i, record) in records.iter().enumerate() {
            let mut fields = Fields::new();
            fields.insert(
                "risk_level".into(),
                json!(next_risk(record.fields.get("risk_level"))),
            );
            fields.insert(
                "phone".into(),
                json!(format!("+256 772 {:06}", 100_000 + i)),
            );
            store
                .update_case(&record.id, fields)
                .expect("edit")
                .expect("an edit writes an operation");
        }
    }
    let edit_s = start.elapsed().as_secs_f64();
    two_g_pair(report, server, &slow, a, b, changed, "edits", edit_s).await;

    // New cases.
    let start = Instant::now();
    {
        let mut store = a.store();
        for case in SampleCases::new(99).take(changed) {
            store
                .create_case(&Case::from_json(&case).expect("valid sample"))
                .expect("create");
        }
    }
    let create_s = start.elapsed().as_secs_f64();
    two_g_pair(report, server, &slow, a, b, changed, "new_cases", create_s).await;
}

#[allow(clippy::too_many_arguments)]
async fn two_g_pair(
    report: &mut Report,
    server: &ServerProcess,
    slow: &Relay,
    a: &Device,
    b: &Device,
    changed: usize,
    what: &str,
    local_s: f64,
) {
    for (device, direction) in [(a, "push"), (b, "pull")] {
        let client = device.client_via(&slow.url);
        let meter = Meter::start(server, Some(slow));
        let outcome = device.sync_via(&client).await;
        let m = meter.stop(server, Some(slow));
        drop(client);
        let moved = if direction == "push" {
            outcome.pushed
        } else {
            outcome.pulled
        };
        assert_eq!(moved, changed as u64, "{direction} {what}");
        let rtt = (TWO_G.one_way * 2).as_secs_f64();
        let floor =
            rtt * (1 + outcome.requests) as f64 + (m.up + m.down) as f64 / TWO_G.bytes_per_s;
        let mut fig = sync_json(
            &format!("2g_{direction}_{what}"),
            &outcome,
            &m,
            changed as u64,
        );
        fig["link"] = json!({"rtt_ms": 800, "kbit_per_s_each_way": 400});
        fig["floor_seconds"] = json!(round(floor, 2));
        fig["local_write_seconds"] = json!(round(local_s, 3));
        fig["targets"] = json!({"seconds_under": 10.0});
        fig["met"] = json!(m.seconds < 10.0);
        report.emit(fig);
        report.target(
            &format!("2G {direction} of {changed} {}", what.replace('_', " ")),
            format!(
                "{:.2} s (floor {:.2} s: {} RTT + {:.0} KB at 50 KB/s), {} requests, {:.0} TCP B/case",
                m.seconds,
                floor,
                1 + outcome.requests,
                (m.up + m.down) as f64 / 1000.0,
                outcome.requests,
                (m.up + m.down) as f64 / changed as f64
            ),
            "< 10 s",
            m.seconds < 10.0,
        );
    }
}

// --- figure 4: server ingest -------------------------------------------------------------

/// Pushes `ops` in requests of `batch`, carrying the cursor like the real client.
async fn push_backlog(
    url: String,
    credential: String,
    ops: Vec<Operation>,
    batch: usize,
) -> Result<Vec<Duration>, String> {
    let http = reqwest::Client::new();
    let mut cursor = None;
    let mut latencies = Vec::new();
    for chunk in ops.chunks(batch) {
        let request = SyncRequest {
            store: None,
            protocol: PROTOCOL_VERSION,
            ops: chunk.to_vec(),
            cursor: cursor.take(),
            pull_limit: None,
            commands: Vec::new(),
            handoff: None,
        };
        let start = Instant::now();
        let (reply, _, _, _) = raw_sync(&http, &url, &credential, &request).await?;
        latencies.push(start.elapsed());
        let last = chunk.last().map_or(0, |op| op.op_id.seq);
        if reply.acked_through != last || !reply.rejections.is_empty() {
            return Err(format!(
                "acked through {} (expected {last}), {} rejections",
                reply.acked_through,
                reply.rejections.len()
            ));
        }
        cursor = Some(reply.next_cursor);
    }
    Ok(latencies)
}

async fn ingest_run(
    report: &mut Report,
    cluster: &Cluster,
    dir: &Path,
    name: &str,
    devices: usize,
    per_device: usize,
    batch: usize,
) {
    let mut backlogs = Vec::new();
    let mut outbox_read_s = 0.0;
    for i in 0..devices {
        let agency = format!("{name}_{i}");
        cluster
            .first()
            .admin
            .create_agency(&agency, &agency)
            .await
            .expect("agency");
        let server = cluster.for_device(i);
        let device = enroll_device(server, &agency, dir, &agency).await;
        let mut store = device.store();
        import_cases(&mut store, 1000 + i as u64, per_device);
        let start = Instant::now();
        let ops = store.pending_ops(usize::MAX).expect("outbox");
        outbox_read_s += start.elapsed().as_secs_f64();
        drop(store);
        backlogs.push((server.url.clone(), device.credential.clone(), ops));
    }
    let total: usize = backlogs.iter().map(|b| b.2.len()).sum();
    let meter = Meter::start_all(&cluster.servers, None);
    let tasks: Vec<_> = backlogs
        .into_iter()
        .map(|(url, credential, ops)| tokio::spawn(push_backlog(url, credential, ops, batch)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.expect("push task") {
            Ok(l) => latencies.extend(l),
            Err(e) => errors.push(e),
        }
    }
    let m = meter.stop_all(&cluster.servers, None);
    let ops_per_s = total as f64 / m.seconds;
    report.emit(json!({
        "figure": format!("server_{name}"),
        "devices": devices,
        "ops": total,
        "ops_per_request": batch,
        "requests": latencies.len(),
        "seconds": round(m.seconds, 3),
        "ops_per_s": round(ops_per_s, 0),
        "server_cpu_s": round(m.server_cpu_s, 3),
        "server_cpu_us_per_op": round(m.server_cpu_s * 1e6 / total as f64, 1),
        "server_peak_rss_mib": round(m.server_peak_kib as f64 / 1024.0, 1),
        "server_peak_rss_mib_per_process": mib(&m.server_peak_kib_each),
        "bench_process_cpu_s": round(m.bench_cpu_s, 3),
        "request_ms_p50": round(percentile_ms(&latencies, 0.5), 2),
        "request_ms_p99": round(percentile_ms(&latencies, 0.99), 2),
        "device_outbox_read_us_per_op": round(outbox_read_s * 1e6 / total as f64, 1),
        "errors": errors.len(),
        "first_error": errors.first(),
    }));
    report.line(format!(
        "server ingest, {devices} devices x {per_device} ops, {batch} op(s)/request: {ops_per_s:.0} ops/s ({:.2} s wall), server CPU {:.0} us/op, request p50 {:.1} ms p99 {:.1} ms, server peak RSS {:.0} MiB, {} errors",
        m.seconds,
        m.server_cpu_s * 1e6 / total as f64,
        percentile_ms(&latencies, 0.5),
        percentile_ms(&latencies, 0.99),
        m.server_peak_kib as f64 / 1024.0,
        errors.len()
    ));
}

async fn figures_ingest(cfg: &Config, report: &mut Report, root: &Path) {
    let mut cluster = Cluster::start(cfg, &root.join("server-ingest")).await;
    let dir = root.join("devices-ingest");
    std::fs::create_dir_all(&dir).expect("device dir");
    ingest_run(
        report,
        &cluster,
        &dir,
        "ingest_batched",
        4,
        cfg.n(5_000),
        protocol::MAX_PUSH_OPS,
    )
    .await;
    ingest_run(report, &cluster, &dir, "ingest_single_op", 8, cfg.n(50), 1).await;
    let hwm = cluster.overall_peaks_kib();
    report.emit(json!({"figure": "server_memory_ingest_phase", "vm_hwm_kib_per_process": hwm}));
    report.line(format!(
        "server peak memory over ingest, per process: {:?} MiB",
        mib(&hwm)
    ));
    cluster.stop().await;
}

// --- figure 5: 200 concurrent devices ----------------------------------------------------

struct RoundResult {
    wall_s: f64,
    latencies: Vec<Duration>,
    errors: Vec<String>,
    requests: usize,
    server_p50_ms: Option<f64>,
    server_p99_ms: Option<f64>,
    server_cpu_s: f64,
    bench_cpu_s: f64,
    server_peak_kib_each: Vec<u64>,
}

async fn fleet_round(cluster: &Cluster, fleet: &[Arc<Device>]) -> RoundResult {
    let before = cluster.sync_histogram().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(fleet.len()));
    let meter = Meter::start_all(&cluster.servers, None);
    let tasks: Vec<_> = fleet
        .iter()
        .cloned()
        .map(|device| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let result = sync_once(&device.store, &device.client, &|_| {}).await;
                (start.elapsed(), result)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut requests = 0;
    for task in tasks {
        let (latency, result) = task.await.expect("device task");
        latencies.push(latency);
        match result {
            Ok(outcome) => requests += outcome.requests,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let m = meter.stop_all(&cluster.servers, None);
    let after = cluster.sync_histogram().await;
    RoundResult {
        wall_s: m.seconds,
        latencies,
        errors,
        requests,
        server_p50_ms: histogram_quantile_ms(&before, &after, 0.5),
        server_p99_ms: histogram_quantile_ms(&before, &after, 0.99),
        server_cpu_s: m.server_cpu_s,
        bench_cpu_s: m.bench_cpu_s,
        server_peak_kib_each: m.server_peak_kib_each,
    }
}

async fn figures_fleet(cfg: &Config, report: &mut Report, root: &Path) {
    let mut cluster = Cluster::start(cfg, &root.join("server-fleet")).await;
    let rss_idle: Vec<u64> = cluster.servers.iter().map(|s| s.kib("VmRSS")).collect();
    let dir = root.join("devices-fleet");
    std::fs::create_dir_all(&dir).expect("device dir");
    let count = cfg.fleet_devices.unwrap_or_else(|| cfg.n(200));
    let agencies = count.clamp(1, 5);
    for a in 0..agencies {
        let code = format!("fleet_{a}");
        cluster
            .first()
            .admin
            .create_agency(&code, &code)
            .await
            .expect("agency");
    }
    let setup = Instant::now();
    let mut fleet = Vec::with_capacity(count);
    let mut own_cases = Vec::with_capacity(count);
    let mut generator = SampleCases::new(4242);
    for i in 0..count {
        let device = enroll_device(
            cluster.for_device(i),
            &format!("fleet_{}", i % agencies),
            &dir,
            &format!("d{i}"),
        )
        .await;
        {
            let mut store = device.store();
            for _ in 0..3 {
                let case = Case::from_json(&generator.next_case()).expect("valid sample");
                let id = store.create_case(&case).expect("create");
                own_cases.push(id);
            }
        }
        fleet.push(Arc::new(device));
    }
    eprintln!(
        "  fleet of {count} devices enrolled with 3 cases each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let rss_ready: Vec<u64> = cluster.servers.iter().map(|s| s.kib("VmRSS")).collect();

    let mut all_errors = 0;
    for round_no in 1..=2 {
        if round_no == 2 {
            for (device, id) in fleet.iter().zip(own_cases.iter().step_by(3)) {
                let mut store = device.store();
                let case = store.get_case(id).expect("own case");
                let mut fields = Fields::new();
                fields.insert(
                    "risk_level".into(),
                    json!(next_risk(case.fields.get("risk_level"))),
                );
                store.update_case(id, fields).expect("edit");
            }
        }
        let r = fleet_round(&cluster, &fleet).await;
        all_errors += r.errors.len();
        let p50 = percentile_ms(&r.latencies, 0.5);
        let p99 = percentile_ms(&r.latencies, 0.99);
        report.emit(json!({
            "figure": format!("fleet_round_{round_no}"),
            "devices": count,
            "agencies": agencies,
            "wall_seconds": round(r.wall_s, 3),
            "requests": r.requests,
            "device_latency_ms_p50": round(p50, 1),
            "device_latency_ms_p99": round(p99, 1),
            "device_latency_ms_max": round(percentile_ms(&r.latencies, 1.0), 1),
            "server_latency_ms_p50_bucket": r.server_p50_ms,
            "server_latency_ms_p99_bucket": r.server_p99_ms,
            "server_cpu_s": round(r.server_cpu_s, 3),
            "server_cpu_ms_per_request": round(r.server_cpu_s * 1e3 / r.requests.max(1) as f64, 2),
            "bench_process_cpu_s": round(r.bench_cpu_s, 3),
            "server_peak_rss_mib_per_process": mib(&r.server_peak_kib_each),
            "errors": r.errors.len(),
            "first_error": r.errors.first(),
            "targets": {"errors": 0},
            "met": r.errors.is_empty(),
        }));
        report.target(
            &format!("{count} devices syncing at once, round {round_no}"),
            format!(
                "{} errors; device-side p50 {p50:.0} ms p99 {p99:.0} ms; server-side p50 <= {} ms p99 <= {} ms; {:.2} s wall, {} requests",
                r.errors.len(),
                r.server_p50_ms.map_or("?".into(), |v| format!("{v:.0}")),
                r.server_p99_ms.map_or("?".into(), |v| format!("{v:.0}")),
                r.wall_s,
                r.requests
            ),
            "0 errors",
            r.errors.is_empty(),
        );
    }
    // After round 2 every device has pulled everything round 1 pushed in its agency.
    let converged = fleet
        .iter()
        .enumerate()
        .filter(|(i, device)| {
            let peers = (0..count).filter(|j| j % agencies == i % agencies).count();
            device.store().count_cases(None).unwrap_or(0) == 3 * peers as u64
        })
        .count();
    let hwm = cluster.overall_peaks_kib();
    report.emit(json!({
        "figure": "fleet_server_memory",
        "devices": count,
        "vm_rss_idle_kib_per_process": rss_idle,
        "vm_rss_after_enrollment_kib_per_process": rss_ready,
        "vm_hwm_kib_per_process": hwm,
        "converged_devices": converged,
        "errors": all_errors,
    }));
    report.line(format!(
        "server peak memory with {count} devices (VmHWM), per process: {:?} MiB (idle {:?} MiB); {converged}/{count} devices converged",
        mib(&hwm),
        mib(&rss_idle)
    ));
    cluster.stop().await;
}

// --- codec costs and the disk ------------------------------------------------------------

/// Mean microseconds per call of `f` over `n` calls.
fn time_us(n: usize, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    round(start.elapsed().as_secs_f64() * 1e6 / n as f64, 2)
}

/// What the body codec costs per call for the small bodies every sync carries, and what
/// keeping the zstd contexts across calls would save.
fn codec_figure(report: &mut Report) {
    const CALLS: usize = 2000;
    let cursor = Cursor("3f9a0c1d2e4b5a69.120700".into());
    let request = SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops: vec![],
        cursor: Some(cursor.clone()),
        pull_limit: Some(protocol::DEFAULT_PULL_LIMIT),
        commands: Vec::new(),
        handoff: None,
    };
    let response = SyncResponse {
        device_policy: None,
        acked_through: 41,
        rejections: vec![],
        ops: vec![],
        next_cursor: cursor,
        more: false,
        reset: false,
        server_time_ms: 1_764_370_001_234,
        command_results: Vec::new(),
        next_credential: None,
        handoff: None,
    };
    let request_body = protocol::encode_body(&request);
    let response_body = protocol::encode_body(&response);
    let response_json = serde_json::to_vec(&response).expect("serialize");
    let encode_request = time_us(CALLS, &mut || {
        std::hint::black_box(protocol::encode_body(&request));
    });
    let decode_request = time_us(CALLS, &mut || {
        std::hint::black_box(protocol::decode_body::<SyncRequest>(&request_body).expect("decode"));
    });
    let encode_response = time_us(CALLS, &mut || {
        std::hint::black_box(protocol::encode_body(&response));
    });
    let decode_response = time_us(CALLS, &mut || {
        std::hint::black_box(
            protocol::decode_body::<SyncResponse>(&response_body).expect("decode"),
        );
    });
    let json_only = time_us(CALLS, &mut || {
        std::hint::black_box(serde_json::to_vec(&response).expect("serialize"));
    });
    let mut compressor = zstd::bulk::Compressor::new(protocol::ZSTD_LEVEL).expect("cctx");
    let reused_compress = time_us(CALLS, &mut || {
        std::hint::black_box(compressor.compress(&response_json).expect("compress"));
    });
    let mut decompressor = zstd::bulk::Decompressor::new().expect("dctx");
    let reused_decompress = time_us(CALLS, &mut || {
        std::hint::black_box(
            decompressor
                .decompress(&response_body, 64 * 1024)
                .expect("decompress"),
        );
    });
    report.emit(json!({
        "figure": "codec_small_bodies",
        "request_json_bytes": serde_json::to_vec(&request).map_or(0, |v| v.len()),
        "request_body_bytes": request_body.len(),
        "response_json_bytes": response_json.len(),
        "response_body_bytes": response_body.len(),
        "us_encode_body_request": encode_request,
        "us_decode_body_request": decode_request,
        "us_encode_body_response": encode_response,
        "us_decode_body_response": decode_response,
        "us_serde_json_response_only": json_only,
        "us_zstd_compress_response_reused_context": reused_compress,
        "us_zstd_decompress_response_reused_context": reused_decompress,
    }));
    report.line(format!(
        "codec for an idle sync's bodies: encode_body {encode_request:.0}+{encode_response:.0} us, decode_body {decode_request:.0}+{decode_response:.0} us per call; with a reused zstd context compress {reused_compress:.1} us, decompress {reused_decompress:.1} us"
    ));
}

/// `(p50, p90)` milliseconds of a 4 KiB write + fdatasync in `dir`: what a commit costs.
fn fsync_probe(dir: &Path) -> (f64, f64) {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let samples: Vec<Duration> = (0..50)
        .map(|_| {
            file.write_all(&[0u8; 4096]).expect("write");
            let start = Instant::now();
            file.sync_data().expect("fdatasync");
            start.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    (
        round(percentile_ms(&samples, 0.5), 2),
        round(percentile_ms(&samples, 0.9), 2),
    )
}

// --- figure 6: the server's bytes per case at rest ----------------------------------------

/// Pushes generated cases to a fresh server, stops it (checkpointing its WAL) and reports the
/// database file's bytes per case, by table and index (`dbstat`).
async fn figure_footprint(cfg: &Config, report: &mut Report, root: &Path) {
    for shape in [CaseShape::Intake, CaseShape::Full] {
        footprint_of(cfg, report, root, shape).await;
    }
}

async fn footprint_of(cfg: &Config, report: &mut Report, root: &Path, shape: CaseShape) {
    let cases = cfg.n(10_000);
    // Lowercase: the directory's name becomes a PostgreSQL database's name.
    let data_dir = root.join(format!("server-footprint-{shape:?}").to_lowercase());
    let mut cluster = Cluster::start(cfg, &data_dir).await;
    let server = cluster.first();
    server
        .admin
        .create_agency(AGENCY, "IOM Uganda")
        .await
        .expect("agency");
    let devices = root.join(format!("devices-footprint-{shape:?}").to_lowercase());
    std::fs::create_dir_all(&devices).expect("device dir");
    let a = enroll_device(server, AGENCY, &devices, "a").await;
    let (_, mean_case_bytes) = import_shaped_cases(&mut a.store(), 6, cases, shape);
    let client = a.client_via(&server.url);
    let pushed = a.sync_via(&client).await;
    assert_eq!(pushed.pushed, cases as u64);
    cluster.stop().await;
    let (db_bytes, layout) = match &cluster.database {
        None => {
            let db = data_dir.join("fieldcase.db");
            let file_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
            (file_bytes, device_db_layout(&db, cases))
        }
        Some(database) => {
            let (total, tables) = database.sizes();
            let table_sum: u64 = tables.iter().map(|t| t.total).sum();
            let per_case = |bytes: u64| json!(round(bytes as f64 / cases as f64, 1));
            let by_table: serde_json::Map<String, Value> = tables
                .iter()
                .filter(|t| t.total > 0)
                .map(|t| (t.name.clone(), per_case(t.total)))
                .collect();
            let parts: serde_json::Map<String, Value> = tables
                .iter()
                .filter(|t| t.total > 0)
                .map(|t| {
                    let indexes: serde_json::Map<String, Value> = t
                        .indexes
                        .iter()
                        .map(|(name, bytes)| (name.clone(), per_case(bytes.as_u64().unwrap_or(0))))
                        .collect();
                    let parts = json!({"heap": per_case(t.heap), "toast": per_case(t.toast), "indexes": indexes});
                    (t.name.clone(), parts)
                })
                .collect();
            let layout = json!({
                "pg_database_size_bytes": total,
                "tables_total_relation_size_bytes": table_sum,
                "tables_bytes_per_case": round(table_sum as f64 / cases as f64, 0),
                "bytes_per_case_by_table": by_table,
                "bytes_per_case_by_part": parts,
            });
            report.line(format!(
                "server at rest (PostgreSQL): tables {:.0} B/case (pg_total_relation_size, with indexes and TOAST); whole database {:.0} B/case (pg_database_size, with the catalog)",
                table_sum as f64 / cases as f64,
                total as f64 / cases as f64
            ));
            (table_sum, layout)
        }
    };
    let per_case = db_bytes as f64 / cases as f64;
    report.emit(json!({
        "figure": "server_footprint", "cases": cases, "backend": cfg.backend(),
        "case_shape": format!("{shape:?}"),
        "mean_case_json_bytes": round(mean_case_bytes, 0),
        "db_bytes_per_case": round(per_case, 0),
        "layout": layout,
        "target_bytes_per_case_under": 1200,
    }));
    report.line(format!(
        "server at rest: {per_case:.0} B/case for {cases} cases of {mean_case_bytes:.0} B JSON"
    ));
    if matches!(shape, CaseShape::Intake) && per_case >= 1200.0 {
        report
            .missed
            .push(format!("server footprint {per_case:.0} B/case"));
    }
}

// --- main --------------------------------------------------------------------------------

fn main() {
    let cfg = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(cfg));
}

async fn run(cfg: Config) {
    let root = tempfile::Builder::new()
        .prefix("fieldcase-sync-load-")
        .tempdir()
        .expect("temp dir");
    let mut report = Report::default();
    let load_before = loadavg();
    let started = Instant::now();
    let (fsync_p50, fsync_p90) = fsync_probe(root.path());
    report.emit(json!({
        "fsync_4k_ms_p50": fsync_p50,
        "fsync_4k_ms_p90": fsync_p90,
        "figure": "run",
        "scale": cfg.scale,
        "only": cfg.only,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg_before": [load_before.0, load_before.1, load_before.2],
        "server": "fieldcase serve (separate process)",
        "server_backend_figures_4_to_6": cfg.backend(),
        "fleet_devices": cfg.fleet_devices,
        "device_store_durability": "Normal",
        "work_dir": root.path().display().to_string(),
    }));
    if cfg.wants("codec") {
        codec_figure(&mut report);
    }
    if cfg.wants("sync") || cfg.wants("initial") {
        eprintln!("figures 1-3: initial sync, idle sync, 2G");
        figures_sync(&cfg, &mut report, root.path()).await;
    }
    if cfg.wants("ingest") {
        eprintln!("figure 4: server ingest");
        figures_ingest(&cfg, &mut report, root.path()).await;
    }
    if cfg.wants("fleet") {
        eprintln!("figure 5: concurrent devices");
        figures_fleet(&cfg, &mut report, root.path()).await;
    }
    if cfg.wants("footprint") {
        eprintln!("figure 6: server bytes per case at rest");
        figure_footprint(&cfg, &mut report, root.path()).await;
    }
    let load_after = loadavg();
    report.emit(json!({
        "figure": "run_end",
        "seconds": round(started.elapsed().as_secs_f64(), 1),
        "loadavg_after": [load_after.0, load_after.1, load_after.2],
    }));
    println!();
    println!(
        "== fieldcase sync load (scale {}, {} CPUs, load avg {:.2} before / {:.2} after, {:.0} s) ==",
        cfg.scale,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before.0,
        load_after.0,
        started.elapsed().as_secs_f64()
    );
    for line in &report.summary {
        println!("{line}");
    }
    if report.missed.is_empty() {
        println!("all targets met");
    } else {
        println!("targets missed: {}", report.missed.join("; "));
    }
}
