//! The host's HTTP surface, built by [`router`]: the internal API of the control plane (bearer service credential),
//! the API Gateway integration endpoints, the direct WebSocket stream, health and metrics.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /health` | none | host id, simulators, capacity |
//! | `GET /metrics` | none | Prometheus text |
//! | `POST /internal/simulators` | service | create and start a simulator |
//! | `GET /internal/simulators?state=` | service | the simulators here, all or in one state |
//! | `GET /internal/simulators/{id}` | service | status |
//! | `DELETE /internal/simulators/{id}` | service | stop (final snapshot) |
//! | `POST /internal/simulators/{id}/recover` | service | rebuild from snapshot and journal here |
//! | `GET /internal/simulators/{id}/state-hash` | service | the engine's state hash |
//! | `POST /internal/tickets` | service | mint a connect ticket for `{user, sim}` |
//! | `POST /internal/gateway/connections/{cid}` | service | an API Gateway connection opened: `{sim, ticket}` |
//! | `POST /internal/gateway/connections/{cid}/messages` | service | a frame the client sent (body as is) |
//! | `DELETE /internal/gateway/connections/{cid}` | service | the connection closed |
//! | `GET /v1/simulators/{id}/stream?ticket=` | ticket | the direct WebSocket stream |
//!
//! # Invariants
//! - Every internal route checks the service credential (constant-time) before anything else; errors are JSON
//!   `{code, message}` with a stable code.

use crate::host::{CreateSimulator, Host, HostError};
use crate::session::handle_frame;
use crate::ticket::{TicketClaims, TicketError};
use crate::transport::{Pusher, drive, drive_gateway};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tradesim_protocol::stream::{MAX_FRAME_BYTES, SimId, SimState, UserId};

/// An error answer: a status, a stable code and a message a person can act on.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

impl From<HostError> for ApiError {
    fn from(error: HostError) -> Self {
        let (status, code) = match &error {
            HostError::InvalidConfig(_) => (StatusCode::BAD_REQUEST, "invalid_config"),
            HostError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
            HostError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            HostError::AtCapacity(_) => (StatusCode::SERVICE_UNAVAILABLE, "at_capacity"),
            HostError::Journal(_) => (StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable"),
            HostError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            HostError::Sandbox(_) | HostError::Simulator(_) => (StatusCode::INTERNAL_SERVER_ERROR, "engine_failed"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<TicketError> for ApiError {
    fn from(error: TicketError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "bad_ticket", error.to_string())
    }
}

fn parse_sim(id: String) -> Result<SimId, ApiError> {
    SimId::parse(id).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", error.to_string()))
}

/// Everything the routes need: the host and, in API Gateway mode, the pusher.
#[derive(Debug)]
pub struct AppState<P> {
    pub host: Host,
    pub pusher: Option<Arc<P>>,
}

/// The host's router. `pusher` enables the API Gateway endpoints.
pub fn router<P: Pusher>(host: Host, pusher: Option<Arc<P>>) -> Router {
    let state = Arc::new(AppState { host, pusher });
    let internal = Router::new()
        .route("/internal/simulators", post(create::<P>).get(list::<P>))
        .route("/internal/simulators/{id}", get(status::<P>).delete(stop::<P>))
        .route("/internal/simulators/{id}/recover", post(recover::<P>))
        .route("/internal/simulators/{id}/state-hash", get(state_hash::<P>))
        .route("/internal/tickets", post(mint_ticket::<P>))
        .route("/internal/gateway/connections/{cid}", post(gateway_connect::<P>).delete(gateway_disconnect::<P>))
        .route("/internal/gateway/connections/{cid}/messages", post(gateway_message::<P>))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), service_auth::<P>));
    Router::new()
        .merge(internal)
        .route("/health", get(health::<P>))
        .route("/metrics", get(metrics::<P>))
        .route("/v1/simulators/{id}/stream", get(stream::<P>))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

type AppStateRef<P> = State<Arc<AppState<P>>>;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn service_auth<P: Pusher>(
    State(state): AppStateRef<P>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = state.host.config().service_token.as_bytes();
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if !expected.is_empty() && constant_time_eq(token.as_bytes(), expected) => {
            Ok(next.run(request).await)
        }
        _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid service credential is required")),
    }
}

async fn health<P: Pusher>(State(state): AppStateRef<P>) -> impl IntoResponse {
    Json(state.host.health())
}

async fn metrics<P: Pusher>(State(state): AppStateRef<P>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.host.metrics().render(),
    )
}

async fn create<P: Pusher>(
    State(state): AppStateRef<P>,
    Json(request): Json<CreateSimulator>,
) -> Result<impl IntoResponse, ApiError> {
    let info = state.host.create(request).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<SimState>,
}

async fn list<P: Pusher>(
    State(state): AppStateRef<P>,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let simulators = state.host.simulators(query.state).await;
    Ok(Json(serde_json::json!({ "simulators": simulators })))
}

async fn status<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sim = parse_sim(id)?;
    let info = state.host.status(&sim).await.ok_or(HostError::NotFound(sim))?;
    Ok(Json(info))
}

async fn stop<P: Pusher>(State(state): AppStateRef<P>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let sim = parse_sim(id)?;
    Ok(Json(state.host.stop(&sim).await?))
}

async fn recover<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sim = parse_sim(id)?;
    Ok(Json(state.host.recover(&sim).await?))
}

async fn state_hash<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let sim = parse_sim(id)?;
    let hash = state.host.state_hash(&sim).await?;
    Ok(Json(serde_json::json!({ "state_hash": format!("{hash:016x}") })))
}

#[derive(Debug, Deserialize)]
struct TicketRequest {
    user: UserId,
    sim: SimId,
}

async fn mint_ticket<P: Pusher>(
    State(state): AppStateRef<P>,
    Json(request): Json<TicketRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let owner = state.host.owner_of(&request.sim).await.ok_or_else(|| HostError::NotFound(request.sim.clone()))?;
    if owner != request.user {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the simulator belongs to another user"));
    }
    let secret = &state.host.config().ticket_secret;
    let ticket = crate::ticket::mint(secret, &request.user, &request.sim, SystemTime::now(), Duration::from_secs(30));
    Ok(Json(serde_json::json!({ "ticket": ticket })))
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    ticket: String,
}

fn origin_allowed(host: &Host, headers: &HeaderMap) -> bool {
    let allowed = &host.config().allowed_origins;
    if allowed.is_empty() {
        return true;
    }
    // Browsers always send Origin; other clients (tests, tools) send none and are not the CSRF risk.
    headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).is_none_or(|origin| allowed.iter().any(|a| a == origin))
}

async fn stream<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let sim = parse_sim(id)?;
    if !origin_allowed(&state.host, &headers) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", "this origin may not connect"));
    }
    let claims = admit(&state.host, &query.ticket, &sim).await?;
    let host = state.host.clone();
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES * 2)
        .read_buffer_size(tradesim_net::WEBSOCKET_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_socket(host, claims.user, sim, socket)))
}

async fn serve_socket(host: Host, user: UserId, sim: SimId, socket: WebSocket) {
    let link = host.new_link(user, sim, String::new());
    let (sink, stream) = socket.split();
    let inbound = stream.filter_map(|message| async move {
        match message {
            Ok(Message::Text(text)) => Some(Ok(text.as_str().to_owned())),
            // Not JSON text: answered as a bad frame.
            Ok(Message::Binary(bytes)) => Some(Ok(String::from_utf8_lossy(&bytes).into_owned())),
            Ok(Message::Ping(_) | Message::Pong(_)) => None,
            Ok(Message::Close(_)) => Some(Err(())),
            Err(_) => Some(Err(())),
        }
    });
    let outbound = sink.with(|frame: String| async move { Ok::<_, axum::Error>(Message::Text(frame.into())) });
    drive(host, link, Box::pin(inbound), Box::pin(outbound)).await;
}

/// Redeems a connect ticket for `sim` and checks that the simulator runs here for the ticket's user: the one
/// admission check of both transports.
async fn admit(host: &Host, ticket: &str, sim: &SimId) -> Result<TicketClaims, ApiError> {
    let claims = host.tickets().redeem(ticket, sim, SystemTime::now())?;
    if host.owner_of(sim).await.as_ref() != Some(&claims.user) {
        return Err(HostError::NotFound(sim.clone()).into());
    }
    Ok(claims)
}

/// API Gateway's `$connect` handler forwards the ticket the browser presented; the host redeems it, as it does for
/// a direct connection, so nothing upstream is trusted with the user's identity.
#[derive(Debug, Deserialize)]
struct GatewayConnect {
    sim: SimId,
    ticket: String,
}

#[derive(Debug, Serialize)]
struct GatewayAdmitted {
    user: UserId,
    sim: SimId,
}

fn gateway_pusher<P: Pusher>(state: &AppState<P>) -> Result<Arc<P>, ApiError> {
    state.pusher.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "gateway_mode_off", "this host has no API Gateway endpoint configured")
    })
}

async fn gateway_connect<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(connection_id): Path<String>,
    Json(request): Json<GatewayConnect>,
) -> Result<impl IntoResponse, ApiError> {
    let pusher = gateway_pusher(&state)?;
    let claims = admit(&state.host, &request.ticket, &request.sim).await?;
    let admitted = GatewayAdmitted { user: claims.user.clone(), sim: claims.sim.clone() };
    let link = state.host.new_link(claims.user, claims.sim, connection_id);
    state.host.register_gateway_link(Arc::clone(&link));
    tokio::spawn(drive_gateway(state.host.clone(), link, pusher));
    Ok(Json(admitted))
}

async fn gateway_message<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(connection_id): Path<String>,
    body: String,
) -> Result<impl IntoResponse, ApiError> {
    gateway_pusher(&state)?;
    let link = state.host.gateway_link(&connection_id).ok_or_else(|| {
        ApiError::new(StatusCode::GONE, "unknown_connection", "no such connection; the client must reconnect")
    })?;
    handle_frame(&state.host, &link, &body);
    Ok(StatusCode::ACCEPTED)
}

async fn gateway_disconnect<P: Pusher>(
    State(state): AppStateRef<P>,
    Path(connection_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    gateway_pusher(&state)?;
    if let Some(link) = state.host.remove_gateway_link(&connection_id) {
        state.host.detach(&link);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn credentials_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
