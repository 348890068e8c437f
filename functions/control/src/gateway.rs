//! The WebSocket gateway's domain: what API Gateway's `$connect`, `$default` and `$disconnect` routes do, written
//! once and called by both the Lambda handlers (ws-connect, ws-message, ws-disconnect) and the local gateway
//! (devstack). Also the [`SocketCloser`] that closes a revoked sign-in's live sockets.
//!
//! The browser connects with `?sim=<id>&ticket=<ticket>`. The gateway checks the `Origin`, rate-limits, finds the
//! simulator's host and hands the ticket to the host, which redeems it (single use) and answers whose it was; only
//! then is the connection registered. Frames go to the host as they are; the host's answers come back through the
//! gateway's `@connections` endpoint (PostToConnection), not through here.
//!
//! # Invariants
//! - A connection is registered only after its host accepted the ticket, and only while its session is live and
//!   its sign-in not revoked. The liveness check runs after registering, so a revocation that commits in between
//!   either sees the connection (and closes it) or is seen by the check.
//! - Closing is idempotent: the gateway, the host and the registry may each already have forgotten the connection.

use crate::clock::{Clock, SystemClock};
use crate::connections::PgConnections;
use crate::connections::{Connection, ConnectionRegistry, SocketCloser};
use crate::control::{Config, Control, Services};
use crate::db::stored;
use crate::domain::{ConnectionId, FamilyId, SessionId, SimId, UserId, parse_sim_id};
use crate::error::{ControlError, ErrorBody};
use crate::hosts::HostTable;
use crate::hosts::{BoxFuture, HostTarget, HttpHostClient, url};
use crate::limits::{Limiter, Rate};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deadpool_postgres::Pool;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The route cache is cleared when it grows past this; a miss costs two queries.
const ROUTES_RETAINED: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Browser origins allowed to connect (e.g. `https://app.example.com`). Empty: any. A request without `Origin`
    /// (not a browser) is always allowed, as on the host's direct stream.
    pub allowed_origins: Vec<String>,
    /// Connect attempts per client address.
    pub connect_rate: Rate,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self { allowed_origins: Vec::new(), connect_rate: Rate::new(60, 20) }
    }
}

/// Why the gateway refused; the Lambda handlers and the local gateway answer it as [`IntoResponse`] does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("this origin may not connect; open the app from an allowed origin")]
    OriginNotAllowed,
    #[error("the connect ticket is missing, malformed, expired, used or for another simulator; fetch a new one")]
    BadTicket,
    /// The connection is unknown to the registry or to its host: API Gateway must drop it; the client reconnects.
    #[error("this connection is gone; reconnect with a new ticket")]
    Gone,
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl GatewayError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::BadTicket => "bad_ticket",
            Self::Gone => "gone",
            Self::Control(error) => error.code(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::BadTicket => StatusCode::UNAUTHORIZED,
            Self::Gone => StatusCode::GONE,
            Self::Control(error) => error.status(),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            Self::Control(error) => error.into_response(),
            other => {
                let body = ErrorBody { code: other.code().to_owned(), message: other.to_string() };
                (other.status(), Json(body)).into_response()
            }
        }
    }
}

/// What a host answers when it accepts a connection's ticket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Admitted {
    pub user: UserId,
    pub sim: SimId,
}

/// The host's gateway endpoints (docs/host.md): open, forward a frame, close.
pub trait HostGateway: Send + Sync + fmt::Debug {
    /// The host redeems `ticket` for `sim` and starts pushing to `connection`.
    fn open<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
        sim: &'a SimId,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Admitted, ControlError>>;
    fn forward<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
        frame: String,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
    fn close<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
}

fn connection_path(connection: &ConnectionId) -> String {
    format!("/internal/gateway/connections/{connection}")
}

impl HostGateway for HttpHostClient {
    fn open<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
        sim: &'a SimId,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Admitted, ControlError>> {
        let body = serde_json::json!({ "sim": sim, "ticket": ticket });
        let request = self.http().post(url(host, &connection_path(connection))).json(&body);
        Box::pin(async move {
            let response = self.send(request).await?;
            response.json().await.map_err(|e| ControlError::HostUnavailable(e.to_string()))
        })
    }

    fn forward<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
        frame: String,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        let path = format!("{}/messages", connection_path(connection));
        let request = self.http().post(url(host, &path)).body(frame);
        Box::pin(async move { self.send(request).await.map(drop) })
    }

    fn close<'a>(
        &'a self,
        host: &'a HostTarget,
        connection: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        let request = self.http().delete(url(host, &connection_path(connection)));
        Box::pin(async move { self.send(request).await.map(drop) })
    }
}

/// The gateway's own side of connections: API Gateway Management's DeleteConnection in AWS; in the local gateway,
/// closing the socket.
pub trait GatewayConnections: Send + Sync + fmt::Debug {
    /// Closes `connection`; one already gone is not an error.
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>>;
}

/// A `$connect`, as API Gateway or the local gateway received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    pub connection: String,
    /// The `sim` query parameter.
    pub sim: Option<String>,
    /// The `ticket` query parameter.
    pub ticket: Option<String>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// The caller's address, for the rate limit.
    pub client: String,
}

/// Where a simulator lives and whose it is.
#[derive(Debug)]
struct Placed {
    user: UserId,
    session: SessionId,
    family: FamilyId,
    host: HostTarget,
}

/// The three routes and the socket closer, over the registry, the hosts and the gateway's connections.
pub struct Gateway {
    pool: Pool,
    registry: Arc<dyn ConnectionRegistry>,
    hosts: Arc<dyn HostGateway>,
    connections: Arc<dyn GatewayConnections>,
    clock: Arc<dyn Clock>,
    allowed_origins: Vec<String>,
    connect_limit: Limiter,
    /// Connection to host, so that frames (the hot path) do not query the registry; dropped on close.
    routes: Mutex<HashMap<ConnectionId, HostTarget>>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway").field("allowed_origins", &self.allowed_origins).finish_non_exhaustive()
    }
}

/// The pieces a [`Gateway`] works with besides PostgreSQL.
#[derive(Clone, Debug)]
pub struct GatewayServices {
    pub registry: Arc<dyn ConnectionRegistry>,
    pub hosts: Arc<dyn HostGateway>,
    pub connections: Arc<dyn GatewayConnections>,
    pub clock: Arc<dyn Clock>,
}

impl Gateway {
    pub fn new(config: GatewayConfig, pool: Pool, services: GatewayServices) -> Self {
        Self {
            pool,
            registry: services.registry,
            hosts: services.hosts,
            connections: services.connections,
            clock: services.clock,
            allowed_origins: config.allowed_origins,
            connect_limit: Limiter::new(config.connect_rate),
            routes: Mutex::default(),
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, HostTarget>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn origin_allowed(&self, origin: Option<&str>) -> bool {
        self.allowed_origins.is_empty() || origin.is_none_or(|origin| self.allowed_origins.iter().any(|a| a == origin))
    }

    /// `$connect`: admits the connection or answers why not (API Gateway then refuses the upgrade).
    pub async fn connect(&self, request: &ConnectRequest) -> Result<Connection, GatewayError> {
        if !self.origin_allowed(request.origin.as_deref()) {
            return Err(GatewayError::OriginNotAllowed);
        }
        self.connect_limit.check(&request.client)?;
        let id = ConnectionId::parse(request.connection.as_str())?;
        let sim = request.sim.as_deref().ok_or_else(|| {
            ControlError::InvalidInput("connect with ?sim=<simulator id>&ticket=<connect ticket>".into())
        })?;
        let sim = parse_sim_id(sim)?;
        let ticket = request.ticket.as_deref().filter(|t| !t.is_empty()).ok_or(GatewayError::BadTicket)?;
        let placed = self.placed(&sim).await?;
        let admitted = self.hosts.open(&placed.host, &id, &sim, ticket).await.map_err(|error| match error {
            ControlError::HostRefused { code, .. } if code == "bad_ticket" => GatewayError::BadTicket,
            ControlError::HostRefused { code, .. } if code == "not_found" => ControlError::NotFound("simulator").into(),
            other => other.into(),
        })?;
        let connection = Connection {
            id,
            user: placed.user,
            session: placed.session,
            sim,
            family: placed.family,
            connected_at: self.clock.now(),
        };
        // The host checked the ticket's user owns the simulator; a mismatch means the tables and the host disagree.
        if admitted.user != connection.user || admitted.sim != connection.sim {
            self.close_at_host(&placed.host, &connection.id).await;
            return Err(ControlError::NotFound("simulator").into());
        }
        if let Err(error) = self.registry.register(&connection).await {
            self.close_at_host(&placed.host, &connection.id).await;
            return Err(error.into());
        }
        self.routes().insert(connection.id.clone(), placed.host.clone());
        if let Err(error) = self.require_live(&connection.session).await {
            self.forget(&connection.id, Some(placed.host)).await;
            return Err(error.into());
        }
        Ok(connection)
    }

    /// `$default`: forwards a client frame as it is. [`GatewayError::Gone`] means the connection was dropped (the
    /// gateway was told to close it).
    pub async fn message(&self, connection: &str, frame: String) -> Result<(), GatewayError> {
        let id = ConnectionId::parse(connection)?;
        let Some(host) = self.route(&id).await? else {
            self.drop_gone(&id, None).await;
            return Err(GatewayError::Gone);
        };
        match self.hosts.forward(&host, &id, frame).await {
            Ok(()) => Ok(()),
            Err(ControlError::HostRefused { code, .. }) if code == "unknown_connection" => {
                self.drop_gone(&id, Some(host)).await;
                Err(GatewayError::Gone)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// `$disconnect`: the client or the gateway closed the connection.
    pub async fn disconnect(&self, connection: &str) -> Result<(), GatewayError> {
        let id = ConnectionId::parse(connection)?;
        let cached = self.routes().remove(&id);
        let registered = self.registry.unregister(&id, self.clock.now()).await?;
        let host = match (cached, registered) {
            (Some(host), _) => Some(host),
            (None, Some(connection)) => self.host_of(&connection.sim).await?,
            (None, None) => None,
        };
        if let Some(host) = host {
            self.hosts.close(&host, &id).await?;
        }
        Ok(())
    }

    /// Closes a live connection from the server side: the gateway's socket, the host's link, the registry entry.
    pub async fn close(&self, connection: &Connection) {
        let cached = self.routes().remove(&connection.id);
        let host = match cached {
            Some(host) => Some(host),
            None => self.host_of(&connection.sim).await.unwrap_or_else(|error| {
                tracing::warn!(%error, connection = %connection.id, "no host to close a connection at");
                None
            }),
        };
        self.drop_gone(&connection.id, host).await;
    }

    /// Tells the gateway to drop `id`, forgets it and tells its host if known.
    async fn drop_gone(&self, id: &ConnectionId, host: Option<HostTarget>) {
        if let Err(error) = self.connections.close(id).await {
            tracing::warn!(%error, connection = %id, "the gateway could not close a connection");
        }
        self.forget(id, host).await;
    }

    async fn forget(&self, id: &ConnectionId, host: Option<HostTarget>) {
        self.routes().remove(id);
        if let Err(error) = self.registry.unregister(id, self.clock.now()).await {
            tracing::warn!(%error, connection = %id, "unregistering a connection failed");
        }
        if let Some(host) = host {
            self.close_at_host(&host, id).await;
        }
    }

    async fn close_at_host(&self, host: &HostTarget, id: &ConnectionId) {
        if let Err(error) = self.hosts.close(host, id).await {
            tracing::warn!(%error, connection = %id, host = host.id, "the host could not close a connection");
        }
    }

    async fn route(&self, id: &ConnectionId) -> Result<Option<HostTarget>, ControlError> {
        if let Some(host) = self.routes().get(id) {
            return Ok(Some(host.clone()));
        }
        let Some(connection) = self.registry.get(id).await? else { return Ok(None) };
        let host = self.host_of(&connection.sim).await?;
        if let Some(host) = &host {
            let mut routes = self.routes();
            if routes.len() >= ROUTES_RETAINED {
                routes.clear();
            }
            routes.insert(id.clone(), host.clone());
        }
        Ok(host)
    }

    async fn host_of(&self, sim: &SimId) -> Result<Option<HostTarget>, ControlError> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT h.id, h.address FROM user_simulators s JOIN hosts h ON h.id = s.host_id WHERE s.id = $1",
                &[&sim.as_str()],
            )
            .await?;
        Ok(row.map(|row| HostTarget { id: row.get(0), address: row.get(1) }))
    }

    /// A simulator that is not stopped, with its owner, session, sign-in and host.
    async fn placed(&self, sim: &SimId) -> Result<Placed, ControlError> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT s.user_id, s.session_id, ses.family_id, h.id, h.address
                 FROM user_simulators s
                 JOIN sessions ses ON ses.id = s.session_id
                 JOIN hosts h ON h.id = s.host_id
                 WHERE s.id = $1 AND s.state <> 'stopped'",
                &[&sim.as_str()],
            )
            .await?
            .ok_or(ControlError::NotFound("simulator"))?;
        Ok(Placed {
            user: stored(UserId::parse(row.get::<_, String>(0)))?,
            session: stored(SessionId::parse(row.get::<_, String>(1)))?,
            family: stored(FamilyId::parse(row.get::<_, String>(2)))?,
            host: HostTarget { id: row.get(3), address: row.get(4) },
        })
    }

    async fn require_live(&self, session: &SessionId) -> Result<(), ControlError> {
        let row = self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT ses.ended_at, ses.idle_deadline, ses.absolute_deadline, f.revoked_at
                 FROM sessions ses JOIN refresh_families f ON f.id = ses.family_id WHERE ses.id = $1",
                &[&session.as_str()],
            )
            .await?;
        let now = self.clock.now();
        let ended = row.get::<_, Option<SystemTime>>(0).is_some() || row.get::<_, Option<SystemTime>>(3).is_some();
        let expired = now >= row.get::<_, SystemTime>(1) || now >= row.get::<_, SystemTime>(2);
        match (ended, expired) {
            (true, _) => Err(ControlError::SessionEnded),
            (false, true) => Err(ControlError::SessionExpired),
            (false, false) => Ok(()),
        }
    }
}

/// A revoked sign-in (logout, refresh-token reuse) loses its live sockets before the call returns.
impl SocketCloser for Gateway {
    fn family_revoked<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match self.registry.by_family(family).await {
                Ok(connections) => {
                    for connection in &connections {
                        self.close(connection).await;
                    }
                }
                Err(error) => tracing::error!(%error, %family, "cannot list a revoked sign-in's connections"),
            }
        })
    }
}

/// The control plane as the gateways run it: [`Control`] with a [`Gateway`] as its socket closer, the registry in
/// PostgreSQL (or another, [`ControlPlane::with_registry`]) and the hosts over HTTP. The Lambdas pass API Gateway's
/// connections, the local gateway its own.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    pub control: Arc<Control>,
    pub gateway: Arc<Gateway>,
    pub hosts: Arc<HttpHostClient>,
}

/// A host silent this long gets no new simulators (the simulator manager's default heartbeat timeout).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each call to a host's internal API gives up after this.
const HOST_TIMEOUT: Duration = Duration::from_secs(5);

impl ControlPlane {
    pub fn new(
        pool: Pool,
        config: Config,
        gateway: GatewayConfig,
        service_token: &str,
        connections: Arc<dyn GatewayConnections>,
    ) -> Result<Self, ControlError> {
        let registry = Arc::new(PgConnections::new(pool.clone()));
        Self::with_registry(pool, config, gateway, service_token, connections, registry)
    }

    /// [`ControlPlane::new`] with another connection registry (DynamoDB in AWS).
    pub fn with_registry(
        pool: Pool,
        config: Config,
        gateway: GatewayConfig,
        service_token: &str,
        connections: Arc<dyn GatewayConnections>,
        registry: Arc<dyn ConnectionRegistry>,
    ) -> Result<Self, ControlError> {
        let clock = Arc::new(SystemClock);
        let hosts = Arc::new(HttpHostClient::new(service_token, HOST_TIMEOUT)?);
        let gateway_services =
            GatewayServices { registry, hosts: Arc::clone(&hosts) as _, connections, clock: Arc::clone(&clock) as _ };
        let gateway = Arc::new(Gateway::new(gateway, pool.clone(), gateway_services));
        let services = Services {
            clock,
            hosts: Arc::clone(&hosts) as _,
            placement: Arc::new(HostTable::new(pool.clone(), HEARTBEAT_TIMEOUT)),
            closer: Arc::clone(&gateway) as _,
        };
        let control = Arc::new(Control::new(config, pool, services)?);
        Ok(Self { control, gateway, hosts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_testing::fixture;

    fn request(connection: &str, ticket: &str) -> ConnectRequest {
        ConnectRequest {
            connection: connection.into(),
            sim: Some("sim_1".into()),
            ticket: Some(ticket.into()),
            origin: Some("https://app.test".into()),
            client: "203.0.113.9".into(),
        }
    }

    #[tokio::test]
    async fn connect_checks_origin_ticket_and_simulator_before_registering() {
        let f = fixture(Rate::new(60, 20)).await;
        let foreign = ConnectRequest { origin: Some("https://evil.test".into()), ..request("c1", "good") };
        assert_eq!(f.gateway.connect(&foreign).await, Err(GatewayError::OriginNotAllowed));
        assert_eq!(f.gateway.connect(&request("c1", "")).await, Err(GatewayError::BadTicket));
        assert_eq!(f.gateway.connect(&request("c1", "forged")).await, Err(GatewayError::BadTicket));
        let unknown = ConnectRequest { sim: Some("sim_nope".into()), ..request("c1", "good") };
        assert_eq!(f.gateway.connect(&unknown).await.unwrap_err().code(), "not_found");
        assert_eq!(f.gateway.connect(&request("bad/id", "good")).await.unwrap_err().code(), "invalid_input");
        assert!(f.gateway.registry.get(&ConnectionId::parse("c1").unwrap()).await.unwrap().is_none());

        // Not a browser (no Origin) and an API Gateway style id.
        let admitted = ConnectRequest { origin: None, ..request("d9ZOKdU7oAMCJ-g=", "good") };
        let connection = f.gateway.connect(&admitted).await.unwrap();
        assert_eq!((connection.session.as_str(), connection.family.as_str()), ("ses_1", "fam_1"));
        let registered = f.gateway.registry.get(&connection.id).await.unwrap().unwrap();
        assert_eq!((registered.user, registered.sim), (connection.user, connection.sim));
    }

    #[tokio::test]
    async fn connects_are_rate_limited_per_client() {
        let f = fixture(Rate::new(1, 1)).await;
        assert_eq!(f.gateway.connect(&request("c1", "forged")).await, Err(GatewayError::BadTicket));
        let limited = f.gateway.connect(&request("c2", "good")).await.unwrap_err();
        assert_eq!((limited.status(), limited.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
        assert!(limited.into_response().headers().contains_key("retry-after"));
    }

    #[tokio::test]
    async fn a_connection_of_an_ended_session_is_refused_and_closed_at_the_host() {
        let f = fixture(Rate::new(60, 20)).await;
        f.pool.get().await.unwrap().batch_execute("UPDATE refresh_families SET revoked_at = now()").await.unwrap();
        assert_eq!(f.gateway.connect(&request("c1", "good")).await.unwrap_err().code(), "session_ended");
        assert_eq!(f.host.calls(), ["open c1", "close c1"]);
        assert!(f.gateway.registry.get(&ConnectionId::parse("c1").unwrap()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn frames_are_forwarded_and_a_connection_the_host_forgot_is_dropped() {
        let f = fixture(Rate::new(60, 20)).await;
        f.gateway.connect(&request("c1", "good")).await.unwrap();
        f.gateway.message("c1", "{\"type\":\"ping\"}".into()).await.unwrap();
        assert_eq!(f.gateway.message("c9", "{}".into()).await, Err(GatewayError::Gone), "never registered");
        f.host.forgot.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(f.gateway.message("c1", "{}".into()).await, Err(GatewayError::Gone));
        assert_eq!(*f.closed.0.lock().unwrap(), ["c9", "c1"]);
        assert!(f.gateway.registry.get(&ConnectionId::parse("c1").unwrap()).await.unwrap().is_none());
        assert_eq!(f.host.calls()[1], "forward c1 {\"type\":\"ping\"}");
    }

    #[tokio::test]
    async fn disconnect_and_revocation_close_at_the_host_and_the_gateway() {
        let f = fixture(Rate::new(60, 20)).await;
        f.gateway.connect(&request("c1", "good")).await.unwrap();
        f.gateway.connect(&request("c2", "good")).await.unwrap();
        f.gateway.disconnect("c1").await.unwrap();
        f.gateway.disconnect("c1").await.unwrap();
        f.gateway.family_revoked(&FamilyId::parse("fam_1").unwrap()).await;
        assert_eq!(*f.closed.0.lock().unwrap(), ["c2"]);
        assert_eq!(f.host.calls(), ["open c1", "open c2", "close c1", "close c2"]);
        let kinds = crate::audit::kinds(&f.pool.get().await.unwrap()).await.unwrap();
        assert_eq!(kinds, ["connection_opened", "connection_opened", "connection_closed", "connection_closed"]);
    }
}
