//! Simulator hosts as the control plane sees them: where to place a simulator ([`Placement`]) and how to call a
//! host's internal API ([`HostClient`], docs/host.md). The simulator manager ([`crate::manager`]: launching hosts,
//! heartbeats, the sweeper) builds on these.

use crate::audit::{self, AuditEvent};
use crate::domain::{SimId, UserId};
use crate::error::ControlError;
use deadpool_postgres::{GenericClient, Pool};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};
use tradesim_protocol::SimConfig;
use tradesim_protocol::stream::{SimState, Speed};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A host and the base URL of its internal API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTarget {
    pub id: String,
    pub address: String,
}

/// The body of `POST /internal/simulators`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreateSimulator {
    pub id: SimId,
    pub owner: UserId,
    pub config: SimConfig,
    pub seed: u64,
    pub speed: Speed,
}

/// A host's simulator info, as its internal API answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SimulatorInfo {
    #[schema(value_type = String)]
    pub id: SimId,
    #[schema(value_type = String)]
    pub owner: UserId,
    /// running, paused, recovering, failed or stopped.
    #[schema(value_type = String)]
    pub state: SimState,
    /// paused, 1x, 2x, 5x, 10x or 100x.
    #[schema(value_type = String)]
    pub speed: Speed,
    pub step: u64,
    pub seq: u64,
    pub lag_ms: u64,
    pub connections: u64,
    pub memory_bytes: u64,
}

/// A host's `GET /health` answer, as far as the control plane uses it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HostHealth {
    pub host_id: String,
    /// Simulators running there now: its load.
    pub simulators: u32,
    pub capacity: u32,
}

/// The calls the control plane makes to a simulator host.
pub trait HostClient: Send + Sync + fmt::Debug {
    fn create<'a>(
        &'a self,
        host: &'a HostTarget,
        request: &'a CreateSimulator,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>>;
    fn status<'a>(&'a self, host: &'a HostTarget, sim: &'a SimId)
    -> BoxFuture<'a, Result<SimulatorInfo, ControlError>>;
    fn stop<'a>(&'a self, host: &'a HostTarget, sim: &'a SimId) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>>;
    /// Rebuilds `sim` on `host` from its snapshot and journal. Only for a simulator whose previous host is dead or
    /// gave it up: the host does not check.
    fn recover<'a>(
        &'a self,
        host: &'a HostTarget,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>>;
    fn health<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<HostHealth, ControlError>>;
    /// The simulators whose engine failed on `host` (they stay there, not stepping, until recovered or stopped).
    fn failed<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<Vec<SimId>, ControlError>>;
    /// A connect ticket for `user` on `sim`, minted by the host with the shared secret (valid 30 s).
    fn mint_ticket<'a>(
        &'a self,
        host: &'a HostTarget,
        user: &'a UserId,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<String, ControlError>>;
}

/// [`HostClient`] over HTTP with the service bearer token.
#[derive(Clone)]
pub struct HttpHostClient {
    http: reqwest::Client,
    service_token: String,
}

impl fmt::Debug for HttpHostClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpHostClient").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct HostErrorBody {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct TicketBody {
    ticket: String,
}

#[derive(Deserialize)]
struct SimulatorListBody {
    simulators: Vec<SimulatorInfo>,
}

impl HttpHostClient {
    /// `timeout` bounds each call, so a hung host fails a request instead of holding it.
    pub fn new(service_token: impl Into<String>, timeout: Duration) -> Result<Self, ControlError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ControlError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, service_token: service_token.into() })
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ControlError> {
        let response = self.send(request).await?;
        response.json().await.map_err(|e| ControlError::HostUnavailable(e.to_string()))
    }

    /// Sends `request` with the service credential: a success as it is, a refusal as the host's error code.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ControlError> {
        let unavailable = |e: reqwest::Error| ControlError::HostUnavailable(e.to_string());
        let response = request.bearer_auth(&self.service_token).send().await.map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        match response.json::<HostErrorBody>().await {
            Ok(body) if body.code == "at_capacity" => Err(ControlError::NoCapacity),
            Ok(body) => Err(ControlError::HostRefused { code: body.code, message: body.message }),
            Err(_) => Err(ControlError::HostUnavailable(format!("the host answered {status}"))),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

pub(crate) fn url(host: &HostTarget, path: &str) -> String {
    format!("{}{path}", host.address.trim_end_matches('/'))
}

impl HostClient for HttpHostClient {
    fn create<'a>(
        &'a self,
        host: &'a HostTarget,
        request: &'a CreateSimulator,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(self.call(self.http.post(url(host, "/internal/simulators")).json(request)))
    }

    fn status<'a>(
        &'a self,
        host: &'a HostTarget,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(self.call(self.http.get(url(host, &format!("/internal/simulators/{sim}")))))
    }

    fn stop<'a>(&'a self, host: &'a HostTarget, sim: &'a SimId) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(self.call(self.http.delete(url(host, &format!("/internal/simulators/{sim}")))))
    }

    fn recover<'a>(
        &'a self,
        host: &'a HostTarget,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<SimulatorInfo, ControlError>> {
        Box::pin(self.call(self.http.post(url(host, &format!("/internal/simulators/{sim}/recover")))))
    }

    fn health<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<HostHealth, ControlError>> {
        Box::pin(self.call(self.http.get(url(host, "/health"))))
    }

    fn failed<'a>(&'a self, host: &'a HostTarget) -> BoxFuture<'a, Result<Vec<SimId>, ControlError>> {
        Box::pin(async move {
            let list: SimulatorListBody =
                self.call(self.http.get(url(host, "/internal/simulators")).query(&[("state", "failed")])).await?;
            Ok(list.simulators.into_iter().map(|info| info.id).collect())
        })
    }

    fn mint_ticket<'a>(
        &'a self,
        host: &'a HostTarget,
        user: &'a UserId,
        sim: &'a SimId,
    ) -> BoxFuture<'a, Result<String, ControlError>> {
        let body = serde_json::json!({ "user": user, "sim": sim });
        Box::pin(async move {
            let answer: TicketBody = self.call(self.http.post(url(host, "/internal/tickets")).json(&body)).await?;
            Ok(answer.ticket)
        })
    }
}

/// Stops `sim` on `host` for good and records it stopped (once: a second stop records nothing). A host that no
/// longer knows the simulator (never created, or stopped there already) counts as stopped. Returns whether this
/// call recorded the stop.
pub(crate) async fn stop_and_record(
    db: &impl GenericClient,
    hosts: &dyn HostClient,
    host: &HostTarget,
    user: &UserId,
    sim: &SimId,
    now: SystemTime,
) -> Result<bool, ControlError> {
    match hosts.stop(host, sim).await {
        Ok(_) => {}
        Err(ControlError::HostRefused { code, .. }) if code == "not_found" => {}
        Err(error) => return Err(error),
    }
    let updated = db
        .execute(
            "UPDATE user_simulators SET state = 'stopped', stopped_at = $2 WHERE id = $1 AND state <> 'stopped'",
            &[&sim.as_str(), &now],
        )
        .await?;
    if updated == 0 {
        return Ok(false);
    }
    audit::record(db, now, &AuditEvent::SimulatorStopped { user: user.clone(), sim: sim.clone() }).await?;
    Ok(true)
}

/// Chooses the host for a new simulator.
pub trait Placement: Send + Sync + fmt::Debug {
    fn place(&self, now: SystemTime) -> BoxFuture<'_, Result<HostTarget, ControlError>>;
}

/// Places on the live host (heartbeat within `heartbeat_timeout`) with the most free capacity, counted from the
/// simulators the control plane placed there. Two concurrent starts may both take a host's last slot; the host
/// then refuses one with `at_capacity`.
#[derive(Clone, Debug)]
pub struct HostTable {
    pool: Pool,
    heartbeat_timeout: Duration,
}

impl HostTable {
    pub fn new(pool: Pool, heartbeat_timeout: Duration) -> Self {
        Self { pool, heartbeat_timeout }
    }

    /// Hosts whose last heartbeat is later than this are live; the others are dead.
    pub fn alive_since(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.heartbeat_timeout).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Adds a host or refreshes its address, capacity and heartbeat.
    pub async fn heartbeat(&self, host: &HostTarget, capacity: u32, now: SystemTime) -> Result<(), ControlError> {
        let capacity = i32::try_from(capacity).unwrap_or(i32::MAX);
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO hosts (id, address, capacity, heartbeat_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET address = $2, capacity = $3, heartbeat_at = $4",
                &[&host.id, &host.address, &capacity, &now],
            )
            .await?;
        Ok(())
    }
}

impl Placement for HostTable {
    fn place(&self, now: SystemTime) -> BoxFuture<'_, Result<HostTarget, ControlError>> {
        Box::pin(async move {
            let alive_since = self.alive_since(now);
            let row = self
                .pool
                .get()
                .await?
                .query_opt(
                    "SELECT h.id, h.address FROM hosts h
                     LEFT JOIN user_simulators s ON s.host_id = h.id AND s.state <> 'stopped'
                     WHERE h.heartbeat_at > $1
                     GROUP BY h.id
                     HAVING count(s.id) < h.capacity
                     ORDER BY h.capacity - count(s.id) DESC, h.id
                     LIMIT 1",
                    &[&alive_since],
                )
                .await?
                .ok_or(ControlError::NoCapacity)?;
            Ok(HostTarget { id: row.get(0), address: row.get(1) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;
    use tradesim_journal::testing::TestDatabase;

    fn target(id: &str) -> HostTarget {
        HostTarget { id: id.into(), address: format!("http://{id}.invalid") }
    }

    #[tokio::test]
    async fn placement_picks_the_live_host_with_most_room() {
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 2).unwrap();
        let table = HostTable::new(pool.clone(), Duration::from_secs(30));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(table.place(now).await, Err(ControlError::NoCapacity));

        table.heartbeat(&target("small"), 1, now).await.unwrap();
        table.heartbeat(&target("big"), 2, now).await.unwrap();
        assert_eq!(table.place(now).await.unwrap(), target("big"));

        // Fill "big" by one: both have one slot left, ties go by id.
        let client = pool.get().await.unwrap();
        client
            .batch_execute(
                "INSERT INTO users VALUES ('u_1', 'alice', 'x', now());
                 INSERT INTO refresh_families (id, user_id, created_at) VALUES ('fam_1', 'u_1', now());
                 INSERT INTO sessions (id, user_id, family_id, created_at, idle_deadline, absolute_deadline)
                     VALUES ('ses_1', 'u_1', 'fam_1', now(), now(), now());
                 INSERT INTO user_simulators VALUES ('sim_1', 'u_1', 'ses_1', 'big', 'running', now(), NULL);",
            )
            .await
            .unwrap();
        assert_eq!(table.place(now).await.unwrap(), target("big"));
        client
            .batch_execute(
                "INSERT INTO user_simulators VALUES ('sim_2', 'u_1', 'ses_1', 'big', 'running', now(), NULL)",
            )
            .await
            .unwrap();
        assert_eq!(table.place(now).await.unwrap(), target("small"));

        // A host whose heartbeat is older than the timeout is not used.
        assert_eq!(table.place(now + Duration::from_secs(31)).await, Err(ControlError::NoCapacity));
        // Stopped simulators free their slot.
        client.batch_execute("UPDATE user_simulators SET state = 'stopped'").await.unwrap();
        table.heartbeat(&target("small"), 0, now).await.unwrap();
        assert_eq!(table.place(now).await.unwrap(), target("big"));
    }
}
