//! The engine's only source of randomness: a seeded xoshiro256** generator that lives in the engine state, so it
//! is snapshotted, restored and hashed with everything else.
//!
//! # Invariants
//! - The same seed gives the same stream on every platform (integer arithmetic only for the raw stream; the
//!   float helpers use `libm`, a pure-Rust libm, never the platform's).

use bincode::{Decode, Encode};

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    pub fn seed_from(seed: u64) -> Self {
        // SplitMix64 spreads any seed (including 0) over the full state.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self { state: [next(), next(), next(), next()] }
    }

    /// A generator for a sub-component, independent of this one's future output.
    pub fn fork(&mut self, stream: u64) -> Self {
        Self::seed_from(self.next_u64() ^ stream.wrapping_mul(0xd134_2543_de82_ef95))
    }

    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n). `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the tiny bias is irrelevant for simulation.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [low, high], inclusive.
    pub fn range_i64(&mut self, low: i64, high: i64) -> i64 {
        debug_assert!(low <= high);
        low + self.below((high - low) as u64 + 1) as i64
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.next_f64() < probability
    }

    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(1.0 - self.next_f64())
    }

    /// Standard normal (Box-Muller; one of the pair is discarded to keep the state simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
    }

    /// Poisson distributed with the given mean (Knuth's method below 30, a rounded normal above).
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 30.0 {
            let limit = libm::exp(-mean);
            let mut product = self.next_f64();
            let mut count = 0;
            while product > limit {
                count += 1;
                product *= self.next_f64();
            }
            count
        } else {
            let sample = mean + libm::sqrt(mean) * self.normal();
            libm::round(sample).max(0.0) as u64
        }
    }

    /// Pareto-distributed (heavy-tailed) with the given minimum and tail index `alpha`.
    pub fn pareto(&mut self, minimum: f64, alpha: f64) -> f64 {
        minimum / libm::pow(1.0 - self.next_f64(), 1.0 / alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_known_first_value() {
        let mut a = Rng::seed_from(42);
        let mut b = Rng::seed_from(42);
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::seed_from(43).next_u64(), first[0]);
    }

    #[test]
    fn helpers_stay_in_range_and_have_sensible_means() {
        let mut rng = Rng::seed_from(7);
        let n = 20_000;
        let mut sum_exp = 0.0;
        let mut sum_poisson = 0;
        for _ in 0..n {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.below(10) < 10);
            let r = rng.range_i64(-3, 3);
            assert!((-3..=3).contains(&r));
            sum_exp += rng.exponential(2.0);
            sum_poisson += rng.poisson(4.0);
        }
        assert!((sum_exp / f64::from(n) - 2.0).abs() < 0.1);
        assert!((sum_poisson as f64 / f64::from(n) - 4.0).abs() < 0.1);
    }
}
