//! Scenario parameters: one [`ScenarioParams`] per [`Scenario`] (none for [`Scenario::None`]). Parameters are
//! constants, not state: snapshots hold only the scenario and the agents' state. docs/market.md tabulates them.
//!
//! Units: rates are per simulated second, prices are in ticks (spreads, offsets) or basis points of the price
//! (volatility, signals), sizes are in lots of the instrument.

use tradesim_protocol::Scenario;

/// Everything that distinguishes one scenario from another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioParams {
    pub fundamental: FundamentalParams,
    pub flow: FlowParams,
    pub makers: MakerParams,
    pub momentum: MomentumParams,
    pub value: ValueParams,
    pub crash: Option<CrashParams>,
}

/// The hidden fundamental value that value traders estimate: log(value / reference price) follows an
/// Ornstein-Uhlenbeck process with stochastic volatility and jumps, updated once per simulated second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FundamentalParams {
    /// Standard deviation of the fundamental's one-minute log return at average volatility, in basis points.
    pub vol_bps_per_min: f64,
    /// Standard deviation of the log volatility multiplier (its own OU process); 0 gives constant volatility.
    pub vol_of_vol: f64,
    /// Mean-reversion time of the log volatility multiplier, in seconds: how long calm and busy spells last.
    pub vol_reversion_s: f64,
    /// Mean-reversion time of the log value towards its (possibly drifting) centre, in seconds.
    pub reversion_s: f64,
    /// Drift of the value and of its centre, in basis points per simulated hour.
    pub drift_bps_per_hour: f64,
    /// Mean number of jump shocks per simulated hour at average volatility; the jump rate scales with the
    /// volatility multiplier, so jumps come in turbulent spells.
    pub jumps_per_hour: f64,
    /// Standard deviation of a jump, in basis points.
    pub jump_bps: f64,
}

/// Zero-intelligence order flow (Farmer-Patelli-Zovko) and noise traders. Their arrival rates are multiplied by
/// the activity level: volatility multiplier ^ `activity_vol_exponent` plus a self-exciting (Hawkes) term that
/// every aggressive agent fill raises and that then decays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowParams {
    /// Limit orders per second (either side with equal chance) at activity 1.
    pub limit_rate: f64,
    /// Market orders per second at activity 1.
    pub market_rate: f64,
    /// Cancellation rate of each resting zero-intelligence order, per second (1 / mean lifetime).
    pub cancel_rate: f64,
    /// Largest distance of a limit price from the opposite best, in ticks; the distance is uniform on
    /// 1..=this (at least 1: limit orders never cross), so few orders land inside a tight spread.
    pub offset_max_ticks: u64,
    /// Mean size of zero-intelligence orders, in lots (geometric, at least 1).
    pub size_mean_lots: f64,
    /// How strongly activity follows the fundamental's volatility multiplier (0: not at all).
    pub activity_vol_exponent: f64,
    /// Hawkes branching ratio: expected extra aggressive zero-intelligence and noise orders each aggressive agent
    /// fill triggers. Must stay below 1.
    pub branching: f64,
    /// Decay time of the self-excitation, in seconds.
    pub excitation_decay_s: f64,
    /// Noise-trader market orders per second at activity 1.
    pub noise_rate: f64,
    /// Smallest noise-trader order, in lots (Pareto minimum).
    pub noise_min_lots: f64,
    /// Pareto tail index of noise-trader sizes (smaller is heavier).
    pub noise_tail: f64,
    /// Largest noise-trader order, in lots.
    pub noise_max_lots: u64,
}

/// Market makers: post-only quotes on both sides around the average of everyone else's mid and the last trade.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MakerParams {
    /// Number of market makers (at most 20).
    pub count: u32,
    /// Quote size per side when flat, in lots.
    pub size_lots: u64,
    /// Mean time between looks at the book, in milliseconds; a quote moves only when its price changes.
    pub requote_mean_ms: f64,
    /// Smallest half-spread, in ticks.
    pub min_half_spread_ticks: f64,
    /// Extra half-spread per tick of one-second mid volatility (exponentially weighted, about 30 s memory).
    pub vol_spread: f64,
    /// Largest half-spread, in ticks.
    pub max_half_spread_ticks: f64,
    /// Inventory at which a maker stops quoting the side that would add to it, in lots; quote size shrinks
    /// linearly towards it.
    pub max_inventory_lots: u64,
    /// Quote centre shift at full inventory, in ticks (against the inventory, to shed it).
    pub skew_ticks: f64,
}

/// Momentum traders: hold a position in the direction of the return over a lookback, via market orders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentumParams {
    /// Number of momentum traders (at most 20).
    pub count: u32,
    /// Mean time between decisions, in seconds.
    pub wake_mean_s: f64,
    /// Lookback of the return they react to, in seconds (at most [`MAX_LOOKBACK_S`]).
    pub lookback_s: u32,
    /// Returns smaller than this (basis points) give a flat target position.
    pub threshold_bps: f64,
    /// Returns at least this large (basis points) give the full target position.
    pub full_signal_bps: f64,
    /// Largest absolute position, in lots.
    pub max_position_lots: u64,
    /// Largest single order, in lots.
    pub max_order_lots: u64,
    /// Smallest order worth sending, in lots (except to close a position).
    pub min_order_lots: u64,
}

/// Value traders: each estimates the fundamental with its own slowly changing error, and holds a position
/// against the mispricing of the mid, trading with immediate-or-cancel limits near the touch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueParams {
    /// Number of value traders (at most 20).
    pub count: u32,
    /// Mean time between decisions, in seconds.
    pub wake_mean_s: f64,
    /// Standard deviation of a trader's estimation error, in basis points. The error is an OU process per
    /// trader, so traders disagree without churning.
    pub error_bps: f64,
    /// Mean-reversion time of the estimation error, in seconds.
    pub error_reversion_s: f64,
    /// Mispricings smaller than this (basis points) give a flat target position.
    pub threshold_bps: f64,
    /// Mispricings at least this large (basis points) give the full target position.
    pub full_signal_bps: f64,
    /// Largest absolute position, in lots.
    pub max_position_lots: u64,
    /// Largest single order, in lots.
    pub max_order_lots: u64,
    /// Smallest order worth sending, in lots (except to close a position).
    pub min_order_lots: u64,
    /// How far through the opposite best an order may take liquidity, in ticks.
    pub slip_ticks: i64,
}

/// The flash crash: at `at_s` the fundamental drops, market makers pull their quotes, limit-order flow thins
/// out and a distressed seller sells through the bids; afterwards value traders buy the overshoot back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrashParams {
    /// When the crash starts, in simulated seconds since the start.
    pub at_s: u64,
    /// Permanent drop of the fundamental, in basis points (the price recovers only to here, then mean-reverts
    /// over [`FundamentalParams::reversion_s`]).
    pub fundamental_drop_bps: f64,
    /// How long the distressed seller sells, in seconds.
    pub sell_s: u64,
    /// Distressed-seller orders per second.
    pub sell_rate: f64,
    /// Mean distressed-seller order size, in lots.
    pub sell_mean_lots: f64,
    /// How far below the best bid the seller prices its orders, in ticks.
    pub sweep_ticks: i64,
    /// How long market makers stay away, in seconds from `at_s`.
    pub maker_withdraw_s: u64,
    /// Multiplier of the limit-order rate while the makers are away.
    pub liquidity_factor: f64,
}

/// Longest momentum lookback a scenario may use: the price history kept per instrument.
pub const MAX_LOOKBACK_S: u32 = 300;

const CALM: ScenarioParams = ScenarioParams {
    fundamental: FundamentalParams {
        vol_bps_per_min: 6.0,
        vol_of_vol: 0.8,
        vol_reversion_s: 300.0,
        reversion_s: 14_400.0,
        drift_bps_per_hour: 0.0,
        jumps_per_hour: 1.0,
        jump_bps: 20.0,
    },
    flow: FlowParams {
        limit_rate: 8.0,
        market_rate: 0.6,
        cancel_rate: 0.1,
        offset_max_ticks: 20,
        size_mean_lots: 2.0,
        activity_vol_exponent: 1.5,
        branching: 0.4,
        excitation_decay_s: 60.0,
        noise_rate: 0.15,
        noise_min_lots: 2.0,
        noise_tail: 1.6,
        noise_max_lots: 300,
    },
    makers: MakerParams {
        count: 3,
        size_lots: 5,
        requote_mean_ms: 250.0,
        min_half_spread_ticks: 0.5,
        vol_spread: 0.5,
        max_half_spread_ticks: 25.0,
        max_inventory_lots: 300,
        skew_ticks: 3.0,
    },
    momentum: MomentumParams {
        count: 2,
        wake_mean_s: 10.0,
        lookback_s: 60,
        threshold_bps: 8.0,
        full_signal_bps: 40.0,
        max_position_lots: 200,
        max_order_lots: 30,
        min_order_lots: 5,
    },
    value: ValueParams {
        count: 6,
        wake_mean_s: 5.0,
        error_bps: 5.0,
        error_reversion_s: 1800.0,
        threshold_bps: 3.0,
        full_signal_bps: 100.0,
        max_position_lots: 5000,
        max_order_lots: 20,
        min_order_lots: 3,
        slip_ticks: 2,
    },
    crash: None,
};

const VOLATILE: ScenarioParams = ScenarioParams {
    fundamental: FundamentalParams {
        vol_bps_per_min: 12.0,
        vol_of_vol: 0.9,
        jumps_per_hour: 3.0,
        jump_bps: 40.0,
        ..CALM.fundamental
    },
    flow: FlowParams { market_rate: 1.0, noise_rate: 0.3, branching: 0.6, ..CALM.flow },
    makers: MakerParams { min_half_spread_ticks: 2.0, vol_spread: 1.0, max_inventory_lots: 200, ..CALM.makers },
    momentum: MomentumParams { count: 3, ..CALM.momentum },
    value: ValueParams { error_bps: 10.0, threshold_bps: 5.0, full_signal_bps: 150.0, ..CALM.value },
    crash: None,
};

const TRENDING: ScenarioParams = ScenarioParams {
    fundamental: FundamentalParams { drift_bps_per_hour: 150.0, ..CALM.fundamental },
    flow: CALM.flow,
    makers: CALM.makers,
    momentum: MomentumParams {
        count: 4,
        lookback_s: 120,
        threshold_bps: 10.0,
        full_signal_bps: 60.0,
        max_position_lots: 300,
        max_order_lots: 20,
        ..CALM.momentum
    },
    value: CALM.value,
    crash: None,
};

const FLASH_CRASH: ScenarioParams = ScenarioParams {
    crash: Some(CrashParams {
        at_s: 600,
        fundamental_drop_bps: 250.0,
        sell_s: 60,
        sell_rate: 3.0,
        sell_mean_lots: 16.0,
        sweep_ticks: 5,
        maker_withdraw_s: 120,
        liquidity_factor: 0.3,
    }),
    ..CALM
};

const THIN_LIQUIDITY: ScenarioParams = ScenarioParams {
    fundamental: CALM.fundamental,
    flow: FlowParams {
        limit_rate: 3.0,
        market_rate: 0.25,
        noise_rate: 0.08,
        cancel_rate: 0.05,
        offset_max_ticks: 25,
        ..CALM.flow
    },
    makers: MakerParams {
        count: 1,
        size_lots: 2,
        min_half_spread_ticks: 3.0,
        vol_spread: 1.0,
        max_inventory_lots: 100,
        ..CALM.makers
    },
    momentum: MomentumParams { count: 1, ..CALM.momentum },
    value: ValueParams { count: 3, max_order_lots: 10, ..CALM.value },
    crash: None,
};

impl ScenarioParams {
    /// The parameters of a scenario; `None` for [`Scenario::None`] (no agents).
    pub fn of(scenario: Scenario) -> Option<&'static Self> {
        match scenario {
            Scenario::Calm => Some(&CALM),
            Scenario::Volatile => Some(&VOLATILE),
            Scenario::Trending => Some(&TRENDING),
            Scenario::FlashCrash => Some(&FLASH_CRASH),
            Scenario::ThinLiquidity => Some(&THIN_LIQUIDITY),
            Scenario::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_fits_the_id_space_and_is_stable() {
        for scenario in Scenario::ALL {
            let Some(p) = ScenarioParams::of(scenario) else {
                assert_eq!(scenario, Scenario::None);
                continue;
            };
            assert!(p.makers.count <= 20 && p.momentum.count <= 20 && p.value.count <= 20, "{scenario:?}");
            assert!(p.makers.max_inventory_lots > 0 && p.makers.requote_mean_ms > 0.0, "{scenario:?}");
            assert!(p.momentum.lookback_s <= MAX_LOOKBACK_S, "{scenario:?}");
            assert!((0.0..1.0).contains(&p.flow.branching), "{scenario:?}");
            assert!(p.flow.limit_rate > 0.0 && p.flow.offset_max_ticks >= 1, "{scenario:?}");
            assert!(p.flow.market_rate + p.flow.noise_rate > 0.0 && p.flow.excitation_decay_s > 0.0, "{scenario:?}");
            assert!(p.momentum.full_signal_bps > p.momentum.threshold_bps, "{scenario:?}");
            assert!(p.value.full_signal_bps > p.value.threshold_bps, "{scenario:?}");
            // The crash shock happens at a whole second after the start.
            assert!(p.crash.is_none_or(|crash| crash.at_s > 0), "{scenario:?}");
        }
    }

    /// The parameter table of docs/market.md, rendered from the constants.
    fn table() -> String {
        type Row = (&'static str, fn(&ScenarioParams) -> String);
        fn crash(p: &ScenarioParams, field: fn(&CrashParams) -> String) -> String {
            p.crash.as_ref().map_or_else(|| "-".to_owned(), field)
        }
        let rows: [Row; 53] = [
            ("fundamental.vol_bps_per_min", |p| p.fundamental.vol_bps_per_min.to_string()),
            ("fundamental.vol_of_vol", |p| p.fundamental.vol_of_vol.to_string()),
            ("fundamental.vol_reversion_s", |p| p.fundamental.vol_reversion_s.to_string()),
            ("fundamental.reversion_s", |p| p.fundamental.reversion_s.to_string()),
            ("fundamental.drift_bps_per_hour", |p| p.fundamental.drift_bps_per_hour.to_string()),
            ("fundamental.jumps_per_hour", |p| p.fundamental.jumps_per_hour.to_string()),
            ("fundamental.jump_bps", |p| p.fundamental.jump_bps.to_string()),
            ("flow.limit_rate", |p| p.flow.limit_rate.to_string()),
            ("flow.market_rate", |p| p.flow.market_rate.to_string()),
            ("flow.cancel_rate", |p| p.flow.cancel_rate.to_string()),
            ("flow.offset_max_ticks", |p| p.flow.offset_max_ticks.to_string()),
            ("flow.size_mean_lots", |p| p.flow.size_mean_lots.to_string()),
            ("flow.activity_vol_exponent", |p| p.flow.activity_vol_exponent.to_string()),
            ("flow.branching", |p| p.flow.branching.to_string()),
            ("flow.excitation_decay_s", |p| p.flow.excitation_decay_s.to_string()),
            ("flow.noise_rate", |p| p.flow.noise_rate.to_string()),
            ("flow.noise_min_lots", |p| p.flow.noise_min_lots.to_string()),
            ("flow.noise_tail", |p| p.flow.noise_tail.to_string()),
            ("flow.noise_max_lots", |p| p.flow.noise_max_lots.to_string()),
            ("makers.count", |p| p.makers.count.to_string()),
            ("makers.size_lots", |p| p.makers.size_lots.to_string()),
            ("makers.requote_mean_ms", |p| p.makers.requote_mean_ms.to_string()),
            ("makers.min_half_spread_ticks", |p| p.makers.min_half_spread_ticks.to_string()),
            ("makers.vol_spread", |p| p.makers.vol_spread.to_string()),
            ("makers.max_half_spread_ticks", |p| p.makers.max_half_spread_ticks.to_string()),
            ("makers.max_inventory_lots", |p| p.makers.max_inventory_lots.to_string()),
            ("makers.skew_ticks", |p| p.makers.skew_ticks.to_string()),
            ("momentum.count", |p| p.momentum.count.to_string()),
            ("momentum.wake_mean_s", |p| p.momentum.wake_mean_s.to_string()),
            ("momentum.lookback_s", |p| p.momentum.lookback_s.to_string()),
            ("momentum.threshold_bps", |p| p.momentum.threshold_bps.to_string()),
            ("momentum.full_signal_bps", |p| p.momentum.full_signal_bps.to_string()),
            ("momentum.max_position_lots", |p| p.momentum.max_position_lots.to_string()),
            ("momentum.max_order_lots", |p| p.momentum.max_order_lots.to_string()),
            ("momentum.min_order_lots", |p| p.momentum.min_order_lots.to_string()),
            ("value.count", |p| p.value.count.to_string()),
            ("value.wake_mean_s", |p| p.value.wake_mean_s.to_string()),
            ("value.error_bps", |p| p.value.error_bps.to_string()),
            ("value.error_reversion_s", |p| p.value.error_reversion_s.to_string()),
            ("value.threshold_bps", |p| p.value.threshold_bps.to_string()),
            ("value.full_signal_bps", |p| p.value.full_signal_bps.to_string()),
            ("value.max_position_lots", |p| p.value.max_position_lots.to_string()),
            ("value.max_order_lots", |p| p.value.max_order_lots.to_string()),
            ("value.min_order_lots", |p| p.value.min_order_lots.to_string()),
            ("value.slip_ticks", |p| p.value.slip_ticks.to_string()),
            ("crash.at_s", |p| crash(p, |c| c.at_s.to_string())),
            ("crash.fundamental_drop_bps", |p| crash(p, |c| c.fundamental_drop_bps.to_string())),
            ("crash.sell_s", |p| crash(p, |c| c.sell_s.to_string())),
            ("crash.sell_rate", |p| crash(p, |c| c.sell_rate.to_string())),
            ("crash.sell_mean_lots", |p| crash(p, |c| c.sell_mean_lots.to_string())),
            ("crash.sweep_ticks", |p| crash(p, |c| c.sweep_ticks.to_string())),
            ("crash.maker_withdraw_s", |p| crash(p, |c| c.maker_withdraw_s.to_string())),
            ("crash.liquidity_factor", |p| crash(p, |c| c.liquidity_factor.to_string())),
        ];
        let scenarios: Vec<&ScenarioParams> = Scenario::ALL.iter().filter_map(|s| ScenarioParams::of(*s)).collect();
        let mut table = String::from("| parameter | calm | volatile | trending | flash_crash | thin_liquidity |\n");
        table.push_str("|---|---|---|---|---|---|\n");
        for (name, value) in rows {
            let cells: Vec<String> = scenarios.iter().map(|p| value(p)).collect();
            table.push_str(&format!("| `{name}` | {} |\n", cells.join(" | ")));
        }
        table
    }

    #[test]
    fn docs_tabulate_the_current_parameters() {
        let docs = include_str!("../../../../docs/market.md");
        let table = table();
        assert!(docs.contains(&table), "docs/market.md is out of date; its parameter table should read:\n{table}");
    }
}
