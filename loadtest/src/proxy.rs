//! The fault proxy: a TCP proxy between the virtual users and the local gateway that can cut, stall and slice
//! connections, one client address or a share of all of them at a time.
//!
//! The upstream connection leaves from the client's own address (each virtual user has its own in
//! 127.0.0.0/8), so the gateway sees as many client addresses as there are users, and its per-address connect
//! limit applies to each user as it would to each browser.
//!
//! # Invariants
//! - A cut ends both directions at once; a stall holds bytes (nothing is dropped) until it ends; a slice delivers
//!   every byte, in order, a few at a time.
//! - When either direction ends, the whole link ends: a half-open link would only hide the fault.

use rand::Rng;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What a link does with the bytes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    /// Holds everything until then.
    Stall {
        until: Instant,
    },
    /// Writes a few bytes at a time until then.
    Slice {
        until: Instant,
    },
    Cut,
}

#[derive(Debug)]
struct Link {
    client: IpAddr,
    mode: watch::Sender<Mode>,
}

/// How many faults the proxy applied, by kind (one per link affected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub cuts: u64,
    pub stalls: u64,
    pub slices: u64,
}

#[derive(Debug, Default)]
struct Links {
    open: Mutex<HashMap<u64, Link>>,
    next_id: AtomicU64,
    counts: Mutex<FaultCounts>,
}

impl Links {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Link>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, bump: impl FnOnce(&mut FaultCounts)) {
        bump(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Sets `mode` on every link `select` picks; how many it picked.
    fn set(&self, mode: Mode, mut select: impl FnMut(&Link) -> bool) -> usize {
        let mut picked = 0;
        for link in self.open().values().filter(|link| select(link)) {
            link.mode.send_replace(mode);
            picked += 1;
        }
        picked
    }
}

/// The proxy, listening on a port of 127.0.0.1 and forwarding to `upstream`.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    links: Arc<Links>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let links = Arc::new(Links::default());
        let accept = tokio::spawn(accept(listener, upstream, Arc::clone(&links)));
        Ok(Self { address, links, accept })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn open_links(&self) -> usize {
        self.links.open().len()
    }

    pub fn counts(&self) -> FaultCounts {
        *self.links.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts every link from `client`: how many.
    pub fn cut(&self, client: IpAddr) -> usize {
        let cut = self.links.set(Mode::Cut, |link| link.client == client);
        self.links.count(|c| c.cuts += cut as u64);
        cut
    }

    /// Slices every link from `client` for `duration`: how many.
    pub fn slice(&self, client: IpAddr, duration: Duration) -> usize {
        let sliced = self.links.set(Mode::Slice { until: Instant::now() + duration }, |link| link.client == client);
        self.links.count(|c| c.slices += sliced as u64);
        sliced
    }

    /// Stalls each link with probability `share` for `duration`: how many.
    pub fn stall_share(&self, share: f64, duration: Duration) -> usize {
        let mut rng = rand::rng();
        let stalled = self
            .links
            .set(Mode::Stall { until: Instant::now() + duration }, |_| rng.random_bool(share.clamp(0.0, 1.0)));
        self.links.count(|c| c.stalls += stalled as u64);
        stalled
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.links.set(Mode::Cut, |_| true);
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, links: Arc<Links>) {
    loop {
        let Ok((client, peer)) = listener.accept().await else { continue };
        let links = Arc::clone(&links);
        tokio::spawn(async move {
            // The user cannot tell a refused upstream from a cut: both end its connection.
            if let Ok(server) = connect_from(peer.ip(), upstream).await {
                relay(client, server, peer.ip(), &links).await;
            }
        });
    }
}

async fn connect_from(client: IpAddr, upstream: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(client, 0))?;
    let stream = socket.connect(upstream).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn relay(client: TcpStream, server: TcpStream, peer: IpAddr, links: &Links) {
    let _ = client.set_nodelay(true);
    let id = links.next_id.fetch_add(1, Ordering::Relaxed);
    let (mode, watched) = watch::channel(Mode::Pass);
    links.open().insert(id, Link { client: peer, mode });
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, watched.clone()) => {}
        () = pump(server_read, client_write, watched) => {}
    }
    links.open().remove(&id);
}

/// Copies `from` to `to` under the link's mode until either side ends or the link is cut.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            () = cut(&mut mode) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let sliced = loop {
            let current = *mode.borrow_and_update();
            match current {
                Mode::Cut => return,
                Mode::Stall { until } if Instant::now() < until => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        changed = mode.changed() => if changed.is_err() { return },
                    }
                }
                Mode::Slice { until } => break Instant::now() < until,
                Mode::Pass | Mode::Stall { .. } => break false,
            }
        };
        let written = if sliced { write_sliced(&mut to, &buffer[..n]).await } else { to.write_all(&buffer[..n]).await };
        if written.is_err() {
            return;
        }
    }
}

/// Returns once the link is cut (or its control is gone).
async fn cut(mode: &mut watch::Receiver<Mode>) {
    let _ = mode.wait_for(|mode| *mode == Mode::Cut).await;
}

/// Writes `bytes` in pieces of 1–7 bytes, each its own segment (Nagle is off).
async fn write_sliced(to: &mut (impl AsyncWriteExt + Unpin), bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let take = rand::rng().random_range(1..=7).min(rest.len());
        to.write_all(&rest[..take]).await?;
        to.flush().await?;
        rest = &rest[take..];
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server and a client connected to it through the proxy from `from`.
    async fn echo_through_proxy(from: IpAddr) -> (FaultProxy, TcpStream) {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        let proxy = FaultProxy::start(upstream).await.unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let client = socket.connect(proxy.address()).await.unwrap();
        // The link is registered once the proxy has connected upstream.
        while proxy.open_links() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (proxy, client)
    }

    async fn round_trip(client: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
        client.write_all(payload).await.unwrap();
        let mut echoed = vec![0u8; payload.len()];
        client.read_exact(&mut echoed).await.unwrap();
        echoed
    }

    #[tokio::test]
    async fn bytes_pass_through_from_the_clients_own_address_and_a_slice_keeps_them_whole() {
        let from: IpAddr = "127.0.0.7".parse().unwrap();
        let (proxy, mut client) = echo_through_proxy(from).await;
        assert_eq!(round_trip(&mut client, b"hello").await, b"hello");
        assert_eq!(proxy.slice(from, Duration::from_secs(5)), 1);
        let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(&mut client, &payload).await, payload);
        assert_eq!(proxy.slice("127.0.0.8".parse().unwrap(), Duration::from_secs(5)), 0, "another address");
        assert_eq!(proxy.counts(), FaultCounts { slices: 1, ..FaultCounts::default() });
    }

    #[tokio::test]
    async fn a_stall_holds_bytes_until_it_ends_and_then_delivers_them() {
        let (proxy, mut client) = echo_through_proxy("127.0.0.9".parse().unwrap()).await;
        assert_eq!(proxy.stall_share(1.0, Duration::from_millis(300)), 1);
        let started = Instant::now();
        client.write_all(b"held").await.unwrap();
        let mut echoed = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(100), client.read_exact(&mut echoed)).await;
        assert!(early.is_err(), "nothing comes through while stalled");
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"held");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(proxy.stall_share(0.0, Duration::from_secs(1)), 0);
    }

    #[tokio::test]
    async fn a_cut_ends_the_clients_connection_and_forgets_the_link() {
        let from: IpAddr = "127.0.0.10".parse().unwrap();
        let (proxy, mut client) = echo_through_proxy(from).await;
        assert_eq!(round_trip(&mut client, b"x").await, b"x");
        assert_eq!(proxy.cut(from), 1);
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "the client's connection ends");
        while proxy.open_links() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(proxy.counts().cuts, 1);
    }
}
