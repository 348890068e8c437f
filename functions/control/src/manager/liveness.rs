//! What the manager's probes found of each host. A host is dead only when it itself stopped answering: it has failed
//! `dead_after_probes` probes in a row, the first of them at least `heartbeat_timeout` ago. Failures of the manager's
//! own bookkeeping (a heartbeat it could not record, a host list it could not read) are not probes and never age a
//! host.

use super::ManagerConfig;
use crate::hosts::HostTarget;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct Liveness {
    timeout: Duration,
    dead_after_probes: u32,
    probes: Mutex<HashMap<String, Probe>>,
}

#[derive(Clone, Debug)]
struct Probe {
    target: HostTarget,
    /// When the first of the probes failed in a row was made, and how many have failed since; `None` after an answer.
    failing: Option<(SystemTime, u32)>,
}

impl Liveness {
    pub fn new(config: &ManagerConfig) -> Self {
        Self {
            timeout: config.heartbeat_timeout,
            dead_after_probes: config.dead_after_probes.max(1),
            probes: Mutex::new(HashMap::new()),
        }
    }

    fn probes(&self) -> MutexGuard<'_, HashMap<String, Probe>> {
        self.probes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_dead(&self, probe: &Probe, now: SystemTime) -> bool {
        probe.failing.is_some_and(|(since, failed)| {
            failed >= self.dead_after_probes && now.duration_since(since).is_ok_and(|silent| silent >= self.timeout)
        })
    }

    /// The host answered a probe as itself.
    pub fn answered(&self, target: &HostTarget) {
        self.probes().insert(target.id.clone(), Probe { target: target.clone(), failing: None });
    }

    /// A probe made at `now` found the host silent, or another host at its address.
    pub fn missed(&self, target: &HostTarget, now: SystemTime) {
        let mut probes = self.probes();
        let probe = probes.entry(target.id.clone()).or_insert_with(|| Probe { target: target.clone(), failing: None });
        probe.target = target.clone();
        probe.failing = Some(probe.failing.map_or((now, 1), |(since, failed)| (since, failed.saturating_add(1))));
    }

    /// The hosts dead at `now`, by id.
    pub fn dead(&self, now: SystemTime) -> Vec<String> {
        let mut dead: Vec<String> =
            self.probes().values().filter(|probe| self.is_dead(probe, now)).map(|p| p.target.id.clone()).collect();
        dead.sort();
        dead
    }

    /// The hosts whose last probe failed, by id: dead or on the way.
    pub fn failing(&self) -> Vec<String> {
        let mut failing: Vec<String> =
            self.probes().values().filter(|probe| probe.failing.is_some()).map(|p| p.target.id.clone()).collect();
        failing.sort();
        failing
    }

    /// Every host probed so far that is not dead at `now`: they are probed again even when the host table cannot be
    /// read.
    pub(crate) fn not_dead(&self, now: SystemTime) -> Vec<HostTarget> {
        self.probes().values().filter(|probe| !self.is_dead(probe, now)).map(|p| p.target.clone()).collect()
    }

    /// Forgets the dead hosts that are not in `listed` (their simulators are re-homed, nothing refers to them).
    pub(crate) fn forget_dead_except(&self, listed: &HashSet<String>, now: SystemTime) {
        let mut probes = std::mem::take(&mut *self.probes());
        probes.retain(|id, probe| listed.contains(id) || !self.is_dead(probe, now));
        *self.probes() = probes;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::target;
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_host_is_dead_after_enough_failed_probes_spanning_the_timeout_and_an_answer_resets_it() {
        let config = ManagerConfig { heartbeat_timeout: 10 * SECOND, dead_after_probes: 3, ..ManagerConfig::default() };
        let liveness = Liveness::new(&config);
        let t0 = SystemTime::UNIX_EPOCH + 1_000_000 * SECOND;
        let host = target("a");
        // (probe at, answered, dead just after it)
        let table = [
            (0, false, false),
            (11, false, false), // two failed probes over 11 s: too few
            (12, false, true),  // three, the first 12 s ago
            (13, true, false),  // it answers: alive again
            (14, false, false),
            (16, false, false),
            (20, false, false), // three in a row, but only 6 s since the first
            (24, false, true),
        ];
        for (at, answered, dead) in table {
            let now = t0 + at * SECOND;
            if answered {
                liveness.answered(&host);
            } else {
                liveness.missed(&host, now);
            }
            assert_eq!(liveness.dead(now), if dead { vec!["a".to_owned()] } else { vec![] }, "at +{at} s");
        }
        assert!(liveness.not_dead(t0 + 24 * SECOND).is_empty());
        assert_eq!(liveness.failing(), ["a"]);
        liveness.forget_dead_except(&HashSet::from(["a".to_owned()]), t0 + 24 * SECOND);
        assert_eq!(liveness.dead(t0 + 24 * SECOND), ["a"]);
        liveness.forget_dead_except(&HashSet::new(), t0 + 24 * SECOND);
        assert!(liveness.dead(t0 + 24 * SECOND).is_empty());
    }
}
