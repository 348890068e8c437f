//! What every agent of one instrument shares: the instrument's tick and lot, the fundamental, the observed price
//! history, the self-exciting activity level, and helpers that build orders the exchange accepts.

use super::fundamental::{Fundamental, PriceTrack};
use super::params::ScenarioParams;
use crate::rng::Rng;
use crate::venue::Venue;
use bincode::{Decode, Encode};
use tradesim_protocol::{
    InstrumentConfig, InstrumentId, NewOrder, OrderType, ParticipantId, Price, Qty, Side, StpMode, TimeInForce,
};

#[derive(Debug, Encode, Decode)]
pub(super) struct InstrumentState {
    pub(super) instrument: InstrumentId,
    pub(super) tick: i64,
    pub(super) lot: u64,
    pub(super) reference: f64,
    pub(super) fundamental: Fundamental,
    pub(super) track: PriceTrack,
    /// Hawkes term of the activity level as of `excited_at_ms`; it decays exponentially from there.
    excitation: f64,
    excited_at_ms: u64,
}

/// Upper bound on the excitation, so a pathological burst cannot run away.
const MAX_EXCITATION: f64 = 20.0;

impl InstrumentState {
    pub(super) fn new(p: &ScenarioParams, instrument: InstrumentId, config: &InstrumentConfig, rng: &mut Rng) -> Self {
        let fundamental = Fundamental::new(&p.fundamental, rng);
        Self {
            instrument,
            tick: config.tick_size.0,
            lot: config.lot_size.0,
            reference: config.reference_price.0 as f64,
            fundamental,
            track: PriceTrack::new(p.fundamental.vol_bps_per_min / 1e4 / libm::sqrt(60.0)),
            excitation: 0.0,
            excited_at_ms: 0,
        }
    }

    /// Multiplier of the zero-intelligence and noise arrival rates at `now`.
    pub(super) fn activity(&self, p: &ScenarioParams, now: u64) -> f64 {
        let base = libm::pow(self.fundamental.vol_factor(&p.fundamental), p.flow.activity_vol_exponent);
        base + self.excitation_at(p, now)
    }

    fn excitation_at(&self, p: &ScenarioParams, now: u64) -> f64 {
        let elapsed_s = now.saturating_sub(self.excited_at_ms) as f64 / 1000.0;
        self.excitation * libm::exp(-elapsed_s / p.flow.excitation_decay_s)
    }

    /// Records an aggressive agent fill: raises the activity level (the Hawkes jump).
    pub(super) fn excite(&mut self, p: &ScenarioParams, now: u64) {
        let aggressive_rate = p.flow.market_rate + p.flow.noise_rate;
        let jump = p.flow.branching / (p.flow.excitation_decay_s * aggressive_rate);
        self.excitation = (self.excitation_at(p, now) + jump).min(MAX_EXCITATION);
        self.excited_at_ms = now;
    }

    /// The price agents look at: the mid, else the last trade, else whichever side exists, else the reference.
    pub(super) fn observed_price(&self, venue: &impl Venue) -> f64 {
        let bid = venue.best(self.instrument, Side::Buy).map(|level| level.price.0);
        let ask = venue.best(self.instrument, Side::Sell).map(|level| level.price.0);
        match (bid, ask, venue.last_trade_price(self.instrument)) {
            (Some(bid), Some(ask), _) => (bid + ask) as f64 / 2.0,
            (_, _, Some(last)) => last.0 as f64,
            (Some(price), None, None) | (None, Some(price), None) => price as f64,
            (None, None, None) => self.reference,
        }
    }

    pub(super) fn floor_tick(&self, price: f64) -> i64 {
        libm::floor(price / self.tick as f64) as i64 * self.tick
    }

    pub(super) fn ceil_tick(&self, price: f64) -> i64 {
        libm::ceil(price / self.tick as f64) as i64 * self.tick
    }

    /// True when a limit order at `price` would pass the band check (and the price is positive).
    pub(super) fn in_band(&self, venue: &impl Venue, price: i64) -> bool {
        let (low, high) = venue.price_band(self.instrument);
        price >= low.0.max(self.tick) && price <= high.0
    }

    pub(super) fn limit(
        &self,
        participant: ParticipantId,
        side: Side,
        price: i64,
        lots: u64,
        tif: TimeInForce,
    ) -> NewOrder {
        self.order(participant, side, OrderType::Limit { price: Price(price) }, lots, tif)
    }

    pub(super) fn market(&self, participant: ParticipantId, side: Side, lots: u64) -> NewOrder {
        self.order(participant, side, OrderType::Market, lots, TimeInForce::Ioc)
    }

    fn order(
        &self,
        participant: ParticipantId,
        side: Side,
        order_type: OrderType,
        lots: u64,
        tif: TimeInForce,
    ) -> NewOrder {
        NewOrder {
            participant,
            instrument: self.instrument,
            client_order_id: None,
            side,
            qty: Qty(lots.saturating_mul(self.lot)),
            order_type,
            tif,
            display_qty: None,
            post_only: false,
            stp: StpMode::CancelNewest,
        }
    }
}

/// The next arrival of a Poisson process with `rate_per_s` after `from_ms` (never `from_ms` itself, so loops
/// over due events always advance).
pub(super) fn next_arrival(rng: &mut Rng, from_ms: u64, rate_per_s: f64) -> u64 {
    if rate_per_s <= 0.0 {
        return u64::MAX;
    }
    let gap = libm::round(rng.exponential(1000.0 / rate_per_s)) as u64;
    from_ms.saturating_add(gap.max(1))
}

/// A size in lots drawn from a geometric distribution on 1, 2, ... with the given mean.
pub(super) fn geometric_lots(rng: &mut Rng, mean: f64) -> u64 {
    if mean <= 1.0 {
        return 1;
    }
    // floor(Exp(m)) is geometric with mean 1 / (e^(1/m) - 1); solve that for mean - 1.
    1 + libm::floor(rng.exponential(1.0 / libm::log(mean / (mean - 1.0)))) as u64
}

/// Maps a signal to a target fraction of the maximum position: 0 inside the threshold, growing linearly to ±1 at
/// `full`.
pub(super) fn target_fraction(signal: f64, threshold: f64, full: f64) -> f64 {
    let strength = ((signal.abs() - threshold) / (full - threshold)).clamp(0.0, 1.0);
    if signal < 0.0 { -strength } else { strength }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_fraction_has_a_dead_band_and_saturates() {
        assert_eq!(target_fraction(5.0, 10.0, 50.0), 0.0);
        assert_eq!(target_fraction(-30.0, 10.0, 50.0), -0.5);
        assert_eq!(target_fraction(90.0, 10.0, 50.0), 1.0);
    }

    #[test]
    fn arrivals_advance_and_have_the_right_rate() {
        let mut rng = Rng::seed_from(1);
        let mut t = 0;
        for _ in 0..10_000 {
            let next = next_arrival(&mut rng, t, 20.0);
            assert!(next > t);
            t = next;
        }
        // 10,000 arrivals at 20/s take about 500 s.
        assert!((480_000..520_000).contains(&t), "{t}");
        assert_eq!(next_arrival(&mut rng, 5, 0.0), u64::MAX);
    }

    #[test]
    fn geometric_lots_have_the_right_mean() {
        let mut rng = Rng::seed_from(2);
        let total: u64 = (0..20_000).map(|_| geometric_lots(&mut rng, 8.0)).sum();
        let mean = total as f64 / 20_000.0;
        assert!((7.5..8.5).contains(&mean), "{mean}");
    }
}
