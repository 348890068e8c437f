//! Events: everything an engine says. Each carries a gap-free `seq` (the simulator stream's sequence number) and
//! the simulated time it happened at.

use crate::command::Side;
use crate::ids::{ClientOrderId, InstrumentId, OrderId, ParticipantId, Price, Qty, TradeId};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Event {
    pub seq: u64,
    /// Simulated milliseconds since the simulation started.
    pub time_ms: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// An order's state changed (commanded participants only; agents' orders are silent).
    ExecutionReport(ExecutionReport),
    /// A public trade.
    Trade(Trade),
    /// One L2 price level changed; `qty` 0 removes it.
    BookDelta(BookDelta),
    /// Best bid and offer changed.
    Bbo(Bbo),
    /// A candle closed.
    Candle(Candle),
    /// A commanded participant's account changed (after its fills, and marked to market once a simulated second).
    Account(AccountUpdate),
    /// The quantity ahead of a resting order of a commanded participant changed.
    QueuePosition(QueuePosition),
    TradingStatus(TradingStatus),
    /// A cancel or amend was refused; the order (if any) is unchanged.
    RequestRejected(RequestRejected),
}

impl EventBody {
    /// The event's `type` tag on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ExecutionReport(_) => "execution_report",
            Self::Trade(_) => "trade",
            Self::BookDelta(_) => "book_delta",
            Self::Bbo(_) => "bbo",
            Self::Candle(_) => "candle",
            Self::Account(_) => "account",
            Self::QueuePosition(_) => "queue_position",
            Self::TradingStatus(_) => "trading_status",
            Self::RequestRejected(_) => "request_rejected",
        }
    }
}

/// Why an order or a request was refused. The snake_case names are stable codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    UnknownInstrument,
    /// Zero or oversized quantity, a display quantity above the order quantity or on a non-limit or IOC/FOK
    /// order, post-only on a non-limit or IOC/FOK order, a market order that is neither IOC nor FOK, a stop order
    /// with IOC/FOK, a GTD time already past.
    InvalidOrder,
    OffTick,
    OffLot,
    QuantityLimit,
    NotionalLimit,
    PositionLimit,
    OutsidePriceBand,
    InsufficientBuyingPower,
    DuplicateClientOrderId,
    UnknownOrder,
    PostOnlyWouldCross,
    FokNotFillable,
    TradingHalted,
    /// An amend with nothing to change, to a quantity at or below what has already filled, or of a price on an
    /// order that has none.
    InvalidAmend,
}

impl RejectReason {
    /// What a person can do about it.
    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownInstrument => "No such instrument in this simulator.",
            Self::InvalidOrder => "The order's fields do not fit together; check type, time in force and quantities.",
            Self::OffTick => "The price is not a multiple of the instrument's tick size.",
            Self::OffLot => "The quantity is not a multiple of the instrument's lot size.",
            Self::QuantityLimit => "The quantity is above your maximum order quantity.",
            Self::NotionalLimit => "The order's value is above your maximum order notional.",
            Self::PositionLimit => "Filling this order could take your position past its limit.",
            Self::OutsidePriceBand => "The price is too far from the last trade; move it closer to the market.",
            Self::InsufficientBuyingPower => "Not enough buying power; reduce the size or close positions.",
            Self::DuplicateClientOrderId => "This client order id was used before; every order needs a new one.",
            Self::UnknownOrder => "No working order with that id.",
            Self::PostOnlyWouldCross => "A post-only order would have traded at once; price it behind the market.",
            Self::FokNotFillable => "Not enough quantity in the book to fill the whole order at once.",
            Self::TradingHalted => "Trading is halted in this instrument; wait for it to resume.",
            Self::InvalidAmend => {
                "Give a new quantity above what has already filled, or a new price for an order that has one."
            }
        }
    }
}

/// Why a working order was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    Requested,
    MassCancel,
    SelfTradePrevention,
    /// The unfilled rest of an IOC or market order.
    ImmediateRemainder,
    /// A market order found the book empty or reached the price band.
    NoLiquidity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ExecType {
    /// Accepted; resting, or about to match.
    New,
    /// A stop order was accepted and waits for its trigger.
    PendingTrigger,
    /// A stop order triggered and now works as a market or limit order.
    Triggered,
    PartialFill,
    Fill,
    Cancelled,
    Expired,
    /// An amend took effect.
    Replaced,
    Rejected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingTrigger,
    New,
    PartiallyFilled,
    /// Terminal.
    Filled,
    /// Terminal.
    Cancelled,
    /// Terminal.
    Expired,
    /// Terminal.
    Rejected,
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Expired | Self::Rejected)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    Taker,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExecutionReport {
    pub participant: ParticipantId,
    /// Absent only when a new order was rejected before it got an id.
    pub order_id: Option<OrderId>,
    pub client_order_id: Option<ClientOrderId>,
    pub instrument: InstrumentId,
    pub side: Side,
    pub exec_type: ExecType,
    pub status: OrderStatus,
    /// Limit price, if the order has one.
    pub price: Option<Price>,
    /// Total order quantity (after any amend).
    pub qty: Qty,
    pub cum_qty: Qty,
    pub leaves_qty: Qty,
    /// Average fill price, rounded to the nearest price unit; absent before the first fill.
    pub avg_price: Option<Price>,
    pub last_price: Option<Price>,
    pub last_qty: Option<Qty>,
    pub liquidity: Option<Liquidity>,
    /// Fee charged on this fill (negative is a rebate), in money units.
    pub fee: i64,
    pub reject_reason: Option<RejectReason>,
    pub cancel_reason: Option<CancelReason>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Trade {
    pub trade_id: TradeId,
    pub instrument: InstrumentId,
    pub price: Price,
    pub qty: Qty,
    /// Side of the order that took liquidity.
    pub aggressor: Side,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BookDelta {
    pub instrument: InstrumentId,
    pub side: Side,
    pub price: Price,
    /// Displayed quantity now at this price; 0 means the level is gone.
    pub qty: Qty,
    pub orders: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Bbo {
    pub instrument: InstrumentId,
    pub bid_price: Option<Price>,
    pub bid_qty: Qty,
    pub ask_price: Option<Price>,
    pub ask_qty: Qty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CandleInterval {
    #[serde(rename = "1s")]
    OneSecond,
    #[serde(rename = "1m")]
    OneMinute,
}

impl CandleInterval {
    pub const ALL: [Self; 2] = [Self::OneSecond, Self::OneMinute];

    pub fn millis(self) -> u64 {
        match self {
            Self::OneSecond => 1_000,
            Self::OneMinute => 60_000,
        }
    }
}

/// A closed candle. An interval without trades gives a flat candle at the last price with zero volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Candle {
    pub instrument: InstrumentId,
    pub interval: CandleInterval,
    pub open_time_ms: u64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
    pub trades: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PositionView {
    pub instrument: InstrumentId,
    /// Signed: positive long, negative short.
    pub qty: i64,
    /// Average entry price of the open position, rounded; absent when flat.
    pub avg_price: Option<Price>,
    /// Signed cost of the open position (price times quantity), exact.
    pub cost_basis: i64,
    /// Last trade price, or the instrument's reference price before its first trade.
    pub mark_price: Price,
    pub realized_pnl: i64,
    pub unrealized_pnl: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountUpdate {
    pub participant: ParticipantId,
    pub cash: i64,
    /// Cash plus positions at mark.
    pub equity: i64,
    /// Notional the participant may still add to its exposure.
    pub buying_power: i64,
    pub realized_pnl: i64,
    pub unrealized_pnl: i64,
    pub fees_paid: i64,
    pub positions: Vec<PositionView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QueuePosition {
    pub participant: ParticipantId,
    pub order_id: OrderId,
    pub client_order_id: Option<ClientOrderId>,
    pub instrument: InstrumentId,
    pub side: Side,
    pub price: Price,
    /// Displayed quantity resting ahead of this order at its price.
    pub qty_ahead: Qty,
    pub orders_ahead: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Cancel,
    Amend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RequestRejected {
    pub participant: ParticipantId,
    pub request: RequestKind,
    /// The order as named in the request, completed from the order when it is known.
    pub order_id: Option<OrderId>,
    pub client_order_id: Option<ClientOrderId>,
    pub reason: RejectReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TradingStatus {
    pub instrument: InstrumentId,
    pub halted: bool,
    /// When an automatic halt ends, in simulated milliseconds.
    pub resumes_at_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_is_flat() {
        let event = Event {
            seq: 7,
            time_ms: 1_000,
            body: EventBody::Trade(Trade {
                trade_id: TradeId(3),
                instrument: InstrumentId(0),
                price: Price(10_001),
                qty: Qty(5),
                aggressor: Side::Buy,
            }),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"seq":7,"time_ms":1000,"type":"trade","trade_id":3,"instrument":0,"price":10001,"qty":5,"aggressor":"buy"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }

    #[test]
    fn type_name_is_the_json_tag() {
        let body =
            EventBody::TradingStatus(TradingStatus { instrument: InstrumentId(0), halted: true, resumes_at_ms: None });
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["type"], body.type_name());
        let body = EventBody::RequestRejected(RequestRejected {
            participant: ParticipantId::USER,
            request: RequestKind::Cancel,
            order_id: None,
            client_order_id: None,
            reason: RejectReason::UnknownOrder,
        });
        assert_eq!(serde_json::to_value(&body).unwrap()["type"], body.type_name());
    }

    #[test]
    fn reject_reason_codes_are_stable() {
        assert_eq!(serde_json::to_string(&RejectReason::PostOnlyWouldCross).unwrap(), "\"post_only_would_cross\"");
        assert_eq!(serde_json::to_string(&RejectReason::FokNotFillable).unwrap(), "\"fok_not_fillable\"");
    }
}
