//! Rate limits (GCRA, governor) on the endpoints worth guessing at: login, refresh and connect tickets.

use crate::error::ControlError;
use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use std::fmt;
use std::num::NonZeroU32;

/// Forget idle keys once this many are tracked, so that a flood of distinct keys cannot grow memory for ever.
const RETAIN_AT: usize = 10_000;

/// A sustained rate per minute and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_minute` and `burst` of 0 are taken as 1.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        }
    }
}

pub struct Limiter {
    limiter: RateLimiter<String, HashMapStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter").field("keys", &self.limiter.len()).finish()
    }
}

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        let quota = Quota::per_minute(rate.per_minute).allow_burst(rate.burst);
        Self { limiter: RateLimiter::hashmap(quota), clock: DefaultClock::default() }
    }

    /// Admits one request for `key`, or answers how long to wait.
    pub fn check(&self, key: &str) -> Result<(), ControlError> {
        if self.limiter.len() > RETAIN_AT {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| ControlError::RateLimited(not_until.wait_time_from(self.clock.now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_past_its_burst_is_told_to_wait_and_keys_are_independent() {
        let limiter = Limiter::new(Rate::new(1, 2));
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let Err(ControlError::RateLimited(wait)) = limiter.check("a") else { panic!("the third request must wait") };
        assert!(wait > std::time::Duration::ZERO);
        assert!(limiter.check("b").is_ok());
    }
}
