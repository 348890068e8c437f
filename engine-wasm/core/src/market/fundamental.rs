//! Slow per-instrument state advanced once per simulated second: the hidden fundamental value with its stochastic
//! volatility, and the observed mid-price history that makers and momentum traders read.

use super::params::{FundamentalParams, MAX_LOOKBACK_S};
use crate::rng::Rng;
use bincode::{Decode, Encode};

/// log(value / reference price): an OU process with a drifting centre, stochastic volatility and jumps.
#[derive(Debug, Encode, Decode)]
pub(super) struct Fundamental {
    log_value: f64,
    /// Centre the log value reverts to; moves with the scenario's drift.
    centre: f64,
    /// Log of the volatility multiplier, an OU process around 0.
    log_vol: f64,
}

impl Fundamental {
    pub(super) fn new(p: &FundamentalParams, rng: &mut Rng) -> Self {
        // Start from the stationary volatility distribution so the first hour is not special.
        Self { log_value: 0.0, centre: 0.0, log_vol: p.vol_of_vol * rng.normal() }
    }

    /// Advances one second.
    pub(super) fn step_second(&mut self, p: &FundamentalParams, rng: &mut Rng) {
        let vol_decay = libm::exp(-1.0 / p.vol_reversion_s);
        self.log_vol = self.log_vol * vol_decay + p.vol_of_vol * libm::sqrt(1.0 - vol_decay * vol_decay) * rng.normal();
        let drift = p.drift_bps_per_hour / 1e4 / 3600.0;
        self.centre += drift;
        let pull = (self.log_value - self.centre) * (1.0 - libm::exp(-1.0 / p.reversion_s));
        let sigma = p.vol_bps_per_min / 1e4 / libm::sqrt(60.0) * self.vol_factor(p);
        self.log_value += drift - pull + sigma * rng.normal();
        if rng.chance(p.jumps_per_hour / 3600.0 * self.vol_factor(p)) {
            self.log_value += p.jump_bps / 1e4 * rng.normal();
        }
    }

    /// A shock to the value, not to its centre: it fades only over `reversion_s`.
    pub(super) fn shock(&mut self, bps: f64) {
        self.log_value += bps / 1e4;
    }

    /// Volatility multiplier, normalised so that its mean square is 1.
    pub(super) fn vol_factor(&self, p: &FundamentalParams) -> f64 {
        libm::exp(self.log_vol - p.vol_of_vol * p.vol_of_vol)
    }

    pub(super) fn value(&self, reference: f64) -> f64 {
        reference * libm::exp(self.log_value)
    }
}

/// The observed price (mid, or last trade when one side is empty), sampled once a second.
#[derive(Debug, Encode, Decode)]
pub(super) struct PriceTrack {
    /// Ring buffer of the last `MAX_LOOKBACK_S + 1` samples; `next` is the slot the next sample goes to.
    history: Vec<f64>,
    next: usize,
    samples: u64,
    /// Exponentially weighted mean square of one-second log returns.
    variance: f64,
}

/// Weight of the newest squared return in the volatility estimate (about 30 s memory).
const VARIANCE_WEIGHT: f64 = 1.0 / 30.0;

impl PriceTrack {
    pub(super) fn new(initial_vol_per_s: f64) -> Self {
        Self {
            history: vec![0.0; MAX_LOOKBACK_S as usize + 1],
            next: 0,
            samples: 0,
            variance: initial_vol_per_s * initial_vol_per_s,
        }
    }

    pub(super) fn sample(&mut self, price: f64) {
        if let Some(previous) = self.ago(0) {
            let r = libm::log(price / previous);
            self.variance += VARIANCE_WEIGHT * (r * r - self.variance);
        }
        self.history[self.next] = price;
        self.next = (self.next + 1) % self.history.len();
        self.samples += 1;
    }

    /// The sample taken `seconds` samples before the latest one.
    pub(super) fn ago(&self, seconds: u32) -> Option<f64> {
        let back = seconds as usize + 1;
        if self.samples < back as u64 || back > self.history.len() {
            return None;
        }
        Some(self.history[(self.next + self.history.len() - back) % self.history.len()])
    }

    /// Recent one-second volatility of the observed price, as a fraction of the price.
    pub(super) fn vol_per_s(&self) -> f64 {
        libm::sqrt(self.variance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_returns_samples_by_age_and_wraps() {
        let mut track = PriceTrack::new(0.0001);
        assert_eq!(track.ago(0), None);
        for i in 0..1000 {
            track.sample(100.0 + f64::from(i));
        }
        assert_eq!(track.ago(0), Some(1099.0));
        assert_eq!(track.ago(MAX_LOOKBACK_S), Some(1099.0 - f64::from(MAX_LOOKBACK_S)));
        assert_eq!(track.ago(MAX_LOOKBACK_S + 1), None);
        assert!(track.vol_per_s() > 0.0);
    }

    #[test]
    fn fundamental_has_the_configured_volatility_and_drift() {
        let p = FundamentalParams {
            vol_bps_per_min: 10.0,
            vol_of_vol: 0.5,
            vol_reversion_s: 600.0,
            reversion_s: 1e12,
            drift_bps_per_hour: 100.0,
            jumps_per_hour: 0.0,
            jump_bps: 0.0,
        };
        let mut rng = Rng::seed_from(3);
        let mut f = Fundamental::new(&p, &mut rng);
        let mut sum_sq = 0.0;
        let hours = 200;
        let mut previous = f.log_value;
        for second in 1..=hours * 3600 {
            f.step_second(&p, &mut rng);
            if second % 60 == 0 {
                let r = f.log_value - previous - 100.0 / 1e4 / 60.0;
                sum_sq += r * r;
                previous = f.log_value;
            }
        }
        let per_min_bps = libm::sqrt(sum_sq / f64::from(hours * 60)) * 1e4;
        assert!((8.5..11.5).contains(&per_min_bps), "{per_min_bps}");
        let drift_bps_per_hour = f.log_value * 1e4 / f64::from(hours);
        assert!((80.0..120.0).contains(&drift_bps_per_hour), "{drift_bps_per_hour}");
    }
}
