//! A `netem`-like TCP proxy that sits between devices and the server and breaks connections
//! on purpose.
//!
//! [`FaultProxy`] listens on `127.0.0.1:0` and relays every connection to one upstream
//! address. For each new connection — and again for each new request on a kept-alive one,
//! since HTTP clients pool connections — it draws, from a seeded RNG, whether to inject a
//! fault (with [`ProxyConfig::fault_probability`]) and which one from [`ProxyConfig::faults`]:
//! a delay before relaying, a connection dropped (RST) after N bytes of the request or of the
//! response, a response truncated after N bytes and closed cleanly (FIN), an immediate reset,
//! or a captive portal that answers every request itself with an HTML page. Independently, an
//! optional [`LinkProfile`] shapes every connection (bandwidth and round-trip time; see
//! [`LinkProfile::TWO_G`]).
//!
//! A test can also cut every open connection at a moment it chooses
//! ([`FaultProxy::drop_connections`]), and read how many bytes went towards the server
//! ([`FaultProxy::bytes_up`]), to measure what a resumable upload sends twice.
//!
//! Faults can be switched off at runtime ([`FaultProxy::set_faults_enabled`]); a connection
//! that drew a fault earlier checks the switch again at the moment the fault would strike, so
//! a pooled keep-alive connection cannot break a sync made after the switch was turned off.
//!
//! What it does not do: parse HTTP (apart from the captive portal reading request heads), or
//! reorder or corrupt bytes — a TCP connection either delivers bytes in order or breaks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod portal;

/// Largest read relayed as one chunk. Small enough that link shaping paces smoothly.
const CHUNK_BYTES: usize = 8 * 1024;

/// Chunks read ahead of delivery per direction before reading pauses (back-pressure).
const MAX_QUEUED_CHUNKS: usize = 64;

/// Faults that cut a stream strike after a number of bytes drawn below this bound: a
/// compressed sync body of 50 cases is about 7 KB, so most cuts land inside a body. Half the draws fall in the first
/// [`EARLY_CUT_BYTES`] instead, where the HTTP head and the start of the body are, so small
/// requests and replies get cut too.
pub const MAX_CUT_BYTES: u64 = 16 * 1024;

/// See [`MAX_CUT_BYTES`].
pub const EARLY_CUT_BYTES: u64 = 512;

/// The longest delay a [`FaultKind::Delay`] adds before relaying a connection.
pub const MAX_DELAY: Duration = Duration::from_millis(400);

/// What a fault does to a connection, as listed in [`ProxyConfig::faults`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Wait before relaying anything.
    Delay,
    /// Reset both sides after N bytes of the request have been relayed.
    DropMidRequest,
    /// Reset both sides after N bytes of the response have been relayed.
    DropMidResponse,
    /// Relay N bytes of the response, then close the device's side cleanly (FIN).
    TruncateResponse,
    /// Reset the connection as soon as it is accepted.
    Reset,
    /// Answer every request with `200 OK` and an HTML login page, as hotel and café networks
    /// do; the server is never contacted.
    CaptivePortal,
}

impl FaultKind {
    /// Every fault that breaks or delays a relayed connection (all but the captive portal).
    pub const NETWORK: [FaultKind; 5] = [
        FaultKind::Delay,
        FaultKind::DropMidRequest,
        FaultKind::DropMidResponse,
        FaultKind::TruncateResponse,
        FaultKind::Reset,
    ];
}

/// A fault drawn for one connection or request, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    PassThrough,
    Delay(Duration),
    DropMidRequest { after: u64 },
    DropMidResponse { after: u64 },
    TruncateResponse { after: u64 },
    Reset,
    CaptivePortal,
}

impl Fault {
    pub fn kind(&self) -> Option<FaultKind> {
        match self {
            Fault::PassThrough => None,
            Fault::Delay(_) => Some(FaultKind::Delay),
            Fault::DropMidRequest { .. } => Some(FaultKind::DropMidRequest),
            Fault::DropMidResponse { .. } => Some(FaultKind::DropMidResponse),
            Fault::TruncateResponse { .. } => Some(FaultKind::TruncateResponse),
            Fault::Reset => Some(FaultKind::Reset),
            Fault::CaptivePortal => Some(FaultKind::CaptivePortal),
        }
    }
}

/// Bandwidth and latency applied to both directions of every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkProfile {
    pub bits_per_second: u64,
    /// Added round trip; each direction gets half.
    pub round_trip: Duration,
}

impl LinkProfile {
    /// A poor 2G (EDGE) link: 400 kbit/s, 800 ms round trip.
    pub const TWO_G: LinkProfile = LinkProfile {
        bits_per_second: 400_000,
        round_trip: Duration::from_millis(800),
    };

    fn transmit_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_second.max(1) as f64)
    }
}

/// How a proxy misbehaves.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Seeds the per-connection draws, so a failing run can be replayed.
    pub seed: u64,
    /// Chance that a new connection, or a new request on a kept-alive one, gets a fault while
    /// faults are enabled.
    pub fault_probability: f64,
    /// The faults to draw from, uniformly.
    pub faults: Vec<FaultKind>,
    /// Shapes every connection, faulty or not.
    pub link: Option<LinkProfile>,
}

impl ProxyConfig {
    /// Relays faithfully: no faults, no shaping.
    pub fn pass_through() -> Self {
        ProxyConfig {
            seed: 0,
            fault_probability: 0.0,
            faults: Vec::new(),
            link: None,
        }
    }

    /// Every network fault, drawn for a share `probability` of connections.
    pub fn faulty(seed: u64, probability: f64) -> Self {
        ProxyConfig {
            seed,
            fault_probability: probability,
            faults: FaultKind::NETWORK.to_vec(),
            link: None,
        }
    }
}

/// What the proxy did, for a test to check that faults really happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub connections: u64,
    /// Requests relayed or answered (a request is bytes towards the server after bytes
    /// towards the device, or the first bytes of a connection).
    pub requests: u64,
    /// Faults drawn per kind (a drawn cut may not strike if the connection ends first).
    pub drawn: BTreeMap<FaultKind, u64>,
    /// Faults that actually cut, reset or answered a connection, per kind (delays not
    /// counted).
    pub struck: BTreeMap<FaultKind, u64>,
}

struct Shared {
    upstream: SocketAddr,
    config: Mutex<ProxyConfig>,
    rng: Mutex<StdRng>,
    enabled: AtomicBool,
    connections: AtomicU64,
    requests: AtomicU64,
    struck: Mutex<BTreeMap<FaultKind, u64>>,
    drawn: Mutex<BTreeMap<FaultKind, u64>>,
    /// Bytes relayed towards the server, over every connection.
    bytes_up: AtomicU64,
}

impl Shared {
    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Draws the fault of a new connection or request (`PassThrough` while disabled).
    fn draw(&self) -> Fault {
        if !self.enabled() {
            return Fault::PassThrough;
        }
        let config = lock(&self.config).clone();
        let mut rng = lock(&self.rng);
        if config.faults.is_empty() || !rng.gen_bool(config.fault_probability.clamp(0.0, 1.0)) {
            return Fault::PassThrough;
        }
        let kind = config.faults[rng.gen_range(0..config.faults.len())];
        let bound = if rng.gen_bool(0.5) {
            EARLY_CUT_BYTES
        } else {
            MAX_CUT_BYTES
        };
        let after = rng.gen_range(0..bound);
        let fault = match kind {
            FaultKind::Delay => Fault::Delay(rng.gen_range(Duration::ZERO..=MAX_DELAY)),
            FaultKind::DropMidRequest => Fault::DropMidRequest { after },
            FaultKind::DropMidResponse => Fault::DropMidResponse { after },
            FaultKind::TruncateResponse => Fault::TruncateResponse { after },
            FaultKind::Reset => Fault::Reset,
            FaultKind::CaptivePortal => Fault::CaptivePortal,
        };
        *lock(&self.drawn).entry(kind).or_default() += 1;
        fault
    }

    fn strike(&self, kind: FaultKind) {
        *lock(&self.struck).entry(kind).or_default() += 1;
    }

    fn link(&self) -> Option<LinkProfile> {
        lock(&self.config).link
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running proxy; stops accepting (and drops every open connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream`, faults enabled.
    pub async fn start(upstream: SocketAddr, config: ProxyConfig) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config: Mutex::new(config),
            enabled: AtomicBool::new(true),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            struck: Mutex::new(BTreeMap::new()),
            drawn: Mutex::new(BTreeMap::new()),
            bytes_up: AtomicU64::new(0),
        });
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let shared = shared.clone();
            let connections = connections.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    let fault = shared.draw();
                    let task = tokio::spawn(handle(client, shared.clone(), fault));
                    let mut open = lock(&connections);
                    open.retain(|t| !t.is_finished());
                    open.push(task);
                }
            }
        });
        Ok(FaultProxy {
            addr,
            shared,
            accept,
            connections,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a device's sync client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Turns fault injection on or off; link shaping stays as configured.
    pub fn set_faults_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Replaces the fault menu, probability and link for connections accepted from now on.
    /// The RNG keeps its state (it was seeded once, at start).
    pub fn reconfigure(&self, config: ProxyConfig) {
        *lock(&self.shared.config) = config;
    }

    /// Bytes relayed towards the server so far (request heads and bodies), on every
    /// connection.
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::SeqCst)
    }

    /// Drops every open connection at once, as a phone losing its cell does: both ends see
    /// the connection end mid-stream. New connections are accepted as before.
    pub fn drop_connections(&self) {
        for task in lock(&self.connections).drain(..) {
            task.abort();
        }
    }

    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            connections: self.shared.connections.load(Ordering::SeqCst),
            requests: self.shared.requests.load(Ordering::SeqCst),
            drawn: lock(&self.shared.drawn).clone(),
            struck: lock(&self.shared.struck).clone(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in lock(&self.connections).drain(..) {
            task.abort();
        }
    }
}

/// How a relayed connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Both directions reached end of stream.
    Closed,
    /// A fault (or an I/O error) struck: reset both sides.
    Abort,
    /// A truncation struck: close the device's side cleanly, drop the server's.
    Truncate,
}

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// Device to server: requests.
    Up,
    /// Server to device: responses.
    Down,
}

/// What to do with one chunk about to be delivered.
struct Delivery {
    wait: Option<Duration>,
    forward: usize,
    then: Option<End>,
}

/// The fault of the current exchange (request and response) on one connection. HTTP/1.1
/// clients keep connections alive and do not pipeline, so a request starting after response
/// bytes is a new exchange, and it draws a new fault: a pooled connection meets faults as
/// often as a fresh one.
struct Exchange {
    fault: Fault,
    up_bytes: u64,
    down_bytes: u64,
    last: Option<Direction>,
    /// The fault that ended the connection, if one did.
    struck: Option<FaultKind>,
}

impl Exchange {
    fn deliver(&mut self, direction: Direction, len: usize, shared: &Shared) -> Delivery {
        if direction == Direction::Up && self.last != Some(Direction::Up) {
            shared.requests.fetch_add(1, Ordering::SeqCst);
        }
        if direction == Direction::Up && self.last == Some(Direction::Down) {
            self.fault = match shared.draw() {
                // The portal answers without the server; it only starts a connection.
                Fault::CaptivePortal => Fault::PassThrough,
                fault => fault,
            };
            self.up_bytes = 0;
            self.down_bytes = 0;
        }
        self.last = Some(direction);
        let mut delivery = Delivery {
            wait: None,
            forward: len,
            then: None,
        };
        let enabled = shared.enabled();
        let (relayed, cut) = match (direction, self.fault) {
            (_, Fault::Delay(wait)) => {
                self.fault = Fault::PassThrough;
                delivery.wait = Some(wait);
                (0, None)
            }
            (_, Fault::Reset) => (self.up_bytes, Some((0, End::Abort))),
            (Direction::Up, Fault::DropMidRequest { after }) => {
                (self.up_bytes, Some((after, End::Abort)))
            }
            (Direction::Down, Fault::DropMidResponse { after }) => {
                (self.down_bytes, Some((after, End::Abort)))
            }
            (Direction::Down, Fault::TruncateResponse { after }) => {
                (self.down_bytes, Some((after, End::Truncate)))
            }
            _ => (0, None),
        };
        if let Some((after, end)) = cut {
            let left = after.saturating_sub(relayed);
            if enabled && left < len as u64 {
                delivery.forward = left as usize;
                delivery.then = Some(end);
                self.struck = self.fault.kind();
            }
        }
        match direction {
            Direction::Up => self.up_bytes += delivery.forward as u64,
            Direction::Down => self.down_bytes += delivery.forward as u64,
        }
        delivery
    }
}

async fn handle(mut client: TcpStream, shared: Arc<Shared>, fault: Fault) {
    let _ = client.set_nodelay(true);
    match fault {
        Fault::Reset => {
            shared.strike(FaultKind::Reset);
            let _ = client.set_zero_linger();
            return;
        }
        Fault::CaptivePortal => {
            shared.requests.fetch_add(1, Ordering::SeqCst);
            shared.strike(FaultKind::CaptivePortal);
            portal::answer(client).await;
            return;
        }
        _ => {}
    }
    let Ok(mut upstream) = TcpStream::connect(shared.upstream).await else {
        // The server is down (killed, restarting): the device sees a reset connection.
        let _ = client.set_zero_linger();
        return;
    };
    let _ = upstream.set_nodelay(true);
    let exchange = Mutex::new(Exchange {
        fault,
        up_bytes: 0,
        down_bytes: 0,
        last: None,
        struck: None,
    });
    let link = shared.link();
    let end = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(
            client_read,
            upstream_write,
            Direction::Up,
            &exchange,
            link,
            &shared,
        );
        let down = pump(
            upstream_read,
            client_write,
            Direction::Down,
            &exchange,
            link,
            &shared,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
            };
            if end != End::Closed {
                break end;
            }
            if up_done && down_done {
                break End::Closed;
            }
        }
    };
    if let Some(kind) = lock(&exchange).struck {
        shared.strike(kind);
    }
    match end {
        End::Closed => {}
        End::Abort => {
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
        End::Truncate => {
            let _ = upstream.set_zero_linger();
            let _ = client.shutdown().await;
        }
    }
}

/// Relays one direction until end of stream, an error, or a fault of the current exchange
/// strikes. With a link profile, each chunk is delivered when it would have crossed the link:
/// queued behind the chunks before it at the link's bandwidth, plus half the round trip.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    direction: Direction,
    exchange: &Mutex<Exchange>,
    link: Option<LinkProfile>,
    shared: &Shared,
) -> End {
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut link_free_at = Instant::now();
    let mut eof = false;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        if eof && queue.is_empty() {
            let _ = to.shutdown().await;
            return End::Closed;
        }
        let next_delivery = queue.front().map(|(at, _)| *at);
        tokio::select! {
            read = from.read(&mut buf), if !eof && queue.len() < MAX_QUEUED_CHUNKS => {
                match read {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        let now = Instant::now();
                        let deliver_at = match link {
                            None => now,
                            Some(link) => {
                                link_free_at = link_free_at.max(now) + link.transmit_time(n);
                                link_free_at + link.round_trip / 2
                            }
                        };
                        queue.push_back((deliver_at, buf[..n].to_vec()));
                    }
                    Err(_) => return End::Abort,
                }
            }
            _ = tokio::time::sleep_until(next_delivery.unwrap_or_else(Instant::now)), if next_delivery.is_some() => {
                let (_, chunk) = queue.pop_front().expect("a queued chunk");
                let delivery = lock(exchange).deliver(direction, chunk.len(), shared);
                if let Some(wait) = delivery.wait {
                    tokio::time::sleep(wait).await;
                }
                if to.write_all(&chunk[..delivery.forward]).await.is_err() {
                    return End::Abort;
                }
                if direction == Direction::Up {
                    shared.bytes_up.fetch_add(delivery.forward as u64, Ordering::SeqCst);
                }
                if let Some(end) = delivery.then {
                    let _ = to.flush().await;
                    return end;
                }
            }
        }
    }
}
