//! One running simulator: a sandboxed engine, its clock, the commands on their way through the journal, the replay
//! window and the connected clients. Plain synchronous code, driven by its shard thread.
//!
//! # Invariants
//! - A command runs at the step it was journaled for, and only once the journal holds it: the simulator does not
//!   run that step before the journal answers. Recovery replays the journal at the same steps, so it reproduces the
//!   same events, seqs and state hash.
//! - A client order id reaches the engine at most once; every retry gets the outcome of the first attempt.
//! - Each client gets every event after the seq it resumed from, in order, without a gap: replayed from the window
//!   when it reaches that far, else a snapshot (books, open orders, account at a seq) and the events after it.

use crate::clock::SimClock;
use crate::link::Link;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tradesim_journal::JournalEntry;
use tradesim_protocol::stream::{ErrorCode, OrderOutcome, ResumeMode, ServerMessage, SimId, SimState, Speed, UserId};
use tradesim_protocol::{
    Batch, ClientOrderId, Command, EngineView, Event, EventBody, ExecType, ParticipantId, SimConfig, ViewRequest,
};
use tradesim_sandbox::{Instance, SandboxError};

/// Snapshot chunks stay under the frame limit even if JSON escaping doubled every byte, with room for the
/// envelope.
const SNAPSHOT_CHUNK_BYTES: usize = 15 * 1024;
/// Book levels per side in snapshots and conflation refreshes.
pub const VIEW_DEPTH: u32 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulatorLimits {
    /// Events kept for replay to resuming clients.
    pub replay_window: usize,
    /// Steps run in one guest call when catching up.
    pub max_steps_per_call: u32,
    /// How long real time may run ahead of a quiet simulator (one without commands to run) before its steps are run,
    /// all in one guest call. A guest call costs far more than a step, and clients see market data no more often
    /// than their transport's flush interval anyway; commands never wait for it.
    pub step_interval: Duration,
}

impl Default for SimulatorLimits {
    fn default() -> Self {
        Self { replay_window: 8_192, max_steps_per_call: 100, step_interval: Duration::from_millis(25) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimulatorError {
    #[error("the engine failed: {0}")]
    Engine(#[from] SandboxError),
    #[error("the snapshot container is corrupt: {0}")]
    CorruptSnapshot(String),
    #[error("journal entry at step {step} is before the snapshot at step {snapshot_step}")]
    JournalBehindSnapshot { step: u64, snapshot_step: u64 },
}

/// A user command on its way to the engine.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub command: Command,
    pub client_order_id: Option<ClientOrderId>,
    /// Echoed in errors about this command (the client order id for orders).
    pub request_id: Option<String>,
    pub link: Option<Arc<Link>>,
}

/// Commands handed to the journal together, for one step.
#[derive(Debug)]
pub struct JournalBatch {
    pub step: u64,
    pub entries: Vec<JournalEntry>,
    pub submitted: Vec<Submitted>,
}

/// What the journal says of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Journaled {
    Appended,
    /// The client order id was used before (in another simulator): the order is answered with this outcome.
    Duplicate(OrderOutcome),
    /// The journal does not hold the entry: the command was not entered.
    NotEntered(String),
}

/// What a call to [`Simulator::run_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Events queued for the slowest client after this run.
    pub max_queue: usize,
    pub steps: u64,
    pub events: usize,
    pub conflated: usize,
    pub closed_links: usize,
}

#[derive(Debug)]
pub struct Simulator {
    pub id: SimId,
    pub owner: UserId,
    instance: Instance,
    clock: SimClock,
    failed: bool,
    step: u64,
    seq: u64,
    ring: VecDeque<Event>,
    limits: SimulatorLimits,
    /// Journal submissions not answered yet; the next step waits for them.
    journaling: usize,
    next_idx: u32,
    /// Journaled commands for the next step, in journal order.
    ready: Vec<(u32, Submitted)>,
    outcomes: HashMap<ClientOrderId, OrderOutcome>,
    /// Clients waiting for the outcome of an order in flight (the first attempt and any retries).
    waiting: HashMap<ClientOrderId, Vec<Arc<Link>>>,
    links: Vec<Arc<Link>>,
    /// Clients that resumed from a seq this simulator has not reached again yet (after a recovery).
    early: Vec<(Arc<Link>, u64)>,
    events: Vec<Event>,
}

impl Simulator {
    /// A new simulator at step 0.
    pub fn create(
        id: SimId,
        owner: UserId,
        mut instance: Instance,
        config: &SimConfig,
        seed: u64,
        clock: SimClock,
        limits: SimulatorLimits,
    ) -> Result<Self, SimulatorError> {
        instance.init(config, seed)?;
        Ok(Self::with_instance(id, owner, instance, clock, limits, HashMap::new()))
    }

    fn with_instance(
        id: SimId,
        owner: UserId,
        instance: Instance,
        clock: SimClock,
        limits: SimulatorLimits,
        outcomes: HashMap<ClientOrderId, OrderOutcome>,
    ) -> Self {
        Self {
            id,
            owner,
            instance,
            clock,
            failed: false,
            step: 0,
            seq: 0,
            ring: VecDeque::new(),
            limits,
            journaling: 0,
            next_idx: 0,
            ready: Vec::new(),
            outcomes,
            waiting: HashMap::new(),
            links: Vec::new(),
            early: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A simulator rebuilt from its journal: the engine from `snapshot` (or `init` from step 0), then every
    /// journaled command replayed at its step.
    #[allow(clippy::too_many_arguments)]
    pub fn recover(
        id: SimId,
        owner: UserId,
        mut instance: Instance,
        config: &SimConfig,
        seed: u64,
        snapshot: Option<&[u8]>,
        entries: &[JournalEntry],
        clock: SimClock,
        limits: SimulatorLimits,
    ) -> Result<Self, SimulatorError> {
        let outcomes = match snapshot {
            Some(bytes) => {
                let (engine, outcomes) = HostSnapshot::decode(bytes)?;
                instance.restore(engine)?;
                outcomes
            }
            None => {
                instance.init(config, seed)?;
                HashMap::new()
            }
        };
        let mut simulator = Self::with_instance(id, owner, instance, clock, limits, outcomes);
        let view = simulator.instance.view(ViewRequest { participant: ParticipantId::USER, depth: 0 })?;
        simulator.step = view.step;
        simulator.seq = view.seq;
        let mut index = 0;
        while index < entries.len() {
            let step = entries[index].step;
            if step <= simulator.step {
                return Err(SimulatorError::JournalBehindSnapshot { step, snapshot_step: simulator.step });
            }
            let end = index + entries[index..].iter().take_while(|entry| entry.step == step).count();
            simulator.advance_to(step - 1)?;
            simulator.ready = entries[index..end]
                .iter()
                .map(|entry| {
                    let client_order_id = client_order_id_of(&entry.command);
                    (entry.idx, Submitted { command: entry.command, client_order_id, request_id: None, link: None })
                })
                .collect();
            simulator.execute(1)?;
            index = end;
        }
        Ok(simulator)
    }

    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn clock(&self) -> SimClock {
        self.clock
    }

    pub fn state(&self) -> SimState {
        match (self.failed, self.clock.speed) {
            (true, _) => SimState::Failed,
            (false, Speed::Paused) => SimState::Paused,
            (false, _) => SimState::Running,
        }
    }

    pub fn is_failed(&self) -> bool {
        self.failed
    }

    pub fn links(&self) -> usize {
        self.links.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.instance.memory_bytes()
    }

    /// When this simulator next has work, or `None` while it is paused, failed or waiting for the journal.
    pub fn due_at(&self) -> Option<SystemTime> {
        if self.failed || self.journaling > 0 {
            return None;
        }
        if self.runs_commands_now() {
            return Some(SystemTime::UNIX_EPOCH);
        }
        self.clock.due_at(self.step).map(|due| due + self.quiet_slack())
    }

    /// How long a quiet simulator's next step may wait to run with later ones: the step interval, except for the
    /// first step, which runs on time so that a new market opens (its makers quote) as soon as it can.
    fn quiet_slack(&self) -> Duration {
        if self.step == 0 { Duration::ZERO } else { self.limits.step_interval }
    }

    /// Journaled commands run at once, as their step, instead of waiting up to a step for the clock: the step is
    /// in the journal, so recovery is unaffected, and the market runs at most one step ahead until real time
    /// catches up. A paused simulator keeps its commands until it runs again.
    fn runs_commands_now(&self) -> bool {
        !self.ready.is_empty() && self.clock.speed != Speed::Paused
    }

    /// How far behind its schedule (the next step's due time plus the step interval) this simulator is.
    pub fn lag(&self, now: SystemTime) -> Duration {
        self.clock.lag(self.step, now).saturating_sub(self.quiet_slack())
    }

    /// Takes a user command. Returns the batch to journal, or `None` when the command was answered already (a
    /// retry of a known order).
    pub fn submit(&mut self, submitted: Submitted) -> Option<JournalBatch> {
        if let Some(client_order_id) = submitted.client_order_id {
            if let Some(outcome) = self.outcomes.get(&client_order_id) {
                if let Some(link) = &submitted.link {
                    link.send(ServerMessage::OrderAck { client_order_id, outcome: outcome.clone() });
                }
                return None;
            }
            if let Some(waiters) = self.waiting.get_mut(&client_order_id) {
                waiters.extend(submitted.link);
                return None;
            }
            self.waiting.insert(client_order_id, submitted.link.iter().cloned().collect());
        }
        let step = self.step + 1;
        let entry = JournalEntry {
            sim_id: self.id.to_string(),
            step,
            idx: self.next_idx,
            user_id: self.owner.to_string(),
            client_order_id: submitted.client_order_id.map(|id| id.as_str().to_owned()),
            command: submitted.command,
        };
        self.next_idx += 1;
        self.journaling += 1;
        Some(JournalBatch { step, entries: vec![entry], submitted: vec![submitted] })
    }

    /// The journal's answer for a batch, one per entry. A journal that failed is asked again which entries it
    /// holds, so this is never a guess.
    pub fn journaled(&mut self, batch: JournalBatch, results: Vec<Journaled>) {
        self.journaling = self.journaling.saturating_sub(1);
        for ((entry, submitted), result) in batch.entries.iter().zip(batch.submitted).zip(results) {
            let answer = match (result, submitted.client_order_id) {
                (Journaled::Appended, _) => {
                    self.ready.push((entry.idx, submitted));
                    continue;
                }
                (Journaled::Duplicate(outcome), Some(client_order_id)) => {
                    ServerMessage::OrderAck { client_order_id, outcome }
                }
                (Journaled::Duplicate(_), None) => continue, // only orders carry client order ids
                (Journaled::NotEntered(reason), _) => ServerMessage::Error {
                    code: ErrorCode::JournalUnavailable,
                    message: format!("the order journal is unavailable ({reason}); nothing was entered, retry"),
                    request_id: submitted.request_id.clone(),
                    retry_after_ms: Some(1_000),
                },
            };
            let waiters = match submitted.client_order_id {
                Some(client_order_id) => self.waiting.remove(&client_order_id).unwrap_or_default(),
                None => submitted.link.into_iter().collect(),
            };
            for link in waiters {
                link.send(answer.clone());
            }
        }
    }

    /// Runs the steps real time has reached (at most `max_steps_per_call` per guest call, `budget` calls).
    pub fn run_due(&mut self, now: SystemTime, budget: u32) -> Result<RunReport, SimulatorError> {
        let mut report = RunReport::default();
        for _ in 0..budget {
            if self.failed || self.journaling > 0 {
                break;
            }
            let mut target = self.clock.target_step(now);
            if self.runs_commands_now() {
                target = target.max(self.step + 1);
            }
            if target <= self.step {
                break;
            }
            // Commands run alone in their step's call; quiet steps are batched.
            let steps = if self.ready.is_empty() {
                u32::try_from(target - self.step).unwrap_or(u32::MAX).min(self.limits.max_steps_per_call)
            } else {
                1
            };
            let before = self.step;
            let delivered = self.execute(steps)?;
            report.steps += self.step - before;
            report.events += delivered.events;
            report.conflated += delivered.conflated;
            report.closed_links += delivered.closed_links;
            report.max_queue = report.max_queue.max(delivered.max_queue);
        }
        Ok(report)
    }

    fn advance_to(&mut self, step: u64) -> Result<(), SimulatorError> {
        while self.step < step {
            let steps = u32::try_from(step - self.step).unwrap_or(u32::MAX).min(self.limits.max_steps_per_call);
            self.execute(steps)?;
        }
        Ok(())
    }

    /// One guest call: the ready commands, then `steps` steps.
    fn execute(&mut self, steps: u32) -> Result<RunReport, SimulatorError> {
        let mut ready = std::mem::take(&mut self.ready);
        // Journal order, which recovery replays, whatever order the journal's answers came back in.
        ready.sort_by_key(|(idx, _)| *idx);
        let ready: Vec<Submitted> = ready.into_iter().map(|(_, submitted)| submitted).collect();
        let batch = Batch { commands: ready.iter().map(|submitted| submitted.command).collect(), steps };
        self.events.clear();
        if let Err(error) = self.instance.execute(&batch, &mut self.events) {
            // The shard closes the links with a `failed` status.
            self.failed = true;
            return Err(error.into());
        }
        self.step += u64::from(steps);
        self.next_idx = 0;
        let events = std::mem::take(&mut self.events);
        self.settle_orders(&ready, &events);
        let report = self.deliver(&events);
        self.remember(&events);
        self.events = events;
        Ok(report)
    }

    /// Records each new order's outcome (its first execution report) and answers everyone waiting for it.
    fn settle_orders(&mut self, ready: &[Submitted], events: &[Event]) {
        for client_order_id in ready.iter().filter_map(|submitted| submitted.client_order_id) {
            let outcome = events.iter().find_map(|event| match &event.body {
                EventBody::ExecutionReport(report)
                    if report.participant == ParticipantId::USER && report.client_order_id == Some(client_order_id) =>
                {
                    Some(match (report.exec_type, report.order_id, report.reject_reason) {
                        (ExecType::Rejected, _, reason) | (_, None, reason) => {
                            let reason = reason.unwrap_or(tradesim_protocol::RejectReason::InvalidOrder);
                            OrderOutcome::Rejected { reason, message: reason.message().to_owned(), seq: event.seq }
                        }
                        (_, Some(order_id), _) => OrderOutcome::Accepted { order_id, seq: event.seq },
                    })
                }
                _ => None,
            });
            let Some(outcome) = outcome else {
                tracing::error!(sim = %self.id, %client_order_id, "an order produced no execution report");
                continue;
            };
            for link in self.waiting.remove(&client_order_id).unwrap_or_default() {
                link.send(ServerMessage::OrderAck { client_order_id, outcome: outcome.clone() });
            }
            self.outcomes.insert(client_order_id, outcome);
        }
    }

    fn deliver(&mut self, events: &[Event]) -> RunReport {
        let mut report = RunReport { events: events.len(), ..RunReport::default() };
        let (Some(first), Some(last)) = (events.first(), events.last()) else { return report };
        let (from, to) = (first.seq, last.seq);
        self.seq = to;
        let mut books = None;
        for link in &self.links {
            let outcome = link.push_events(from, to, events);
            report.conflated += outcome.conflated;
            report.max_queue = report.max_queue.max(outcome.queued);
            if outcome.overflowed {
                tracing::warn!(sim = %self.id, link = link.id, "closing a client too slow to keep up");
                link.close();
                report.closed_links += 1;
            } else if outcome.needs_books {
                if books.is_none() {
                    books =
                        self.instance.view(ViewRequest { participant: ParticipantId::USER, depth: VIEW_DEPTH }).ok();
                }
                if let Some(view) = &books {
                    link.attach_books(view.books.clone());
                }
            }
        }
        self.links.retain(|link| !link.is_closed());
        let caught_up: Vec<(Arc<Link>, u64)> = {
            let seq = self.seq;
            let (ready, waiting) = std::mem::take(&mut self.early).into_iter().partition(|(_, last)| *last <= seq);
            self.early = waiting;
            ready
        };
        for (link, last_seq) in caught_up {
            self.resume(link, last_seq);
        }
        report
    }

    fn remember(&mut self, events: &[Event]) {
        let window = self.limits.replay_window;
        if events.len() >= window {
            self.ring.clear();
            self.ring.extend(events[events.len() - window..].iter().cloned());
            return;
        }
        let overflow = (self.ring.len() + events.len()).saturating_sub(window);
        self.ring.drain(..overflow);
        self.ring.extend(events.iter().cloned());
    }

    /// A client says hello: welcome it, bring it up to date from `last_seq`, then stream live. Returns how, or
    /// `None` while the client waits for this simulator to catch up with it.
    pub fn attach(&mut self, link: Arc<Link>, last_seq: u64) -> Option<ResumeMode> {
        self.links.retain(|existing| existing.id != link.id);
        self.early.retain(|(existing, _)| existing.id != link.id);
        if last_seq > self.seq {
            // The client saw events this (recovered) simulator has not produced again yet: they will be the same
            // events, so it waits until they are (and may not trade before its welcome).
            self.early.push((link, last_seq));
            return None;
        }
        Some(self.resume(link, last_seq))
    }

    fn resume(&mut self, link: Arc<Link>, last_seq: u64) -> ResumeMode {
        let oldest = self.ring.front().map_or(self.seq + 1, |event| event.seq);
        let replay = last_seq > 0 && last_seq + 1 >= oldest;
        let mode = if replay { ResumeMode::Replay } else { ResumeMode::Snapshot };
        // Before the welcome goes out: a client may answer the welcome with an order at once, and its transport
        // may deliver the welcome before this thread gets further.
        link.said_hello();
        link.send(self.welcome(&link, mode));
        if replay {
            let skip = usize::try_from(last_seq + 1 - oldest).unwrap_or(usize::MAX);
            let missed: Vec<Event> = self.ring.iter().skip(skip).cloned().collect();
            if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
                let outcome = link.push_events(first.seq, last.seq, &missed);
                if outcome.needs_books
                    && let Ok(view) = self.view(VIEW_DEPTH)
                {
                    link.attach_books(view.books);
                }
            }
        } else {
            match self.view(VIEW_DEPTH) {
                Ok(view) => send_snapshot(&link, &view),
                Err(error) => {
                    tracing::error!(sim = %self.id, %error, "taking a view for a snapshot failed");
                    link.close();
                    return mode;
                }
            }
        }
        self.links.push(link);
        mode
    }

    fn welcome(&self, link: &Link, resume: ResumeMode) -> ServerMessage {
        ServerMessage::Welcome {
            sim: self.id.clone(),
            seq: self.seq,
            resume,
            state: self.state(),
            speed: self.clock.speed,
            heartbeat_ms: duration_ms(link.heartbeat.interval),
            dead_after_ms: duration_ms(link.heartbeat.dead_after),
        }
    }

    pub fn detach(&mut self, link_id: u64) {
        self.links.retain(|link| link.id != link_id);
        self.early.retain(|(link, _)| link.id != link_id);
    }

    pub fn set_speed(&mut self, speed: Speed, now: SystemTime) -> SimClock {
        self.clock.set_speed(speed, now);
        for link in &self.links {
            link.send(ServerMessage::Status { state: self.state(), speed });
        }
        self.clock
    }

    pub fn view(&mut self, depth: u32) -> Result<EngineView, SimulatorError> {
        Ok(self.instance.view(ViewRequest { participant: ParticipantId::USER, depth })?)
    }

    pub fn state_hash(&mut self) -> Result<u64, SimulatorError> {
        Ok(self.instance.state_hash()?)
    }

    /// The engine and the order outcomes, for the journal's snapshot table.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, SimulatorError> {
        let engine = self.instance.snapshot()?;
        Ok(HostSnapshot::encode(&engine, &self.outcomes))
    }

    /// Closes every client (the simulator is stopping or moving).
    pub fn close_links(&mut self, state: SimState) {
        for link in self.links.drain(..).chain(self.early.drain(..).map(|(link, _)| link)) {
            link.send(ServerMessage::Status { state, speed: self.clock.speed });
            link.close();
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn client_order_id_of(command: &Command) -> Option<ClientOrderId> {
    match command {
        Command::NewOrder(order) => order.client_order_id,
        _ => None,
    }
}

/// Sends `view` as JSON in chunks under the frame limit.
fn send_snapshot(link: &Link, view: &EngineView) {
    let json = match serde_json::to_string(view) {
        Ok(json) => json,
        Err(error) => {
            tracing::error!(%error, "encoding a snapshot failed");
            link.close();
            return;
        }
    };
    let chunks = chunk_str(&json, SNAPSHOT_CHUNK_BYTES);
    let count = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    for (index, chunk) in chunks.into_iter().enumerate() {
        link.send(ServerMessage::Snapshot {
            seq: view.seq,
            chunk: u32::try_from(index).unwrap_or(u32::MAX),
            chunks: count,
            data: chunk.to_owned(),
        });
    }
}

/// Splits at char boundaries into pieces of at most `max` bytes.
fn chunk_str(text: &str, max: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        chunks.push(chunk);
        rest = tail;
    }
    if chunks.is_empty() {
        chunks.push("");
    }
    chunks
}

/// The host's snapshot: the engine's snapshot frame and the outcome of every order entered so far (the answer to a
/// retry of an order older than the snapshot).
///
/// Layout: `TSH1`, the engine frame's length (u32 LE), the engine frame, then the outcomes as JSON.
struct HostSnapshot;

impl HostSnapshot {
    const MAGIC: &'static [u8; 4] = b"TSH1";

    fn encode(engine: &[u8], outcomes: &HashMap<ClientOrderId, OrderOutcome>) -> Vec<u8> {
        let mut sorted: Vec<(&ClientOrderId, &OrderOutcome)> = outcomes.iter().collect();
        sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let outcomes = serde_json::to_vec(&sorted).unwrap_or_default();
        let mut bytes = Vec::with_capacity(8 + engine.len() + outcomes.len());
        bytes.extend_from_slice(Self::MAGIC);
        bytes.extend_from_slice(&u32::try_from(engine.len()).unwrap_or(u32::MAX).to_le_bytes());
        bytes.extend_from_slice(engine);
        bytes.extend_from_slice(&outcomes);
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<(&[u8], HashMap<ClientOrderId, OrderOutcome>), SimulatorError> {
        let corrupt = |what: &str| SimulatorError::CorruptSnapshot(what.to_owned());
        let rest = bytes.strip_prefix(Self::MAGIC).ok_or_else(|| corrupt("unknown magic"))?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("truncated header"))?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| corrupt("length"))?;
        if rest.len() < len {
            return Err(corrupt("truncated engine snapshot"));
        }
        let (engine, outcomes) = rest.split_at(len);
        let outcomes: Vec<(ClientOrderId, OrderOutcome)> =
            serde_json::from_slice(outcomes).map_err(|error| corrupt(&error.to_string()))?;
        Ok((engine, outcomes.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::OrderId;

    #[test]
    fn host_snapshots_round_trip_and_refuse_garbage() {
        let id = ClientOrderId::parse("c-1").unwrap();
        let outcomes = HashMap::from([(id, OrderOutcome::Accepted { order_id: OrderId(7), seq: 3 })]);
        let bytes = HostSnapshot::encode(b"engine", &outcomes);
        let (engine, decoded) = HostSnapshot::decode(&bytes).unwrap();
        assert_eq!(engine, b"engine");
        assert_eq!(decoded, outcomes);
        assert!(matches!(HostSnapshot::decode(b"nope"), Err(SimulatorError::CorruptSnapshot(_))));
        assert!(matches!(HostSnapshot::decode(&bytes[..10]), Err(SimulatorError::CorruptSnapshot(_))));
    }

    #[test]
    fn chunks_cover_the_text_at_char_boundaries() {
        let text = "ab€cd".repeat(10);
        let chunks = chunk_str(&text, 4);
        assert!(chunks.iter().all(|chunk| chunk.len() <= 4));
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunk_str("", 4), vec![""]);
    }
}
