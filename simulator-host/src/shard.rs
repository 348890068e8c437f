//! Shards: worker threads that each own a set of simulators and step them on time. A simulator lives on one shard
//! for its whole life on this host; everything that touches it is a message to that shard.
//!
//! # Invariants
//! - Only the shard thread touches its simulators, so a simulator's steps, commands and client attachments are
//!   totally ordered without locks.
//! - No shard work blocks on I/O: the journal answers by message, clients by their outboxes.
//! - A simulator whose engine fails is marked failed and stops stepping; its neighbours carry on.

use crate::clock::SimClock;
use crate::link::Link;
use crate::metrics::{Metrics, ResumeLabels, ShardLabels};
use crate::simulator::{JournalBatch, Journaled, Simulator, SimulatorError, SimulatorLimits, Submitted};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;
use tradesim_journal::JournalEntry;
use tradesim_protocol::SimConfig;
use tradesim_protocol::stream::{ResumeMode, SimId, SimState, Speed, UserId};
use tradesim_sandbox::Instance;

/// Guest calls per simulator per pass, so one simulator far behind cannot starve its neighbours.
const CALLS_PER_PASS: u32 = 4;
/// The longest a shard sleeps, so that bookkeeping (snapshots, lag metrics) runs while all are paused.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// The shortest sleep until a simulator falls due. Thousands of simulators fall due at staggered instants; waking
/// for each would scan them all thousands of times a second, so a pass takes everything due within this slack. It
/// only delays quiet steps (already [`SimulatorLimits::step_interval`] apart): commands arrive as messages, which
/// wake the shard at once.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// What a host knows of a running simulator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SimInfo {
    pub id: SimId,
    pub owner: UserId,
    pub state: SimState,
    pub speed: Speed,
    pub step: u64,
    pub seq: u64,
    pub lag_ms: u64,
    pub connections: usize,
    pub memory_bytes: usize,
}

/// Everything needed to bring a simulator up on a shard.
#[derive(Debug)]
pub struct Launch {
    pub id: SimId,
    pub owner: UserId,
    pub instance: Instance,
    pub config: SimConfig,
    pub seed: u64,
    pub clock: SimClock,
    /// `None` starts fresh; `Some` recovers from an optional snapshot and the journal after it.
    pub recovery: Option<(Option<Vec<u8>>, Vec<JournalEntry>)>,
}

/// Work the shard hands back to the async side of the host.
#[derive(Debug)]
pub enum Outbound {
    /// Journal these commands and answer with [`ShardMsg::Journaled`].
    Journal { sim: SimId, batch: JournalBatch },
    /// Store this snapshot.
    Snapshot { sim: SimId, step: u64, seq: u64, state_hash: u64, bytes: Vec<u8> },
    /// Persist the clock after a speed change.
    Clock { sim: SimId, clock: SimClock },
    /// The engine failed.
    Failed { sim: SimId, error: SimulatorError },
}

#[derive(Debug)]
pub enum ShardMsg {
    Launch {
        launch: Box<Launch>,
        reply: oneshot::Sender<Result<SimInfo, SimulatorError>>,
    },
    /// Removes a simulator, returning its last snapshot (`None` if it failed).
    Remove {
        sim: SimId,
        reply: oneshot::Sender<Option<(SimInfo, Option<SavedSnapshot>)>>,
    },
    Status {
        sim: SimId,
        reply: oneshot::Sender<Option<SimInfo>>,
    },
    /// Every simulator of this shard.
    List {
        reply: oneshot::Sender<Vec<SimInfo>>,
    },
    StateHash {
        sim: SimId,
        reply: oneshot::Sender<Option<Result<u64, SimulatorError>>>,
    },
    Attach {
        sim: SimId,
        link: Arc<Link>,
        last_seq: u64,
    },
    Detach {
        sim: SimId,
        link_id: u64,
    },
    Submit {
        sim: SimId,
        submitted: Submitted,
    },
    Journaled {
        sim: SimId,
        batch: JournalBatch,
        results: Vec<Journaled>,
    },
    SetSpeed {
        sim: SimId,
        speed: Speed,
    },
    /// Snapshots every simulator (graceful shutdown).
    SnapshotAll {
        reply: oneshot::Sender<Vec<(SimId, SavedSnapshot)>>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSnapshot {
    pub step: u64,
    pub seq: u64,
    pub state_hash: u64,
    pub bytes: Vec<u8>,
}

pub struct Shard {
    index: usize,
    simulators: HashMap<SimId, Simulator>,
    limits: SimulatorLimits,
    snapshot_interval: Duration,
    last_snapshot: HashMap<SimId, (Instant, u64)>,
    outbound: tokio::sync::mpsc::UnboundedSender<Outbound>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard").field("simulators", &self.simulators.len()).finish()
    }
}

impl Shard {
    pub fn new(
        index: usize,
        limits: SimulatorLimits,
        snapshot_interval: Duration,
        outbound: tokio::sync::mpsc::UnboundedSender<Outbound>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            index,
            simulators: HashMap::new(),
            limits,
            snapshot_interval,
            last_snapshot: HashMap::new(),
            outbound,
            metrics,
        }
    }

    /// Spawns the shard's thread; it ends when every sender of `receiver` is gone.
    pub fn spawn(self, name: String, receiver: Receiver<ShardMsg>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name(name).spawn(move || self.run(receiver))
    }

    fn run(mut self, receiver: Receiver<ShardMsg>) {
        loop {
            let now = SystemTime::now();
            let sleep = self.next_due().map_or(MAX_SLEEP, |due| match due.duration_since(now) {
                Ok(wait) => wait.max(MIN_SLEEP),
                Err(_) => Duration::ZERO, // overdue: run it now
            });
            match receiver.recv_timeout(sleep.min(MAX_SLEEP)) {
                Ok(message) => {
                    self.handle(message);
                    while let Ok(message) = receiver.try_recv() {
                        self.handle(message);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.run_due(SystemTime::now());
            self.snapshot_due();
        }
    }

    fn next_due(&self) -> Option<SystemTime> {
        self.simulators.values().filter_map(Simulator::due_at).min()
    }

    fn run_due(&mut self, now: SystemTime) {
        let mut failed = Vec::new();
        let mut max_queue = 0;
        for (id, simulator) in &mut self.simulators {
            if simulator.due_at().is_none_or(|due| due > now) {
                continue;
            }
            match simulator.run_due(now, CALLS_PER_PASS) {
                Ok(report) => {
                    self.metrics.steps.inc_by(report.steps);
                    self.metrics.events_conflated.inc_by(report.conflated as u64);
                    self.metrics.slow_clients_closed.inc_by(report.closed_links as u64);
                    max_queue = max_queue.max(report.max_queue);
                }
                Err(error) => failed.push((id.clone(), error)),
            }
            self.metrics.step_lag_seconds.observe(simulator.lag(SystemTime::now()).as_secs_f64());
        }
        self.metrics.queue_depth.get_or_create(&ShardLabels { shard: self.index }).set(max_queue as i64);
        for (sim, error) in failed {
            tracing::error!(%sim, %error, "simulator failed");
            self.metrics.failed_simulators.inc();
            if let Some(simulator) = self.simulators.get_mut(&sim) {
                simulator.close_links(SimState::Failed);
            }
            let _ = self.outbound.send(Outbound::Failed { sim, error });
        }
    }

    fn snapshot_due(&mut self) {
        let now = Instant::now();
        let due: Vec<SimId> = self
            .simulators
            .iter()
            .filter(|(id, simulator)| {
                !simulator.is_failed()
                    && self.last_snapshot.get(*id).is_none_or(|(at, step)| {
                        now.duration_since(*at) >= self.snapshot_interval && *step != simulator.step()
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for sim in due {
            if let Some(saved) = self.take_snapshot(&sim) {
                self.last_snapshot.insert(sim.clone(), (now, saved.step));
                self.send_snapshot(sim, saved);
            }
        }
    }

    fn take_snapshot(&mut self, sim: &SimId) -> Option<SavedSnapshot> {
        let simulator = self.simulators.get_mut(sim)?;
        if simulator.is_failed() {
            return None;
        }
        let result = simulator.snapshot().and_then(|bytes| Ok((bytes, simulator.state_hash()?)));
        match result {
            Ok((bytes, state_hash)) => {
                Some(SavedSnapshot { step: simulator.step(), seq: simulator.seq(), state_hash, bytes })
            }
            Err(error) => {
                tracing::error!(%sim, %error, "snapshot failed");
                None
            }
        }
    }

    fn send_snapshot(&self, sim: SimId, saved: SavedSnapshot) {
        let SavedSnapshot { step, seq, state_hash, bytes } = saved;
        let _ = self.outbound.send(Outbound::Snapshot { sim, step, seq, state_hash, bytes });
    }

    fn info(simulator: &Simulator) -> SimInfo {
        SimInfo {
            id: simulator.id.clone(),
            owner: simulator.owner.clone(),
            state: simulator.state(),
            speed: simulator.clock().speed,
            step: simulator.step(),
            seq: simulator.seq(),
            lag_ms: u64::try_from(simulator.lag(SystemTime::now()).as_millis()).unwrap_or(u64::MAX),
            connections: simulator.links(),
            memory_bytes: simulator.memory_bytes(),
        }
    }

    fn handle(&mut self, message: ShardMsg) {
        match message {
            ShardMsg::Launch { launch, reply } => {
                let _ = reply.send(self.launch(*launch));
            }
            ShardMsg::Remove { sim, reply } => {
                let snapshot = self.take_snapshot(&sim);
                let removed = self.simulators.remove(&sim).map(|mut simulator| {
                    simulator.close_links(SimState::Stopped);
                    (Self::info(&simulator), snapshot)
                });
                self.last_snapshot.remove(&sim);
                if removed.is_some() {
                    self.metrics.simulators.dec();
                }
                let _ = reply.send(removed);
            }
            ShardMsg::Status { sim, reply } => {
                let _ = reply.send(self.simulators.get(&sim).map(Self::info));
            }
            ShardMsg::List { reply } => {
                let _ = reply.send(self.simulators.values().map(Self::info).collect());
            }
            ShardMsg::StateHash { sim, reply } => {
                let _ = reply.send(self.simulators.get_mut(&sim).map(Simulator::state_hash));
            }
            ShardMsg::Attach { sim, link, last_seq } => match self.simulators.get_mut(&sim) {
                Some(simulator) if !simulator.is_failed() => {
                    if let Some(mode) = simulator.attach(link, last_seq) {
                        let mode = match mode {
                            ResumeMode::Replay => "replay",
                            ResumeMode::Snapshot => "snapshot",
                        };
                        self.metrics.resumes.get_or_create(&ResumeLabels { mode }).inc();
                    }
                }
                _ => {
                    link.send(crate::session::unavailable(&link));
                    link.close();
                }
            },
            ShardMsg::Detach { sim, link_id } => {
                if let Some(simulator) = self.simulators.get_mut(&sim) {
                    simulator.detach(link_id);
                }
            }
            ShardMsg::Submit { sim, submitted } => {
                let Some(simulator) = self.simulators.get_mut(&sim) else { return };
                if let Some(batch) = simulator.submit(submitted) {
                    let _ = self.outbound.send(Outbound::Journal { sim, batch });
                }
            }
            ShardMsg::Journaled { sim, batch, results } => {
                if let Some(simulator) = self.simulators.get_mut(&sim) {
                    simulator.journaled(batch, results);
                }
            }
            ShardMsg::SetSpeed { sim, speed } => {
                if let Some(simulator) = self.simulators.get_mut(&sim) {
                    let clock = simulator.set_speed(speed, SystemTime::now());
                    let _ = self.outbound.send(Outbound::Clock { sim, clock });
                }
            }
            ShardMsg::SnapshotAll { reply } => {
                let sims: Vec<SimId> = self.simulators.keys().cloned().collect();
                let snapshots =
                    sims.into_iter().filter_map(|sim| Some((sim.clone(), self.take_snapshot(&sim)?))).collect();
                let _ = reply.send(snapshots);
            }
        }
    }

    fn launch(&mut self, launch: Launch) -> Result<SimInfo, SimulatorError> {
        let Launch { id, owner, instance, config, seed, clock, recovery } = launch;
        let simulator = match recovery {
            None => Simulator::create(id.clone(), owner, instance, &config, seed, clock, self.limits)?,
            Some((snapshot, entries)) => Simulator::recover(
                id.clone(),
                owner,
                instance,
                &config,
                seed,
                snapshot.as_deref(),
                &entries,
                clock,
                self.limits,
            )?,
        };
        let info = Self::info(&simulator);
        if self.simulators.insert(id.clone(), simulator).is_none() {
            self.metrics.simulators.inc();
        }
        self.last_snapshot.insert(id, (Instant::now(), info.step));
        Ok(info)
    }
}

/// A handle to a shard's thread.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    pub sender: Sender<ShardMsg>,
}
