//! The simulated background market: per instrument, a crowd of agents that trade through [`Venue`] in the same
//! book as the user. docs/market.md explains the agents and tabulates every scenario's parameters.
//!
//! Agents per instrument: zero-intelligence Poisson flow (limit, market, cancel), noise traders, market makers,
//! momentum traders, value traders following a hidden fundamental (OU with stochastic volatility and jumps) and,
//! in the flash-crash scenario, a distressed seller. Volatility clusters because the fundamental's volatility is
//! itself a slow random process that also drives the flow's activity, and because aggressive fills raise the
//! activity (a Hawkes process) which then decays.
//!
//! # Invariants
//! - Deterministic: a pure function of (scenario, instruments, seed, the times `on_step` is called at and the
//!   venue's answers). Randomness comes only from [`Rng`]s forked from the seed (one per agent); floats use
//!   basic arithmetic and `libm` only; no hash maps; agents act in a fixed order.
//! - Agents act only through [`Venue`]. Their limit prices are on tick and inside the price band, their sizes
//!   whole lots, and they do nothing while the instrument is halted.
//! - Agents never trade with themselves: zero-intelligence limit orders never cross, makers are post-only, and
//!   the ids that take liquidity never rest an order.
//! - Every agent is scheduled by its next event time; a step before the earliest one costs one comparison.
//! - [`Scenario::None`] has no agents: `on_step` does nothing.

mod flow;
mod fundamental;
mod maker;
mod params;
mod state;
#[cfg(test)]
mod toy_venue;
mod traders;

pub use params::{
    CrashParams, FlowParams, FundamentalParams, MAX_LOOKBACK_S, MakerParams, MomentumParams, ScenarioParams,
    ValueParams,
};

use crate::rng::Rng;
use crate::venue::Venue;
use bincode::{Decode, Encode};
use flow::{DistressedSeller, NoiseTraders, ZeroIntelligence};
use maker::MarketMaker;
use state::InstrumentState;
use traders::{MomentumTrader, ValueTrader};
use tradesim_protocol::{InstrumentConfig, InstrumentId, ParticipantId, Scenario};

/// Participant ids per instrument: instrument `i`'s agents are `FIRST_AGENT + 100 * i + slot`.
const SLOTS_PER_INSTRUMENT: u32 = 100;
const POSTER_SLOTS: u32 = 8;
const TAKER_SLOT: u32 = 8;
const NOISE_SLOT: u32 = 9;
const SELLER_SLOT: u32 = 10;
const FIRST_MAKER_SLOT: u32 = 20;
const FIRST_MOMENTUM_SLOT: u32 = 40;
const FIRST_VALUE_SLOT: u32 = 60;

/// How often the zero-intelligence crowd forgets orders that were filled, in seconds.
const PRUNE_EVERY_S: u64 = 5;

#[derive(Debug, Encode, Decode)]
pub struct Market {
    scenario: Scenario,
    instruments: Vec<InstrumentMarket>,
    /// The earliest time any agent wants to act.
    next_due_ms: u64,
}

impl Market {
    pub fn new(scenario: Scenario, instruments: &[InstrumentConfig], seed: u64) -> Self {
        let mut rng = Rng::seed_from(seed);
        let instruments: Vec<InstrumentMarket> = match ScenarioParams::of(scenario) {
            Some(p) => instruments
                .iter()
                .enumerate()
                .map(|(index, config)| {
                    InstrumentMarket::new(p, InstrumentId(index as u16), config, rng.fork(index as u64))
                })
                .collect(),
            None => Vec::new(),
        };
        let next_due_ms = instruments.iter().map(InstrumentMarket::next_due_ms).min().unwrap_or(u64::MAX);
        Self { scenario, instruments, next_due_ms }
    }

    /// Lets every agent whose time has come act, at the venue's current time.
    pub fn on_step(&mut self, venue: &mut impl Venue) {
        let now = venue.time_ms();
        if now < self.next_due_ms {
            return;
        }
        let Some(p) = ScenarioParams::of(self.scenario) else { return };
        let mut next_due_ms = u64::MAX;
        for instrument in &mut self.instruments {
            instrument.run(p, venue, now);
            next_due_ms = next_due_ms.min(instrument.next_due_ms());
        }
        self.next_due_ms = next_due_ms;
    }
}

#[derive(Debug, Encode, Decode)]
struct InstrumentMarket {
    state: InstrumentState,
    /// Drives the fundamental.
    rng: Rng,
    /// End of the simulated second whose once-a-second work is due next.
    next_second_ms: u64,
    zero_intelligence: ZeroIntelligence,
    noise: NoiseTraders,
    seller: DistressedSeller,
    makers: Vec<MarketMaker>,
    momentum: Vec<MomentumTrader>,
    value: Vec<ValueTrader>,
}

impl InstrumentMarket {
    fn new(p: &ScenarioParams, instrument: InstrumentId, config: &InstrumentConfig, mut rng: Rng) -> Self {
        let id = |slot: u32| {
            ParticipantId(ParticipantId::FIRST_AGENT + u32::from(instrument.0) * SLOTS_PER_INSTRUMENT + slot)
        };
        // Each agent gets its own stream, keyed by its slot, so adding agents does not disturb the others.
        let mut fork = |slot: u32| rng.fork(u64::from(slot));
        let posters = (0..POSTER_SLOTS).map(id).collect();
        let mut state_rng = fork(SLOTS_PER_INSTRUMENT);
        Self {
            state: InstrumentState::new(p, instrument, config, &mut state_rng),
            rng: state_rng,
            next_second_ms: 1000,
            zero_intelligence: ZeroIntelligence::new(fork(TAKER_SLOT), posters, id(TAKER_SLOT)),
            noise: NoiseTraders::new(fork(NOISE_SLOT), id(NOISE_SLOT)),
            seller: DistressedSeller::new(fork(SELLER_SLOT), id(SELLER_SLOT), p),
            makers: (FIRST_MAKER_SLOT..FIRST_MAKER_SLOT + p.makers.count)
                .map(|slot| MarketMaker::new(fork(slot), id(slot)))
                .collect(),
            momentum: (FIRST_MOMENTUM_SLOT..FIRST_MOMENTUM_SLOT + p.momentum.count)
                .map(|slot| MomentumTrader::new(fork(slot), id(slot), p))
                .collect(),
            value: (FIRST_VALUE_SLOT..FIRST_VALUE_SLOT + p.value.count)
                .map(|slot| ValueTrader::new(fork(slot), id(slot), p))
                .collect(),
        }
    }

    fn next_due_ms(&self) -> u64 {
        let agents = self.makers.iter().map(|a| a.next_at_ms).chain(self.momentum.iter().map(|a| a.next_at_ms));
        agents
            .chain(self.value.iter().map(|a| a.next_at_ms))
            .chain([
                self.next_second_ms,
                self.zero_intelligence.next_at_ms,
                self.noise.next_at_ms,
                self.seller.next_at_ms,
            ])
            .min()
            .unwrap_or(u64::MAX)
    }

    fn run(&mut self, p: &ScenarioParams, venue: &mut impl Venue, now: u64) {
        while self.next_second_ms <= now {
            self.on_second(p, venue, self.next_second_ms);
            self.next_second_ms += 1000;
        }
        let withdrawn = p.crash.is_some_and(|c| (c.at_s * 1000..(c.at_s + c.maker_withdraw_s) * 1000).contains(&now));
        let liquidity = match p.crash {
            Some(crash) if withdrawn => crash.liquidity_factor,
            _ => 1.0,
        };
        let state = &mut self.state;
        // Makers look once per step at most: a second look at the same book would change nothing.
        for maker in &mut self.makers {
            if maker.next_at_ms <= now {
                maker.on_event(state, p, venue, now, withdrawn);
            }
        }
        // Order flow replays every arrival that fell into this step, so rates do not depend on the step length.
        while self.zero_intelligence.next_at_ms <= now {
            self.zero_intelligence.on_event(state, p, venue, liquidity);
        }
        while self.noise.next_at_ms <= now {
            self.noise.on_event(state, p, venue);
        }
        while self.seller.next_at_ms <= now {
            self.seller.on_event(state, p, venue);
        }
        for trader in &mut self.momentum {
            while trader.next_at_ms <= now {
                trader.on_event(state, p, venue);
            }
        }
        for trader in &mut self.value {
            while trader.next_at_ms <= now {
                trader.on_event(state, p, venue);
            }
        }
    }

    /// Once-a-second work for the second that ends at `at`: fundamental, crash shock, price sample, pruning.
    fn on_second(&mut self, p: &ScenarioParams, venue: &impl Venue, at: u64) {
        self.state.fundamental.step_second(&p.fundamental, &mut self.rng);
        if let Some(crash) = p.crash
            && at == crash.at_s * 1000
        {
            self.state.fundamental.shock(-crash.fundamental_drop_bps);
        }
        self.state.track.sample(self.state.observed_price(venue));
        if (at / 1000).is_multiple_of(PRUNE_EVERY_S) {
            self.zero_intelligence.prune(venue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::toy_venue::ToyVenue;
    use super::*;
    use tradesim_protocol::{Price, Qty, SimConfig};

    const STEP_MS: u64 = 10;

    fn instruments() -> Vec<InstrumentConfig> {
        let mut odd = SimConfig::default().instruments[0].clone();
        odd.symbol = "ODD".into();
        odd.tick_size = Price(5);
        odd.lot_size = Qty(10);
        odd.reference_price = Price(25_000);
        vec![SimConfig::default().instruments[0].clone(), odd]
    }

    fn run(market: &mut Market, venue: &mut ToyVenue, seconds: u64) {
        for _ in 0..seconds * 1000 / STEP_MS {
            venue.time_ms += STEP_MS;
            market.on_step(venue);
        }
    }

    #[test]
    fn none_scenario_does_nothing() {
        let mut market = Market::new(Scenario::None, &instruments(), 1);
        let mut venue = ToyVenue::new(&instruments());
        run(&mut market, &mut venue, 60);
        assert!(venue.submitted.is_empty());
        assert_eq!(venue.queries.get(), 0);
    }

    #[test]
    fn every_scenario_sends_only_acceptable_orders() {
        for scenario in Scenario::ALL {
            let mut market = Market::new(scenario, &instruments(), 11);
            let mut venue = ToyVenue::new(&instruments());
            run(&mut market, &mut venue, 1200);
            assert_eq!(venue.rejected, [], "{scenario:?}");
            if scenario != Scenario::None {
                let per_second = venue.submitted.len() as f64 / 1200.0 / 2.0;
                assert!((5.0..150.0).contains(&per_second), "{scenario:?}: {per_second} orders/s per instrument");
            }
        }
    }

    #[test]
    fn same_seed_same_orders_other_seed_other_orders() {
        let orders = |seed| {
            let mut market = Market::new(Scenario::Volatile, &instruments(), seed);
            let mut venue = ToyVenue::new(&instruments());
            run(&mut market, &mut venue, 120);
            (venue.submitted, venue.cancels)
        };
        assert_eq!(orders(5), orders(5));
        assert_ne!(orders(5).0, orders(6).0);
    }

    #[test]
    fn encoded_market_resumes_identically() {
        let config = bincode::config::standard();
        let mut market = Market::new(Scenario::FlashCrash, &instruments(), 3);
        let mut venue = ToyVenue::new(&instruments());
        run(&mut market, &mut venue, 590);
        let bytes = bincode::encode_to_vec(&market, config).unwrap();
        let (mut restored, _): (Market, _) = bincode::decode_from_slice(&bytes, config).unwrap();
        let mut restored_venue = venue.clone();
        run(&mut market, &mut venue, 60);
        run(&mut restored, &mut restored_venue, 60);
        assert_eq!(venue.submitted, restored_venue.submitted);
        assert_eq!(venue.trades, restored_venue.trades);
        assert_eq!(
            bincode::encode_to_vec(&market, config).unwrap(),
            bincode::encode_to_vec(&restored, config).unwrap()
        );
    }

    #[test]
    fn steps_before_the_next_event_do_not_touch_the_venue() {
        let mut market = Market::new(Scenario::Calm, &instruments(), 4);
        let mut venue = ToyVenue::new(&instruments());
        run(&mut market, &mut venue, 30);
        let mut idle = 0;
        for _ in 0..1000 {
            venue.time_ms += 1;
            let before = venue.queries.get();
            let due = market.next_due_ms;
            market.on_step(&mut venue);
            if venue.time_ms < due {
                idle += 1;
                assert_eq!(venue.queries.get(), before);
            }
        }
        assert!(idle > 100, "{idle}");
    }

    #[test]
    fn nothing_is_sent_while_halted() {
        let mut market = Market::new(Scenario::Volatile, &instruments(), 8);
        let mut venue = ToyVenue::new(&instruments());
        run(&mut market, &mut venue, 60);
        let (sent, cancels) = (venue.submitted.len(), venue.cancels.len());
        venue.halted = true;
        run(&mut market, &mut venue, 60);
        assert_eq!((venue.submitted.len(), venue.cancels.len()), (sent, cancels));
        venue.halted = false;
        run(&mut market, &mut venue, 5);
        assert!(venue.submitted.len() > sent);
    }

    #[test]
    fn flash_crash_makers_withdraw_then_return() {
        let p = ScenarioParams::of(Scenario::FlashCrash).unwrap().crash.unwrap();
        let mut market = Market::new(Scenario::FlashCrash, &instruments(), 2);
        let mut venue = ToyVenue::new(&instruments());
        let maker = ParticipantId(ParticipantId::FIRST_AGENT + FIRST_MAKER_SLOT);
        run(&mut market, &mut venue, p.at_s - 1);
        assert!(!venue.orders_of(maker).is_empty());
        run(&mut market, &mut venue, 10);
        assert_eq!(venue.orders_of(maker), []);
        run(&mut market, &mut venue, p.maker_withdraw_s);
        assert!(!venue.orders_of(maker).is_empty());
    }
}
