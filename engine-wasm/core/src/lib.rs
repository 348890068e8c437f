//! The tradesim exchange: a pure, deterministic matching engine with accounts, market data and a simulated
//! background market. No I/O, no clock, no ambient randomness: time and the seed come in as inputs.
//!
//! # Invariants
//! - The same (config, seed, ordered commands and step counts) gives byte-identical events and the same
//!   [`Engine::state_hash`], natively and inside wasm.
//! - Event `seq` starts at 1 and has no gaps; views and hashes never consume one.
//! - Prices, quantities and money are integers; floats appear only inside agent decisions (via `libm`) and never
//!   in matching or accounting.
//! - The book is never crossed at rest, and every order reaches exactly one terminal state.
//! - Restoring a snapshot and applying the same later input gives the same events as never stopping.

mod engine;
mod exchange;
mod hash;
pub mod market;
pub mod rng;
pub mod venue;

pub use engine::{Engine, SnapshotError};
