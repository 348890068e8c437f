//! A client of the local stack, as the browser app is one: the control plane's HTTP API (register, log in,
//! refresh, sessions and their keep-alive, simulators, connect tickets) and the stream's WebSocket through the
//! local gateway. The devstack tests, the gateway bench and the load generator all drive the stack with it.

use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A stream connection through the local gateway.
pub type Socket = WebSocketStream<TcpStream>;
pub use tokio_tungstenite::tungstenite::Error as WsError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered, with an error.
    #[error("{path}: {status} {code}")]
    Refused { path: String, status: u16, code: String, retry_after: Option<Duration> },
    /// No answer: the connection failed, timed out or the body was not what the API sends.
    #[error("{path}: {message}")]
    Transport { path: String, message: String },
}

impl ClientError {
    /// A stable label for counting: `http_<status>_<code>` or `http_transport`.
    pub fn label(&self) -> String {
        match self {
            Self::Refused { status, code, .. } => format!("http_{status}_{code}"),
            Self::Transport { .. } => "http_transport".into(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            Self::Transport { .. } => None,
        }
    }
}

/// An access token and the refresh token that renews it.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// A simulator as the start request answered it.
#[derive(Clone, Debug)]
pub struct Simulator {
    pub id: String,
    /// `running` once it runs on a host.
    pub state: String,
}

/// The control plane's HTTP API at `base` (`http://127.0.0.1:8080`).
#[derive(Clone, Debug)]
pub struct ControlClient {
    base: String,
    timeout: Duration,
    http: reqwest::Client,
}

impl ControlClient {
    /// Every request gives up after `timeout`: a hung request is an error, not a stall.
    pub fn new(base: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        Self::build(base.into(), timeout, None)
    }

    /// The same API from the local address `from` (any of 127.0.0.0/8 on loopback): many clients on one machine
    /// then count as many client addresses for the per-address rate limits, as many browsers would.
    pub fn bound_to(&self, from: IpAddr) -> Result<Self, ClientError> {
        Self::build(self.base.clone(), self.timeout, Some(from))
    }

    fn build(base: String, timeout: Duration, from: Option<IpAddr>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().timeout(timeout).tcp_nodelay(true).local_address(from).build();
        let http = http.map_err(|e| ClientError::Transport {
            path: String::new(),
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(Self { base, timeout, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; a success's JSON body (`null` when empty), or the refusal with its code.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let transport =
            |error: reqwest::Error| ClientError::Transport { path: path.into(), message: error.to_string() };
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(transport)?;
        let answer = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(answer);
        }
        let code = answer["code"].as_str().unwrap_or("unknown").to_owned();
        Err(ClientError::Refused { path: path.into(), status: status.as_u16(), code, retry_after })
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Option<&Value>) -> Result<Value, ClientError> {
        self.call(reqwest::Method::POST, path, token, body).await
    }

    pub async fn register(&self, username: &str, password: &str) -> Result<(), ClientError> {
        self.post("/v1/auth/register", None, Some(&json!({ "username": username, "password": password }))).await?;
        Ok(())
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Tokens, ClientError> {
        let body = json!({ "username": username, "password": password });
        tokens("/v1/auth/login", &self.post("/v1/auth/login", None, Some(&body)).await?)
    }

    /// Exchanges a refresh token (single use) for a new pair.
    pub async fn refresh(&self, refresh: &str) -> Result<Tokens, ClientError> {
        let body = json!({ "refresh_token": refresh });
        tokens("/v1/auth/refresh", &self.post("/v1/auth/refresh", None, Some(&body)).await?)
    }

    /// Starts a session: its id.
    pub async fn open_session(&self, access: &str) -> Result<String, ClientError> {
        string_field("/v1/sessions", &self.post("/v1/sessions", Some(access), None).await?, "id")
    }

    pub async fn keep_alive(&self, access: &str, session: &str) -> Result<(), ClientError> {
        self.post(&format!("/v1/sessions/{session}/keep-alive"), Some(access), None).await?;
        Ok(())
    }

    /// Starts a calm simulator with `seed` in `session`.
    pub async fn start_simulator(&self, access: &str, session: &str, seed: u64) -> Result<Simulator, ClientError> {
        let start = json!({ "session_id": session, "config": { "scenario": "calm" }, "seed": seed });
        let answer = self.post("/v1/simulators", Some(access), Some(&start)).await?;
        Ok(Simulator {
            id: string_field("/v1/simulators", &answer, "id")?,
            state: string_field("/v1/simulators", &answer, "state")?,
        })
    }

    /// A single-use connect ticket for `sim`.
    pub async fn ticket(&self, access: &str, sim: &str) -> Result<String, ClientError> {
        let answer = self.post("/v1/tickets", Some(access), Some(&json!({ "sim": sim }))).await?;
        string_field("/v1/tickets", &answer, "ticket")
    }
}

fn string_field(path: &str, answer: &Value, field: &str) -> Result<String, ClientError> {
    answer[field].as_str().map(str::to_owned).ok_or_else(|| ClientError::Transport {
        path: path.into(),
        message: format!("the answer has no {field}: {answer}"),
    })
}

fn tokens(path: &str, answer: &Value) -> Result<Tokens, ClientError> {
    Ok(Tokens {
        access: string_field(path, answer, "access_token")?,
        refresh: string_field(path, answer, "refresh_token")?,
    })
}

/// Opens the stream of `sim` at the gateway's `/ws` on `address` with `ticket`, sending `origin` if given. With
/// `from`, the TCP connection leaves from that local address (any of 127.0.0.0/8 on loopback): many clients on one
/// machine then count as many client addresses, as many browsers would, for the per-address connect limit.
pub async fn connect_stream(
    address: SocketAddr,
    sim: &str,
    ticket: &str,
    origin: Option<&str>,
    from: Option<IpAddr>,
) -> Result<Socket, WsError> {
    let mut request = format!("ws://{address}/ws?sim={sim}&ticket={ticket}").into_client_request()?;
    if let Some(origin) = origin {
        let origin = HeaderValue::from_str(origin).map_err(|e| WsError::HttpFormat(e.into()))?;
        request.headers_mut().insert("origin", origin);
    }
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(from) = from {
        socket.bind(SocketAddr::new(from, 0))?;
    }
    let stream = socket.connect(address).await?;
    // Browsers send small frames at once too.
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(tradesim_net::WEBSOCKET_READ_BUFFER_BYTES);
    tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await.map(|(socket, _)| socket)
}
