//! The stream protocol between a browser and a simulator host: JSON text frames in a versioned envelope. Both
//! transports (a direct WebSocket and API Gateway WebSockets) carry exactly these messages; docs/protocol.md
//! explains the conversation with examples.
//!
//! Every message is one JSON object `{"v": 1, "type": "...", ...}`. Client messages name the simulator they are
//! for (`sim`); a message for another simulator than the connection's is refused.
//!
//! # Invariants
//! - `seq` is the engine's event sequence number: gap-free per simulator, durable across reconnects and host
//!   recovery (the engine reproduces it). An [`ServerMessage::Events`] message covers the contiguous range
//!   `from..=to`; market data inside a range may have been conflated away for a slow client, in which case `books`
//!   carries the current books to start over from. Execution reports, account updates, queue positions, trading
//!   status and request rejections are never conflated.
//! - A client order id names one order of a user for ever: a retry gets the original outcome, never a second order.
//! - Every frame stays under [`MAX_FRAME_BYTES`]; snapshots larger than that are sent in chunks.

use crate::command::{NewOrder, OrderRef, OrderType, Side, StpMode, TimeInForce};
use crate::event::{Event, RejectReason};
use crate::ids::{ClientOrderId, InstrumentId, OrderId, ParticipantId, Price, Qty};
use crate::view::BookSnapshot;
use serde::{Deserialize, Serialize};

/// The stream protocol's version, carried by every message as `v`.
pub const STREAM_VERSION: u32 = 1;

/// API Gateway's WebSocket frame limit is 32 KB; frames stay below it with room for the envelope.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// A simulator's identifier: 1 to 64 characters of ASCII letters, digits, `-` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
#[serde(try_from = "String", into = "String")]
pub struct SimId(String);

/// A user's identifier, with the same alphabet as [`SimId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id must not be empty")]
    Empty,
    #[error("an id is at most 64 characters")]
    TooLong,
    #[error("an id may hold only ASCII letters, digits, '-' and '_'")]
    BadCharacter,
}

fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > 64 {
        return Err(IdError::TooLong);
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            pub fn parse(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                check_id(&id)?;
                Ok(Self(id))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(id: String) -> Result<Self, IdError> {
                Self::parse(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(SimId);
string_id!(UserId);

/// How fast simulated time runs against real time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    Paused,
    #[default]
    #[serde(rename = "1x")]
    X1,
    #[serde(rename = "2x")]
    X2,
    #[serde(rename = "5x")]
    X5,
    #[serde(rename = "10x")]
    X10,
    #[serde(rename = "100x")]
    X100,
}

impl Speed {
    /// Simulated milliseconds per real millisecond (0 when paused).
    pub fn multiplier(self) -> u32 {
        match self {
            Self::Paused => 0,
            Self::X1 => 1,
            Self::X2 => 2,
            Self::X5 => 5,
            Self::X10 => 10,
            Self::X100 => 100,
        }
    }

    pub fn from_multiplier(multiplier: u32) -> Option<Self> {
        [Self::Paused, Self::X1, Self::X2, Self::X5, Self::X10, Self::X100]
            .into_iter()
            .find(|speed| speed.multiplier() == multiplier)
    }
}

/// A new order as the user enters it: the participant is the connection's user, and the client order id is
/// required (it makes retries safe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OrderEntry {
    pub instrument: InstrumentId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    #[serde(default)]
    pub display_qty: Option<Qty>,
    #[serde(default)]
    pub post_only: bool,
    #[serde(default)]
    pub stp: StpMode,
}

impl OrderEntry {
    /// The engine command for this entry, on behalf of `participant` (the connection's user).
    pub fn to_new_order(self, participant: ParticipantId) -> NewOrder {
        NewOrder {
            participant,
            instrument: self.instrument,
            client_order_id: Some(self.client_order_id),
            side: self.side,
            qty: self.qty,
            order_type: self.order_type,
            tif: self.tif,
            display_qty: self.display_qty,
            post_only: self.post_only,
            stp: self.stp,
        }
    }
}

/// What a client sends. Every message carries `v` (checked before the body is parsed) and `sim`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on a connection, and again to resync after a gap: `last_seq` is the last seq the client
    /// applied (0 for none). The server answers `welcome`, then a replay or a snapshot, then live events.
    Hello {
        sim: SimId,
        last_seq: u64,
    },
    Order {
        sim: SimId,
        order: OrderEntry,
    },
    Cancel {
        sim: SimId,
        order: OrderRef,
        #[serde(default)]
        request_id: Option<String>,
    },
    Amend {
        sim: SimId,
        order: OrderRef,
        #[serde(default)]
        qty: Option<Qty>,
        #[serde(default)]
        price: Option<Price>,
        #[serde(default)]
        request_id: Option<String>,
    },
    MassCancel {
        sim: SimId,
        #[serde(default)]
        instrument: Option<InstrumentId>,
        #[serde(default)]
        side: Option<Side>,
        #[serde(default)]
        request_id: Option<String>,
    },
    SetSpeed {
        sim: SimId,
        speed: Speed,
    },
    Ping {
        sim: SimId,
        nonce: u64,
    },
    Pong {
        sim: SimId,
        nonce: u64,
    },
}

impl ClientMessage {
    pub fn sim(&self) -> &SimId {
        match self {
            Self::Hello { sim, .. }
            | Self::Order { sim, .. }
            | Self::Cancel { sim, .. }
            | Self::Amend { sim, .. }
            | Self::MassCancel { sim, .. }
            | Self::SetSpeed { sim, .. }
            | Self::Ping { sim, .. }
            | Self::Pong { sim, .. } => sim,
        }
    }
}

/// The message types a client may send, for error reports that name the known ones.
pub const CLIENT_MESSAGE_TYPES: [&str; 8] =
    ["hello", "order", "cancel", "amend", "mass_cancel", "set_speed", "ping", "pong"];

/// How the server brings a client up to date after `hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ResumeMode {
    /// Every event after the client's `last_seq` follows in `events` messages.
    Replay,
    /// The client's `last_seq` is outside the replay window (or 0): a `snapshot` follows; drop local state.
    Snapshot,
}

/// A simulator's life as a client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SimState {
    Running,
    Paused,
    /// The engine failed; the simulator is being recovered from its journal.
    Recovering,
    Failed,
    Stopped,
}

/// The outcome of an order entry, the same for the first attempt and every retry of its client order id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OrderOutcome {
    /// The engine took the order; its execution reports are in the stream from `seq` on.
    Accepted { order_id: OrderId, seq: u64 },
    /// The engine refused the order (its `rejected` execution report is at `seq`).
    Rejected { reason: RejectReason, message: String, seq: u64 },
    /// The client order id was used before, in another simulator: this order was not entered.
    DuplicateElsewhere { sim: SimId },
}

/// Stable codes of [`ServerMessage::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    BadJson,
    /// `v` is missing or not [`STREAM_VERSION`].
    WrongVersion,
    /// `type` is missing or names no client message.
    UnknownType,
    /// The fields do not fit the message type.
    InvalidMessage,
    /// The frame is over [`MAX_FRAME_BYTES`].
    Oversize,
    /// `sim` is not this connection's simulator.
    WrongSimulator,
    /// A message other than `hello` came before `hello`.
    HelloFirst,
    /// Order entry is over the user's rate; `retry_after_ms` says when to try again.
    RateLimited,
    /// The simulator is not running here (stopped, failed or recovering); reconnect later.
    Unavailable,
    /// The journal could not record the command; it was not entered. Retrying with the same id is safe.
    JournalUnavailable,
    Internal,
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`. `seq` is the last event the simulator has emitted.
    Welcome {
        sim: SimId,
        seq: u64,
        resume: ResumeMode,
        state: SimState,
        speed: Speed,
        heartbeat_ms: u64,
        dead_after_ms: u64,
    },
    /// Events `from..=to` in order (see the module invariants on conflation).
    Events {
        from: u64,
        to: u64,
        events: Vec<Event>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        books: Vec<BookSnapshot>,
    },
    /// One chunk of a JSON-encoded `EngineView` standing at `seq`; concatenate `data` over `chunk` 0..`chunks`.
    Snapshot {
        seq: u64,
        chunk: u32,
        chunks: u32,
        data: String,
    },
    OrderAck {
        client_order_id: ClientOrderId,
        outcome: OrderOutcome,
    },
    /// The simulator's state or speed changed.
    Status {
        state: SimState,
        speed: Speed,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
}

/// A message with its envelope: `{"v": 1, "type": ..., ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Envelope<T> {
    pub v: u32,
    #[serde(flatten)]
    pub message: T,
}

impl<T> Envelope<T> {
    pub fn new(message: T) -> Self {
        Self { v: STREAM_VERSION, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("", IdError::Empty)]
    #[case("a b", IdError::BadCharacter)]
    #[case("é", IdError::BadCharacter)]
    #[case(&"x".repeat(65), IdError::TooLong)]
    fn bad_ids_are_refused(#[case] id: &str, #[case] error: IdError) {
        assert_eq!(SimId::parse(id), Err(error.clone()));
        assert_eq!(UserId::parse(id), Err(error));
    }

    #[test]
    fn messages_round_trip_in_their_envelope() {
        let sim = SimId::parse("sim-1").unwrap();
        let hello = Envelope::new(ClientMessage::Hello { sim: sim.clone(), last_seq: 7 });
        let json = serde_json::to_string(&hello).unwrap();
        assert_eq!(json, r#"{"v":1,"type":"hello","sim":"sim-1","last_seq":7}"#);
        assert_eq!(serde_json::from_str::<Envelope<ClientMessage>>(&json).unwrap(), hello);

        let welcome = Envelope::new(ServerMessage::Welcome {
            sim,
            seq: 9,
            resume: ResumeMode::Replay,
            state: SimState::Running,
            speed: Speed::X10,
            heartbeat_ms: 5000,
            dead_after_ms: 12000,
        });
        let json = serde_json::to_string(&welcome).unwrap();
        assert!(json.starts_with(r#"{"v":1,"type":"welcome","sim":"sim-1","seq":9,"resume":"replay""#), "{json}");
        assert!(json.contains(r#""speed":"10x""#), "{json}");
        assert_eq!(serde_json::from_str::<Envelope<ServerMessage>>(&json).unwrap(), welcome);
    }

    #[test]
    fn speeds_map_to_multipliers_and_back() {
        for speed in [Speed::Paused, Speed::X1, Speed::X2, Speed::X5, Speed::X10, Speed::X100] {
            assert_eq!(Speed::from_multiplier(speed.multiplier()), Some(speed));
        }
        assert_eq!(Speed::from_multiplier(3), None);
    }

    #[test]
    fn an_order_entry_becomes_the_users_new_order_with_every_term() {
        let entry: OrderEntry = serde_json::from_str(
            r#"{"instrument":1,"client_order_id":"c-1","side":"sell","qty":30,
                "order_type":{"type":"limit","price":10100},"tif":{"type":"ioc"},
                "display_qty":10,"post_only":true,"stp":"cancel_both"}"#,
        )
        .unwrap();
        let order = entry.to_new_order(ParticipantId::USER);
        assert_eq!(order.participant, ParticipantId::USER);
        assert_eq!(order.client_order_id, Some(entry.client_order_id));
        assert_eq!(
            (order.instrument, order.side, order.qty, order.order_type, order.tif),
            (entry.instrument, Side::Sell, entry.qty, entry.order_type, entry.tif)
        );
        assert_eq!((order.display_qty, order.post_only, order.stp), (Some(Qty(10)), true, StpMode::CancelBoth));
    }
}
