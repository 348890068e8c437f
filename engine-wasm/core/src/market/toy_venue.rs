//! A minimal in-memory [`Venue`] for unit tests of agent logic: price-time matching, the halt, tick, lot, band and
//! post-only checks, positions (GTD orders rest but never expire). Not the exchange: just enough to run agents
//! against and to catch orders the real exchange would reject. It panics if an agent would trade with itself.

use crate::venue::{Submitted, Venue};
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use tradesim_protocol::{
    BookLevel, InstrumentConfig, InstrumentId, NewOrder, OrderId, OrderType, ParticipantId, Price, Qty, RejectReason,
    Side, TimeInForce,
};

#[derive(Clone, Debug)]
struct Resting {
    order: OrderId,
    participant: ParticipantId,
    qty: u64,
}

#[derive(Clone, Debug, Default)]
struct Book {
    bids: BTreeMap<i64, VecDeque<Resting>>,
    asks: BTreeMap<i64, VecDeque<Resting>>,
    last: Option<i64>,
}

impl Book {
    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, VecDeque<Resting>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Price levels of a side, best first.
    fn levels(&self, side: Side) -> Box<dyn Iterator<Item = (&i64, &VecDeque<Resting>)> + '_> {
        match side {
            Side::Buy => Box::new(self.bids.iter().rev()),
            Side::Sell => Box::new(self.asks.iter()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ToyTrade {
    pub(super) time_ms: u64,
    pub(super) instrument: InstrumentId,
    pub(super) price: i64,
    pub(super) qty: u64,
}

#[derive(Clone, Debug)]
pub(super) struct ToyVenue {
    pub(super) time_ms: u64,
    pub(super) halted: bool,
    configs: Vec<InstrumentConfig>,
    books: Vec<Book>,
    positions: BTreeMap<(ParticipantId, InstrumentId), i64>,
    working: BTreeMap<OrderId, (InstrumentId, Side, i64)>,
    next_order: u64,
    pub(super) submitted: Vec<(u64, NewOrder)>,
    pub(super) rejected: Vec<(NewOrder, RejectReason)>,
    pub(super) cancels: Vec<(u64, OrderId)>,
    pub(super) trades: Vec<ToyTrade>,
    /// Calls of any query other than `time_ms`.
    pub(super) queries: Cell<u64>,
}

impl ToyVenue {
    pub(super) fn new(configs: &[InstrumentConfig]) -> Self {
        Self {
            time_ms: 0,
            halted: false,
            configs: configs.to_vec(),
            books: vec![Book::default(); configs.len()],
            positions: BTreeMap::new(),
            working: BTreeMap::new(),
            next_order: 1,
            submitted: Vec::new(),
            rejected: Vec::new(),
            cancels: Vec::new(),
            trades: Vec::new(),
            queries: Cell::new(0),
        }
    }

    fn count(&self) {
        self.queries.set(self.queries.get() + 1);
    }

    pub(super) fn set_position(&mut self, participant: ParticipantId, instrument: InstrumentId, position: i64) {
        self.positions.insert((participant, instrument), position);
    }

    /// Working orders of one participant: (side, price, qty).
    pub(super) fn orders_of(&self, participant: ParticipantId) -> Vec<(Side, i64, u64)> {
        let mut orders = Vec::new();
        for book in &self.books {
            for side in [Side::Buy, Side::Sell] {
                for (price, queue) in book.levels(side) {
                    for resting in queue.iter().filter(|r| r.participant == participant) {
                        orders.push((side, *price, resting.qty));
                    }
                }
            }
        }
        orders
    }

    fn check(&self, order: &NewOrder) -> Result<(), RejectReason> {
        let config = self.configs.get(usize::from(order.instrument.0)).ok_or(RejectReason::UnknownInstrument)?;
        if order.qty.0 == 0 {
            return Err(RejectReason::InvalidOrder);
        }
        if self.halted {
            return Err(RejectReason::TradingHalted);
        }
        if !order.qty.0.is_multiple_of(config.lot_size.0) {
            return Err(RejectReason::OffLot);
        }
        if let OrderType::Limit { price } = order.order_type {
            if price.0 % config.tick_size.0 != 0 {
                return Err(RejectReason::OffTick);
            }
            let (low, high) = self.price_band(order.instrument);
            if price < low || price > high {
                return Err(RejectReason::OutsidePriceBand);
            }
        }
        Ok(())
    }

    fn fill(&mut self, taker: ParticipantId, order: &NewOrder, limit: i64) -> u64 {
        let instrument = order.instrument;
        let book = &mut self.books[usize::from(instrument.0)];
        let mut left = order.qty.0;
        let mut filled = 0;
        while left > 0 {
            let opposite = book.side_mut(order.side.opposite());
            let level = match order.side {
                Side::Buy => opposite.first_entry().filter(|e| *e.key() <= limit),
                Side::Sell => opposite.last_entry().filter(|e| *e.key() >= limit),
            };
            let Some(mut level) = level else { break };
            let price = *level.key();
            let resting = level.get_mut().front_mut().expect("levels are never empty");
            assert_ne!(resting.participant, taker, "an agent traded with itself");
            let qty = left.min(resting.qty);
            resting.qty -= qty;
            let maker = resting.participant;
            if resting.qty == 0 {
                let done = level.get_mut().pop_front().expect("checked above");
                self.working.remove(&done.order);
                if level.get().is_empty() {
                    level.remove();
                }
            }
            left -= qty;
            filled += qty;
            book.last = Some(price);
            let signed = qty as i64 * order.side.sign();
            *self.positions.entry((taker, instrument)).or_default() += signed;
            *self.positions.entry((maker, instrument)).or_default() -= signed;
            self.trades.push(ToyTrade { time_ms: self.time_ms, instrument, price, qty });
        }
        filled
    }
}

impl Venue for ToyVenue {
    fn time_ms(&self) -> u64 {
        self.time_ms
    }

    fn instrument(&self, instrument: InstrumentId) -> &InstrumentConfig {
        self.count();
        &self.configs[usize::from(instrument.0)]
    }

    fn best(&self, instrument: InstrumentId, side: Side) -> Option<BookLevel> {
        self.count();
        let (price, queue) = self.books[usize::from(instrument.0)].levels(side).next()?;
        Some(BookLevel {
            price: Price(*price),
            qty: Qty(queue.iter().map(|r| r.qty).sum()),
            orders: queue.len() as u32,
        })
    }

    fn depth(&self, instrument: InstrumentId, side: Side, levels: usize, out: &mut Vec<BookLevel>) {
        self.count();
        for (price, queue) in self.books[usize::from(instrument.0)].levels(side).take(levels) {
            out.push(BookLevel {
                price: Price(*price),
                qty: Qty(queue.iter().map(|r| r.qty).sum()),
                orders: queue.len() as u32,
            });
        }
    }

    fn last_trade_price(&self, instrument: InstrumentId) -> Option<Price> {
        self.count();
        self.books[usize::from(instrument.0)].last.map(Price)
    }

    fn price_band(&self, instrument: InstrumentId) -> (Price, Price) {
        self.count();
        let config = &self.configs[usize::from(instrument.0)];
        let reference = i128::from(self.books[usize::from(instrument.0)].last.unwrap_or(config.reference_price.0));
        let (bps, tick) = (i128::from(config.price_band_bps), i128::from(config.tick_size.0));
        let low = (reference * (10_000 - bps) + 10_000 * tick - 1).div_euclid(10_000 * tick) * tick;
        let high = (reference * (10_000 + bps)).div_euclid(10_000 * tick) * tick;
        (Price(low as i64), Price(high as i64))
    }

    fn is_halted(&self, _instrument: InstrumentId) -> bool {
        self.count();
        self.halted
    }

    fn position(&self, participant: ParticipantId, instrument: InstrumentId) -> i64 {
        self.count();
        self.positions.get(&(participant, instrument)).copied().unwrap_or(0)
    }

    fn is_working(&self, order: OrderId) -> bool {
        self.count();
        self.working.contains_key(&order)
    }

    fn submit(&mut self, order: NewOrder) -> Submitted {
        self.submitted.push((self.time_ms, order));
        if let Err(reason) = self.check(&order) {
            self.rejected.push((order, reason));
            return Submitted { order_id: None, filled: Qty(0), resting: false, rejected: Some(reason) };
        }
        let (low, high) = self.price_band(order.instrument);
        let limit = match (order.order_type, order.side) {
            (OrderType::Limit { price }, _) => price.0,
            (_, Side::Buy) => high.0,
            (_, Side::Sell) => low.0,
        };
        let book = &self.books[usize::from(order.instrument.0)];
        let crosses = book.levels(order.side.opposite()).next().is_some_and(|(&best, _)| match order.side {
            Side::Buy => best <= limit,
            Side::Sell => best >= limit,
        });
        if order.post_only && crosses {
            self.rejected.push((order, RejectReason::PostOnlyWouldCross));
            return Submitted {
                order_id: None,
                filled: Qty(0),
                resting: false,
                rejected: Some(RejectReason::PostOnlyWouldCross),
            };
        }
        let id = OrderId(self.next_order);
        self.next_order += 1;
        let filled = self.fill(order.participant, &order, limit);
        let left = order.qty.0 - filled;
        let rests = left > 0
            && matches!(order.order_type, OrderType::Limit { .. })
            && !matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok);
        if rests {
            let book = &mut self.books[usize::from(order.instrument.0)];
            book.side_mut(order.side).entry(limit).or_default().push_back(Resting {
                order: id,
                participant: order.participant,
                qty: left,
            });
            self.working.insert(id, (order.instrument, order.side, limit));
        }
        Submitted { order_id: Some(id), filled: Qty(filled), resting: rests, rejected: None }
    }

    fn cancel(&mut self, participant: ParticipantId, order: OrderId) -> bool {
        self.cancels.push((self.time_ms, order));
        let Some(&(instrument, side, price)) = self.working.get(&order) else { return false };
        let queue = self.books[usize::from(instrument.0)].side_mut(side).get_mut(&price).expect("working order rests");
        let Some(index) = queue.iter().position(|r| r.order == order && r.participant == participant) else {
            return false;
        };
        queue.remove(index);
        if queue.is_empty() {
            self.books[usize::from(instrument.0)].side_mut(side).remove(&price);
        }
        self.working.remove(&order);
        true
    }
}
