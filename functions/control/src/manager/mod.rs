//! The simulator manager: the host registry (heartbeats, capacity, load), spare capacity kept warm through a
//! [`Launcher`], and the [`Sweeper`] that reclaims the simulators of expired sessions and re-homes those of dead
//! hosts (docs/host.md: recovery on request). [`Manager::run`] drives it all on intervals; each part is a plain
//! method taking the time, so tests drive it with a manual clock.
//!
//! # Invariants
//! 1. **Dead means silent past the timeout.** A host is live while its last heartbeat is within
//!    `heartbeat_timeout`, here and in placement alike ([`HostTable::alive_since`]); a heartbeat counts only from
//!    a host answering `/health` with its own id.
//! 2. **Re-home only what is fenced.** A dead host is stopped through the launcher before its simulators are
//!    recovered elsewhere (the host does not check that the previous one gave a simulator up).
//! 3. **Nothing is dropped on failure.** A stop or re-home that fails leaves the simulator where the next tick
//!    finds it again: not stopped, on its dead host (marked `failed`).
//! 4. **Stops go through a live host**, so the host's journal also records the simulator stopped; a simulator of
//!    an ended session on a dead host is re-homed first and stopped on the next tick.
//! 5. **One launch per shortfall.** Capacity checks and launches are serialized; a launched host is heartbeated
//!    before the next check, so it counts at once.
//!
//! [`HostTable::alive_since`]: crate::hosts::HostTable::alive_since

mod fleet;
mod launcher;
mod sweeper;
#[cfg(test)]
pub(crate) mod testing;

pub use fleet::Fleet;
pub use launcher::{LaunchedHost, Launcher, LocalLauncher, LocalLauncherConfig};
pub use sweeper::{SweepReport, Sweeper};

use crate::clock::Clock;
use crate::hosts::HostClient;
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
    /// A host silent this long is dead. Default 10 s (five missed heartbeats).
    pub heartbeat_timeout: Duration,
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
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(10),
            capacity_interval: Duration::from_secs(2),
            spare_slots: 50,
            max_hosts: 4,
            sweep_interval: Duration::from_secs(5),
            cool_down: Duration::from_secs(60),
            sweep_batch: 100,
            stop_hosts_on_shutdown: true,
        }
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
        Self {
            fleet: Fleet::new(pool.clone(), Arc::clone(&hosts), Arc::clone(&launcher), &config),
            sweeper: Sweeper::new(pool, hosts, Arc::clone(&launcher), &config),
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
    use crate::clock::ManualClock;

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
