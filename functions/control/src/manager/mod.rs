//! The simulator manager: the host registry (heartbeats, capacity, load), spare capacity kept warm through a
//! [`Launcher`], and the [`Sweeper`] that reclaims the simulators of expired sessions and re-homes those of dead
//! hosts (docs/host.md: recovery on request). [`Manager::run`] drives it all on intervals; each part is a plain
//! method taking the time, so tests drive it with a manual clock.
//!
//! # Invariants
//! 1. **Dead means the host stopped answering.** A host is dead once it has failed `dead_after_probes` probes of
//!    `/health` in a row over at least `heartbeat_timeout` ([`Liveness`]); an answer counts only from a host
//!    answering with its own id, within `probe_timeout`. A heartbeat the manager fails to record (its database in
//!    trouble) is not a failed probe. Placement uses the recorded heartbeats ([`HostTable::alive_since`]).
//! 2. **Re-home only what is fenced.** A dead host is stopped through the launcher before its simulators are
//!    recovered elsewhere (the host does not check that the previous one gave a simulator up).
//! 3. **Nothing is dropped on failure.** A stop or re-home that fails leaves the simulator where the next tick
//!    finds it again: not stopped, on its dead host (marked `failed`).
//! 4. **Stops go through a live host**, so the host's journal also records the simulator stopped; a simulator of
//!    an ended session on a dead host is re-homed first and stopped on the next tick.
//! 5. **One launch per shortfall.** Capacity checks and launches are serialized; a launched host is heartbeated
//!    before the next check, so it counts at once.
//! 6. **A failed engine is recovered where it runs, with backoff.** A simulator a live host reports failed is
//!    rebuilt there from its snapshot and journal; a failed attempt waits `recover_backoff`, doubling up to
//!    `recover_backoff_max`, and after `recover_attempts` attempts the simulator is left failed.
//!
//! [`HostTable::alive_since`]: crate::hosts::HostTable::alive_since

mod fleet;
mod launcher;
mod liveness;
mod sweeper;
#[cfg(test)]
pub(crate) mod testing;

pub use fleet::Fleet;
pub use launcher::{LaunchedHost, Launcher, LocalLauncher, LocalLauncherConfig};
pub use liveness::Liveness;
pub use sweeper::{SweepReport, Sweeper};

use crate::clock::Clock;
use crate::error::ControlError;
use crate::hosts::{HostClient, HostTable};
use deadpool_postgres::Pool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// The manager's knobs. Give the [`HostTable`](crate::hosts::HostTable) that places simulators the same
/// `heartbeat_timeout`.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// How often every host's `/health` is asked. Default 2 s.
    pub heartbeat_interval: Duration,
    /// A host that has failed every probe for this long (and at least `dead_after_probes` of them) is dead; placement
    /// skips a host whose last recorded heartbeat is older. Default 10 s.
    pub heartbeat_timeout: Duration,
    /// Failed probes in a row, at the least, before a host is dead. Default 3.
    pub dead_after_probes: u32,
    /// How long a host may take to answer a probe. Default 5 s: a loaded host answers late, not never.
    pub probe_timeout: Duration,
    /// How often spare capacity is checked. Default 2 s.
    pub capacity_interval: Duration,
    /// Free slots to keep across live hosts; below this a host is launched. Default 50.
    pub spare_slots: u32,
    /// At most this many hosts run from this manager's launcher. Default 4.
    pub max_hosts: usize,
    /// How often the sweeper runs. Default 5 s.
    pub sweep_interval: Duration,
    /// How long after its session ended a simulator is stopped. Default 60 s.
    pub cool_down: Duration,
    /// At most this many sessions, stops and re-homes each per sweep, so one tick stays short. Default 100.
    pub sweep_batch: u32,
    /// Whether [`Manager::run`] stops the launcher's hosts when it ends. Default true (local child processes).
    pub stop_hosts_on_shutdown: bool,
    /// How long after a failed attempt to recover a failed simulator the next one is made; doubles per attempt.
    /// Default 5 s.
    pub recover_backoff: Duration,
    /// The longest wait between two attempts; a simulator that stays up this long after a recovery starts afresh.
    /// Default 5 min.
    pub recover_backoff_max: Duration,
    /// Attempts to recover one failed simulator before it is left failed (until the manager restarts). Default 8.
    pub recover_attempts: u32,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(10),
            dead_after_probes: 3,
            probe_timeout: Duration::from_secs(5),
            capacity_interval: Duration::from_secs(2),
            spare_slots: 50,
            max_hosts: 4,
            sweep_interval: Duration::from_secs(5),
            cool_down: Duration::from_secs(60),
            sweep_batch: 100,
            stop_hosts_on_shutdown: true,
            recover_backoff: Duration::from_secs(5),
            recover_backoff_max: Duration::from_secs(300),
            recover_attempts: 8,
        }
    }
}

/// What the fleet and the sweeper work with: the database and its host table, the hosts' internal API, the
/// launcher, and what the fleet's probes found (which the sweeper judges hosts dead by). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Parts {
    pool: Pool,
    table: HostTable,
    hosts: Arc<dyn HostClient>,
    launcher: Arc<dyn Launcher>,
    liveness: Arc<Liveness>,
}

impl Parts {
    pub fn new(pool: Pool, hosts: Arc<dyn HostClient>, launcher: Arc<dyn Launcher>, config: &ManagerConfig) -> Self {
        Self {
            table: HostTable::new(pool.clone(), config.heartbeat_timeout),
            pool,
            hosts,
            launcher,
            liveness: Arc::new(Liveness::new(config)),
        }
    }

    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// One query on a pooled connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, ControlError> {
        Ok(self.pool.get().await?.query(sql, params).await?)
    }
}

/// Owns the fleet and the sweeper and runs them.
#[derive(Debug)]
pub struct Manager {
    fleet: Fleet,
    sweeper: Sweeper,
    launcher: Arc<dyn Launcher>,
    clock: Arc<dyn Clock>,
    config: ManagerConfig,
}

impl Manager {
    pub fn new(
        pool: Pool,
        hosts: Arc<dyn HostClient>,
        launcher: Arc<dyn Launcher>,
        clock: Arc<dyn Clock>,
        config: ManagerConfig,
    ) -> Self {
        let parts = Parts::new(pool, hosts, Arc::clone(&launcher), &config);
        Self {
            fleet: Fleet::new(parts.clone(), &config),
            sweeper: Sweeper::new(parts, &config),
            launcher,
            clock,
            config,
        }
    }

    /// Heartbeats, capacity checks and sweeps, each on its own interval (so a slow launch delays no heartbeat),
    /// until `shutdown` completes; then, if configured, stops the launcher's hosts. Failures are logged and the
    /// next round tries again.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(());
        let config = &self.config;
        tokio::join!(
            async {
                shutdown.await;
                // Every loop holds a receiver; none can have gone.
                let _ = stop.send(());
            },
            every(config.heartbeat_interval, stopped.clone(), || async {
                if let Err(error) = self.fleet.poll(self.clock.now()).await {
                    tracing::warn!(%error, "polling the hosts failed");
                }
            }),
            every(config.capacity_interval, stopped.clone(), || async {
                if let Err(error) = self.fleet.ensure_spare(self.clock.now()).await {
                    tracing::warn!(%error, "keeping spare capacity failed");
                }
            }),
            every(config.sweep_interval, stopped, || async {
                match self.sweeper.tick(self.clock.now()).await {
                    Ok(report) if report != SweepReport::default() => tracing::info!(?report, "swept"),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "sweeping failed"),
                }
            }),
        );
        if config.stop_hosts_on_shutdown {
            self.stop_hosts().await;
        }
    }

    async fn stop_hosts(&self) {
        let hosts = match self.launcher.list().await {
            Ok(hosts) => hosts,
            Err(error) => return tracing::warn!(%error, "cannot list the hosts to stop"),
        };
        for host in hosts {
            if let Err(error) = self.launcher.stop(&host.target.id).await {
                tracing::warn!(host = %host.target.id, %error, "stopping a host failed");
            }
        }
    }
}

/// Runs `work` every `period` (the first at once) until `stop` changes; a round in progress finishes first.
async fn every<F: Future<Output = ()>>(period: Duration, mut stop: watch::Receiver<()>, mut work: impl FnMut() -> F) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => work().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{FakeHosts, FakeLauncher, Fixture};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::SystemTime;

    const SECOND: Duration = Duration::from_secs(1);

    /// A fleet and a sweeper sharing their parts, as in [`Manager`].
    fn fleet_and_sweeper(
        fixture: &Fixture,
        hosts: &Arc<FakeHosts>,
        launcher: &Arc<FakeLauncher>,
        config: &ManagerConfig,
    ) -> (Fleet, Sweeper) {
        let parts = Parts::new(fixture.pool.clone(), hosts.clone(), launcher.clone(), config);
        (Fleet::new(parts.clone(), config), Sweeper::new(parts, config))
    }

    async fn heartbeat_at(fixture: &Fixture, host: &str) -> SystemTime {
        let db = fixture.pool.get().await.unwrap();
        db.query_one("SELECT heartbeat_at FROM hosts WHERE id = $1", &[&host]).await.unwrap().get(0)
    }

    #[tokio::test]
    async fn a_heartbeat_the_database_refuses_does_not_make_a_host_dead_but_a_silent_host_is() {
        let fixture = Fixture::new().await;
        let (hosts, launcher) = (Arc::new(FakeHosts::default()), Arc::new(FakeLauncher::default()));
        let config = ManagerConfig::default();
        let (fleet, sweeper) = fleet_and_sweeper(&fixture, &hosts, &launcher, &config);
        let clock = ManualClock::starting_now();
        let t0 = clock.now();
        fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        for host in ["busy", "silent", "spare"] {
            fixture.heartbeat(host, 10, t0).await;
        }
        fixture.simulator("sim_busy", "ses_1", "busy", "running").await;
        fixture.simulator("sim_silent", "ses_1", "silent", "running").await;
        // "busy" answers every probe, but recording its heartbeat fails, as when the pool times out.
        fixture
            .execute(
                "CREATE FUNCTION refuse_busy() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.id = 'busy' THEN RAISE EXCEPTION 'no slot for busy'; END IF; RETURN NEW; END $$",
                &[],
            )
            .await;
        fixture
            .execute(
                "CREATE TRIGGER refuse_busy BEFORE UPDATE ON hosts FOR EACH ROW EXECUTE FUNCTION refuse_busy()",
                &[],
            )
            .await;
        hosts.set_down("silent", true);

        // Polls every 2 s and sweeps for three times the heartbeat timeout.
        let mut rehomed = 0;
        while clock.now() < t0 + 3 * config.heartbeat_timeout {
            clock.advance(config.heartbeat_interval);
            assert_eq!(fleet.poll(clock.now()).await.unwrap(), 2, "busy and spare answer");
            rehomed += sweeper.tick(clock.now()).await.unwrap().simulators_rehomed;
        }
        assert_eq!(rehomed, 1);
        assert_eq!(*launcher.stopped.lock().unwrap(), ["silent"], "only the silent host is fenced");
        assert_eq!(fixture.placement("sim_busy").await, ("busy".into(), "running".into()));
        assert_eq!(fixture.placement("sim_silent").await, ("spare".into(), "running".into()));
        assert_eq!(heartbeat_at(&fixture, "busy").await, t0, "no heartbeat was recorded");

        // Once the database takes it again, the heartbeat is recorded at the next poll.
        fixture.execute("DROP TRIGGER refuse_busy ON hosts", &[]).await;
        clock.advance(config.heartbeat_interval);
        fleet.poll(clock.now()).await.unwrap();
        assert_eq!(heartbeat_at(&fixture, "busy").await, clock.now());
    }

    #[tokio::test]
    async fn a_host_that_answers_slowly_within_the_probe_timeout_stays_alive() {
        let fixture = Fixture::new().await;
        let (hosts, launcher) = (Arc::new(FakeHosts::default()), Arc::new(FakeLauncher::default()));
        let config = ManagerConfig { probe_timeout: Duration::from_millis(800), ..ManagerConfig::default() };
        let (fleet, sweeper) = fleet_and_sweeper(&fixture, &hosts, &launcher, &config);
        let clock = ManualClock::starting_now();
        let t0 = clock.now();
        fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        for host in ["slow", "hung", "spare"] {
            fixture.heartbeat(host, 10, t0).await;
        }
        fixture.simulator("sim_slow", "ses_1", "slow", "running").await;
        fixture.simulator("sim_hung", "ses_1", "hung", "running").await;
        // Real time: "slow" answers after 200 ms, "hung" not before a minute.
        hosts
            .delays
            .lock()
            .unwrap()
            .extend([("slow".into(), Duration::from_millis(200)), ("hung".into(), 60 * SECOND)]);

        for _ in 0..config.dead_after_probes {
            assert_eq!(fleet.poll(clock.now()).await.unwrap(), 2, "slow and spare answer");
            assert_eq!(heartbeat_at(&fixture, "slow").await, clock.now());
            clock.advance(config.heartbeat_timeout / 2);
        }
        assert_eq!(sweeper.tick(clock.now()).await.unwrap().simulators_rehomed, 1);
        assert_eq!(*launcher.stopped.lock().unwrap(), ["hung"]);
        assert_eq!(fixture.placement("sim_slow").await, ("slow".into(), "running".into()));
        assert_eq!(fixture.placement("sim_hung").await.1, "running");
        assert_ne!(fixture.placement("sim_hung").await.0, "hung");
    }

    #[tokio::test]
    async fn run_returns_on_shutdown_and_stops_the_launched_hosts() {
        let fixture = Fixture::new().await;
        let launcher = Arc::new(FakeLauncher::default());
        launcher.adopt("launched", true);
        let config = ManagerConfig { spare_slots: 0, ..ManagerConfig::default() };
        let clock = Arc::new(ManualClock::starting_now());
        let manager =
            Manager::new(fixture.pool.clone(), Arc::new(FakeHosts::default()), launcher.clone(), clock, config);
        manager.run(async {}).await;
        assert_eq!(*launcher.stopped.lock().unwrap(), ["launched"]);
        assert!(launcher.hosts.lock().unwrap().is_empty());
    }
}
