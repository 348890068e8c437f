//! Directional traders that hold a target position derived from a signal and trade towards it: momentum traders
//! (signal: the return over a lookback) and value traders (signal: the mispricing against their own noisy
//! estimate of the fundamental).

use super::params::ScenarioParams;
use super::state::{InstrumentState, next_arrival, target_fraction};
use crate::rng::Rng;
use crate::venue::Venue;
use bincode::{Decode, Encode};
use tradesim_protocol::{ParticipantId, Side, TimeInForce};

/// Position limits of a directional trader, in lots.
struct Sizing {
    max_position: u64,
    max_order: u64,
    min_order: u64,
}

/// Lots to trade to move from the current position towards `fraction` of the maximum position; positive buys,
/// 0 when the move is below the minimum order (unless it closes the position).
fn order_lots(
    s: &InstrumentState,
    venue: &impl Venue,
    participant: ParticipantId,
    fraction: f64,
    sizing: Sizing,
) -> i64 {
    let target = libm::round(fraction * sizing.max_position as f64) as i64;
    let position = venue.position(participant, s.instrument) / s.lot as i64;
    let lots = (target - position).clamp(-(sizing.max_order as i64), sizing.max_order as i64);
    if lots.unsigned_abs() < sizing.min_order && !(target == 0 && lots == -position) { 0 } else { lots }
}

fn side_of(lots: i64) -> Side {
    if lots > 0 { Side::Buy } else { Side::Sell }
}

#[derive(Debug, Encode, Decode)]
pub(super) struct MomentumTrader {
    rng: Rng,
    pub(super) next_at_ms: u64,
    participant: ParticipantId,
}

impl MomentumTrader {
    pub(super) fn new(mut rng: Rng, participant: ParticipantId, p: &ScenarioParams) -> Self {
        let next_at_ms = next_arrival(&mut rng, 0, 1.0 / p.momentum.wake_mean_s);
        Self { rng, next_at_ms, participant }
    }

    pub(super) fn on_event(&mut self, s: &mut InstrumentState, p: &ScenarioParams, venue: &mut impl Venue) {
        let at = self.next_at_ms;
        self.next_at_ms = next_arrival(&mut self.rng, at, 1.0 / p.momentum.wake_mean_s);
        let (Some(latest), Some(then)) = (s.track.ago(0), s.track.ago(p.momentum.lookback_s)) else { return };
        if venue.is_halted(s.instrument) {
            return;
        }
        let m = &p.momentum;
        let signal_bps = libm::log(latest / then) * 1e4;
        let fraction = target_fraction(signal_bps, m.threshold_bps, m.full_signal_bps);
        let sizing =
            Sizing { max_position: m.max_position_lots, max_order: m.max_order_lots, min_order: m.min_order_lots };
        let lots = order_lots(s, venue, self.participant, fraction, sizing);
        if lots != 0 && venue.submit(s.market(self.participant, side_of(lots), lots.unsigned_abs())).filled.0 > 0 {
            s.excite(p, at);
        }
    }
}

#[derive(Debug, Encode, Decode)]
pub(super) struct ValueTrader {
    rng: Rng,
    pub(super) next_at_ms: u64,
    participant: ParticipantId,
    /// This trader's current misjudgement of the fundamental, in basis points (an OU process).
    error_bps: f64,
    /// When `error_bps` was last advanced.
    error_at_ms: u64,
}

impl ValueTrader {
    pub(super) fn new(mut rng: Rng, participant: ParticipantId, p: &ScenarioParams) -> Self {
        let error_bps = p.value.error_bps * rng.normal();
        let next_at_ms = next_arrival(&mut rng, 0, 1.0 / p.value.wake_mean_s);
        Self { rng, next_at_ms, participant, error_bps, error_at_ms: 0 }
    }

    pub(super) fn on_event(&mut self, s: &mut InstrumentState, p: &ScenarioParams, venue: &mut impl Venue) {
        let at = self.next_at_ms;
        let v = &p.value;
        self.next_at_ms = next_arrival(&mut self.rng, at, 1.0 / v.wake_mean_s);
        // Exact OU update of the estimation error over the time since the last look.
        let decay = libm::exp(-((at - self.error_at_ms) as f64 / 1000.0) / v.error_reversion_s);
        self.error_bps = self.error_bps * decay + v.error_bps * libm::sqrt(1.0 - decay * decay) * self.rng.normal();
        self.error_at_ms = at;
        if venue.is_halted(s.instrument) {
            return;
        }
        let estimate = s.fundamental.value(s.reference) * libm::exp(self.error_bps / 1e4);
        let signal_bps = libm::log(estimate / s.observed_price(venue)) * 1e4;
        let fraction = target_fraction(signal_bps, v.threshold_bps, v.full_signal_bps);
        let sizing =
            Sizing { max_position: v.max_position_lots, max_order: v.max_order_lots, min_order: v.min_order_lots };
        let lots = order_lots(s, venue, self.participant, fraction, sizing);
        let side = side_of(lots);
        let Some(opposite) = venue.best(s.instrument, side.opposite()).filter(|_| lots != 0) else { return };
        // Take liquidity near the touch only: at most `slip_ticks` through the opposite best, inside the band.
        let (low, high) = venue.price_band(s.instrument);
        let price = (opposite.price.0 + side.sign() * v.slip_ticks * s.tick).clamp(low.0, high.0);
        let order = s.limit(self.participant, side, price, lots.unsigned_abs(), TimeInForce::Ioc);
        if s.in_band(venue, price) && venue.submit(order).filled.0 > 0 {
            s.excite(p, at);
        }
    }
}
