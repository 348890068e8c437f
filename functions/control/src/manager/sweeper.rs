//! The sweeper: one [`Sweeper::tick`] ends expired sessions, stops the simulators of sessions ended longer than
//! the cool-down, and re-homes the simulators of dead hosts. Time is its input, so tests move it.

use super::ManagerConfig;
use super::launcher::Launcher;
use crate::audit::{self, AuditEvent};
use crate::db::stored;
use crate::domain::{SessionId, SimId, UserId};
use crate::error::ControlError;
use crate::hosts::{HostClient, HostTable, HostTarget, Placement, stop_and_record};
use deadpool_postgres::Pool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tradesim_protocol::stream::SimState;

/// `sessions.end_reason` of a session that passed its idle deadline...
const IDLE: &str = "idle";
/// ...and of one that reached its absolute lifetime.
const LIFETIME: &str = "lifetime";

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions_ended: usize,
    pub simulators_stopped: usize,
    pub simulators_rehomed: usize,
    /// Stops and re-homes that failed this tick; the next tick tries them again.
    pub failures: usize,
}

#[derive(Debug)]
pub struct Sweeper {
    pool: Pool,
    table: HostTable,
    hosts: Arc<dyn HostClient>,
    launcher: Arc<dyn Launcher>,
    cool_down: Duration,
    batch: i64,
}

struct Stranded {
    sim: SimId,
    user: UserId,
}

impl Sweeper {
    pub fn new(pool: Pool, hosts: Arc<dyn HostClient>, launcher: Arc<dyn Launcher>, config: &ManagerConfig) -> Self {
        Self {
            table: HostTable::new(pool.clone(), config.heartbeat_timeout),
            pool,
            hosts,
            launcher,
            cool_down: config.cool_down,
            batch: i64::from(config.sweep_batch),
        }
    }

    pub async fn tick(&self, now: SystemTime) -> Result<SweepReport, ControlError> {
        let mut report =
            SweepReport { sessions_ended: self.end_expired_sessions(now).await?, ..SweepReport::default() };
        self.stop_cooled_down(now, &mut report).await?;
        self.rehome(now, &mut report).await?;
        Ok(report)
    }

    /// Ends live sessions past a deadline, each at the deadline it passed, and audits them. Checking the idle
    /// deadline suffices: the schema keeps it at or before the absolute one, which it equals once keep-alives
    /// reached the lifetime.
    async fn end_expired_sessions(&self, now: SystemTime) -> Result<usize, ControlError> {
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        // SKIP LOCKED: a keep-alive or a second manager holding a row is not waited for; the next tick sees it.
        let rows = tx
            .query(
                "UPDATE sessions s SET ended_at = s.idle_deadline,
                     end_reason = CASE WHEN s.idle_deadline >= s.absolute_deadline THEN $3 ELSE $4 END
                 FROM (SELECT id FROM sessions WHERE ended_at IS NULL AND idle_deadline <= $1
                       ORDER BY idle_deadline LIMIT $2 FOR UPDATE SKIP LOCKED) due
                 WHERE s.id = due.id
                 RETURNING s.id, s.user_id, s.idle_deadline >= s.absolute_deadline",
                &[&now, &self.batch, &LIFETIME, &IDLE],
            )
            .await?;
        for row in &rows {
            let event = AuditEvent::SessionEnded {
                session: stored(SessionId::parse(row.get::<_, String>(0)))?,
                user: stored(UserId::parse(row.get::<_, String>(1)))?,
                reason: if row.get(2) { LIFETIME } else { IDLE },
            };
            audit::record(&tx, now, &event).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Stops, on their live hosts, the simulators of sessions that ended at least the cool-down ago. One on a dead
    /// host waits to be re-homed first, so the stop reaches a host and its journal record says stopped too.
    async fn stop_cooled_down(&self, now: SystemTime, report: &mut SweepReport) -> Result<(), ControlError> {
        let ended_before = now.checked_sub(self.cool_down).unwrap_or(SystemTime::UNIX_EPOCH);
        let db = self.pool.get().await?;
        let rows = db
            .query(
                "SELECT s.id, s.user_id, h.id, h.address FROM user_simulators s
                 JOIN sessions se ON se.id = s.session_id JOIN hosts h ON h.id = s.host_id
                 WHERE s.state <> 'stopped' AND se.ended_at <= $1 AND h.heartbeat_at > $2
                 ORDER BY se.ended_at, s.id LIMIT $3",
                &[&ended_before, &self.table.alive_since(now), &self.batch],
            )
            .await?;
        for row in &rows {
            let sim = stored(SimId::parse(row.get::<_, String>(0)))?;
            let user = stored(UserId::parse(row.get::<_, String>(1)))?;
            let host = HostTarget { id: row.get(2), address: row.get(3) };
            match stop_and_record(&db, self.hosts.as_ref(), &host, &user, &sim, now).await {
                Ok(recorded) => report.simulators_stopped += usize::from(recorded),
                Err(error) => {
                    tracing::warn!(%sim, host = %host.id, %error, "stopping an expired session's simulator failed");
                    report.failures += 1;
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the simulators of dead hosts on live ones. A dead host is first stopped through the launcher (a
    /// no-op for hosts it did not start), so one that is only slow cannot keep running what moves away.
    async fn rehome(&self, now: SystemTime, report: &mut SweepReport) -> Result<(), ControlError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT s.id, s.user_id, s.host_id FROM user_simulators s JOIN hosts h ON h.id = s.host_id
                 WHERE s.state <> 'stopped' AND h.heartbeat_at <= $1
                 ORDER BY s.host_id, s.created_at, s.id LIMIT $2",
                &[&self.table.alive_since(now), &self.batch],
            )
            .await?;
        let mut by_host: BTreeMap<String, Vec<Stranded>> = BTreeMap::new();
        for row in &rows {
            let sim = stored(SimId::parse(row.get::<_, String>(0)))?;
            let user = stored(UserId::parse(row.get::<_, String>(1)))?;
            by_host.entry(row.get(2)).or_default().push(Stranded { sim, user });
        }
        for (dead, stranded) in by_host {
            if let Err(error) = self.launcher.stop(&dead).await {
                tracing::warn!(host = %dead, %error, "cannot stop a dead host; its simulators wait");
                report.failures += stranded.len();
                continue;
            }
            for (done, one) in stranded.iter().enumerate() {
                match self.rehome_one(&dead, one, now).await {
                    Ok(()) => report.simulators_rehomed += 1,
                    Err(ControlError::NoCapacity) => {
                        tracing::warn!(host = %dead, "no live host has room to re-home simulators");
                        report.failures += stranded.len() - done;
                        return Ok(());
                    }
                    Err(error) => {
                        tracing::warn!(sim = %one.sim, host = %dead, %error, "re-homing a simulator failed");
                        self.mark_failed(&dead, &one.sim).await?;
                        report.failures += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Recovers one simulator on the live host with most room and records it there. Recovered but failed (its
    /// engine fails again on replay) still moves: retrying the same journal would fail the same way.
    async fn rehome_one(&self, dead: &str, one: &Stranded, now: SystemTime) -> Result<(), ControlError> {
        let target = self.table.place(now).await?;
        let info = self.hosts.recover(&target, &one.sim).await?;
        let state = if info.state == SimState::Failed { "failed" } else { "running" };
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        let moved = tx
            .execute(
                "UPDATE user_simulators SET host_id = $3, state = $4
                 WHERE id = $1 AND host_id = $2 AND state <> 'stopped'",
                &[&one.sim.as_str(), &dead, &target.id, &state],
            )
            .await?;
        if moved == 1 {
            let event = AuditEvent::SimulatorRehomed {
                user: one.user.clone(),
                sim: one.sim.clone(),
                from_host: dead.to_owned(),
                to_host: target.id.clone(),
            };
            audit::record(&tx, now, &event).await?;
        }
        tx.commit().await?;
        tracing::info!(sim = %one.sim, from = dead, to = %target.id, state, "re-homed a simulator");
        Ok(())
    }

    /// Marks a simulator whose re-home failed; it stays on its dead host, so the next tick tries again.
    async fn mark_failed(&self, dead: &str, sim: &SimId) -> Result<(), ControlError> {
        self.pool
            .get()
            .await?
            .execute(
                "UPDATE user_simulators SET state = 'failed' WHERE id = $1 AND host_id = $2 AND state <> 'stopped'",
                &[&sim.as_str(), &dead],
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{FakeHosts, FakeLauncher, Fixture};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use serde_json::json;

    const SECOND: Duration = Duration::from_secs(1);

    struct Setup {
        fixture: Fixture,
        hosts: Arc<FakeHosts>,
        launcher: Arc<FakeLauncher>,
        sweeper: Sweeper,
        clock: ManualClock,
        config: ManagerConfig,
    }

    async fn setup() -> Setup {
        let fixture = Fixture::new().await;
        let hosts = Arc::new(FakeHosts::default());
        let launcher = Arc::new(FakeLauncher::default());
        let config = ManagerConfig::default();
        let sweeper = Sweeper::new(fixture.pool.clone(), hosts.clone(), launcher.clone(), &config);
        Setup { fixture, hosts, launcher, sweeper, clock: ManualClock::starting_now(), config }
    }

    impl Setup {
        /// Moves the clock, heartbeats the live hosts at the new time and sweeps.
        async fn tick_after(&self, by: Duration, live: &[&str]) -> SweepReport {
            self.clock.advance(by);
            for host in live {
                self.fixture.heartbeat(host, 10, self.clock.now()).await;
            }
            self.sweeper.tick(self.clock.now()).await.unwrap()
        }
    }

    fn report(sessions_ended: usize, stopped: usize, rehomed: usize, failures: usize) -> SweepReport {
        SweepReport { sessions_ended, simulators_stopped: stopped, simulators_rehomed: rehomed, failures }
    }

    #[tokio::test]
    async fn an_idle_session_ends_and_its_simulator_is_stopped_after_the_cool_down() {
        let s = setup().await;
        let t0 = s.clock.now();
        s.fixture.heartbeat("a", 10, t0).await;
        s.fixture.session("ses_idle", t0 + 10 * SECOND, t0 + 3600 * SECOND).await;
        s.fixture.session("ses_live", t0 + 600 * SECOND, t0 + 3600 * SECOND).await;
        s.fixture.simulator("sim_idle", "ses_idle", "a", "running").await;
        s.fixture.simulator("sim_live", "ses_live", "a", "running").await;

        // (clock step, expected report, simulator state after)
        let cool_down = s.config.cool_down;
        let table = [
            (5 * SECOND, report(0, 0, 0, 0), "running"),
            (6 * SECOND, report(1, 0, 0, 0), "running"),
            // Cool-down counts from the deadline the session passed (t0 + 10 s), not from the sweep.
            (cool_down - 2 * SECOND, report(0, 0, 0, 0), "running"),
            (SECOND, report(0, 1, 0, 0), "stopped"),
            (SECOND, report(0, 0, 0, 0), "stopped"),
        ];
        for (step, expected, state) in table {
            assert_eq!(s.tick_after(step, &["a"]).await, expected, "at +{:?}", s.clock.now().duration_since(t0));
            assert_eq!(s.fixture.placement("sim_idle").await, ("a".into(), state.into()));
        }
        assert_eq!(s.hosts.calls("stop"), [("a".into(), "sim_idle".into())]);
        assert_eq!(s.fixture.placement("sim_live").await, ("a".into(), "running".into()));
        let ended = s.fixture.audit("session_ended").await;
        assert_eq!(ended, [(Some("ses_idle".into()), None, json!({ "reason": "idle" }))]);
        let stopped = s.fixture.audit("simulator_stopped").await;
        assert_eq!(stopped, [(None, Some("sim_idle".into()), json!({}))]);
        let row = s.fixture.pool.get().await.unwrap();
        let row = row.query_one("SELECT ended_at, end_reason FROM sessions WHERE id = 'ses_idle'", &[]).await.unwrap();
        assert_eq!((row.get::<_, SystemTime>(0), row.get::<_, String>(1)), (t0 + 10 * SECOND, "idle".into()));
    }

    #[tokio::test]
    async fn a_session_at_its_lifetime_ends_as_lifetime_and_a_failed_stop_is_retried() {
        let s = setup().await;
        let t0 = s.clock.now();
        // Keep-alives have pushed the idle deadline up to the absolute one.
        s.fixture.heartbeat("a", 10, t0).await;
        s.fixture.session("ses_old", t0 + 10 * SECOND, t0 + 10 * SECOND).await;
        s.fixture.simulator("sim_old", "ses_old", "a", "running").await;

        assert_eq!(s.tick_after(10 * SECOND, &["a"]).await, report(1, 0, 0, 0));
        let ended = s.fixture.audit("session_ended").await;
        assert_eq!(ended, [(Some("ses_old".into()), None, json!({ "reason": "lifetime" }))]);

        // The host is up (heartbeats) but its stop fails: retried on the next tick.
        s.hosts.set_down("a", true);
        assert_eq!(s.tick_after(s.config.cool_down, &["a"]).await, report(0, 0, 0, 1));
        assert_eq!(s.fixture.placement("sim_old").await, ("a".into(), "running".into()));
        s.hosts.set_down("a", false);
        assert_eq!(s.tick_after(SECOND, &["a"]).await, report(0, 1, 0, 0));
        assert_eq!(s.hosts.calls("stop").len(), 2);
    }

    #[tokio::test]
    async fn a_dead_hosts_simulators_are_fenced_and_recovered_on_the_live_host_with_most_room() {
        let s = setup().await;
        let t0 = s.clock.now();
        s.fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        for host in ["dead", "small", "big"] {
            s.fixture.heartbeat(host, 10, t0).await;
        }
        s.fixture.simulator("sim_a", "ses_1", "dead", "running").await;
        s.fixture.simulator("sim_b", "ses_1", "dead", "failed").await;
        s.fixture.simulator("sim_gone", "ses_1", "dead", "stopped").await;
        // "small" holds 8 of 10 slots already, so "big" has more room until it too holds 8.
        for n in 0..8 {
            s.fixture.simulator(&format!("sim_s{n}"), "ses_1", "small", "running").await;
        }
        for n in 0..7 {
            s.fixture.simulator(&format!("sim_g{n}"), "ses_1", "big", "running").await;
        }

        // Within the timeout nothing moves; once it has passed "dead" is dead.
        assert_eq!(s.tick_after(s.config.heartbeat_timeout - SECOND, &["small", "big"]).await, report(0, 0, 0, 0));
        assert_eq!(s.tick_after(SECOND, &["small", "big"]).await, report(0, 0, 2, 0));

        assert_eq!(*s.launcher.stopped.lock().unwrap(), ["dead"]);
        // Ties between equal room go by host id.
        assert_eq!(s.hosts.calls("recover"), [("big".into(), "sim_a".into()), ("big".into(), "sim_b".into())]);
        assert_eq!(s.fixture.placement("sim_a").await, ("big".into(), "running".into()));
        assert_eq!(s.fixture.placement("sim_b").await, ("big".into(), "running".into()));
        assert_eq!(s.fixture.placement("sim_gone").await, ("dead".into(), "stopped".into()));
        let moves = s.fixture.audit("simulator_rehomed").await;
        assert_eq!(moves[0], (None, Some("sim_a".into()), json!({ "from_host": "dead", "to_host": "big" })));
        assert_eq!(moves.len(), 2);
        // Nothing left to move.
        assert_eq!(s.tick_after(SECOND, &["small", "big"]).await, report(0, 0, 0, 0));
    }

    #[tokio::test]
    async fn a_failed_re_home_stays_marked_on_the_dead_host_and_is_retried() {
        let s = setup().await;
        let t0 = s.clock.now();
        s.fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        s.fixture.heartbeat("dead", 10, t0).await;
        s.fixture.simulator("sim_a", "ses_1", "dead", "running").await;
        let past_timeout = s.config.heartbeat_timeout + SECOND;

        // No live host: nothing can move, and nothing is marked.
        assert_eq!(s.tick_after(past_timeout, &[]).await, report(0, 0, 0, 1));
        assert_eq!(s.fixture.placement("sim_a").await, ("dead".into(), "running".into()));

        // A live host that fails the recovery.
        s.hosts.set_down("b", true);
        assert_eq!(s.tick_after(SECOND, &["b"]).await, report(0, 0, 0, 1));
        assert_eq!(s.fixture.placement("sim_a").await, ("dead".into(), "failed".into()));

        s.hosts.set_down("b", false);
        assert_eq!(s.tick_after(SECOND, &["b"]).await, report(0, 0, 1, 0));
        assert_eq!(s.fixture.placement("sim_a").await, ("b".into(), "running".into()));
        assert_eq!(s.hosts.calls("recover"), [("b".into(), "sim_a".into()), ("b".into(), "sim_a".into())]);
    }

    #[tokio::test]
    async fn an_ended_sessions_simulator_on_a_dead_host_is_re_homed_then_stopped() {
        let s = setup().await;
        let t0 = s.clock.now();
        s.fixture.session("ses_1", t0 + SECOND, t0 + 3600 * SECOND).await;
        s.fixture.heartbeat("dead", 10, t0).await;
        s.fixture.simulator("sim_a", "ses_1", "dead", "running").await;

        let late = s.config.cool_down + s.config.heartbeat_timeout;
        assert_eq!(s.tick_after(late, &["b"]).await, report(1, 0, 1, 0));
        assert_eq!(s.tick_after(SECOND, &["b"]).await, report(0, 1, 0, 0));
        assert_eq!(s.hosts.calls("stop"), [("b".into(), "sim_a".into())]);
    }
}
