//! A fault-injecting TCP proxy: it forwards between clients and an upstream address and, at random (a seeded rng),
//! cuts a live connection (closes both sides), stalls it (forwards nothing for a while) or slices it (forwards in
//! tiny chunks with small delays for a while).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How faults are injected.
#[derive(Clone, Copy, Debug)]
pub struct FaultPlan {
    /// Time between two faults, drawn uniformly from this range (milliseconds).
    pub every_ms: (u64, u64),
    /// Relative weights of cut, stall and slice.
    pub weights: (u32, u32, u32),
    /// How long a stall lasts (milliseconds).
    pub stall_ms: (u64, u64),
    /// How long a slicing period lasts (milliseconds).
    pub slice_ms: (u64, u64),
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self { every_ms: (20, 50), weights: (3, 3, 4), stall_ms: (50, 2_000), slice_ms: (50, 1_000) }
    }
}

/// Faults injected so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub cuts: u64,
    pub stalls: u64,
    pub slices: u64,
    pub connections: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.cuts + self.stalls + self.slices
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Normal,
    Stalled { until: Instant },
    Sliced { until: Instant },
}

/// One proxied connection's shared state.
#[derive(Debug)]
struct Conn {
    mode: Mutex<Mode>,
    cut: watch::Sender<bool>,
    done: AtomicBool,
}

impl Conn {
    fn mode(&self) -> Mode {
        let mut mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        match *mode {
            Mode::Stalled { until } | Mode::Sliced { until } if Instant::now() >= until => *mode = Mode::Normal,
            _ => {}
        }
        *mode
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    fn is_live(&self) -> bool {
        !self.done.load(Ordering::Acquire) && !*self.cut.borrow()
    }
}

#[derive(Debug, Default)]
struct Counters {
    cuts: AtomicU64,
    stalls: AtomicU64,
    slices: AtomicU64,
    connections: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    conns: Mutex<Vec<Arc<Conn>>>,
    counters: Counters,
    enabled: AtomicBool,
    plan: FaultPlan,
}

/// The proxy; it stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free local port; faults start enabled.
    pub async fn start(upstream: SocketAddr, seed: u64, plan: FaultPlan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            conns: Mutex::new(Vec::new()),
            counters: Counters::default(),
            enabled: AtomicBool::new(true),
            plan,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared), seed));
        let faults = tokio::spawn(fault_loop(Arc::clone(&shared), StdRng::seed_from_u64(seed)));
        Self { addr, shared, tasks: vec![accept, faults] }
    }

    /// Turns fault injection on or off (connections live on either way).
    pub fn set_faults(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::Release);
        if !enabled {
            for conn in self.shared.conns.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                conn.set_mode(Mode::Normal);
            }
        }
    }

    pub fn counts(&self) -> FaultCounts {
        let counters = &self.shared.counters;
        FaultCounts {
            cuts: counters.cuts.load(Ordering::Relaxed),
            stalls: counters.stalls.load(Ordering::Relaxed),
            slices: counters.slices.load(Ordering::Relaxed),
            connections: counters.connections.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for conn in self.shared.conns.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            let _ = conn.cut.send(true);
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, seed: u64) {
    let mut index = 0u64;
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        index += 1;
        let Ok(server) = TcpStream::connect(shared.upstream).await else { continue };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (cut, _) = watch::channel(false);
        let conn = Arc::new(Conn { mode: Mutex::new(Mode::Normal), cut, done: AtomicBool::new(false) });
        {
            let mut conns = shared.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.retain(|conn| conn.is_live());
            conns.push(Arc::clone(&conn));
        }
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        // Each direction slices with its own rng, derived from the seed and the connection's index.
        let up = pump(client_read, server_write, Arc::clone(&conn), StdRng::seed_from_u64(seed ^ (index << 1)));
        let down = pump(server_read, client_write, Arc::clone(&conn), StdRng::seed_from_u64(seed ^ (index << 1 | 1)));
        tokio::spawn(async move {
            // Either direction ending (a close, an error or a cut) ends both: the halves drop and both sockets
            // close.
            tokio::select! {
                _ = up => {}
                _ = down => {}
            }
            conn.done.store(true, Ordering::Release);
        });
    }
}

/// Forwards `from` to `to` following the connection's mode, until either side closes or the connection is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    conn: Arc<Conn>,
    mut rng: StdRng,
) {
    let mut cut = conn.cut.subscribe();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = cut.wait_for(|cut| *cut) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut offset = 0;
        while offset < n {
            let chunk = match conn.mode() {
                Mode::Stalled { until } => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = cut.wait_for(|cut| *cut) => return,
                    }
                    continue;
                }
                Mode::Sliced { .. } => {
                    let delay = Duration::from_micros(rng.random_range(0..2_000));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cut.wait_for(|cut| *cut) => return,
                    }
                    rng.random_range(1..=16).min(n - offset)
                }
                Mode::Normal => n - offset,
            };
            let written = tokio::select! {
                written = to.write_all(&buffer[offset..offset + chunk]) => written,
                _ = cut.wait_for(|cut| *cut) => return,
            };
            if written.is_err() {
                return;
            }
            offset += chunk;
        }
    }
}

async fn fault_loop(shared: Arc<Shared>, mut rng: StdRng) {
    let plan = shared.plan;
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(plan.every_ms.0..=plan.every_ms.1))).await;
        if !shared.enabled.load(Ordering::Acquire) {
            continue;
        }
        let target = {
            let mut conns = shared.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.retain(|conn| conn.is_live());
            if conns.is_empty() {
                continue;
            }
            let index = rng.random_range(0..conns.len());
            Arc::clone(&conns[index])
        };
        let (cut, stall, slice) = plan.weights;
        let pick = rng.random_range(0..cut + stall + slice);
        let now = Instant::now();
        if pick < cut {
            let _ = target.cut.send(true);
            shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
        } else if pick < cut + stall {
            let until = now + Duration::from_millis(rng.random_range(plan.stall_ms.0..=plan.stall_ms.1));
            target.set_mode(Mode::Stalled { until });
            shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
        } else {
            let until = now + Duration::from_millis(rng.random_range(plan.slice_ms.0..=plan.slice_ms.1));
            target.set_mode(Mode::Sliced { until });
            shared.counters.slices.fetch_add(1, Ordering::Relaxed);
        }
    }
}
