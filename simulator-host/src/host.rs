//! The host: its shards, the journal, and the operations the control plane and the transports call. The async
//! side (tokio) does all I/O; the shards do all engine work.
//!
//! # Invariants
//! - A simulator runs on at most one shard of this host; the journal's `host` column says which host owns it.
//! - A command is acknowledged only after the journal holds it (see [`crate::simulator`]).
//! - Graceful shutdown snapshots every simulator before the process ends.

use crate::clock::SimClock;
use crate::link::{Heartbeat, Link};
use crate::metrics::Metrics;
use crate::outbox::OutboxLimits;
use crate::shard::{Launch, Outbound, SavedSnapshot, Shard, ShardHandle, ShardMsg, SimInfo};
use crate::simulator::{JournalBatch, Journaled, SimulatorError, SimulatorLimits, Submitted};
use crate::ticket::TicketVerifier;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;
use tradesim_journal::{AppendOutcome, Clock, Journal, JournalError, JournalWriter, SimStatus, SimulatorRecord};
use tradesim_protocol::stream::{OrderOutcome, SimId, Speed, UserId};
use tradesim_protocol::{ConfigError, SimConfig};
use tradesim_sandbox::{Sandbox, SandboxError};

#[derive(Clone, Debug)]
pub struct HostConfig {
    /// This host's name in the simulators table.
    pub host_id: String,
    pub shards: usize,
    /// Simulators this host accepts.
    pub capacity: usize,
    pub simulator: SimulatorLimits,
    pub outbox: OutboxLimits,
    pub heartbeat: Heartbeat,
    /// How long market data alone may wait to be sent with more, on a direct connection.
    pub flush_interval: Duration,
    /// The same for an API Gateway connection, where every frame is one PostToConnection request counted against
    /// the account's request quota: longer, so that market data costs few requests.
    pub gateway_flush_interval: Duration,
    pub snapshot_interval: Duration,
    /// Bearer credential of the internal API.
    pub service_token: String,
    /// Key of connect tickets.
    pub ticket_secret: Vec<u8>,
    /// Order entry per user: sustained per second, and burst.
    pub order_rate: (NonZeroU32, NonZeroU32),
    /// Origins a browser may connect from; empty allows any (development).
    pub allowed_origins: Vec<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            host_id: "host-1".into(),
            shards: std::thread::available_parallelism().map_or(2, usize::from),
            capacity: 4_000,
            simulator: SimulatorLimits::default(),
            outbox: OutboxLimits::default(),
            heartbeat: Heartbeat::default(),
            flush_interval: Duration::from_millis(25),
            gateway_flush_interval: Duration::from_millis(200),
            snapshot_interval: Duration::from_secs(30),
            service_token: String::new(),
            ticket_secret: Vec::new(),
            order_rate: (
                NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
                NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            ),
            allowed_origins: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("invalid simulator config: {0}")]
    InvalidConfig(#[from] ConfigError),
    #[error("simulator {0} already exists")]
    AlreadyExists(SimId),
    #[error("simulator {0} is not running on this host")]
    NotFound(SimId),
    #[error("this host is at capacity ({0} simulators)")]
    AtCapacity(usize),
    #[error("the sandbox refused: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("the engine failed: {0}")]
    Simulator(#[from] SimulatorError),
    #[error("the journal is unavailable: {0}")]
    Journal(String),
    #[error("the host is shutting down")]
    ShuttingDown,
}

impl From<JournalError> for HostError {
    fn from(error: JournalError) -> Self {
        Self::Journal(error.to_string())
    }
}

/// A request to create a simulator.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct CreateSimulator {
    pub id: SimId,
    pub owner: UserId,
    pub config: SimConfig,
    pub seed: u64,
    #[serde(default)]
    pub speed: Speed,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub host_id: String,
    pub simulators: usize,
    pub capacity: usize,
    pub connections: i64,
}

#[derive(Clone, Debug)]
pub struct Host {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HostConfig,
    sandbox: Sandbox,
    journal: Journal,
    writer: JournalWriter,
    shards: Vec<ShardHandle>,
    placement: Mutex<HashMap<SimId, usize>>,
    metrics: Arc<Metrics>,
    tickets: TicketVerifier,
    order_limiter: DefaultKeyedRateLimiter<UserId>,
    /// API Gateway connections by connection id.
    gateway_links: Mutex<HashMap<String, Arc<Link>>>,
}

impl Host {
    /// Starts the shards and the background work (journal answers, snapshots). Needs a tokio runtime.
    pub fn start(config: HostConfig, sandbox: Sandbox, journal: Journal) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let metrics = Arc::new(Metrics::default());
        let (outbound_tx, outbound_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut shards = Vec::new();
        for index in 0..config.shards.max(1) {
            let (sender, receiver) = std::sync::mpsc::channel();
            let shard = Shard::new(
                index,
                config.simulator,
                config.snapshot_interval,
                outbound_tx.clone(),
                Arc::clone(&metrics),
            );
            shard.spawn(format!("shard-{index}"), receiver)?;
            shards.push(ShardHandle { sender });
        }
        let (per_second, burst) = config.order_rate;
        let inner = Arc::new(Inner {
            writer: JournalWriter::spawn(journal.clone(), &runtime),
            tickets: TicketVerifier::new(config.ticket_secret.clone()),
            order_limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            config,
            sandbox,
            journal,
            shards,
            placement: Mutex::new(HashMap::new()),
            metrics,
            gateway_links: Mutex::new(HashMap::new()),
        });
        runtime.spawn(outbound_loop(Arc::downgrade(&inner), outbound_rx));
        Ok(Self { inner })
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub fn tickets(&self) -> &TicketVerifier {
        &self.inner.tickets
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, HashMap<SimId, usize>> {
        self.inner.placement.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shard_of(&self, sim: &SimId) -> Option<&ShardHandle> {
        let index = *self.placement().get(sim)?;
        self.inner.shards.get(index)
    }

    fn send(&self, sim: &SimId, message: ShardMsg) -> Result<(), HostError> {
        let shard = self.shard_of(sim).ok_or_else(|| HostError::NotFound(sim.clone()))?;
        shard.sender.send(message).map_err(|_| HostError::ShuttingDown)
    }

    /// Reserves a shard for `sim` (the least loaded), refusing duplicates and going over capacity.
    fn reserve(&self, sim: &SimId) -> Result<usize, HostError> {
        let mut placement = self.placement();
        if placement.contains_key(sim) {
            return Err(HostError::AlreadyExists(sim.clone()));
        }
        if placement.len() >= self.inner.config.capacity {
            return Err(HostError::AtCapacity(self.inner.config.capacity));
        }
        let mut load = vec![0usize; self.inner.shards.len()];
        for &index in placement.values() {
            load[index] += 1;
        }
        let index = (0..load.len()).min_by_key(|&index| load[index]).unwrap_or(0);
        placement.insert(sim.clone(), index);
        Ok(index)
    }

    async fn launch(&self, index: usize, launch: Launch) -> Result<SimInfo, HostError> {
        let sim = launch.id.clone();
        let (reply, answer) = oneshot::channel();
        let sent = self.inner.shards[index].sender.send(ShardMsg::Launch { launch: Box::new(launch), reply });
        let result = match sent {
            Ok(()) => answer.await.map_err(|_| HostError::ShuttingDown).and_then(|r| r.map_err(HostError::from)),
            Err(_) => Err(HostError::ShuttingDown),
        };
        if result.is_err() {
            self.placement().remove(&sim);
        }
        result
    }

    /// Creates and starts a simulator.
    pub async fn create(&self, request: CreateSimulator) -> Result<SimInfo, HostError> {
        request.config.validate()?;
        let index = self.reserve(&request.id)?;
        let result = self.create_reserved(index, request.clone()).await;
        if result.is_err() {
            self.placement().remove(&request.id);
        }
        result
    }

    async fn create_reserved(&self, index: usize, request: CreateSimulator) -> Result<SimInfo, HostError> {
        let now = SystemTime::now();
        let clock = SimClock::new(request.speed, u64::from(request.config.step_ms), 0, now);
        let record = SimulatorRecord {
            id: request.id.to_string(),
            owner: request.owner.to_string(),
            config: request.config.clone(),
            seed: request.seed,
            status: SimStatus::Starting,
            host: Some(self.inner.config.host_id.clone()),
            clock: to_record_clock(clock),
        };
        match self.inner.journal.create_simulator(&record).await {
            Ok(()) => {}
            Err(JournalError::AlreadyExists) => return Err(HostError::AlreadyExists(request.id)),
            Err(error) => return Err(error.into()),
        }
        let instance = self.inner.sandbox.instantiate()?;
        let launch = Launch {
            id: request.id.clone(),
            owner: request.owner,
            instance,
            config: request.config,
            seed: request.seed,
            clock,
            recovery: None,
        };
        let info = self.launch(index, launch).await;
        let status = if info.is_ok() { SimStatus::Running } else { SimStatus::Failed };
        self.inner.journal.set_status(request.id.as_str(), status, Some(&self.inner.config.host_id)).await?;
        info
    }

    /// Rebuilds a simulator here from its latest snapshot and the journal after it (after its host died, or after
    /// its engine failed).
    pub async fn recover(&self, sim: &SimId) -> Result<SimInfo, HostError> {
        if let Some(info) = self.status(sim).await
            && info.state != tradesim_protocol::stream::SimState::Failed
        {
            return Ok(info);
        }
        self.remove(sim).await.ok();
        let index = self.reserve(sim)?;
        let result = self.recover_reserved(index, sim).await;
        if result.is_err() {
            self.placement().remove(sim);
        }
        result
    }

    async fn recover_reserved(&self, index: usize, sim: &SimId) -> Result<SimInfo, HostError> {
        let journal = &self.inner.journal;
        let record = journal.simulator(sim.as_str()).await?.ok_or_else(|| HostError::NotFound(sim.clone()))?;
        journal.set_status(sim.as_str(), SimStatus::Recovering, Some(&self.inner.config.host_id)).await?;
        let snapshot = journal.latest_snapshot(sim.as_str()).await?;
        let after = snapshot.as_ref().map_or(0, |snapshot| snapshot.step);
        let entries = journal.entries_after(sim.as_str(), after).await?;
        let owner = UserId::parse(record.owner.clone()).map_err(|error| HostError::Journal(error.to_string()))?;
        let clock = from_record_clock(&record.clock, u64::from(record.config.step_ms));
        let launch = Launch {
            id: sim.clone(),
            owner,
            instance: self.inner.sandbox.instantiate()?,
            config: record.config,
            seed: record.seed,
            clock,
            recovery: Some((snapshot.map(|snapshot| snapshot.bytes), entries)),
        };
        let info = self.launch(index, launch).await;
        let status = if info.is_ok() { SimStatus::Running } else { SimStatus::Failed };
        journal.set_status(sim.as_str(), status, Some(&self.inner.config.host_id)).await?;
        tracing::info!(%sim, ok = info.is_ok(), "simulator recovered");
        info
    }

    /// Recovers every simulator the journal places on `host` (this host after a restart, or a dead one).
    pub async fn adopt(&self, host: &str) -> Result<Vec<SimInfo>, HostError> {
        let mut recovered = Vec::new();
        for record in self.inner.journal.simulators_on_host(host).await? {
            if matches!(record.status, SimStatus::Stopped | SimStatus::Stopping) {
                continue;
            }
            let Ok(sim) = SimId::parse(record.id.clone()) else { continue };
            match self.recover(&sim).await {
                Ok(info) => recovered.push(info),
                Err(error) => tracing::error!(%sim, %error, "adopting a simulator failed"),
            }
        }
        Ok(recovered)
    }

    async fn remove(&self, sim: &SimId) -> Result<Option<(SimInfo, Option<SavedSnapshot>)>, HostError> {
        let (reply, answer) = oneshot::channel();
        self.send(sim, ShardMsg::Remove { sim: sim.clone(), reply })?;
        let removed = answer.await.map_err(|_| HostError::ShuttingDown)?;
        self.placement().remove(sim);
        Ok(removed)
    }

    /// Stops a simulator: a final snapshot, its clients told and closed.
    pub async fn stop(&self, sim: &SimId) -> Result<SimInfo, HostError> {
        let (info, snapshot) = self.remove(sim).await?.ok_or_else(|| HostError::NotFound(sim.clone()))?;
        if let Some(snapshot) = snapshot {
            self.save_snapshot(sim, snapshot).await?;
        }
        self.inner.journal.set_status(sim.as_str(), SimStatus::Stopped, None).await?;
        Ok(SimInfo { state: tradesim_protocol::stream::SimState::Stopped, ..info })
    }

    pub async fn status(&self, sim: &SimId) -> Option<SimInfo> {
        let (reply, answer) = oneshot::channel();
        self.send(sim, ShardMsg::Status { sim: sim.clone(), reply }).ok()?;
        answer.await.ok().flatten()
    }

    /// Every simulator here, or those in `state`, ordered by id.
    pub async fn simulators(&self, state: Option<tradesim_protocol::stream::SimState>) -> Vec<SimInfo> {
        let mut all = Vec::new();
        for shard in &self.inner.shards {
            let (reply, answer) = oneshot::channel();
            if shard.sender.send(ShardMsg::List { reply }).is_ok() {
                all.extend(answer.await.unwrap_or_default());
            }
        }
        all.retain(|info| state.is_none_or(|state| info.state == state));
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub async fn state_hash(&self, sim: &SimId) -> Result<u64, HostError> {
        let (reply, answer) = oneshot::channel();
        self.send(sim, ShardMsg::StateHash { sim: sim.clone(), reply })?;
        let hash =
            answer.await.map_err(|_| HostError::ShuttingDown)?.ok_or_else(|| HostError::NotFound(sim.clone()))?;
        Ok(hash?)
    }

    pub fn health(&self) -> Health {
        Health {
            host_id: self.inner.config.host_id.clone(),
            simulators: self.placement().len(),
            capacity: self.inner.config.capacity,
            connections: self.inner.metrics.connections.get(),
        }
    }

    /// Whether `sim` runs here and belongs to `user`, for transports authorizing a connection.
    pub async fn owner_of(&self, sim: &SimId) -> Option<UserId> {
        self.status(sim).await.map(|info| info.owner)
    }

    pub fn new_link(&self, user: UserId, sim: SimId, connection_id: String) -> Arc<Link> {
        Arc::new(Link::new(user, sim, connection_id, self.inner.config.heartbeat, self.inner.config.outbox))
    }

    /// The client said hello: bring it up to date and stream to it.
    pub fn attach(&self, link: &Arc<Link>, last_seq: u64) -> Result<(), HostError> {
        self.send(&link.sim, ShardMsg::Attach { sim: link.sim.clone(), link: Arc::clone(link), last_seq })
    }

    pub fn detach(&self, link: &Link) {
        link.close();
        let _ = self.send(&link.sim, ShardMsg::Detach { sim: link.sim.clone(), link_id: link.id });
    }

    /// Order-entry rate check for `user`: `Err(retry after)` when over.
    pub fn check_rate(&self, user: &UserId) -> Result<(), Duration> {
        self.inner.order_limiter.check_key(user).map_err(|not_until| {
            self.inner.metrics.rate_limited.inc();
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))
        })
    }

    pub fn submit(&self, link: &Arc<Link>, submitted: Submitted) -> Result<(), HostError> {
        self.inner.metrics.commands.inc();
        self.send(&link.sim, ShardMsg::Submit { sim: link.sim.clone(), submitted })
    }

    pub fn set_speed(&self, sim: &SimId, speed: Speed) -> Result<(), HostError> {
        self.send(sim, ShardMsg::SetSpeed { sim: sim.clone(), speed })
    }

    pub fn register_gateway_link(&self, link: Arc<Link>) {
        let mut links = self.inner.gateway_links.lock().unwrap_or_else(PoisonError::into_inner);
        links.insert(link.connection_id.clone(), link);
    }

    pub fn gateway_link(&self, connection_id: &str) -> Option<Arc<Link>> {
        let links = self.inner.gateway_links.lock().unwrap_or_else(PoisonError::into_inner);
        links.get(connection_id).cloned()
    }

    pub fn remove_gateway_link(&self, connection_id: &str) -> Option<Arc<Link>> {
        let mut links = self.inner.gateway_links.lock().unwrap_or_else(PoisonError::into_inner);
        links.remove(connection_id)
    }

    /// Snapshots every simulator and hands them back to the journal for recovery elsewhere. The host takes no
    /// more work afterwards.
    pub async fn shutdown(&self) {
        for shard in &self.inner.shards {
            let (reply, answer) = oneshot::channel();
            if shard.sender.send(ShardMsg::SnapshotAll { reply }).is_err() {
                continue;
            }
            for (sim, snapshot) in answer.await.unwrap_or_default() {
                if let Err(error) = self.save_snapshot(&sim, snapshot).await {
                    tracing::error!(%sim, %error, "saving the shutdown snapshot failed");
                }
            }
        }
        tracing::info!(simulators = self.placement().len(), "every simulator snapshotted");
    }

    async fn save_snapshot(&self, sim: &SimId, snapshot: SavedSnapshot) -> Result<(), HostError> {
        self.inner.metrics.snapshot_bytes.observe(snapshot.bytes.len() as f64);
        let record = tradesim_journal::SnapshotRecord {
            sim_id: sim.to_string(),
            step: snapshot.step,
            seq: snapshot.seq,
            state_hash: snapshot.state_hash,
            bytes: snapshot.bytes,
        };
        Ok(self.inner.journal.save_snapshot(&record).await?)
    }
}

fn to_record_clock(clock: SimClock) -> Clock {
    Clock { speed: clock.speed.multiplier(), step: clock.anchor_step, at: clock.anchor_at }
}

fn from_record_clock(clock: &Clock, step_ms: u64) -> SimClock {
    SimClock::new(Speed::from_multiplier(clock.speed).unwrap_or_default(), step_ms, clock.step, clock.at)
}

/// Carries out what shards hand back: journaling, snapshots, clocks, failures.
async fn outbound_loop(inner: std::sync::Weak<Inner>, mut receiver: tokio::sync::mpsc::UnboundedReceiver<Outbound>) {
    while let Some(outbound) = receiver.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let host = Host { inner };
        match outbound {
            Outbound::Journal { sim, batch } => host.journal_batch(sim, batch),
            Outbound::Snapshot { sim, step, seq, state_hash, bytes } => {
                let host = host.clone();
                tokio::spawn(async move {
                    let saved = SavedSnapshot { step, seq, state_hash, bytes };
                    if let Err(error) = host.save_snapshot(&sim, saved).await {
                        tracing::warn!(%sim, %error, "saving a snapshot failed; the next one will try again");
                    }
                });
            }
            Outbound::Clock { sim, clock } => {
                tokio::spawn(async move {
                    if let Err(error) = host.inner.journal.set_clock(sim.as_str(), to_record_clock(clock)).await {
                        tracing::warn!(%sim, %error, "persisting a speed change failed");
                    }
                });
            }
            Outbound::Failed { sim, error } => {
                tokio::spawn(async move {
                    tracing::error!(%sim, %error, "marking simulator failed");
                    let host_id = host.inner.config.host_id.clone();
                    if let Err(error) =
                        host.inner.journal.set_status(sim.as_str(), SimStatus::Failed, Some(&host_id)).await
                    {
                        tracing::warn!(%sim, %error, "recording the failure failed");
                    }
                });
            }
        }
    }
}

impl Host {
    /// Hands a batch to the group-committing writer; the answer goes back to the simulator's shard. When the
    /// journal fails, it is asked which entries it holds (a commit may have landed before the connection broke).
    fn journal_batch(&self, sim: SimId, batch: JournalBatch) {
        let host = self.clone();
        let started = Instant::now();
        let entries = batch.entries.clone();
        self.inner.writer.submit(
            entries,
            Box::new(move |result| {
                host.inner.metrics.journal_latency_seconds.observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(outcomes) => {
                        let results = outcomes
                            .into_iter()
                            .map(|outcome| match outcome {
                                AppendOutcome::Appended => Journaled::Appended,
                                AppendOutcome::DuplicateClientOrderId { sim_id, .. } => match SimId::parse(sim_id) {
                                    Ok(sim) => Journaled::Duplicate(OrderOutcome::DuplicateElsewhere { sim }),
                                    Err(error) => Journaled::NotEntered(error.to_string()),
                                },
                            })
                            .collect();
                        let _ = host.send(&sim, ShardMsg::Journaled { sim: sim.clone(), batch, results });
                    }
                    Err(error) => {
                        tokio::spawn(async move { host.reconcile(sim, batch, error).await });
                    }
                }
            }),
        );
    }

    async fn reconcile(self, sim: SimId, batch: JournalBatch, error: JournalError) {
        tracing::warn!(%sim, %error, step = batch.step, "journal write failed; asking the journal what it holds");
        loop {
            match self.inner.journal.entries_after(sim.as_str(), batch.step - 1).await {
                Ok(stored) => {
                    let results = batch
                        .entries
                        .iter()
                        .map(|entry| {
                            let held = stored.iter().any(|held| held.step == entry.step && held.idx == entry.idx);
                            if held { Journaled::Appended } else { Journaled::NotEntered(error.to_string()) }
                        })
                        .collect();
                    let _ = self.send(&sim, ShardMsg::Journaled { sim: sim.clone(), batch, results });
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}
