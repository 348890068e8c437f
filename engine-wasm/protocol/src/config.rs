//! Simulator configuration: instruments, the account rules of commanded participants and the background
//! market scenario. A config is validated once, when an engine is created from it.

use crate::ids::{Price, Qty};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// The background market to run. Each scenario's parameters are documented in docs/market.md.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Two-sided, tight, quiet market.
    #[default]
    Calm,
    /// Larger and more frequent shocks, more aggressive flow, wider quotes.
    Volatile,
    /// The fundamental drifts steadily; momentum traders amplify it.
    Trending,
    /// A calm market until a sudden sell-off with liquidity withdrawal, then a partial recovery. Give the
    /// instrument a circuit breaker to see trading halt during the fall.
    FlashCrash,
    /// Few market makers with small size and wide quotes.
    ThinLiquidity,
    /// No agents: the book moves only by commands.
    None,
}

impl Scenario {
    pub const ALL: [Self; 6] =
        [Self::Calm, Self::Volatile, Self::Trending, Self::FlashCrash, Self::ThinLiquidity, Self::None];
}

/// Limit-up/limit-down: if the price moves more than `move_bps` away from where it stood `window_ms` ago,
/// trading halts for `halt_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CircuitBreaker {
    pub move_bps: u32,
    pub window_ms: u64,
    pub halt_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InstrumentConfig {
    pub symbol: String,
    /// Digits after the decimal point when a price is shown: price 10025 with 2 decimals is 100.25.
    pub price_decimals: u8,
    /// Every price must be a multiple of this.
    pub tick_size: Price,
    /// Every quantity must be a multiple of this.
    pub lot_size: Qty,
    /// Where the market opens, and the reference for the price band until the first trade.
    pub reference_price: Price,
    /// Limit prices further than this (in basis points) from the last trade price are rejected, and market orders
    /// stop sweeping there.
    pub price_band_bps: u32,
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreaker>,
}

/// Risk limits and fees of commanded (non-agent) participants. Money in price units times quantity units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountConfig {
    pub initial_cash: i64,
    pub max_order_qty: Qty,
    /// Largest notional (price times quantity) of one order.
    pub max_notional: i64,
    /// Largest absolute position per instrument, counting working orders on the same side.
    pub max_position: u64,
    /// Gross exposure allowed per unit of equity, in basis points (10,000 = 1x, no leverage).
    pub leverage_bps: u32,
    /// Fee on notional in parts per million (100 = 1 bp); negative is a rebate.
    pub maker_fee_ppm: i32,
    pub taker_fee_ppm: i32,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            initial_cash: 100_000_000, // 1,000,000.00 with 2 price decimals
            max_order_qty: Qty(10_000),
            max_notional: 50_000_000,
            max_position: 20_000,
            leverage_bps: 20_000,
            maker_fee_ppm: -20,
            taker_fee_ppm: 50,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
/// Fields left out of the JSON form take their defaults (one instrument, calm, 10 ms steps).
#[serde(default)]
pub struct SimConfig {
    /// Simulated milliseconds per engine step.
    pub step_ms: u32,
    /// Length of a simulated trading day; DAY orders expire at its end.
    pub trading_day_ms: u64,
    pub instruments: Vec<InstrumentConfig>,
    pub scenario: Scenario,
    pub account: AccountConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            step_ms: 10,
            trading_day_ms: 6 * 3_600_000 + 1_800_000,
            instruments: vec![InstrumentConfig {
                symbol: "SIM".to_owned(),
                price_decimals: 2,
                tick_size: Price(1),
                lot_size: Qty(1),
                reference_price: Price(10_000),
                price_band_bps: 1_000,
                circuit_breaker: None,
            }],
            scenario: Scenario::Calm,
            account: AccountConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("step_ms must be between 1 and 1000")]
    StepOutOfRange,
    #[error("trading_day_ms must be at least one step")]
    TradingDayTooShort,
    #[error("at least one instrument is required, and at most {max}")]
    InstrumentCount { max: usize },
    #[error("instrument {symbol:?}: {problem}")]
    Instrument { symbol: String, problem: &'static str },
    #[error("account: {0}")]
    Account(&'static str),
}

/// Largest reference price: with quantities below [`crate::ids::MAX_QTY`], one fill's notional fits in an i64.
pub const MAX_PRICE: i64 = 1_000_000_000;

/// Upper bound on instruments per simulator.
pub const MAX_INSTRUMENTS: usize = 16;

impl SimConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1000).contains(&self.step_ms) {
            return Err(ConfigError::StepOutOfRange);
        }
        if self.trading_day_ms < u64::from(self.step_ms) {
            return Err(ConfigError::TradingDayTooShort);
        }
        if self.instruments.is_empty() || self.instruments.len() > MAX_INSTRUMENTS {
            return Err(ConfigError::InstrumentCount { max: MAX_INSTRUMENTS });
        }
        for (index, instrument) in self.instruments.iter().enumerate() {
            let fail = |problem| ConfigError::Instrument { symbol: instrument.symbol.clone(), problem };
            if instrument.symbol.is_empty() || instrument.symbol.len() > 16 {
                return Err(fail("symbol must be 1 to 16 characters"));
            }
            if self.instruments[..index].iter().any(|other| other.symbol == instrument.symbol) {
                return Err(fail("symbol is used twice"));
            }
            if instrument.price_decimals > 8 {
                return Err(fail("price_decimals must be at most 8"));
            }
            if instrument.tick_size.0 <= 0 {
                return Err(fail("tick_size must be positive"));
            }
            if instrument.lot_size.0 == 0 {
                return Err(fail("lot_size must be positive"));
            }
            if instrument.reference_price.0 <= 0 || instrument.reference_price.0 % instrument.tick_size.0 != 0 {
                return Err(fail("reference_price must be a positive multiple of tick_size"));
            }
            if instrument.reference_price.0 > MAX_PRICE {
                return Err(fail("reference_price is too large"));
            }
            if !(1..=10_000).contains(&instrument.price_band_bps) {
                return Err(fail("price_band_bps must be between 1 and 10000"));
            }
            if let Some(breaker) = instrument.circuit_breaker
                && (breaker.move_bps == 0 || breaker.window_ms == 0 || breaker.halt_ms == 0)
            {
                return Err(fail("circuit_breaker values must be positive"));
            }
        }
        let account = &self.account;
        if account.initial_cash < 0 {
            return Err(ConfigError::Account("initial_cash must not be negative"));
        }
        if account.max_order_qty.0 == 0 || account.max_notional <= 0 || account.max_position == 0 {
            return Err(ConfigError::Account("limits must be positive"));
        }
        if account.leverage_bps == 0 {
            return Err(ConfigError::Account("leverage_bps must be positive"));
        }
        if !(-10_000..=100_000).contains(&account.maker_fee_ppm)
            || !(-10_000..=100_000).contains(&account.taker_fee_ppm)
        {
            return Err(ConfigError::Account("fees must be between -1% and 10%"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(SimConfig::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_off_tick_reference_price() {
        let mut config = SimConfig::default();
        config.instruments[0].tick_size = Price(5);
        config.instruments[0].reference_price = Price(10_002);
        assert_eq!(
            config.validate(),
            Err(ConfigError::Instrument {
                symbol: "SIM".into(),
                problem: "reference_price must be a positive multiple of tick_size"
            })
        );
    }

    #[test]
    fn rejects_duplicate_symbols() {
        let mut config = SimConfig::default();
        config.instruments.push(config.instruments[0].clone());
        assert!(matches!(config.validate(), Err(ConfigError::Instrument { problem: "symbol is used twice", .. })));
    }
}
