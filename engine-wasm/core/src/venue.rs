//! What the simulated market sees of and does to the exchange. The exchange implements it; the agents in
//! [`crate::market`] use nothing else, so they cannot reach around the matching rules.

use tradesim_protocol::{
    BookLevel, InstrumentConfig, InstrumentId, NewOrder, OrderId, ParticipantId, Price, Qty, RejectReason, Side,
};

/// The outcome of an agent's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The order's id, unless it was rejected.
    pub order_id: Option<OrderId>,
    pub filled: Qty,
    /// True when some of the order is now working in the book.
    pub resting: bool,
    pub rejected: Option<RejectReason>,
}

pub trait Venue {
    /// Simulated milliseconds since the simulation started.
    fn time_ms(&self) -> u64;
    fn instrument(&self, instrument: InstrumentId) -> &InstrumentConfig;
    fn best(&self, instrument: InstrumentId, side: Side) -> Option<BookLevel>;
    /// Up to `levels` price levels of one side, best first, appended to `out`.
    fn depth(&self, instrument: InstrumentId, side: Side, levels: usize, out: &mut Vec<BookLevel>);
    fn last_trade_price(&self, instrument: InstrumentId) -> Option<Price>;
    /// Limit prices outside this inclusive range are rejected (`outside_price_band`).
    fn price_band(&self, instrument: InstrumentId) -> (Price, Price);
    fn is_halted(&self, instrument: InstrumentId) -> bool;
    /// Signed position of a participant.
    fn position(&self, participant: ParticipantId, instrument: InstrumentId) -> i64;
    /// True while the order is working (resting or waiting for its stop).
    fn is_working(&self, order: OrderId) -> bool;
    fn submit(&mut self, order: NewOrder) -> Submitted;
    /// Cancels a working order of `participant`; false if it was no longer working.
    fn cancel(&mut self, participant: ParticipantId, order: OrderId) -> bool;
}
