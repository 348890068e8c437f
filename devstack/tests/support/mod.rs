//! What the devstack tests and the gateway bench share: the control plane behind the local gateway on port 0
//! ([`Api`]), optionally with an in-process simulator host ([`Stack`]), and a WebSocket client speaking the
//! stream protocol.

// Each test crate and the bench use a different part of this module.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tradesim_control::hosts::HostTable;
use tradesim_control::password::HashCost;
use tradesim_control::{Config, GatewayConfig, HostTarget};
use tradesim_devstack::client::{ControlClient, WsError, connect_stream};
use tradesim_devstack::spa::Spa;
use tradesim_devstack::{GatewayServer, LocalPlane, Secrets};
use tradesim_host::apigateway::ApiGatewayPusher;
use tradesim_host::{Host, HostConfig};
use tradesim_journal::Journal;
use tradesim_journal::testing::TestDatabase;
use tradesim_protocol::stream::{Envelope, ServerMessage};
use tradesim_protocol::{Event, EventBody};
use tradesim_sandbox::{Sandbox, SandboxConfig};

pub const ORIGIN: &str = "http://app.test";
pub const PASSWORD: &str = "correct horse battery";

/// The control plane and the local gateway serving it on a port of 127.0.0.1.
pub struct Api {
    pub base: String,
    pub address: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub client: ControlClient,
    pub pool: deadpool_postgres::Pool,
    pub plane: LocalPlane,
    pub secrets: Secrets,
    pub gateway: Mutex<GatewayServer>,
}

pub use tradesim_devstack::client::Socket;

impl Api {
    /// Serves the control plane on `database_url`, whose migrations are applied already.
    pub async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, |_, _| {}).await
    }

    /// [`Api::start`] with `tune` applied to the configuration first.
    pub async fn start_with(database_url: &str, tune: impl FnOnce(&mut Config, &mut GatewayConfig)) -> Self {
        let pool = tradesim_control::db::pool(database_url, 16).unwrap();
        let secrets = Secrets::generate();
        let mut config = Config::new(secrets.signing_seed);
        config.hash_cost = HashCost { memory_kib: 256, iterations: 1 };
        let mut gateway = GatewayConfig { allowed_origins: vec![ORIGIN.into()], ..GatewayConfig::default() };
        tune(&mut config, &mut gateway);
        let plane = LocalPlane::new(pool.clone(), config, gateway, &secrets.service_token).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = plane.router(Spa::new("/nonexistent"));
        let gateway = Mutex::new(GatewayServer::start(listener, router, Arc::clone(&plane.sockets)).unwrap());
        // A bounded wait: a request that hangs fails the test instead of stalling it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let base = format!("http://{address}");
        let client = ControlClient::new(&base, Duration::from_secs(10)).unwrap();
        Self { base, address, http, client, pool, plane, secrets, gateway }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{path}: {error}"));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, token, body).await;
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// Registers `username` and logs in: the access token.
    pub async fn sign_up(&self, username: &str) -> String {
        self.client.register(username, PASSWORD).await.unwrap();
        self.client.login(username, PASSWORD).await.unwrap().access
    }

    pub async fn session(&self, access: &str) -> String {
        self.client.open_session(access).await.unwrap()
    }

    /// Starts a calm simulator in `session`: its id.
    pub async fn start_simulator(&self, access: &str, session: &str) -> String {
        let simulator = self.client.start_simulator(access, session, 7).await.unwrap();
        assert_eq!(simulator.state, "running", "{simulator:?}");
        simulator.id
    }

    pub async fn ticket(&self, access: &str, sim: &str) -> String {
        self.client.ticket(access, sim).await.unwrap()
    }

    pub async fn connect(&self, sim: &str, ticket: &str, origin: &str) -> Result<Socket, WsError> {
        connect_stream(self.address, sim, ticket, Some(origin), None).await
    }

    /// A new ticket, a connection through the gateway and `hello` from `last_seq`: the socket and the welcome.
    pub async fn open(&self, access: &str, sim: &str, last_seq: u64) -> (Socket, ServerMessage) {
        let ticket = self.ticket(access, sim).await;
        let mut socket = self.connect(sim, &ticket, ORIGIN).await.expect("connect");
        send(&mut socket, sim, json!({ "type": "hello", "last_seq": last_seq })).await;
        let welcome = until(&mut socket, |m| matches!(m, ServerMessage::Welcome { .. })).await;
        (socket, welcome)
    }

    pub async fn audit_kinds(&self) -> Vec<String> {
        tradesim_control::audit::kinds(&self.pool.get().await.unwrap()).await.unwrap()
    }

    pub async fn open_connections(&self) -> i64 {
        let client = self.pool.get().await.unwrap();
        client.query_one("SELECT count(*) FROM connections", &[]).await.unwrap().get(0)
    }
}

/// [`Api`] on a fresh database with a real simulator host in the test process, in API Gateway mode (the engine in
/// its wasm sandbox), pushing through the gateway's @connections endpoint with the AWS SDK. Needs the guest
/// module: `make guest`.
pub struct Stack {
    pub api: Api,
    host: HostTarget,
    _database: TestDatabase,
    _host: Host,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config, &mut GatewayConfig)) -> Self {
        let database = TestDatabase::create().await;
        let api = Api::start_with(database.url(), tune).await;
        let path = tradesim_sandbox::default_guest_path();
        let sandbox = Sandbox::from_file(SandboxConfig { max_instances: 16, ..SandboxConfig::default() }, &path)
            .unwrap_or_else(|error| panic!("guest module {} ({error}); run `make guest`", path.display()));
        let journal = Journal::connect(database.url(), 8).await.unwrap();
        let host_config = HostConfig {
            host_id: "host-e2e".into(),
            shards: 1,
            service_token: api.secrets.service_token.clone(),
            ticket_secret: api.secrets.ticket_secret.as_bytes().to_vec(),
            flush_interval: Duration::from_millis(5),
            ..HostConfig::default()
        };
        let host = Host::start(host_config, sandbox, journal).unwrap();
        // The AWS SDK client, SigV4 and all, pointed at the local gateway.
        let pusher = Arc::new(ApiGatewayPusher::with_static_credentials(&api.base, "us-east-1", "local", "local"));
        let host_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host_address = host_listener.local_addr().unwrap();
        let host_router = tradesim_host::api::router(host.clone(), Some(pusher));
        tokio::spawn(async move { axum::serve(host_listener, host_router).await.unwrap() });
        let target = HostTarget { id: "host-e2e".into(), address: format!("http://{host_address}") };
        let stack = Self { api, host: target, _database: database, _host: host };
        stack.heartbeat().await;
        stack
    }

    /// Records the host alive now, as the manager would: placement wants a recent heartbeat.
    pub async fn heartbeat(&self) {
        self.heartbeat_at(SystemTime::now()).await;
    }

    /// Records the host alive at `at`, for a sweeper whose clock a test moves.
    pub async fn heartbeat_at(&self, at: SystemTime) {
        let table = HostTable::new(self.api.pool.clone(), Duration::from_secs(3600));
        table.heartbeat(&self.host, 10, at).await.unwrap();
    }
}

pub fn refused_with(result: Result<Socket, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected the upgrade to be refused"),
    }
}

pub async fn send(socket: &mut Socket, sim: &str, mut message: Value) {
    message["v"] = json!(1);
    message["sim"] = json!(sim);
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next protocol message, or `None` once the server has closed the socket.
pub async fn next(socket: &mut Socket) -> Option<ServerMessage> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame within 10 s");
        match frame? {
            Ok(Message::Text(text)) => {
                let envelope: Envelope<ServerMessage> = serde_json::from_str(&text).expect("a protocol message");
                return Some(envelope.message);
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub async fn until(socket: &mut Socket, mut predicate: impl FnMut(&ServerMessage) -> bool) -> ServerMessage {
    loop {
        let message = next(socket).await.expect("the socket stays open");
        if predicate(&message) {
            return message;
        }
    }
}

/// Whether `event` is a best bid and offer with a quoted ask.
pub fn has_quote(event: &Event) -> bool {
    matches!(&event.body, EventBody::Bbo(bbo) if bbo.ask_price.is_some())
}

/// Whether `message` carries market data with a quoted ask.
pub fn has_market_data(message: &ServerMessage) -> bool {
    match message {
        ServerMessage::Events { events, .. } => events.iter().any(has_quote),
        _ => false,
    }
}
