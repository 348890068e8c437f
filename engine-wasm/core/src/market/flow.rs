//! Poisson order flow: zero-intelligence limit/market/cancel flow, noise traders and the flash-crash seller.
//! Each is one process scheduled by its next arrival time; rates are re-evaluated at each of its events.

use super::params::ScenarioParams;
use super::state::{InstrumentState, geometric_lots, next_arrival};
use crate::rng::Rng;
use crate::venue::Venue;
use bincode::{Decode, Encode};
use tradesim_protocol::{OrderId, ParticipantId, Side, TimeInForce};

fn random_side(rng: &mut Rng) -> Side {
    if rng.chance(0.5) { Side::Buy } else { Side::Sell }
}

#[derive(Debug, Encode, Decode)]
struct Resting {
    order: OrderId,
    participant: ParticipantId,
}

/// Santa Fe / Farmer-Patelli-Zovko flow: limit orders priced a random number of ticks behind the opposite best,
/// market orders, and cancellation of each resting order at a constant rate. One Gillespie process: the total
/// rate sets the next event time, the rates' shares pick its kind.
#[derive(Debug, Encode, Decode)]
pub(super) struct ZeroIntelligence {
    rng: Rng,
    pub(super) next_at_ms: u64,
    /// Ids that post limit orders (several, like a crowd; picked at random).
    posters: Vec<ParticipantId>,
    taker: ParticipantId,
    /// Its limit orders believed working; fills are noticed lazily (by [`Self::prune`] or a failed cancel).
    resting: Vec<Resting>,
}

struct Rates {
    limit: f64,
    market: f64,
    cancel: f64,
}

impl Rates {
    fn total(&self) -> f64 {
        self.limit + self.market + self.cancel
    }
}

impl ZeroIntelligence {
    pub(super) fn new(mut rng: Rng, posters: Vec<ParticipantId>, taker: ParticipantId) -> Self {
        let next_at_ms = next_arrival(&mut rng, 0, 1.0);
        Self { rng, next_at_ms, posters, taker, resting: Vec::new() }
    }

    fn rates(&self, s: &InstrumentState, p: &ScenarioParams, now: u64, liquidity: f64) -> Rates {
        let activity = s.activity(p, now);
        Rates {
            limit: p.flow.limit_rate * activity * liquidity,
            market: p.flow.market_rate * activity,
            cancel: p.flow.cancel_rate * self.resting.len() as f64,
        }
    }

    /// Handles the due event. `liquidity` scales the limit-order rate (below 1 during a crash).
    pub(super) fn on_event(
        &mut self,
        s: &mut InstrumentState,
        p: &ScenarioParams,
        venue: &mut impl Venue,
        liquidity: f64,
    ) {
        let at = self.next_at_ms;
        let rates = self.rates(s, p, at, liquidity);
        let pick = self.rng.next_f64() * rates.total();
        if !venue.is_halted(s.instrument) {
            if pick < rates.limit {
                self.post(s, p, venue);
            } else if pick < rates.limit + rates.market {
                let side = random_side(&mut self.rng);
                let lots = geometric_lots(&mut self.rng, p.flow.size_mean_lots);
                if venue.submit(s.market(self.taker, side, lots)).filled.0 > 0 {
                    s.excite(p, at);
                }
            } else if !self.resting.is_empty() {
                let index = self.rng.below(self.resting.len() as u64) as usize;
                let gone = self.resting.swap_remove(index);
                venue.cancel(gone.participant, gone.order);
            }
        }
        let total = self.rates(s, p, at, liquidity).total();
        self.next_at_ms = next_arrival(&mut self.rng, at, total);
    }

    fn post(&mut self, s: &InstrumentState, p: &ScenarioParams, venue: &mut impl Venue) {
        let side = random_side(&mut self.rng);
        let offset = (1 + self.rng.below(p.flow.offset_max_ticks)) as i64 * s.tick;
        let lots = geometric_lots(&mut self.rng, p.flow.size_mean_lots);
        let participant = self.posters[self.rng.below(self.posters.len() as u64) as usize];
        let opposite = match venue.best(s.instrument, side.opposite()) {
            Some(level) => level.price.0,
            // No opposite side: anchor one tick beyond the observed price, so the order still cannot cross.
            None => match side {
                Side::Buy => s.floor_tick(s.observed_price(venue)) + s.tick,
                Side::Sell => s.ceil_tick(s.observed_price(venue)) - s.tick,
            },
        };
        let price = opposite - side.sign() * offset;
        if !s.in_band(venue, price) {
            return;
        }
        let submitted = venue.submit(s.limit(participant, side, price, lots, TimeInForce::Gtc));
        if let (true, Some(order)) = (submitted.resting, submitted.order_id) {
            self.resting.push(Resting { order, participant });
        }
    }

    /// Forgets orders that are no longer working (filled, or cancelled by the exchange).
    pub(super) fn prune(&mut self, venue: &impl Venue) {
        self.resting.retain(|resting| venue.is_working(resting.order));
    }
}

/// Noise traders: market orders on a random side with Pareto (heavy-tailed) sizes.
#[derive(Debug, Encode, Decode)]
pub(super) struct NoiseTraders {
    rng: Rng,
    pub(super) next_at_ms: u64,
    participant: ParticipantId,
}

impl NoiseTraders {
    pub(super) fn new(mut rng: Rng, participant: ParticipantId) -> Self {
        let next_at_ms = next_arrival(&mut rng, 0, 0.2);
        Self { rng, next_at_ms, participant }
    }

    pub(super) fn on_event(&mut self, s: &mut InstrumentState, p: &ScenarioParams, venue: &mut impl Venue) {
        let at = self.next_at_ms;
        let side = random_side(&mut self.rng);
        let lots = (self.rng.pareto(p.flow.noise_min_lots, p.flow.noise_tail) as u64).clamp(1, p.flow.noise_max_lots);
        if !venue.is_halted(s.instrument) && venue.submit(s.market(self.participant, side, lots)).filled.0 > 0 {
            s.excite(p, at);
        }
        self.next_at_ms = next_arrival(&mut self.rng, at, p.flow.noise_rate * s.activity(p, at));
    }
}

/// The flash crash's distressed seller: during the sell-off window, sell orders priced `sweep_ticks` below the
/// best bid (or the last trade when there is no bid). Each takes what bids there are; its rest rests as a low ask
/// until the window ends (GTD), dragging the ask, and with it the crowd's prices, down.
#[derive(Debug, Encode, Decode)]
pub(super) struct DistressedSeller {
    rng: Rng,
    pub(super) next_at_ms: u64,
    participant: ParticipantId,
}

impl DistressedSeller {
    pub(super) fn new(rng: Rng, participant: ParticipantId, p: &ScenarioParams) -> Self {
        let next_at_ms = p.crash.map_or(u64::MAX, |crash| crash.at_s * 1000);
        Self { rng, next_at_ms, participant }
    }

    pub(super) fn on_event(&mut self, s: &mut InstrumentState, p: &ScenarioParams, venue: &mut impl Venue) {
        let at = self.next_at_ms;
        // Judged by the venue's clock: the GTD expiry must still lie ahead of it.
        let Some(crash) = p.crash.filter(|crash| venue.time_ms() < (crash.at_s + crash.sell_s) * 1000) else {
            self.next_at_ms = u64::MAX;
            return;
        };
        self.next_at_ms = next_arrival(&mut self.rng, at, crash.sell_rate);
        let lots = geometric_lots(&mut self.rng, crash.sell_mean_lots);
        let reference = match venue.best(s.instrument, Side::Buy) {
            Some(bid) => bid.price.0,
            None => s.floor_tick(s.observed_price(venue)),
        };
        let price = (reference - crash.sweep_ticks * s.tick).max(venue.price_band(s.instrument).0.0);
        if venue.is_halted(s.instrument) || !s.in_band(venue, price) {
            return;
        }
        let tif = TimeInForce::Gtd { expire_at_ms: (crash.at_s + crash.sell_s) * 1000 };
        if venue.submit(s.limit(self.participant, Side::Sell, price, lots, tif)).filled.0 > 0 {
            s.excite(p, at);
        }
    }
}
