//! Commands: everything that changes an engine from outside. The background market is not commanded; it is a
//! pure function of the seed, the step index and the commands applied so far.

use crate::ids::{ClientOrderId, InstrumentId, OrderId, ParticipantId, Price, Qty};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// +1 for buys, -1 for sells: the sign a fill gives a position.
    pub fn sign(self) -> i64 {
        match self {
            Self::Buy => 1,
            Self::Sell => -1,
        }
    }
}

/// What kind of order, with the prices that kind needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderType {
    Limit {
        price: Price,
    },
    /// Executes against the book up to the price band; any remainder is cancelled.
    Market,
    /// Becomes a market order once the last trade reaches `stop_price`.
    StopMarket {
        stop_price: Price,
    },
    /// Becomes a limit order at `price` once the last trade reaches `stop_price`.
    StopLimit {
        stop_price: Price,
        price: Price,
    },
}

/// How long an order may work. GTD and DAY run on simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimeInForce {
    Gtc,
    /// Fill what can be filled at once, cancel the rest.
    Ioc,
    /// Fill everything at once or nothing (rejected with `fok_not_fillable`).
    Fok,
    /// Good till the simulated time `expire_at_ms` (milliseconds since the simulation started).
    Gtd {
        expire_at_ms: u64,
    },
    /// Good till the end of the current simulated trading day.
    Day,
}

/// Self-trade prevention: what happens when an order would trade with a resting order of the same participant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StpMode {
    /// Cancel the incoming order's remainder; the resting order stays.
    #[default]
    CancelNewest,
    /// Cancel the resting order and keep matching the incoming one.
    CancelOldest,
    /// Cancel both.
    CancelBoth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct NewOrder {
    pub participant: ParticipantId,
    pub instrument: InstrumentId,
    /// Required for the user's orders (idempotent retries); optional for replayed flow.
    #[serde(default)]
    pub client_order_id: Option<ClientOrderId>,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Iceberg: only this much is shown; the rest is held in reserve and refreshed (with new time priority) as the
    /// shown part fills.
    #[serde(default)]
    pub display_qty: Option<Qty>,
    /// Limit orders only: rejected (`post_only_would_cross`) instead of taking liquidity.
    #[serde(default)]
    pub post_only: bool,
    #[serde(default)]
    pub stp: StpMode,
}

/// An order named by the exchange's id or by the participant's client order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OrderRef {
    OrderId(OrderId),
    ClientOrderId(ClientOrderId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    NewOrder(NewOrder),
    Cancel {
        participant: ParticipantId,
        order: OrderRef,
    },
    /// Cancels every working order of the participant, optionally only on one instrument and/or side.
    MassCancel {
        participant: ParticipantId,
        #[serde(default)]
        instrument: Option<InstrumentId>,
        #[serde(default)]
        side: Option<Side>,
    },
    /// Changes quantity (new total order quantity, filled part included) and/or limit price. Reducing the quantity
    /// keeps queue priority; a new price or a larger quantity sends the order to the back of the queue.
    Amend {
        participant: ParticipantId,
        order: OrderRef,
        #[serde(default)]
        qty: Option<Qty>,
        #[serde(default)]
        price: Option<Price>,
    },
    /// Halts or resumes trading in an instrument (an operator action, also used by replays).
    SetTradingStatus {
        instrument: InstrumentId,
        halted: bool,
    },
}

impl Command {
    /// The participant a command acts for, when it has one.
    pub fn participant(&self) -> Option<ParticipantId> {
        match self {
            Self::NewOrder(order) => Some(order.participant),
            Self::Cancel { participant, .. }
            | Self::MassCancel { participant, .. }
            | Self::Amend { participant, .. } => Some(*participant),
            Self::SetTradingStatus { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_order_json_is_flat_and_tagged() {
        let json = r#"{"type":"new_order","participant":1,"instrument":0,"client_order_id":"c-1","side":"buy",
            "qty":10,"order_type":{"type":"limit","price":10025},"tif":{"type":"gtc"}}"#;
        let command: Command = serde_json::from_str(json).unwrap();
        let Command::NewOrder(order) = command else { panic!("not a new order: {command:?}") };
        assert_eq!(order.order_type, OrderType::Limit { price: Price(10025) });
        assert_eq!(order.stp, StpMode::CancelNewest);
        assert!(!order.post_only);
        let back: Command = serde_json::from_str(&serde_json::to_string(&command).unwrap()).unwrap();
        assert_eq!(back, command);
    }

    #[test]
    fn cancel_by_client_order_id() {
        let json = r#"{"type":"cancel","participant":1,"order":{"client_order_id":"c-1"}}"#;
        let command: Command = serde_json::from_str(json).unwrap();
        assert_eq!(
            command,
            Command::Cancel {
                participant: ParticipantId::USER,
                order: OrderRef::ClientOrderId(ClientOrderId::parse("c-1").unwrap())
            }
        );
    }
}
