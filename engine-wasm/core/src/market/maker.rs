//! Market makers: one post-only quote per side around the average of everyone else's mid and the last trade,
//! widened by recent volatility, skewed and capped by inventory. A quote is replaced only when its price (or
//! presence) changes, so resting quotes keep their queue priority.

use super::params::ScenarioParams;
use super::state::{InstrumentState, next_arrival};
use crate::rng::Rng;
use crate::venue::Venue;
use bincode::{Decode, Encode};
use tradesim_protocol::{OrderId, ParticipantId, Side, TimeInForce};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
struct Quote {
    order: OrderId,
    price: i64,
}

#[derive(Debug, Encode, Decode)]
pub(super) struct MarketMaker {
    rng: Rng,
    pub(super) next_at_ms: u64,
    participant: ParticipantId,
    bid: Option<Quote>,
    ask: Option<Quote>,
}

impl MarketMaker {
    /// A maker that quotes at the first step: the market opens with a two-sided book, as a real venue's does
    /// after its opening auction, instead of an empty one until the first requote falls due.
    pub(super) fn new(rng: Rng, participant: ParticipantId) -> Self {
        Self { rng, next_at_ms: 0, participant, bid: None, ask: None }
    }

    /// Looks at the book and requotes; `withdrawn` pulls both quotes instead.
    pub(super) fn on_event(
        &mut self,
        s: &InstrumentState,
        p: &ScenarioParams,
        venue: &mut impl Venue,
        now: u64,
        withdrawn: bool,
    ) {
        self.next_at_ms = next_arrival(&mut self.rng, now, 1000.0 / p.makers.requote_mean_ms);
        if venue.is_halted(s.instrument) {
            return;
        }
        for quote in [&mut self.bid, &mut self.ask] {
            if quote.is_some_and(|q| !venue.is_working(q.order)) {
                *quote = None;
            }
        }
        if withdrawn {
            for quote in [self.bid.take(), self.ask.take()].into_iter().flatten() {
                venue.cancel(self.participant, quote.order);
            }
            return;
        }
        let inventory =
            venue.position(self.participant, s.instrument) as f64 / (p.makers.max_inventory_lots * s.lot) as f64;
        let (bid, ask) = self.desired_prices(s, p, venue, inventory);
        // Size shrinks on the side that would add to the inventory, and vanishes at the cap.
        let size = |adding: f64| libm::round(p.makers.size_lots as f64 * (1.0 - adding.clamp(0.0, 1.0))) as u64;
        let bid = Some((bid, size(inventory))).filter(|_| s.in_band(venue, bid));
        let ask = Some((ask, size(-inventory))).filter(|_| s.in_band(venue, ask));
        // Cancel stale quotes before placing new ones: a new bid may be priced where the old ask was.
        self.bid = self.keep_or_cancel(venue, self.bid, bid);
        self.ask = self.keep_or_cancel(venue, self.ask, ask);
        if self.bid.is_none() {
            self.bid = self.place(s, venue, Side::Buy, bid);
        }
        if self.ask.is_none() {
            self.ask = self.place(s, venue, Side::Sell, ask);
        }
    }

    /// Bid and ask prices for an inventory given as a fraction of the cap.
    fn desired_prices(
        &self,
        s: &InstrumentState,
        p: &ScenarioParams,
        venue: &impl Venue,
        inventory: f64,
    ) -> (i64, i64) {
        let tick = s.tick as f64;
        let others_bid = self.others_best(s, venue, Side::Buy, self.bid);
        let others_ask = self.others_best(s, venue, Side::Sell, self.ask);
        let vol_ticks = s.track.vol_per_s() * s.observed_price(venue) / tick;
        let half = (p.makers.min_half_spread_ticks + p.makers.vol_spread * vol_ticks)
            .clamp(p.makers.min_half_spread_ticks, p.makers.max_half_spread_ticks)
            * tick;
        // Leaning towards the last trade makes trades move the price for a while instead of snapping back.
        let centre = match (others_bid, others_ask) {
            (Some(bid), Some(ask)) => match venue.last_trade_price(s.instrument) {
                Some(last) => ((bid + ask) as f64 / 2.0 + last.0 as f64) / 2.0,
                None => (bid + ask) as f64 / 2.0,
            },
            (Some(bid), None) => bid as f64 + half,
            (None, Some(ask)) => ask as f64 - half,
            (None, None) => s.observed_price(venue),
        };
        let centre = centre - inventory.clamp(-1.0, 1.0) * p.makers.skew_ticks * tick;
        let mut bid = s.floor_tick(centre - half);
        let mut ask = s.ceil_tick(centre + half).max(bid + s.tick);
        // Never cross the others' prices: post-only would reject such a quote and leave the side empty.
        if let Some(others_ask) = others_ask {
            bid = bid.min(others_ask - s.tick);
        }
        if let Some(others_bid) = others_bid {
            ask = ask.max(others_bid + s.tick);
        }
        (bid, ask)
    }

    /// The best price on `side` not counting this maker's own quote there.
    fn others_best(&self, s: &InstrumentState, venue: &impl Venue, side: Side, own: Option<Quote>) -> Option<i64> {
        let best = venue.best(s.instrument, side)?;
        match own {
            Some(quote) if quote.price == best.price.0 && best.orders <= 1 => {
                let mut levels = Vec::with_capacity(2);
                venue.depth(s.instrument, side, 2, &mut levels);
                levels.get(1).map(|level| level.price.0)
            }
            _ => Some(best.price.0),
        }
    }

    /// Keeps a quote that already sits at the desired price; cancels any other.
    fn keep_or_cancel(
        &self,
        venue: &mut impl Venue,
        current: Option<Quote>,
        desired: Option<(i64, u64)>,
    ) -> Option<Quote> {
        let quote = current?;
        if desired.is_some_and(|(price, lots)| price == quote.price && lots > 0) {
            return current;
        }
        venue.cancel(self.participant, quote.order);
        None
    }

    fn place(
        &self,
        s: &InstrumentState,
        venue: &mut impl Venue,
        side: Side,
        desired: Option<(i64, u64)>,
    ) -> Option<Quote> {
        let (price, lots) = desired.filter(|&(_, lots)| lots > 0)?;
        let mut order = s.limit(self.participant, side, price, lots, TimeInForce::Gtc);
        order.post_only = true;
        let submitted = venue.submit(order);
        match (submitted.resting, submitted.order_id) {
            (true, Some(order)) => Some(Quote { order, price }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy_venue::ToyVenue;
    use super::*;
    use tradesim_protocol::{InstrumentId, Scenario, SimConfig};

    #[test]
    fn quotes_around_the_others_mid_and_stop_adding_at_full_inventory() {
        let p = ScenarioParams::of(Scenario::Calm).unwrap();
        let config = SimConfig::default().instruments[0].clone();
        let mut venue = ToyVenue::new(std::slice::from_ref(&config));
        let mut rng = Rng::seed_from(1);
        let state = InstrumentState::new(p, InstrumentId(0), &config, &mut rng);
        let other = ParticipantId(2);
        venue.submit(state.limit(other, Side::Buy, 9_990, 5, TimeInForce::Gtc));
        venue.submit(state.limit(other, Side::Sell, 10_010, 5, TimeInForce::Gtc));
        let id = ParticipantId(ParticipantId::FIRST_AGENT);
        let mut maker = MarketMaker::new(rng.fork(1), id);

        maker.on_event(&state, p, &mut venue, 0, false);
        let quotes = venue.orders_of(id);
        let [(Side::Buy, bid, bid_qty), (Side::Sell, ask, ask_qty)] = quotes[..] else { panic!("{quotes:?}") };
        assert_eq!(10_000 - bid, ask - 10_000, "{quotes:?}");
        assert!(ask - bid <= 4, "{quotes:?}");
        assert_eq!((bid_qty, ask_qty), (p.makers.size_lots, p.makers.size_lots));

        // Requoting an unchanged book changes nothing.
        let sent = venue.submitted.len();
        maker.on_event(&state, p, &mut venue, 100, false);
        assert_eq!(venue.submitted.len(), sent);

        venue.set_position(id, InstrumentId(0), (p.makers.max_inventory_lots * config.lot_size.0) as i64);
        maker.on_event(&state, p, &mut venue, 200, false);
        let quotes = venue.orders_of(id);
        let [(Side::Sell, skewed_ask, _)] = quotes[..] else { panic!("{quotes:?}") };
        assert!(skewed_ask < ask, "a long maker leans its ask towards the buyers: {quotes:?}");

        maker.on_event(&state, p, &mut venue, 300, true);
        assert_eq!(venue.orders_of(id), []);
    }
}
