//! The exchange as the background market sees it: the same validation and matching as commands, with a flush
//! after every action.

use super::Exchange;
use crate::venue::{Submitted, Venue};
use tradesim_protocol::{
    BookLevel, Event, InstrumentConfig, InstrumentId, NewOrder, OrderId, OrderRef, ParticipantId, Price, Side,
};

#[derive(Debug)]
pub struct ExchangeVenue<'a> {
    exchange: &'a mut Exchange,
    out: &'a mut Vec<Event>,
}

impl<'a> ExchangeVenue<'a> {
    pub fn new(exchange: &'a mut Exchange, out: &'a mut Vec<Event>) -> Self {
        Self { exchange, out }
    }
}

impl Venue for ExchangeVenue<'_> {
    fn time_ms(&self) -> u64 {
        self.exchange.time_ms
    }

    fn instrument(&self, instrument: InstrumentId) -> &InstrumentConfig {
        self.exchange.spec(instrument)
    }

    fn best(&self, instrument: InstrumentId, side: Side) -> Option<BookLevel> {
        let (price, level) = self.exchange.instrument(instrument).side(side).best()?;
        Some(BookLevel { price, qty: level.shown, orders: level.orders })
    }

    fn depth(&self, instrument: InstrumentId, side: Side, levels: usize, out: &mut Vec<BookLevel>) {
        let book = self.exchange.instrument(instrument).side(side);
        out.extend(book.levels().take(levels).map(|(price, level)| BookLevel {
            price,
            qty: level.shown,
            orders: level.orders,
        }));
    }

    fn last_trade_price(&self, instrument: InstrumentId) -> Option<Price> {
        self.exchange.instrument(instrument).state.last_trade
    }

    fn price_band(&self, instrument: InstrumentId) -> (Price, Price) {
        self.exchange.price_band(instrument)
    }

    fn is_halted(&self, instrument: InstrumentId) -> bool {
        self.exchange.is_halted(instrument)
    }

    fn position(&self, participant: ParticipantId, instrument: InstrumentId) -> i64 {
        self.exchange.accounts.get(participant).map_or(0, |account| account.positions[usize::from(instrument.0)].qty)
    }

    fn is_working(&self, order: OrderId) -> bool {
        self.exchange.orders.slot(order).is_some_and(|slot| self.exchange.orders.get(slot).working)
    }

    fn submit(&mut self, order: NewOrder) -> Submitted {
        let submitted = self.exchange.new_order(order, self.out);
        self.exchange.settle(self.out);
        submitted
    }

    fn cancel(&mut self, participant: ParticipantId, order: OrderId) -> bool {
        let Some(slot) = self.exchange.resolve(participant, OrderRef::OrderId(order)) else { return false };
        self.exchange.cancel(slot, tradesim_protocol::CancelReason::Requested, self.out);
        self.exchange.settle(self.out);
        true
    }
}
