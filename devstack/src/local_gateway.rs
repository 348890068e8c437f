//! The local API gateway: what API Gateway does in AWS, on one port. HTTP API routes go to the control plane's
//! router (the same handlers the Lambdas serve); a WebSocket at `/ws` runs `$connect`, `$default` and
//! `$disconnect` through [`Gateway`] (the same calls the ws Lambdas make); `/@connections/{id}` takes the hosts'
//! PostToConnection and DeleteConnection calls; everything else is the SPA.
//!
//! # Invariants
//! - A socket's outbound channel exists before `$connect` reaches the host, so no early push finds it unknown.
//! - Closing a connection from the server side (DeleteConnection, [`GatewayConnections::close`]) drops its
//!   channel: the frames already queued are sent, then the socket is closed and `$disconnect` runs.
//! - No socket outlives its lifetime (API Gateway's two hours by default): then it is closed with 1001 and
//!   `$disconnect` runs, as in AWS, so clients meet the cutoff they must reconnect before.

use crate::spa::Spa;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tradesim_control::domain::ConnectionId;
use tradesim_control::hosts::BoxFuture;
use tradesim_control::{ConnectRequest, Control, ControlError, Gateway, GatewayConnections, GatewayError};

/// API Gateway's limit on one incoming WebSocket message.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Frames queued for one socket before a push waits (and so slows its host's sender for that connection only).
const OUTBOUND_QUEUE: usize = 256;
/// API Gateway's maximum WebSocket connection duration.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// The open sockets, by connection id: where pushes go.
#[derive(Debug)]
pub struct LocalConnections {
    sockets: Mutex<HashMap<ConnectionId, mpsc::Sender<String>>>,
    lifetime: Mutex<Duration>,
}

impl Default for LocalConnections {
    fn default() -> Self {
        Self { sockets: Mutex::default(), lifetime: Mutex::new(CONNECTION_LIFETIME) }
    }
}

impl LocalConnections {
    /// How long sockets opened from now on may live (tests shorten it to see the cutoff).
    pub fn set_lifetime(&self, lifetime: Duration) {
        *self.lifetime.lock().unwrap_or_else(PoisonError::into_inner) = lifetime;
    }

    fn lifetime(&self) -> Duration {
        *self.lifetime.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, mpsc::Sender<String>>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self, id: &ConnectionId) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel(OUTBOUND_QUEUE);
        self.sockets().insert(id.clone(), sender);
        receiver
    }

    /// Forgets `id`; its socket closes once its queue is drained. `false` if it was not open.
    fn remove(&self, id: &ConnectionId) -> bool {
        self.sockets().remove(id).is_some()
    }

    fn sender(&self, id: &ConnectionId) -> Option<mpsc::Sender<String>> {
        self.sockets().get(id).cloned()
    }

    /// Closes every socket (shutting down).
    pub fn close_all(&self) {
        self.sockets().clear();
    }

    pub fn open_count(&self) -> usize {
        self.sockets().len()
    }
}

impl GatewayConnections for LocalConnections {
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>> {
        self.remove(connection);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[derive(Debug)]
struct App {
    gateway: Arc<Gateway>,
    sockets: Arc<LocalConnections>,
}

/// The local gateway's router. `spa` serves what no other route takes. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the client address feeds the rate limits.
pub fn router(control: Arc<Control>, gateway: Arc<Gateway>, sockets: Arc<LocalConnections>, spa: Spa) -> Router {
    let app = Arc::new(App { gateway, sockets });
    let management = post(post_to_connection)
        .delete(delete_connection)
        .with_state(Arc::clone(&app))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES));
    // The control router is the base, so that its handlers see only their own path parameters.
    tradesim_control::router(control)
        .route("/ws", get(connect).with_state(app))
        .route("/@connections/{id}", management)
        .fallback(move |uri: Uri| {
            let spa = spa.clone();
            async move {
                if uri.path().starts_with("/v1/") {
                    return ControlError::NotFound("route").into_response();
                }
                spa.serve(uri.path()).await
            }
        })
}

async fn connect(
    State(app): State<Arc<App>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(mut query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let id = ConnectionId::generate();
    let outbound = app.sockets.open(&id);
    let request = ConnectRequest {
        connection: id.to_string(),
        sim: query.remove("sim"),
        ticket: query.remove("ticket"),
        origin: headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned),
        client: client.ip().to_string(),
    };
    if let Err(error) = app.gateway.connect(&request).await {
        app.sockets.remove(&id);
        return error.into_response();
    }
    let failed = (Arc::clone(&app), id.clone());
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(tradesim_net::WEBSOCKET_READ_BUFFER_BYTES)
        .on_failed_upgrade(move |error| {
            let (app, id) = failed;
            tracing::warn!(%error, connection = %id, "the WebSocket upgrade failed");
            tokio::spawn(async move { disconnected(&app, &id).await });
        })
        .on_upgrade(move |socket| serve_socket(app, id, socket, outbound))
}

/// Pumps one socket: client frames to `$default` in order, pushes to the client, until either side closes.
async fn serve_socket(app: Arc<App>, id: ConnectionId, socket: WebSocket, mut outbound: mpsc::Receiver<String>) {
    let (mut sink, mut stream) = socket.split();
    let cutoff = tokio::time::sleep(app.sockets.lifetime());
    tokio::pin!(cutoff);
    loop {
        tokio::select! {
            () = &mut cutoff => {
                let _ = sink.send(going_away("the connection reached its maximum lifetime")).await;
                break;
            }
            pushed = outbound.recv() => match pushed {
                Some(frame) => if sink.send(Message::Text(frame.into())).await.is_err() { break },
                None => {
                    let _ = sink.send(going_away("the server closed the connection")).await;
                    break;
                }
            },
            received = stream.next() => {
                let frame = match received {
                    Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                    // API Gateway hands binary frames to $default too; the host answers them as bad frames.
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                match app.gateway.message(id.as_str(), frame).await {
                    Ok(()) => {}
                    // The gateway already dropped the channel: the next recv closes the socket.
                    Err(GatewayError::Gone) => {}
                    Err(error) => tracing::warn!(%error, connection = %id, "a client frame could not be delivered"),
                }
            }
        }
    }
    disconnected(&app, &id).await;
}

/// A close frame with 1001 (going away), as API Gateway closes from its side.
fn going_away(reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code: 1001, reason: reason.into() }))
}

async fn disconnected(app: &App, id: &ConnectionId) {
    app.sockets.remove(id);
    if let Err(error) = app.gateway.disconnect(id.as_str()).await {
        tracing::warn!(%error, connection = %id, "$disconnect failed");
    }
}

/// API Gateway's answer for an unknown connection, as the AWS SDK recognizes it (GoneException).
fn gone() -> Response {
    let body = axum::Json(serde_json::json!({ "message": "the connection is gone" }));
    (StatusCode::GONE, [("x-amzn-ErrorType", "GoneException")], body).into_response()
}

/// The management API is for SigV4-signed callers (the hosts); the signature is not verified locally, but an
/// unsigned request (a browser's form post, say) is refused as API Gateway would.
fn signed(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("AWS4-HMAC-SHA256 "))
}

fn forbidden() -> Response {
    let body = axum::Json(serde_json::json!({ "message": "Missing Authentication Token" }));
    (StatusCode::FORBIDDEN, [("x-amzn-ErrorType", "ForbiddenException")], body).into_response()
}

/// PostToConnection: the body is the frame, as it is.
async fn post_to_connection(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !signed(&headers) {
        return forbidden();
    }
    let Some(sender) = ConnectionId::parse(id).ok().and_then(|id| app.sockets.sender(&id)) else { return gone() };
    match sender.send(String::from_utf8_lossy(&body).into_owned()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => gone(),
    }
}

/// DeleteConnection.
async fn delete_connection(State(app): State<Arc<App>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !signed(&headers) {
        return forbidden();
    }
    match ConnectionId::parse(id) {
        Ok(id) if app.sockets.remove(&id) => StatusCode::NO_CONTENT.into_response(),
        _ => gone(),
    }
}
