//! The sweeper: one [`Sweeper::tick`] ends expired sessions, stops the simulators of sessions ended longer than
//! the cool-down, re-homes the simulators of dead hosts and recovers, with backoff, the simulators whose engine
//! failed on a live host. Time is its input, so tests move it.

use super::{ManagerConfig, Parts};
use crate::audit::{self, AuditEvent};
use crate::db::stored;
use crate::domain::{SessionId, SimId, UserId};
use crate::error::ControlError;
use crate::hosts::{HostTarget, Placement, stop_and_record};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
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
    /// Failed simulators rebuilt on their own host.
    pub simulators_recovered: usize,
    /// Stops, re-homes and recoveries that failed this tick; the next tick (or, for a recovery, the next attempt
    /// after its backoff) tries them again.
    pub failures: usize,
}

#[derive(Debug)]
pub struct Sweeper {
    parts: Parts,
    cool_down: Duration,
    batch: i64,
    backoff: Backoff,
    /// Recovery attempts per simulator, kept while it fails and until it has stayed up for the longest backoff
    /// since the last one.
    attempts: Mutex<HashMap<SimId, Attempts>>,
}

/// How recovery attempts of one simulator are spaced.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    first: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// The wait after the `failed`th failed attempt in a row: `first`, doubling, at most `max`.
    fn wait(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

/// The recovery attempts made for one simulator: how many, and when the last was. One that came back and failed
/// again counts on from there.
#[derive(Clone, Copy, Debug)]
struct Attempts {
    made: u32,
    last: SystemTime,
}

struct Stranded {
    sim: SimId,
    user: UserId,
}

impl Sweeper {
    pub fn new(parts: Parts, config: &ManagerConfig) -> Self {
        Self {
            parts,
            cool_down: config.cool_down,
            batch: i64::from(config.sweep_batch),
            backoff: Backoff {
                first: config.recover_backoff,
                max: config.recover_backoff_max,
                attempts: config.recover_attempts,
            },
            attempts: Mutex::new(HashMap::new()),
        }
    }

    pub async fn tick(&self, now: SystemTime) -> Result<SweepReport, ControlError> {
        let mut report =
            SweepReport { sessions_ended: self.end_expired_sessions(now).await?, ..SweepReport::default() };
        self.stop_cooled_down(now, &mut report).await?;
        self.rehome(now, &mut report).await?;
        self.recover_failed(now, &mut report).await?;
        Ok(report)
    }

    /// Ends live sessions past a deadline, each at the deadline it passed, and audits them. Checking the idle
    /// deadline suffices: the schema keeps it at or before the absolute one, which it equals once keep-alives
    /// reached the lifetime.
    async fn end_expired_sessions(&self, now: SystemTime) -> Result<usize, ControlError> {
        let mut db = self.parts.pool.get().await?;
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
        let db = self.parts.pool.get().await?;
        let rows = db
            .query(
                "SELECT s.id, s.user_id, h.id, h.address FROM user_simulators s
                 JOIN sessions se ON se.id = s.session_id JOIN hosts h ON h.id = s.host_id
                 WHERE s.state <> 'stopped' AND se.ended_at <= $1 AND h.heartbeat_at > $2
                 ORDER BY se.ended_at, s.id LIMIT $3",
                &[&ended_before, &self.parts.table.alive_since(now), &self.batch],
            )
            .await?;
        for row in &rows {
            let sim = stored(SimId::parse(row.get::<_, String>(0)))?;
            let user = stored(UserId::parse(row.get::<_, String>(1)))?;
            let host = HostTarget { id: row.get(2), address: row.get(3) };
            match stop_and_record(&db, self.parts.hosts.as_ref(), &host, &user, &sim, now).await {
                Ok(recorded) => report.simulators_stopped += usize::from(recorded),
                Err(error) => {
                    tracing::warn!(%sim, host = %host.id, %error, "stopping an expired session's simulator failed");
                    report.failures += 1;
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the simulators of dead hosts (as the fleet's probes found them) on live ones. A dead host is first
    /// stopped through the launcher (a no-op for hosts it did not start), so one that is only slow cannot keep
    /// running what moves away.
    async fn rehome(&self, now: SystemTime, report: &mut SweepReport) -> Result<(), ControlError> {
        let dead = self.parts.liveness.dead(now);
        if dead.is_empty() {
            return Ok(());
        }
        let rows = self
            .parts
            .query(
                "SELECT s.id, s.user_id, s.host_id FROM user_simulators s
                 WHERE s.state <> 'stopped' AND s.host_id = ANY($1)
                 ORDER BY s.host_id, s.created_at, s.id LIMIT $2",
                &[&dead, &self.batch],
            )
            .await?;
        let mut by_host: BTreeMap<String, Vec<Stranded>> = BTreeMap::new();
        for row in &rows {
            let sim = stored(SimId::parse(row.get::<_, String>(0)))?;
            let user = stored(UserId::parse(row.get::<_, String>(1)))?;
            by_host.entry(row.get(2)).or_default().push(Stranded { sim, user });
        }
        for (dead, stranded) in by_host {
            if let Err(error) = self.parts.launcher.stop(&dead).await {
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
        let target = self.parts.table.place(now).await?;
        let info = self.parts.hosts.recover(&target, &one.sim).await?;
        let state = if info.state == SimState::Failed { "failed" } else { "running" };
        let mut db = self.parts.pool.get().await?;
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
        self.parts
            .pool
            .get()
            .await?
            .execute(
                "UPDATE user_simulators SET state = 'failed' WHERE id = $1 AND host_id = $2 AND state <> 'stopped'",
                &[&sim.as_str(), &dead],
            )
            .await?;
        Ok(())
    }

    /// Asks every live host which of its simulators failed and marks them so, then rebuilds each failed simulator on
    /// its own host (if that answered its last probe) (from its snapshot and journal; the host removes the failed engine first), at most `batch` a
    /// tick. A simulator whose attempt fails waits out its backoff; after the last attempt it is left failed. One
    /// whose host has no record of it (a start that never reached the host) is recorded stopped: nothing of it
    /// exists to recover.
    async fn recover_failed(&self, now: SystemTime, report: &mut SweepReport) -> Result<(), ControlError> {
        let db = self.parts.pool.get().await?;
        let alive_since = self.parts.table.alive_since(now);
        let live =
            db.query("SELECT id, address FROM hosts WHERE heartbeat_at > $1 ORDER BY id", &[&alive_since]).await?;
        for row in &live {
            let host = HostTarget { id: row.get(0), address: row.get(1) };
            match self.parts.hosts.failed(&host).await {
                Ok(failed) if failed.is_empty() => {}
                Ok(failed) => {
                    let ids: Vec<&str> = failed.iter().map(SimId::as_str).collect();
                    db.execute(
                        "UPDATE user_simulators SET state = 'failed'
                         WHERE host_id = $1 AND id = ANY($2) AND state = 'running'",
                        &[&host.id, &ids],
                    )
                    .await?;
                }
                Err(error) => tracing::debug!(host = %host.id, %error, "cannot list the host's failed simulators"),
            }
        }
        // Not on a host that missed its last probe: it may be dying, and then its simulators are re-homed instead.
        let failing = self.parts.liveness.failing();
        let rows = db
            .query(
                "SELECT s.id, s.user_id, h.id, h.address FROM user_simulators s JOIN hosts h ON h.id = s.host_id
                 WHERE s.state = 'failed' AND h.heartbeat_at > $1 AND NOT h.id = ANY($2)
                 ORDER BY s.created_at, s.id",
                &[&alive_since, &failing],
            )
            .await?;
        let mut failed = Vec::with_capacity(rows.len());
        for row in &rows {
            let sim = stored(SimId::parse(row.get::<_, String>(0)))?;
            let user = stored(UserId::parse(row.get::<_, String>(1)))?;
            failed.push((Stranded { sim, user }, HostTarget { id: row.get(2), address: row.get(3) }));
        }
        for (one, host) in self.due(failed, now) {
            let outcome = self.recover_one(&db, &one, &host, now).await;
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let made = attempts.entry(one.sim.clone()).or_insert(Attempts { made: 0, last: now });
            made.made += 1;
            made.last = now;
            match outcome {
                Ok(true) => report.simulators_recovered += 1,
                Ok(false) => report.simulators_stopped += 1,
                Err(error) if made.made >= self.backoff.attempts => {
                    report.failures += 1;
                    tracing::error!(sim = %one.sim, host = %host.id, %error, attempts = made.made,
                        "recovering a failed simulator failed for the last time; it stays failed");
                }
                Err(error) => {
                    report.failures += 1;
                    let retry_in = self.backoff.wait(made.made);
                    tracing::warn!(sim = %one.sim, host = %host.id, %error, ?retry_in,
                        "recovering a failed simulator failed");
                }
            }
        }
        Ok(())
    }

    /// The failed simulators whose next recovery attempt is due, at most `batch`. Forgets the attempts of
    /// simulators that have stayed up for the longest backoff since their last recovery.
    fn due(&self, failed: Vec<(Stranded, HostTarget)>, now: SystemTime) -> Vec<(Stranded, HostTarget)> {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        attempts.retain(|sim, made| {
            failed.iter().any(|(one, _)| one.sim == *sim)
                || now.duration_since(made.last).is_ok_and(|up| up < self.backoff.max)
        });
        failed
            .into_iter()
            .filter(|(one, _)| {
                attempts.get(&one.sim).is_none_or(|made| {
                    made.made < self.backoff.attempts
                        && now.duration_since(made.last).is_ok_and(|since| since >= self.backoff.wait(made.made))
                })
            })
            .take(usize::try_from(self.batch).unwrap_or(usize::MAX))
            .collect()
    }

    /// One recovery on the simulator's own host, recorded running (`true`), or stopped when the host has no record
    /// of it (`false`).
    async fn recover_one(
        &self,
        db: &deadpool_postgres::Object,
        one: &Stranded,
        host: &HostTarget,
        now: SystemTime,
    ) -> Result<bool, ControlError> {
        match self.parts.hosts.recover(host, &one.sim).await {
            Ok(info) if info.state == SimState::Failed => Err(ControlError::HostRefused {
                code: "engine_failed".into(),
                message: format!("{} failed again on recovery", one.sim),
            }),
            Ok(_) => {
                let recovered = db
                    .execute(
                        "UPDATE user_simulators SET state = 'running'
                         WHERE id = $1 AND host_id = $2 AND state = 'failed'",
                        &[&one.sim.as_str(), &host.id],
                    )
                    .await?;
                if recovered == 1 {
                    let event = AuditEvent::SimulatorRecovered {
                        user: one.user.clone(),
                        sim: one.sim.clone(),
                        host: host.id.clone(),
                    };
                    audit::record(db, now, &event).await?;
                }
                tracing::info!(sim = %one.sim, host = %host.id, "recovered a failed simulator");
                Ok(true)
            }
            Err(ControlError::HostRefused { code, .. }) if code == "not_found" => {
                stop_and_record(db, self.parts.hosts.as_ref(), host, &one.user, &one.sim, now).await?;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{FakeHosts, FakeLauncher, Fixture, target};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use serde_json::json;
    use std::sync::Arc;

    const SECOND: Duration = Duration::from_secs(1);

    struct Setup {
        fixture: Fixture,
        hosts: Arc<FakeHosts>,
        launcher: Arc<FakeLauncher>,
        parts: Parts,
        sweeper: Sweeper,
        clock: ManualClock,
        config: ManagerConfig,
    }

    async fn setup_with(config: ManagerConfig) -> Setup {
        let fixture = Fixture::new().await;
        let hosts = Arc::new(FakeHosts::default());
        let launcher = Arc::new(FakeLauncher::default());
        let parts = Parts::new(fixture.pool.clone(), hosts.clone(), launcher.clone(), &config);
        let sweeper = Sweeper::new(parts.clone(), &config);
        Setup { fixture, hosts, launcher, parts, sweeper, clock: ManualClock::starting_now(), config }
    }

    /// Two failed probes in a row over the heartbeat timeout make a host dead.
    async fn setup() -> Setup {
        setup_with(ManagerConfig { dead_after_probes: 2, ..ManagerConfig::default() }).await
    }

    impl Setup {
        /// Moves the clock; the live hosts answer a probe and are heartbeated at the new time, every other host in
        /// the table misses it; then sweeps.
        async fn tick_after(&self, by: Duration, live: &[&str]) -> SweepReport {
            self.clock.advance(by);
            let now = self.clock.now();
            let db = self.fixture.pool.get().await.unwrap();
            for row in db.query("SELECT id FROM hosts", &[]).await.unwrap() {
                let host: String = row.get(0);
                if !live.contains(&host.as_str()) {
                    self.parts.liveness().missed(&target(&host), now);
                }
            }
            for host in live {
                self.fixture.heartbeat(host, 10, now).await;
                self.parts.liveness().answered(&target(host));
            }
            self.sweeper.tick(now).await.unwrap()
        }
    }

    fn report(sessions_ended: usize, stopped: usize, rehomed: usize, failures: usize) -> SweepReport {
        SweepReport {
            sessions_ended,
            simulators_stopped: stopped,
            simulators_rehomed: rehomed,
            failures,
            ..SweepReport::default()
        }
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

        // "dead" misses every probe from t0; within the timeout nothing moves, once it has passed "dead" is dead.
        assert_eq!(s.tick_after(Duration::ZERO, &["small", "big"]).await, report(0, 0, 0, 0));
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
        assert_eq!(s.tick_after(Duration::ZERO, &[]).await, report(0, 0, 0, 0));
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
        assert_eq!(s.tick_after(Duration::ZERO, &["b"]).await, report(0, 0, 0, 0));
        assert_eq!(s.tick_after(late, &["b"]).await, report(1, 0, 1, 0));
        assert_eq!(s.tick_after(SECOND, &["b"]).await, report(0, 1, 0, 0));
        assert_eq!(s.hosts.calls("stop"), [("b".into(), "sim_a".into())]);
    }

    #[tokio::test]
    async fn a_failed_simulator_on_a_live_host_is_recovered_there_and_one_without_a_record_is_stopped() {
        let s = setup().await;
        let t0 = s.clock.now();
        s.fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        s.fixture.heartbeat("a", 10, t0).await;
        s.fixture.simulator("sim_ok", "ses_1", "a", "running").await;
        s.fixture.simulator("sim_calm", "ses_1", "a", "running").await;
        // A start whose host never answered: kept failed, and the host has no record of it.
        s.fixture.simulator("sim_ghost", "ses_1", "a", "failed").await;
        s.hosts.failed.lock().unwrap().insert("a".into(), vec!["sim_ok".into()]);
        s.hosts.unknown.lock().unwrap().insert("sim_ghost".into());

        let expected = SweepReport { simulators_stopped: 1, simulators_recovered: 1, ..SweepReport::default() };
        assert_eq!(s.tick_after(SECOND, &["a"]).await, expected);
        assert_eq!(s.hosts.calls("recover"), [("a".into(), "sim_ok".into()), ("a".into(), "sim_ghost".into())]);
        assert_eq!(s.fixture.placement("sim_ok").await, ("a".into(), "running".into()));
        assert_eq!(s.fixture.placement("sim_calm").await, ("a".into(), "running".into()));
        assert_eq!(s.fixture.placement("sim_ghost").await, ("a".into(), "stopped".into()));
        let recovered = s.fixture.audit("simulator_recovered").await;
        assert_eq!(recovered, [(None, Some("sim_ok".into()), json!({ "host": "a" }))]);
        // Nothing failed any more.
        assert_eq!(s.tick_after(SECOND, &["a"]).await, SweepReport::default());
        assert_eq!(s.hosts.calls("recover").len(), 2);
    }

    #[tokio::test]
    async fn a_simulator_that_keeps_failing_is_retried_with_doubling_waits_then_left_failed() {
        let config = ManagerConfig {
            dead_after_probes: 2,
            recover_backoff: SECOND,
            recover_backoff_max: 8 * SECOND,
            recover_attempts: 5,
            ..ManagerConfig::default()
        };
        let s = setup_with(config).await;
        let t0 = s.clock.now();
        s.fixture.session("ses_1", t0 + 3600 * SECOND, t0 + 3600 * SECOND).await;
        s.fixture.heartbeat("a", 10, t0).await;
        s.fixture.simulator("sim_broken", "ses_1", "a", "running").await;
        s.fixture.simulator("sim_flaky", "ses_1", "a", "running").await;
        s.hosts.failed.lock().unwrap().insert("a".into(), vec!["sim_broken".into(), "sim_flaky".into()]);
        s.hosts.broken.lock().unwrap().insert("sim_broken".into());

        let mut attempts = Vec::new();
        for second in 0..40 {
            let before = s.hosts.calls("recover").iter().filter(|(_, sim)| sim == "sim_broken").count();
            let report = s.tick_after(if second == 0 { Duration::ZERO } else { SECOND }, &["a"]).await;
            let after = s.hosts.calls("recover").iter().filter(|(_, sim)| sim == "sim_broken").count();
            if after > before {
                attempts.push(second);
                assert_eq!(report.failures, 1, "at +{second} s");
            }
            // The flaky one comes back at once; failing again at +10 s, it is recovered again.
            if second == 10 {
                s.hosts.failed.lock().unwrap().get_mut("a").unwrap().push("sim_flaky".into());
            }
        }
        // Waits of 1, 2, 4 and 8 s (the most), and none after the fifth attempt.
        assert_eq!(attempts, [0, 1, 3, 7, 15]);
        assert_eq!(s.fixture.placement("sim_broken").await, ("a".into(), "failed".into()));
        let flaky: Vec<_> = s.hosts.calls("recover").into_iter().filter(|(_, sim)| sim == "sim_flaky").collect();
        assert_eq!(flaky.len(), 2);
        assert_eq!(s.fixture.placement("sim_flaky").await, ("a".into(), "running".into()));
        assert_eq!(s.fixture.audit("simulator_recovered").await.len(), 2);
    }
}
