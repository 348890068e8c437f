//! Read-only views of an engine, for clients that join or resume past the replay window. Views are queries:
//! taking one changes nothing and consumes no `seq`.

use crate::command::{OrderType, Side, TimeInForce};
use crate::event::{AccountUpdate, OrderStatus, TradingStatus};
use crate::ids::{ClientOrderId, InstrumentId, OrderId, ParticipantId, Price, Qty};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Asks for a participant's [`EngineView`] with `depth` price levels per book side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ViewRequest {
    pub participant: ParticipantId,
    pub depth: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BookLevel {
    pub price: Price,
    pub qty: Qty,
    pub orders: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BookSnapshot {
    pub instrument: InstrumentId,
    /// Best first.
    pub bids: Vec<BookLevel>,
    /// Best first.
    pub asks: Vec<BookLevel>,
    pub last_trade_price: Option<Price>,
    pub status: TradingStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpenOrder {
    pub order_id: OrderId,
    pub client_order_id: Option<ClientOrderId>,
    pub instrument: InstrumentId,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub status: OrderStatus,
    pub qty: Qty,
    pub cum_qty: Qty,
    pub leaves_qty: Qty,
    pub display_qty: Option<Qty>,
    pub price: Option<Price>,
    /// Displayed quantity ahead at its price, for resting orders.
    pub qty_ahead: Option<Qty>,
}

/// Everything a participant's screen needs to start from, as of event `seq` (the last event emitted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EngineView {
    pub participant: ParticipantId,
    pub seq: u64,
    pub step: u64,
    pub time_ms: u64,
    pub books: Vec<BookSnapshot>,
    pub open_orders: Vec<OpenOrder>,
    pub account: AccountUpdate,
}
