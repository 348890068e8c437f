//! [`Engine`]: the exchange plus its background market, stepped through simulated time.

use crate::exchange::Exchange;
use crate::market::Market;
use bincode::{Decode, Encode};
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{Batch, CodecError, Command, ConfigError, EngineView, Event, ParticipantId, SimConfig};

#[derive(Debug, Encode, Decode)]
pub struct Engine {
    exchange: Exchange,
    market: Market,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot frame: {0}")]
    Frame(#[from] CodecError),
    #[error("snapshot holds an invalid config: {0}")]
    Config(#[from] ConfigError),
}

impl Engine {
    pub fn new(config: SimConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let market = Market::new(config.scenario, &config.instruments, seed);
        Ok(Self { exchange: Exchange::new(config), market })
    }

    pub fn config(&self) -> &SimConfig {
        self.exchange.config()
    }

    /// Applies the batch's commands at the current step, then advances `batch.steps` steps.
    pub fn execute(&mut self, batch: &Batch, out: &mut Vec<Event>) {
        for command in &batch.commands {
            self.apply(command, out);
        }
        self.advance(batch.steps, out);
    }

    /// Applies one command at the current simulated time.
    pub fn apply(&mut self, command: &Command, out: &mut Vec<Event>) {
        self.exchange.apply(command, out);
    }

    /// Advances simulated time by `steps` steps; the background market acts at each.
    pub fn advance(&mut self, steps: u32, out: &mut Vec<Event>) {
        for _ in 0..steps {
            self.exchange.begin_step(out);
            let mut venue = self.exchange.venue(out);
            self.market.on_step(&mut venue);
            self.exchange.end_step(out);
        }
    }

    /// Number of steps taken so far.
    pub fn step(&self) -> u64 {
        self.exchange.step()
    }

    /// Simulated milliseconds since the simulation started.
    pub fn time_ms(&self) -> u64 {
        self.exchange.time_ms()
    }

    /// The `seq` of the last event emitted (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.exchange.last_seq()
    }

    /// A versioned binary snapshot of the whole state.
    pub fn snapshot(&self) -> Vec<u8> {
        // Sized for a typical order's encoding, so a large book is written without regrowing the buffer.
        let mut buffer = vec![0; 4_096 + 48 * self.exchange.order_count()];
        let len = codec::encode_into_buffer(FrameKind::Snapshot, self, &mut buffer);
        buffer.truncate(len);
        buffer
    }

    pub fn restore(snapshot: &[u8]) -> Result<Self, SnapshotError> {
        let engine: Self = codec::decode(FrameKind::Snapshot, snapshot)?;
        engine.config().validate()?;
        Ok(engine)
    }

    /// A 64-bit hash of the whole state: the snapshot's bytes, hashed a word at a time.
    pub fn state_hash(&self) -> u64 {
        crate::hash::hash_bytes(&self.snapshot())
    }

    /// Checks the exchange's structural invariants (intact price levels, no crossed book, no lost order); for tests
    /// and diagnostics, O(orders).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.exchange.check_invariants()
    }

    /// What `participant`'s screen needs to start from: books to `depth` levels, open orders and account.
    pub fn view(&self, participant: ParticipantId, depth: usize) -> EngineView {
        self.exchange.view(participant, depth)
    }
}
