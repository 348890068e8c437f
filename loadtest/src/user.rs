//! One virtual user, as the browser app behaves: it registers and logs in, opens a session, starts a simulator,
//! fetches a ticket, connects through the fault proxy and says hello, trades at a steady rate (limit orders, some
//! marketable, market orders, cancels), keeps its session alive, and now and then drops its connection at the
//! proxy or reloads (a fresh ticket, hello with its last applied seq). After every reconnect it retries the
//! orders that had no `order_ack` and asks again for one that had, with the same client order ids.
//!
//! At the end it settles: every order answered, the simulator paused, a fresh snapshot taken on a second
//! connection, and its own ledger compared with it.

use crate::ledger::{Ledger, LedgerCounts};
use crate::proxy::FaultProxy;
use crate::stats::Sample;
use crate::stream_check::{Frame, StreamChecker, Violations};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tradesim_devstack::client::{ClientError, ControlClient, Socket, Tokens, WsError, connect_stream};
use tradesim_protocol::stream::{ClientMessage, Envelope, OrderEntry, ServerMessage, SimId, SimState, Speed};
use tradesim_protocol::{
    ClientOrderId, EngineView, Event, EventBody, InstrumentId, OrderRef, OrderType, Price, Qty, Side, TimeInForce,
};

/// The browser origin the users claim; the stack allows it.
pub const ORIGIN: &str = "http://loadtest.tradesim.local";
const PASSWORD: &str = "load-test-password";
/// An attempt not answered in this long is sent again (it is safe: same client order id).
const PATIENCE: Duration = Duration::from_secs(5);
/// A user keeps at most this many orders working; past it, it cancels.
const MAX_WORKING: usize = 20;
/// Until a welcome says otherwise.
const DEFAULT_DEAD_AFTER: Duration = Duration::from_secs(12);

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Trading,
    /// No new orders: answer everything, then settle.
    Settling,
}

/// How every user behaves.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// Mean time between two orders or cancels.
    pub order_every: Duration,
    /// Mean time between two disruptions of the user's own (a cut at the proxy, a reload, a slice).
    pub disrupt_every: Duration,
    pub keep_alive_every: Duration,
}

/// What all users share.
#[derive(Debug)]
pub struct Shared {
    pub control: ControlClient,
    pub proxy: Arc<FaultProxy>,
    /// The run's time zero: samples are timed from it.
    pub started: Instant,
    /// A user not trading by then gives up starting.
    pub ramp_by: Instant,
    pub phase: watch::Receiver<Phase>,
    /// Users whose stream is live (welcomed and caught up) right now.
    pub live: AtomicUsize,
    /// Frames received by every user so far (each one a PostToConnection of a host).
    pub frames: AtomicU64,
    pub behaviour: Behaviour,
    /// Users give up settling at this moment.
    pub settle_by: watch::Receiver<Option<Instant>>,
}

impl Shared {
    fn at(&self, instant: Instant) -> f64 {
        instant.duration_since(self.started).as_secs_f64()
    }
}

/// What ended a connection, from the user's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    /// The user had the proxy cut it.
    Cut,
    /// The user reloaded the page.
    Reload,
    /// The server or the network closed it.
    Closed,
    /// Silence past the dead-link timeout.
    DeadLink,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cut => "cut at the proxy",
            Self::Reload => "page reload",
            Self::Closed => "closed by the server or network",
            Self::DeadLink => "dead link (silence)",
        }
    }
}

/// A drop and the return to a live stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reconnect {
    /// When the connection was lost (seconds since the start; for silence, the last frame heard), and how long
    /// from then until live again (ms).
    pub sample: Sample,
    /// When the user noticed the loss (seconds since the start): what places it in a chaos event's window.
    pub noticed_at: f64,
    pub trigger: Trigger,
}

/// What one user saw.
#[derive(Debug, Default)]
pub struct UserReport {
    pub index: usize,
    /// Why the user could not start or settle, if it could not.
    pub failure: Option<String>,
    pub settled: bool,
    pub violations: Violations,
    pub ledger: LedgerCounts,
    /// Where the user's ledger and the server's final snapshot differ.
    pub differences: Vec<String>,
    pub round_trips: Vec<Sample>,
    pub market_data_lag: Vec<Sample>,
    pub reconnects: Vec<Reconnect>,
    pub errors: BTreeMap<String, u64>,
    pub frames: u64,
}

/// Error counts by label, shared with the user's keep-alive task.
type Errors = Arc<Mutex<BTreeMap<String, u64>>>;

fn count(errors: &Errors, label: String) {
    *errors.lock().unwrap_or_else(PoisonError::into_inner).entry(label).or_default() += 1;
}

/// The user's sign-in, and its own HTTP client (leaving from the user's own address, as a browser's requests
/// would, so the per-address limits on login and refresh apply per user): refreshed (once, under the lock) when
/// the access token is refused.
#[derive(Debug)]
struct Auth {
    control: ControlClient,
    tokens: tokio::sync::Mutex<Tokens>,
}

impl Auth {
    async fn access(&self) -> String {
        self.tokens.lock().await.access.clone()
    }

    /// Renews the tokens unless another task already replaced `stale`.
    async fn renew(&self, stale: &str) -> Result<(), ClientError> {
        let mut tokens = self.tokens.lock().await;
        if tokens.access == stale {
            *tokens = self.control.refresh(&tokens.refresh).await?;
        }
        Ok(())
    }
}

/// Calls `request` with the access token, renewing it on a 401 and retrying what is worth retrying (no answer,
/// 429, 5xx) up to `attempts` times with backoff. Every failure is counted.
async fn authorized<T, F>(
    auth: &Auth,
    errors: &Errors,
    attempts: u32,
    mut request: impl FnMut(String) -> F,
) -> Result<T, ClientError>
where
    F: Future<Output = Result<T, ClientError>>,
{
    let mut wait = Duration::from_millis(100);
    let mut tried = 0;
    loop {
        let access = auth.access().await;
        let error = match request(access.clone()).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        count(errors, error.label());
        tried += 1;
        let retry_after = match &error {
            ClientError::Refused { status: 401, .. } => {
                auth.renew(&access).await?;
                Some(Duration::ZERO)
            }
            ClientError::Refused { status: 429, retry_after, .. } => Some(retry_after.unwrap_or(wait)),
            ClientError::Refused { status, .. } if *status >= 500 => Some(wait),
            ClientError::Transport { .. } => Some(wait),
            ClientError::Refused { .. } => None,
        };
        match retry_after {
            Some(pause) if tried < attempts => {
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            _ => return Err(error),
        }
    }
}

/// The source address of user `index`: its own, as a browser's would be.
pub fn address_of(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 10, (index / 250 % 256) as u8, (index % 250 + 1) as u8))
}

/// Why a connection ended.
enum Ended {
    /// `at` is when the link was lost (for silence, the last frame heard), `noticed` when the user saw it.
    Lost {
        trigger: Trigger,
        at: Instant,
        noticed: Instant,
    },
    Settled,
}

/// A user's state across its connections.
struct User {
    index: usize,
    shared: Arc<Shared>,
    address: IpAddr,
    auth: Arc<Auth>,
    sim: SimId,
    rng: StdRng,
    checker: StreamChecker,
    ledger: Ledger,
    errors: Errors,
    report: UserReport,
    /// Last seen best bid and ask.
    quote: (i64, i64),
    dead_after: Duration,
    live: bool,
    /// The seq applied when the current welcome came (a snapshot jumps from here).
    applied_at_welcome: u64,
    /// The least (arrival − simulated time) seen, in ms: the baseline market-data lag is measured against.
    least_offset: Option<f64>,
    next_order: u64,
    /// The loss being recovered from, if any: when it happened, when it was noticed, and why.
    dropped: Option<(Instant, Instant, Trigger)>,
    final_view: Option<EngineView>,
}

/// Runs user `index` until it has settled (or given up): its report. `ready` is told once the user trades.
pub async fn run(
    index: usize,
    shared: Arc<Shared>,
    setups: Arc<tokio::sync::Semaphore>,
    ready: tokio::sync::mpsc::Sender<bool>,
) -> UserReport {
    let errors = Errors::default();
    let started = tokio::time::timeout_at(shared.ramp_by, async {
        // Sign-ups are argon2 hashes: a bounded number at a time, or the ramp starves everything else.
        let _permit = setups.acquire().await;
        set_up(index, &shared, &errors).await
    })
    .await
    .unwrap_or_else(|_| Err("not trading before the ramp's limit".into()));
    let (auth, session, sim) = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = ready.send(false).await;
            let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
            return UserReport { index, failure: Some(error), errors, ..UserReport::default() };
        }
    };
    let _ = ready.send(true).await;
    let keep_alive = tokio::spawn(keep_alive(Arc::clone(&shared), Arc::clone(&auth), session, Arc::clone(&errors)));
    let mut user = User {
        index,
        address: address_of(index),
        auth,
        sim: SimId::parse(&sim).expect("the control plane names simulators validly"),
        rng: StdRng::seed_from_u64(index as u64),
        checker: StreamChecker::default(),
        ledger: Ledger::default(),
        errors: Arc::clone(&errors),
        report: UserReport { index, ..UserReport::default() },
        quote: (9_990, 10_010),
        dead_after: DEFAULT_DEAD_AFTER,
        live: false,
        applied_at_welcome: 0,
        least_offset: None,
        next_order: 0,
        dropped: None,
        final_view: None,
        shared,
    };
    user.run().await;
    keep_alive.abort();
    user.finish()
}

/// Registers, logs in, opens a session and starts a simulator: the sign-in, the session's and the simulator's ids.
async fn set_up(index: usize, shared: &Shared, errors: &Errors) -> Result<(Arc<Auth>, String, String), String> {
    let control = shared.control.bound_to(address_of(index)).map_err(|e| e.to_string())?;
    let control = &control;
    let username = format!("load{index:05}");
    let patiently = |label: &'static str| {
        move |error: ClientError| {
            count(errors, error.label());
            format!("{label}: {error}")
        }
    };
    let mut wait = Duration::from_millis(200);
    let tokens = loop {
        let signed_up = match control.register(&username, PASSWORD).await {
            Ok(()) => Ok(()),
            Err(ClientError::Refused { status: 409, .. }) => Ok(()),
            Err(error) => Err(error),
        };
        let attempt = match signed_up {
            Ok(()) => control.login(&username, PASSWORD).await,
            Err(error) => Err(error),
        };
        match attempt {
            Ok(tokens) => break tokens,
            Err(error) if wait < Duration::from_secs(30) && error.status().is_none_or(|s| s == 429 || s >= 500) => {
                count(errors, error.label());
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(error) => return Err(patiently("signing up")(error)),
        }
    };
    let auth = Arc::new(Auth { control: control.clone(), tokens: tokio::sync::Mutex::new(tokens) });
    let session = authorized(&auth, errors, 10, |access| async move { control.open_session(&access).await }).await;
    let session = session.map_err(patiently("opening a session"))?;
    let seed = index as u64 + 1;
    let session = &session;
    let simulator =
        authorized(&auth, errors, 10, |access| async move { control.start_simulator(&access, session, seed).await })
            .await
            .map_err(patiently("starting a simulator"))?;
    if simulator.state != "running" {
        return Err(format!("the simulator started {}", simulator.state));
    }
    Ok((auth, session.clone(), simulator.id))
}

async fn keep_alive(shared: Arc<Shared>, auth: Arc<Auth>, session: String, errors: Errors) {
    let mut every = tokio::time::interval(shared.behaviour.keep_alive_every);
    every.tick().await;
    loop {
        every.tick().await;
        let control = &auth.control;
        let session = &session;
        let _ = authorized(&auth, &errors, 3, |access| async move { control.keep_alive(&access, session).await }).await;
    }
}

impl User {
    async fn run(&mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.given_up() {
                self.report.failure.get_or_insert_with(|| "did not settle in time".into());
                return;
            }
            let Some(mut socket) = self.connect().await else {
                let jitter = self.rng.random_range(0.5..1.5);
                tokio::time::sleep(backoff.mul_f64(jitter)).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            };
            backoff = Duration::from_millis(100);
            let ended = self.converse(&mut socket).await;
            self.ledger.connection_lost();
            match ended {
                // A settled user stays counted live: it is done, not down.
                Ended::Settled => {
                    let _ = socket.close(None).await;
                    self.report.settled = true;
                    return;
                }
                Ended::Lost { trigger, at, noticed } => {
                    self.set_live(false);
                    if self.dropped.is_none() {
                        self.dropped = Some((at, noticed, trigger));
                    }
                }
            }
        }
    }

    fn given_up(&self) -> bool {
        self.shared.settle_by.borrow().is_some_and(|by| Instant::now() >= by)
    }

    fn count(&self, label: String) {
        count(&self.errors, label);
    }

    fn set_live(&mut self, live: bool) {
        if self.live != live {
            if live {
                self.shared.live.fetch_add(1, Ordering::Relaxed);
            } else {
                self.shared.live.fetch_sub(1, Ordering::Relaxed);
            }
            self.live = live;
        }
    }

    /// A fresh ticket and a connection through the proxy from the user's own address.
    async fn connect(&mut self) -> Option<Socket> {
        let shared = Arc::clone(&self.shared);
        let auth = Arc::clone(&self.auth);
        let control = &auth.control;
        let sim = self.sim.as_str();
        let ticket =
            authorized(&self.auth, &self.errors, 1, |access| async move { control.ticket(&access, sim).await })
                .await
                .ok()?;
        match connect_stream(shared.proxy.address(), sim, &ticket, Some(ORIGIN), Some(self.address)).await {
            Ok(socket) => Some(socket),
            Err(WsError::Http(response)) => {
                self.count(format!("ws_connect_{}", response.status().as_u16()));
                None
            }
            Err(_) => {
                self.count("ws_connect_failed".into());
                None
            }
        }
    }

    async fn send(&mut self, socket: &mut Socket, message: ClientMessage) -> Result<(), ()> {
        let text = serde_json::to_string(&Envelope::new(message)).expect("client messages serialize");
        socket.send(Message::Text(text.into())).await.map_err(|_| ())
    }

    async fn hello(&mut self, socket: &mut Socket) -> Result<(), ()> {
        self.checker.hello_sent();
        let hello = ClientMessage::Hello { sim: self.sim.clone(), last_seq: self.checker.last_applied() };
        self.send(socket, hello).await
    }

    /// One connection, from hello until it is lost or the user has settled on it.
    async fn converse(&mut self, socket: &mut Socket) -> Ended {
        let lost = |trigger| {
            let now = Instant::now();
            Ended::Lost { trigger, at: now, noticed: now }
        };
        if self.hello(socket).await.is_err() {
            return lost(Trigger::Closed);
        }
        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut next_order = Instant::now() + self.exponential(self.shared.behaviour.order_every);
        let mut next_disruption = Instant::now() + self.exponential(self.shared.behaviour.disrupt_every);
        let mut next_ping = Instant::now() + Duration::from_secs(5);
        let mut nonce = 0;
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        last_heard = Instant::now();
                        let Some(message) = self.parse(text.as_str()) else { continue };
                        if self.on_message(message, socket).await.is_err() {
                            return lost(Trigger::Closed);
                        }
                        if self.checker.take_caught_up() && self.on_live(socket).await.is_err() {
                            return lost(Trigger::Closed);
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return lost(Trigger::Closed),
                    Some(Ok(_)) => {}
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    if now.duration_since(last_heard) > self.dead_after {
                        return Ended::Lost { trigger: Trigger::DeadLink, at: last_heard, noticed: now };
                    }
                    if now >= next_ping {
                        nonce += 1;
                        next_ping = now + Duration::from_secs(5);
                        if self.send(socket, ClientMessage::Ping { sim: self.sim.clone(), nonce }).await.is_err() {
                            return lost(Trigger::Closed);
                        }
                    }
                    if !self.live {
                        continue;
                    }
                    for entry in self.ledger.due_for_retry(now, PATIENCE) {
                        if self.order(socket, entry).await.is_err() {
                            return lost(Trigger::Closed);
                        }
                    }
                    let trading = *self.shared.phase.borrow() == Phase::Trading;
                    if !trading {
                        if self.ledger.all_acknowledged() {
                            return match self.settle(socket).await {
                                Ok(()) => Ended::Settled,
                                Err(trigger) => lost(trigger),
                            };
                        }
                        continue;
                    }
                    if now >= next_order {
                        next_order = now + self.exponential(self.shared.behaviour.order_every);
                        if self.trade(socket).await.is_err() {
                            return lost(Trigger::Closed);
                        }
                    }
                    if now >= next_disruption {
                        next_disruption = now + self.exponential(self.shared.behaviour.disrupt_every);
                        match self.rng.random_range(0..5) {
                            0 | 1 => {
                                self.shared.proxy.cut(self.address);
                                return lost(Trigger::Cut);
                            }
                            2 | 3 => {
                                let _ = socket.close(None).await;
                                return lost(Trigger::Reload);
                            }
                            _ => {
                                self.shared.proxy.slice(self.address, Duration::from_secs(5));
                            }
                        }
                    }
                }
            }
        }
    }

    /// A delay drawn from an exponential distribution with `mean` (a steady, memoryless rate).
    fn exponential(&mut self, mean: Duration) -> Duration {
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        mean.mul_f64(-u.ln()).min(mean * 10)
    }

    /// The stream caught up with its welcome: the user is live again. Orders without an answer go again, and one
    /// already answered is asked again, to check it gets the same outcome.
    async fn on_live(&mut self, socket: &mut Socket) -> Result<(), ()> {
        self.set_live(true);
        if let Some((at, noticed, trigger)) = self.dropped.take() {
            let ms = Instant::now().duration_since(at).as_secs_f64() * 1000.0;
            let sample = Sample { at: self.shared.at(at), value: ms };
            self.report.reconnects.push(Reconnect { sample, noticed_at: self.shared.at(noticed), trigger });
        }
        let mut again = self.ledger.due_for_retry(Instant::now(), Duration::ZERO);
        again.extend(self.ledger.decided());
        for entry in again {
            self.order(socket, entry).await?;
        }
        Ok(())
    }

    async fn order(&mut self, socket: &mut Socket, entry: OrderEntry) -> Result<(), ()> {
        self.ledger.sent(&entry, Instant::now());
        self.send(socket, ClientMessage::Order { sim: self.sim.clone(), order: entry }).await
    }

    /// One trading decision: a cancel, a resting or marketable limit order, or a market order.
    async fn trade(&mut self, socket: &mut Socket) -> Result<(), ()> {
        let working = self.ledger.working_count();
        if working >= MAX_WORKING || (working > 0 && self.rng.random_bool(0.15)) {
            let pick = self.rng.random_range(0..working.max(1));
            if let Some(id) = self.ledger.working_client_order_id(pick) {
                self.ledger.cancel_sent();
                let order = OrderRef::ClientOrderId(ClientOrderId::parse(&id).expect("our own ids are valid"));
                let cancel = ClientMessage::Cancel { sim: self.sim.clone(), order, request_id: Some(format!("x{id}")) };
                return self.send(socket, cancel).await;
            }
        }
        let side = if self.rng.random_bool(0.5) { Side::Buy } else { Side::Sell };
        let (bid, ask) = self.quote;
        let away = self.rng.random_range(0..5);
        let (order_type, tif) = match self.rng.random_range(0..20) {
            0..11 => {
                let price = match side {
                    Side::Buy => bid - away,
                    Side::Sell => ask + away,
                };
                (OrderType::Limit { price: Price(price) }, TimeInForce::Gtc)
            }
            11..15 => {
                let price = match side {
                    Side::Buy => ask,
                    Side::Sell => bid,
                };
                (OrderType::Limit { price: Price(price) }, TimeInForce::Ioc)
            }
            _ => (OrderType::Market, TimeInForce::Ioc),
        };
        self.next_order += 1;
        let id = format!("lt{}-{}", self.index, self.next_order);
        let entry = OrderEntry {
            instrument: InstrumentId(0),
            client_order_id: ClientOrderId::parse(&id).expect("our own ids are valid"),
            side,
            qty: Qty(self.rng.random_range(1..=3)),
            order_type,
            tif,
            display_qty: None,
            post_only: false,
            stp: Default::default(),
        };
        self.order(socket, entry).await
    }

    fn parse(&mut self, text: &str) -> Option<ServerMessage> {
        self.report.frames += 1;
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        let parsed = serde_json::from_str::<Envelope<ServerMessage>>(text).map(|envelope| envelope.message);
        if parsed.is_err() {
            self.count("bad_server_frame".into());
        }
        parsed.ok()
    }

    async fn on_message(&mut self, message: ServerMessage, socket: &mut Socket) -> Result<(), ()> {
        match message {
            ServerMessage::Welcome { seq, resume, dead_after_ms, .. } => {
                self.applied_at_welcome = self.checker.last_applied();
                self.checker.welcome(seq, resume);
                self.dead_after = Duration::from_millis(dead_after_ms);
            }
            ServerMessage::Events { from, to, events, books } => match self.checker.events(from, to, &events) {
                Frame::Apply(applied) => {
                    let applied: Vec<Event> = applied.into_iter().cloned().collect();
                    self.apply(&applied);
                    for book in &books {
                        self.quote_from(book.bids.first().map(|l| l.price), book.asks.first().map(|l| l.price));
                    }
                }
                Frame::Gap => self.hello(socket).await?,
                Frame::Ignore => {}
            },
            ServerMessage::Snapshot { seq, chunk, chunks, data } => {
                if let Some(json) = self.checker.snapshot_chunk(seq, chunk, chunks, data) {
                    match serde_json::from_str::<EngineView>(&json) {
                        Ok(view) => self.on_view(view),
                        Err(_) => self.count("bad_snapshot".into()),
                    }
                }
            }
            ServerMessage::OrderAck { client_order_id, outcome } => {
                let now = Instant::now();
                if let Some(rtt) = self.ledger.acknowledged(client_order_id.as_str(), &outcome, now) {
                    let sample = Sample { at: self.shared.at(now), value: rtt.as_secs_f64() * 1000.0 };
                    self.report.round_trips.push(sample);
                }
            }
            ServerMessage::Status { state, .. } => {
                if matches!(state, SimState::Failed | SimState::Stopped | SimState::Recovering) {
                    self.count(format!("ws_status_{state:?}").to_lowercase());
                }
            }
            ServerMessage::Error { code, request_id, .. } => {
                self.count(format!(
                    "ws_error_{}",
                    serde_json::to_value(code).unwrap_or_default().as_str().unwrap_or("?")
                ));
                if let Some(id) = request_id {
                    self.ledger.refused(&id);
                }
            }
            ServerMessage::Ping { nonce } => {
                self.send(socket, ClientMessage::Pong { sim: self.sim.clone(), nonce }).await?
            }
            ServerMessage::Pong { .. } => {}
        }
        Ok(())
    }

    fn on_view(&mut self, view: EngineView) {
        if let Some(book) = view.books.first() {
            self.quote_from(book.bids.first().map(|l| l.price), book.asks.first().map(|l| l.price));
        }
        self.ledger.rebase(&view, self.applied_at_welcome);
    }

    fn quote_from(&mut self, bid: Option<Price>, ask: Option<Price>) {
        if let Some(bid) = bid {
            self.quote.0 = bid.0;
        }
        if let Some(ask) = ask {
            self.quote.1 = ask.0;
        }
    }

    /// Applies events to the ledger and the quote; samples the market-data lag of live frames.
    fn apply(&mut self, events: &[Event]) {
        let mut latest_market_data = None;
        for event in events {
            self.ledger.apply(event);
            match &event.body {
                EventBody::Bbo(bbo) => {
                    self.quote_from(bbo.bid_price, bbo.ask_price);
                    latest_market_data = Some(event.time_ms);
                }
                EventBody::Trade(_) | EventBody::BookDelta(_) | EventBody::Candle(_) => {
                    latest_market_data = Some(event.time_ms);
                }
                _ => {}
            }
        }
        // Replayed events are old by design; the lag of interest is that of the live stream.
        let (Some(time_ms), true) = (latest_market_data, self.live) else { return };
        let now = Instant::now();
        let offset = now.duration_since(self.shared.started).as_secs_f64() * 1000.0 - time_ms as f64;
        let least = self.least_offset.map_or(offset, |least| least.min(offset));
        self.least_offset = Some(least);
        self.report.market_data_lag.push(Sample { at: self.shared.at(now), value: offset - least });
    }

    /// Pauses the simulator, takes a fresh snapshot on a second connection, reads the main stream up to its seq
    /// and keeps it to compare.
    async fn settle(&mut self, socket: &mut Socket) -> Result<(), Trigger> {
        self.send(socket, ClientMessage::SetSpeed { sim: self.sim.clone(), speed: Speed::Paused })
            .await
            .map_err(|()| Trigger::Closed)?;
        let paused = |message: &ServerMessage| matches!(message, ServerMessage::Status { state: SimState::Paused, .. });
        if !self.read_until(socket, paused).await? {
            return Err(Trigger::DeadLink);
        }
        let Some(view) = self.fresh_view().await else { return Err(Trigger::Closed) };
        while self.checker.last_applied() < view.seq {
            if !self.read_until(socket, |_| true).await? {
                return Err(Trigger::DeadLink);
            }
        }
        self.report.differences = self.ledger.differences(&view);
        self.final_view = Some(view);
        Ok(())
    }

    /// Reads and handles messages until one satisfies `done` (true) or the dead-link timeout passes (false).
    async fn read_until(
        &mut self,
        socket: &mut Socket,
        mut done: impl FnMut(&ServerMessage) -> bool,
    ) -> Result<bool, Trigger> {
        let deadline = Instant::now() + self.dead_after;
        loop {
            let frame = tokio::time::timeout_at(deadline, socket.next()).await;
            let text = match frame {
                Err(_) => return Ok(false),
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => return Err(Trigger::Closed),
                Ok(Some(Ok(_))) => continue,
            };
            let Some(message) = self.parse(text.as_str()) else { continue };
            let finished = done(&message);
            self.on_message(message, socket).await.map_err(|()| Trigger::Closed)?;
            if finished {
                return Ok(true);
            }
        }
    }

    /// The server's view of the simulator now: `hello` from 0 on a new connection answers with a snapshot.
    async fn fresh_view(&mut self) -> Option<EngineView> {
        let mut socket = self.connect().await?;
        let mut checker = StreamChecker::default();
        checker.hello_sent();
        self.send(&mut socket, ClientMessage::Hello { sim: self.sim.clone(), last_seq: 0 }).await.ok()?;
        let deadline = Instant::now() + self.dead_after;
        let view = loop {
            let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await else { break None };
            let Message::Text(text) = frame else { continue };
            match serde_json::from_str::<Envelope<ServerMessage>>(text.as_str()).map(|e| e.message) {
                Ok(ServerMessage::Welcome { seq, resume, .. }) => checker.welcome(seq, resume),
                Ok(ServerMessage::Snapshot { seq, chunk, chunks, data }) => {
                    if let Some(json) = checker.snapshot_chunk(seq, chunk, chunks, data) {
                        break serde_json::from_str(&json).ok();
                    }
                }
                _ => {}
            }
        };
        let _ = socket.close(None).await;
        view
    }

    fn finish(mut self) -> UserReport {
        if !self.report.settled {
            self.set_live(false);
        }
        self.ledger.close(self.checker.last_applied());
        let mut report = self.report;
        report.violations = self.checker.violations();
        report.ledger = self.ledger.counts();
        report.errors = std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner));
        if report.settled && self.final_view.is_none() {
            report.settled = false;
            report.failure = Some("no final snapshot to compare with".into());
        }
        report
    }
}
