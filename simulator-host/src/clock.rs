//! A simulator's clock: which engine step real time has reached, at the user's speed.
//!
//! # Invariants
//! - The clock is an anchor (step `anchor_step` was current at real time `anchor_at`) plus a speed; the target step
//!   never goes backwards, whatever the speed changes.
//! - The anchor is persisted with every speed change, so a host that recovers the simulator computes the same target
//!   from the same wall time.

use std::time::{Duration, SystemTime};
use tradesim_protocol::stream::Speed;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimClock {
    pub speed: Speed,
    pub anchor_step: u64,
    pub anchor_at: SystemTime,
    /// Simulated milliseconds per engine step.
    pub step_ms: u64,
}

impl SimClock {
    pub fn new(speed: Speed, step_ms: u64, anchor_step: u64, anchor_at: SystemTime) -> Self {
        Self { speed, anchor_step, anchor_at, step_ms: step_ms.max(1) }
    }

    /// The step real time `now` has reached.
    pub fn target_step(&self, now: SystemTime) -> u64 {
        let elapsed = now.duration_since(self.anchor_at).unwrap_or(Duration::ZERO);
        let simulated_ms = elapsed.as_millis().saturating_mul(u128::from(self.speed.multiplier()));
        let steps = u64::try_from(simulated_ms / u128::from(self.step_ms)).unwrap_or(u64::MAX);
        self.anchor_step.saturating_add(steps)
    }

    /// Re-anchors at `now` (at the step reached so far) and runs on at `speed`.
    pub fn set_speed(&mut self, speed: Speed, now: SystemTime) {
        self.anchor_step = self.target_step(now);
        self.anchor_at = now;
        self.speed = speed;
    }

    /// When the step after `step` falls due, or `None` while paused.
    pub fn due_at(&self, step: u64) -> Option<SystemTime> {
        let multiplier = u64::from(self.speed.multiplier());
        if multiplier == 0 {
            return None;
        }
        let steps = step.saturating_add(1).saturating_sub(self.anchor_step);
        let real_us = steps.saturating_mul(self.step_ms).saturating_mul(1000).div_ceil(multiplier);
        Some(self.anchor_at + Duration::from_micros(real_us))
    }

    /// How far real time is ahead of `step`, in real time.
    pub fn lag(&self, step: u64, now: SystemTime) -> Duration {
        self.due_at(step).and_then(|due| now.duration_since(due).ok()).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
    }

    #[test]
    fn steps_follow_real_time_times_speed() {
        let clock = SimClock::new(Speed::X10, 10, 5, at(0));
        assert_eq!(clock.target_step(at(0)), 5);
        assert_eq!(clock.target_step(at(1)), 6);
        assert_eq!(clock.target_step(at(100)), 105);
        // Before the anchor (a clock step back) nothing runs backwards.
        assert_eq!(clock.target_step(at(0) - Duration::from_secs(1)), 5);
    }

    #[test]
    fn pausing_holds_the_step_and_resuming_continues_from_it() {
        let mut clock = SimClock::new(Speed::X1, 10, 0, at(0));
        clock.set_speed(Speed::Paused, at(100));
        assert_eq!(clock.target_step(at(5_000)), 10);
        assert_eq!(clock.due_at(10), None);
        clock.set_speed(Speed::X2, at(5_000));
        assert_eq!(clock.target_step(at(5_050)), 20);
    }

    #[test]
    fn due_time_and_lag() {
        let clock = SimClock::new(Speed::X1, 10, 0, at(0));
        assert_eq!(clock.due_at(0), Some(at(10)));
        assert_eq!(clock.lag(0, at(25)), Duration::from_millis(15));
        assert_eq!(clock.lag(3, at(25)), Duration::ZERO);
    }
}
