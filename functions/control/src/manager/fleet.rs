//! The host registry and spare capacity: [`Fleet::poll`] probes every known host's `/health`, tells the
//! [`Liveness`](super::Liveness) what it found and records the heartbeat, capacity and load of those that answered;
//! [`Fleet::ensure_spare`] launches a host when free slots run low.

use super::{ManagerConfig, Parts};
use crate::error::ControlError;
use crate::hosts::{HostHealth, HostTarget};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;

#[derive(Debug)]
pub struct Fleet {
    parts: Parts,
    spare_slots: u32,
    max_hosts: usize,
    probe_timeout: Duration,
    /// Simulators each host reported at its last heartbeat. Kept here, not in PostgreSQL: only this manager's
    /// capacity decisions use it, and a fresh manager learns it at its first poll.
    loads: Mutex<HashMap<String, u32>>,
    /// Held for a whole capacity check and launch, so one shortfall never launches twice.
    launching: tokio::sync::Mutex<()>,
}

impl Fleet {
    pub fn new(parts: Parts, config: &ManagerConfig) -> Self {
        Self {
            parts,
            spare_slots: config.spare_slots,
            max_hosts: config.max_hosts,
            probe_timeout: config.probe_timeout,
            loads: Mutex::new(HashMap::new()),
            launching: tokio::sync::Mutex::new(()),
        }
    }

    /// Probes every host that may still run simulators (a recent heartbeat in the table, simulators placed there,
    /// launched by the launcher, or probed before and not dead), and heartbeats those that answer as themselves.
    /// Launched hosts whose process has ended are stopped (reaped and forgotten). A host table that cannot be read
    /// leaves the hosts probed before; a heartbeat that cannot be recorded is logged: neither counts against a host.
    /// Returns how many answered.
    pub async fn poll(&self, now: SystemTime) -> Result<usize, ControlError> {
        let liveness = &self.parts.liveness;
        let mut targets: HashMap<String, HostTarget> =
            liveness.not_dead(now).into_iter().map(|target| (target.id.clone(), target)).collect();
        match self.listed(now).await {
            Ok(listed) => {
                liveness.forget_dead_except(&listed.iter().map(|target| target.id.clone()).collect(), now);
                targets.extend(listed.into_iter().map(|target| (target.id.clone(), target)));
            }
            Err(error) => tracing::warn!(%error, "cannot read the host table; probing the hosts known already"),
        }
        for launched in self.parts.launcher.list().await? {
            if launched.alive {
                targets.insert(launched.target.id.clone(), launched.target);
            } else {
                tracing::warn!(host = %launched.target.id, "a launched host has exited");
                self.parts.launcher.stop(&launched.target.id).await?;
            }
        }
        let mut asks = JoinSet::new();
        for target in targets.into_values() {
            let hosts = Arc::clone(&self.parts.hosts);
            let timeout = self.probe_timeout;
            asks.spawn(async move {
                let health = match tokio::time::timeout(timeout, hosts.health(&target)).await {
                    Ok(health) => health,
                    Err(_) => Err(ControlError::HostUnavailable(format!("no answer within {timeout:?}"))),
                };
                (target, health)
            });
        }
        let mut answered = 0;
        while let Some(joined) = asks.join_next().await {
            let (target, health) = joined.map_err(|e| ControlError::Internal(format!("health check panicked: {e}")))?;
            match health {
                // Ports are reused: only the host's own id proves it is the one at this address.
                Ok(health) if health.host_id == target.id => {
                    liveness.answered(&target);
                    answered += 1;
                    if let Err(error) = self.record(&target, &health, now).await {
                        tracing::warn!(host = %target.id, %error, "recording a heartbeat failed; the host answered");
                    }
                }
                Ok(health) => {
                    tracing::warn!(host = %target.id, answered_as = %health.host_id, "another host answers");
                    liveness.missed(&target, now);
                }
                Err(error) => {
                    tracing::debug!(host = %target.id, %error, "no heartbeat");
                    liveness.missed(&target, now);
                }
            }
        }
        Ok(answered)
    }

    /// The hosts in the table with a recent heartbeat or with simulators placed there.
    async fn listed(&self, now: SystemTime) -> Result<Vec<HostTarget>, ControlError> {
        let rows = self
            .parts
            .query(
                "SELECT h.id, h.address FROM hosts h WHERE h.heartbeat_at > $1
                    OR EXISTS (SELECT 1 FROM user_simulators s WHERE s.host_id = h.id AND s.state <> 'stopped')",
                &[&self.parts.table.alive_since(now)],
            )
            .await?;
        Ok(rows.iter().map(|row| HostTarget { id: row.get(0), address: row.get(1) }).collect())
    }

    /// Free slots across live hosts. A host's used slots are the larger of what the control plane placed there
    /// and what it last reported running, so neither an unknown simulator nor a stale report hides a full host.
    pub async fn free_slots(&self, now: SystemTime) -> Result<u64, ControlError> {
        let rows = self
            .parts
            .query(
                "SELECT h.id, h.capacity, count(s.id) FROM hosts h
                 LEFT JOIN user_simulators s ON s.host_id = h.id AND s.state <> 'stopped'
                 WHERE h.heartbeat_at > $1 GROUP BY h.id",
                &[&self.parts.table.alive_since(now)],
            )
            .await?;
        let loads = self.loads.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rows
            .iter()
            .map(|row| {
                let capacity = u64::try_from(row.get::<_, i32>(1)).unwrap_or(0);
                let placed = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
                let reported = loads.get(row.get::<_, &str>(0)).copied().map_or(0, u64::from);
                capacity.saturating_sub(placed.max(reported))
            })
            .sum())
    }

    /// Launches one host if free slots are below the spare count and fewer than the maximum hosts run, and
    /// heartbeats it at once so the next check counts it. A check while a launch is under way does nothing.
    /// Returns the launched host.
    pub async fn ensure_spare(&self, now: SystemTime) -> Result<Option<HostTarget>, ControlError> {
        let Ok(_launching) = self.launching.try_lock() else { return Ok(None) };
        let free = self.free_slots(now).await?;
        if free >= u64::from(self.spare_slots) {
            return Ok(None);
        }
        let launcher = &self.parts.launcher;
        let running = launcher.list().await?.iter().filter(|host| host.alive).count();
        if running >= self.max_hosts {
            tracing::warn!(free, running, "spare capacity is low but the maximum number of hosts runs");
            return Ok(None);
        }
        tracing::info!(free, spare = self.spare_slots, "spare capacity is low; launching a host");
        let target = launcher.launch().await?;
        let health = self.parts.hosts.health(&target).await?;
        self.parts.liveness.answered(&target);
        self.record(&target, &health, now).await?;
        Ok(Some(target))
    }

    async fn record(&self, target: &HostTarget, health: &HostHealth, now: SystemTime) -> Result<(), ControlError> {
        self.loads.lock().unwrap_or_else(PoisonError::into_inner).insert(target.id.clone(), health.simulators);
        self.parts.table.heartbeat(target, health.capacity, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{CAPACITY, FakeHosts, FakeLauncher, Fixture, target};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn fleet(fixture: &Fixture, hosts: &Arc<FakeHosts>, launcher: &Arc<FakeLauncher>, spare: u32) -> Fleet {
        let config = ManagerConfig { spare_slots: spare, max_hosts: 2, ..ManagerConfig::default() };
        Fleet::new(Parts::new(fixture.pool.clone(), hosts.clone(), launcher.clone(), &config), &config)
    }

    #[tokio::test]
    async fn polling_heartbeats_the_hosts_that_answer_as_themselves_and_reaps_exited_ones() {
        let fixture = Fixture::new().await;
        let (hosts, launcher) = (Arc::new(FakeHosts::default()), Arc::new(FakeLauncher::default()));
        let fleet = fleet(&fixture, &hosts, &launcher, 0);
        let clock = ManualClock::starting_now();
        let t0 = clock.now();
        for host in ["table", "silent", "impostor"] {
            fixture.heartbeat(host, 1, t0).await;
        }
        launcher.adopt("launched", true);
        launcher.adopt("exited", false);
        hosts.set_down("silent", true);
        *hosts.impostor.lock().unwrap() = Some(("impostor".into(), "someone-else".into()));
        hosts.loads.lock().unwrap().insert("table".into(), 3);

        clock.advance(Duration::from_secs(1));
        assert_eq!(fleet.poll(clock.now()).await.unwrap(), 2);
        let db = fixture.pool.get().await.unwrap();
        let rows = db.query("SELECT id, capacity, heartbeat_at FROM hosts ORDER BY id", &[]).await.unwrap();
        let seen: Vec<(String, i32, bool)> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get::<_, SystemTime>(2) == clock.now())).collect();
        let capacity = i32::try_from(CAPACITY).unwrap();
        assert_eq!(
            seen,
            [
                ("impostor".into(), 1, false),
                ("launched".into(), capacity, true),
                ("silent".into(), 1, false),
                ("table".into(), capacity, true),
            ]
        );
        assert_eq!(*launcher.stopped.lock().unwrap(), ["exited"]);
        // Reported load counts ("table" has 4 slots and reports 3 running); "silent" and "impostor" are still
        // within the timeout, with 1 slot each.
        assert_eq!(fleet.free_slots(clock.now()).await.unwrap(), 1 + u64::from(CAPACITY) + 2);
    }

    #[tokio::test]
    async fn spare_capacity_launches_one_host_per_shortfall_up_to_the_maximum() {
        let fixture = Fixture::new().await;
        let (hosts, launcher) = (Arc::new(FakeHosts::default()), Arc::new(FakeLauncher::default()));
        let fleet = fleet(&fixture, &hosts, &launcher, 3);
        let now = ManualClock::starting_now().now();

        assert_eq!(fleet.ensure_spare(now).await.unwrap(), Some(target("launched-1")));
        // Heartbeated at once: its 4 free slots cover the spare 3.
        assert_eq!(fleet.free_slots(now).await.unwrap(), u64::from(CAPACITY));
        assert_eq!(fleet.ensure_spare(now).await.unwrap(), None);

        // Placed simulators use up slots: 2 free < 3 spare, so a second host...
        fixture.session("ses_1", now + Duration::from_secs(60), now + Duration::from_secs(60)).await;
        fixture.simulator("sim_1", "ses_1", "launched-1", "running").await;
        fixture.simulator("sim_2", "ses_1", "launched-1", "running").await;
        assert_eq!(fleet.ensure_spare(now).await.unwrap(), Some(target("launched-2")));
        // ...and with both full, no third: the maximum is 2.
        hosts.loads.lock().unwrap().extend([("launched-1".into(), CAPACITY), ("launched-2".into(), CAPACITY)]);
        fleet.poll(now).await.unwrap();
        assert_eq!(fleet.free_slots(now).await.unwrap(), 0);
        assert_eq!(fleet.ensure_spare(now).await.unwrap(), None);
        assert_eq!(launcher.launches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_check_during_a_launch_does_not_launch_again() {
        let fixture = Fixture::new().await;
        let (hosts, launcher) = (Arc::new(FakeHosts::default()), Arc::new(FakeLauncher::gated()));
        let fleet = fleet(&fixture, &hosts, &launcher, 1);
        let now = ManualClock::starting_now().now();

        // The first check holds the launch at the gate while the second runs; then the gate opens.
        let (first, second, ()) =
            tokio::join!(fleet.ensure_spare(now), fleet.ensure_spare(now), async { launcher.open_gate() });
        assert_eq!((first.unwrap(), second.unwrap()), (Some(target("launched-1")), None));
        assert_eq!(launcher.launches.load(Ordering::SeqCst), 1);
        assert_eq!(fleet.ensure_spare(now).await.unwrap(), None);
    }
}
