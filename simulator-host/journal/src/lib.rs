//! The simulator host's durable state in PostgreSQL: simulator records, the command journal and engine snapshots.
//!
//! Recovery on any host restores a simulator's latest snapshot and replays its journal entries after the snapshot's
//! step ([`Journal::entries_after`]); the clock anchor ([`Clock`]) says which step is current now. The host writes
//! every user command here before acknowledging it, through [`JournalWriter`], which commits everything submitted
//! while the previous commit ran in one transaction (group commit).
//!
//! The schema lives in the workspace's `migrations/` directory (refinery, embedded at build time) and is applied by
//! [`Journal::migrate`].
//!
//! # Invariants
//!
//! 1. **All or nothing.** An append is one `INSERT` statement: either every entry that is not a duplicate is stored
//!    or none is. `Err(Unavailable)` from an append means the outcome is unknown (the commit may have happened
//!    before the connection broke); retrying the same entries is safe for entries with a client order id, which
//!    then come back as [`AppendOutcome::DuplicateClientOrderId`].
//! 2. **Client order ids are unique per user for ever**, across simulators: a unique index on
//!    `(user_id, client_order_id)`. The first entry to claim one wins, also within one append; journal rows are never
//!    deleted while their simulator exists.
//! 3. **Journal order is (step, idx).** [`Journal::entries_after`] returns entries in that order; `(sim_id, step,
//!    idx)` is the primary key, so two writers for one simulator cannot both take a position.
//! 4. **Snapshots:** at most the latest two (by step) are kept per simulator; the older ones are deleted in the
//!    transaction that inserts a new one.
//! 5. **Values round-trip exactly:** commands and configs as their serde JSON form (`jsonb`), u64 seeds and state
//!    hashes as their i64 bit pattern. Steps and seqs are stored as non-negative `bigint` (so they sort), and
//!    timestamps at PostgreSQL's microsecond precision.
//! 6. **Connection trouble is `Unavailable`.** A down, restarting or unreachable database gives
//!    [`JournalError::Unavailable`] within the connect timeout; the pool reconnects by itself once it is back.

mod error;
mod journal;
#[cfg(feature = "testing")]
pub mod testing;
mod writer;

pub use error::JournalError;
pub use journal::Journal;
pub use writer::JournalWriter;

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;
use tradesim_protocol::{Command, SimConfig};

/// A simulator as the control plane and the hosts see it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatorRecord {
    pub id: String,
    pub owner: String,
    pub config: SimConfig,
    pub seed: u64,
    pub status: SimStatus,
    /// The host running the simulator, if any.
    pub host: Option<String>,
    pub clock: Clock,
}

/// The clock anchor: simulated step `step` was current at real time `at`, and simulated time runs at `speed` times
/// real time from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Multiplier of real time; 0 is paused.
    pub speed: u32,
    pub step: u64,
    /// Stored at microsecond precision.
    pub at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimStatus {
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Recovering,
}

impl SimStatus {
    pub const ALL: [Self; 6] =
        [Self::Starting, Self::Running, Self::Stopping, Self::Stopped, Self::Failed, Self::Recovering];

    /// The stored form, as the `simulators.status` check constraint lists it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Recovering => "recovering",
        }
    }
}

impl FromStr for SimStatus {
    type Err = JournalError;

    fn from_str(text: &str) -> Result<Self, JournalError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| JournalError::Corrupt(format!("unknown simulator status {text:?}")))
    }
}

impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One user command with the position at which it applies: step `step`, `idx`-th within that step.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub sim_id: String,
    pub step: u64,
    pub idx: u32,
    pub user_id: String,
    /// The command's client order id, if it has one; unique per user for ever.
    pub client_order_id: Option<String>,
    pub command: Command,
}

/// What became of one appended entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended,
    /// The user's client order id is already taken, by the entry of simulator `sim_id` at step `step` (an earlier
    /// entry of the same append included). Nothing was written for this entry.
    DuplicateClientOrderId {
        sim_id: String,
        step: u64,
    },
}

/// An engine snapshot: the engine-serialized state after step `step`, standing at stream seq `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub sim_id: String,
    pub step: u64,
    pub seq: u64,
    pub state_hash: u64,
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_stored_form() {
        for status in SimStatus::ALL {
            assert_eq!(status.as_str().parse::<SimStatus>(), Ok(status));
        }
        assert!(matches!("paused".parse::<SimStatus>(), Err(JournalError::Corrupt(_))));
    }
}
