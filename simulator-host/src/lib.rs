//! The simulator host: one wasmtime-sandboxed engine per user (through `tradesim-sandbox`, the only crate that
//! knows wasmtime), stepped in real time on shard threads, streamed to browsers over the protocol of
//! `tradesim_protocol::stream`, with every user command journaled to PostgreSQL (`tradesim-journal`) before it is
//! acknowledged.
//!
//! Map: [`host`] (operations, async I/O) → [`shard`] (threads owning simulators) → [`simulator`] (one engine, its
//! clock, journal hand-off and replay window) → [`link`]/[`outbox`] (per-client queues) ← [`session`] (the
//! protocol of a connection) ← [`transport`] (direct WebSocket, API Gateway; [`apigateway`] pushes) ← [`api`] (the
//! HTTP router).
//!
//! # Invariants
//! - The host never acknowledges a command the journal does not hold, and recovery from snapshot plus journal
//!   reproduces the state hash and the event stream exactly.
//! - A simulator's failure (a trap, a runaway guest) is contained to it.

pub mod api;
pub mod apigateway;
pub mod clock;
pub mod host;
pub mod link;
pub mod metrics;
pub mod outbox;
pub mod session;
pub mod settings;
pub mod shard;
pub mod simulator;
pub mod ticket;
pub mod transport;

pub use host::{CreateSimulator, Health, Host, HostConfig, HostError};
pub use settings::Settings;
pub use shard::SimInfo;
