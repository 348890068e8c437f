//! Fakes and fixtures for the manager's tests: a [`HostClient`] that records calls, a [`Launcher`] that counts
//! launches (and can be held mid-launch), and rows in a fresh database.

use super::launcher::{LaunchedHost, Launcher};
use crate::db;
use crate::domain::SimId;
use crate::error::ControlError;
use crate::hosts::{BoxFuture, CreateSimulator, HostClient, HostHealth, HostTable, HostTarget, SimulatorInfo};
use deadpool_postgres::Pool;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tradesim_journal::testing::TestDatabase;
use tradesim_protocol::stream::{SimState, Speed, UserId};

pub const CAPACITY: u32 = 4;

pub fn target(id: &str) -> HostTarget {
    HostTarget { id: id.into(), address: format!("http://{id}.invalid") }
}

/// Hosts as a map: every host answers unless listed as down; calls are recorded as (call, host, sim).
#[derive(Debug, Default)]
pub struct FakeHosts {
    pub calls: Mutex<Vec<(&'static str, String, String)>>,
    /// Hosts whose every call fails as unreachable.
    pub down: Mutex<HashSet<String>>,
    /// Simulators each host reports at `/health` (0 when absent).
    pub loads: Mutex<HashMap<String, u32>>,
    /// A host that answers `/health` with this other id.
    pub impostor: Mutex<Option<(String, String)>>,
    /// No host answers `/health` (hosts whose ids are not known in advance).
    pub silent: AtomicBool,
    /// How long a host takes to answer `/health`.
    pub delays: Mutex<HashMap<String, Duration>>,
    /// The simulators each host reports failed, until one is recovered.
    pub failed: Mutex<HashMap<String, Vec<String>>>,
    /// Simulators whose engine fails again when recovered.
    pub broken: Mutex<HashSet<String>>,
    /// Simulators no host has a record of (a recovery answers `not_found`).
    pub unknown: Mutex<HashSet<String>>,
}

impl FakeHosts {
    pub fn calls(&self, call: &str) -> Vec<(String, String)> {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(c, ..)| *c == call).map(|(_, host, sim)| (host.clone(), sim.clone())).collect()
    }

    pub fn set_down(&self, host: &str, down: bool) {
        let mut set = self.down.lock().unwrap();
        if down {
            set.insert(host.into())
        } else {
            set.remove(host)
        };
    }

    fn answer(&self, call: &'static str, host: &HostTarget, sim: &SimId) -> Result<SimulatorInfo, ControlError> {
        self.calls.lock().unwrap().push((call, host.id.clone(), sim.to_string()));
        if self.down.lock().unwrap().contains(&host.id) {
            return Err(ControlError::HostUnavailable(format!("{} is down", host.id)));
        }
        let refused = |code: &str| Err(ControlError::HostRefused { code: code.into(), message: format!("{sim}") });
        if call == "recover" {
            if self.unknown.lock().unwrap().contains(sim.as_str()) {
                return refused("not_found");
            }
            if self.broken.lock().unwrap().contains(sim.as_str()) {
                return refused("engine_failed");
            }
            if let Some(failed) = self.failed.lock().unwrap().get_mut(&host.id) {
                failed.retain(|one| one != sim.as_str());
            }
        }
        let state = if call == "stop" { SimState::Stopped } else { SimState::Running };
        Ok(SimulatorInfo {
            id: sim.clone(),
            owner: UserId::parse("u_1").unwrap(),
            state,
            speed: Speed::default(),
            step: 0,
            seq: 0,
            lag_ms: 0,
            connections: 0,
            memory_bytes: 0,
        })
    }
}

impl HostClient for FakeHosts {
    fn create<'a>(
        &'a self,
        host: &'a HostTarget,
        request: &'a CreateSimulator,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(async move { self.answer("create", host, &request.id) })
    }

    fn status<'a>(
        &'a self,
        host: &'a HostTarget,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(async move { self.answer("status", host, sim) })
    }

    fn stop<'a>(&'a self, host: &'a HostTarget, sim: &'a SimId) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(async move { self.answer("stop", host, sim) })
    }

    fn recover<'a>(
        &'a self,
        host: &'a HostTarget,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(async move { self.answer("recover", host, sim) })
    }

    fn health<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<HostHealth, ControlError>> {
        Box::pin(async move {
            let delay = self.delays.lock().unwrap().get(&host.id).copied();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if self.down.lock().unwrap().contains(&host.id) || self.silent.load(Ordering::SeqCst) {
                return Err(ControlError::HostUnavailable(format!("{} is down", host.id)));
            }
            let host_id = match &*self.impostor.lock().unwrap() {
                Some((at, other)) if *at == host.id => other.clone(),
                _ => host.id.clone(),
            };
            let simulators = self.loads.lock().unwrap().get(&host.id).copied().unwrap_or(0);
            Ok(HostHealth { host_id, simulators, capacity: CAPACITY })
        })
    }

    fn failed<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<Vec<SimId>, ControlError>> {
        Box::pin(async move {
            if self.down.lock().unwrap().contains(&host.id) {
                return Err(ControlError::HostUnavailable(format!("{} is down", host.id)));
            }
            let failed = self.failed.lock().unwrap().get(&host.id).cloned().unwrap_or_default();
            Ok(failed.into_iter().map(|sim| SimId::parse(sim).unwrap()).collect())
        })
    }

    fn mint_ticket<'a>(
        &'a self,
        _host: &'a HostTarget,
        _user: &'a UserId,
        _sim: &'a SimId,
    ) -> BoxFuture<'a, Result<String, ControlError>> {
        Box::pin(async { Ok("ticket".to_owned()) })
    }
}

/// Launches `launched-1`, `launched-2`, ...; with [`FakeLauncher::gated`] each launch waits for a permit.
#[derive(Debug, Default)]
pub struct FakeLauncher {
    pub launches: AtomicUsize,
    pub hosts: Mutex<Vec<LaunchedHost>>,
    pub stopped: Mutex<Vec<String>>,
    gate: Option<Semaphore>,
}

impl FakeLauncher {
    pub fn gated() -> Self {
        Self { gate: Some(Semaphore::new(0)), ..Self::default() }
    }

    pub fn open_gate(&self) {
        self.gate.as_ref().expect("a gated launcher").add_permits(1);
    }

    /// Pretends `host` was launched earlier, alive or exited.
    pub fn adopt(&self, host: &str, alive: bool) {
        self.hosts.lock().unwrap().push(LaunchedHost { target: target(host), alive });
    }
}

impl Launcher for FakeLauncher {
    fn launch(&self) -> BoxFuture<'_, Result<HostTarget, ControlError>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.acquire().await.expect("the gate stays open").forget();
            }
            let n = self.launches.fetch_add(1, Ordering::SeqCst) + 1;
            let launched = target(&format!("launched-{n}"));
            self.hosts.lock().unwrap().push(LaunchedHost { target: launched.clone(), alive: true });
            Ok(launched)
        })
    }

    fn stop<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            self.stopped.lock().unwrap().push(host_id.to_owned());
            self.hosts.lock().unwrap().retain(|h| h.target.id != host_id);
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<LaunchedHost>, ControlError>> {
        Box::pin(async move { Ok(self.hosts.lock().unwrap().clone()) })
    }
}

/// A fresh database with one user (`u_1`) and one sign-in (`fam_1`).
pub struct Fixture {
    pub pool: Pool,
    _database: TestDatabase,
}

impl Fixture {
    pub async fn new() -> Self {
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 4).unwrap();
        pool.get()
            .await
            .unwrap()
            .batch_execute(
                "INSERT INTO users VALUES ('u_1', 'alice', 'x', now());
                 INSERT INTO refresh_families (id, user_id, created_at) VALUES ('fam_1', 'u_1', now());",
            )
            .await
            .unwrap();
        Self { pool, _database: database }
    }

    pub async fn heartbeat(&self, host: &str, capacity: u32, at: SystemTime) {
        HostTable::new(self.pool.clone(), Duration::from_secs(1)).heartbeat(&target(host), capacity, at).await.unwrap();
    }

    pub async fn session(&self, id: &str, idle_deadline: SystemTime, absolute_deadline: SystemTime) {
        self.execute(
            "INSERT INTO sessions (id, user_id, family_id, created_at, idle_deadline, absolute_deadline)
             VALUES ($1, 'u_1', 'fam_1', now(), $2, $3)",
            &[&id, &idle_deadline, &absolute_deadline],
        )
        .await;
    }

    pub async fn simulator(&self, id: &str, session: &str, host: &str, state: &str) {
        self.execute(
            "INSERT INTO user_simulators (id, user_id, session_id, host_id, state, created_at)
             VALUES ($1, 'u_1', $2, $3, $4, now())",
            &[&id, &session, &host, &state],
        )
        .await;
    }

    pub async fn execute(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
        self.pool.get().await.unwrap().execute(sql, params).await.unwrap();
    }

    /// (host_id, state) of a simulator.
    pub async fn placement(&self, sim: &str) -> (String, String) {
        let row = self
            .pool
            .get()
            .await
            .unwrap()
            .query_one("SELECT host_id, state FROM user_simulators WHERE id = $1", &[&sim])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    /// The audit events of `kind`, as (session, sim, detail) in order.
    pub async fn audit(&self, kind: &str) -> Vec<(Option<String>, Option<String>, serde_json::Value)> {
        let rows = self
            .pool
            .get()
            .await
            .unwrap()
            .query("SELECT session_id, sim_id, detail::text FROM audit_events WHERE kind = $1 ORDER BY id", &[&kind])
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), serde_json::from_str(r.get(2)).unwrap())).collect()
    }
}
