//! Test support: a real host (router on port 0, a fresh PostgreSQL database, the real guest module) and a real
//! WebSocket client that checks the stream it receives.
#![allow(dead_code)] // each test binary uses part of it

pub mod proxy;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tradesim_host::api::router;
use tradesim_host::apigateway::ApiGatewayPusher;
use tradesim_host::{Host, HostConfig};
use tradesim_journal::Journal;
use tradesim_journal::testing::TestDatabase;
use tradesim_protocol::stream::{Envelope, ServerMessage};
use tradesim_protocol::{Event, EventBody};
use tradesim_sandbox::{Sandbox, SandboxConfig};

pub const TOKEN: &str = "test-service-token";
pub const SECRET: &str = "test-ticket-secret";
pub const USER: &str = "alice";

/// One sandbox per test process: compiling the guest is the slow part.
pub fn sandbox() -> Sandbox {
    sandbox_for(256)
}

/// The process's sandbox, made room for `max_instances` engines if this is the first call (the density
/// benchmark runs thousands).
pub fn sandbox_for(max_instances: u32) -> Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            let path = tradesim_sandbox::default_guest_path();
            let config = SandboxConfig { max_instances, ..SandboxConfig::default() };
            Sandbox::from_file(config, &path)
                .unwrap_or_else(|error| panic!("guest module {} ({error}); run `make guest`", path.display()))
        })
        .clone()
}

pub fn host_config(host_id: &str) -> HostConfig {
    HostConfig {
        host_id: host_id.to_owned(),
        shards: 2,
        service_token: TOKEN.to_owned(),
        ticket_secret: SECRET.as_bytes().to_vec(),
        flush_interval: Duration::from_millis(5),
        ..HostConfig::default()
    }
}

pub struct TestHost {
    pub addr: SocketAddr,
    pub host: Host,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl TestHost {
    pub async fn start(database_url: &str, config: HostConfig) -> Self {
        Self::start_with_pusher(database_url, config, None).await
    }

    /// A host in API Gateway mode when `pusher` is given.
    pub async fn start_with_pusher(
        database_url: &str,
        config: HostConfig,
        pusher: Option<std::sync::Arc<ApiGatewayPusher>>,
    ) -> Self {
        let journal = Journal::connect(database_url, 8).await.expect("journal");
        journal.migrate().await.expect("migrate");
        let host = Host::start(config, sandbox(), journal).expect("host");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = router::<ApiGatewayPusher>(host.clone(), pusher);
        let server = tokio::spawn(async move {
            axum::serve(tradesim_net::low_latency(listener), app).await.expect("serve");
        });
        Self { addr, host, http: reqwest::Client::new(), server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn create_sim(&self, id: &str, config: Value, seed: u64) -> Value {
        let body = json!({ "id": id, "owner": USER, "config": config, "seed": seed });
        let (status, body) = self.call(reqwest::Method::POST, "/internal/simulators", Some(body)).await;
        assert_eq!(status, 201, "create: {body}");
        body
    }

    pub async fn ticket(&self, sim: &str) -> String {
        let body = json!({ "user": USER, "sim": sim });
        let (status, body) = self.call(reqwest::Method::POST, "/internal/tickets", Some(body)).await;
        assert_eq!(status, 200, "ticket: {body}");
        body["ticket"].as_str().expect("ticket").to_owned()
    }

    pub async fn state_hash(&self, sim: &str) -> String {
        let (status, body) =
            self.call(reqwest::Method::GET, &format!("/internal/simulators/{sim}/state-hash"), None).await;
        assert_eq!(status, 200, "state hash: {body}");
        body["state_hash"].as_str().expect("hash").to_owned()
    }

    pub fn stop_serving(&self) {
        self.server.abort();
    }
}

pub async fn database() -> TestDatabase {
    TestDatabase::create().await
}

/// A calm market config with fast steps, as JSON.
pub fn calm() -> Value {
    json!({ "scenario": "calm" })
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A client that applies the stream and checks it: every `events` range starts right after the last seq applied,
/// and every event is in its range and in order.
pub struct Client {
    pub sim: String,
    pub socket: Socket,
    pub last_seq: u64,
    pub events: Vec<Event>,
    pub messages: Vec<ServerMessage>,
}

impl Client {
    pub async fn connect_to(addr: SocketAddr, ticket: &str, sim: &str) -> Result<Socket, String> {
        let url = format!("ws://{addr}/v1/simulators/{sim}/stream?ticket={ticket}");
        // Nagle off, as browsers have it: small order frames go out at once.
        tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map(|(socket, _)| socket)
            .map_err(|error| error.to_string())
    }

    pub async fn connect(host: &TestHost, sim: &str, last_seq: u64) -> Self {
        let ticket = host.ticket(sim).await;
        let socket = Self::connect_to(host.addr, &ticket, sim).await.expect("connect");
        let mut client = Self { sim: sim.to_owned(), socket, last_seq, events: Vec::new(), messages: Vec::new() };
        client.send(json!({ "type": "hello", "last_seq": last_seq })).await;
        client
    }

    /// Connects to the host at `addr` with a ticket already fetched, and says hello.
    pub async fn connect_at(addr: SocketAddr, ticket: &str, sim: &str, last_seq: u64) -> Self {
        let socket = Self::connect_to(addr, ticket, sim).await.expect("connect");
        let mut client = Self { sim: sim.to_owned(), socket, last_seq, events: Vec::new(), messages: Vec::new() };
        client.send(json!({ "type": "hello", "last_seq": last_seq })).await;
        client
    }

    /// Sends a message, adding the envelope's `v` and this client's `sim`.
    pub async fn send(&mut self, mut message: Value) {
        message["v"] = json!(1);
        message["sim"] = json!(self.sim);
        self.send_raw(message.to_string()).await;
    }

    pub async fn send_raw(&mut self, text: String) {
        self.socket.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next message, with events applied and checked.
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the stream is open")
                .expect("a frame");
            let Message::Text(text) = frame else { continue };
            assert!(text.len() <= tradesim_protocol::stream::MAX_FRAME_BYTES);
            let envelope: Envelope<ServerMessage> = serde_json::from_str(&text).expect("a protocol message");
            let message = envelope.message;
            self.apply(&message);
            self.messages.push(message.clone());
            return message;
        }
    }

    /// The next message, with events applied and checked, or `None` when the connection closes or stays silent
    /// for `timeout`.
    pub async fn try_recv(&mut self, timeout: Duration) -> Option<ServerMessage> {
        loop {
            let frame = tokio::time::timeout(timeout, self.socket.next()).await.ok()??.ok()?;
            let Message::Text(text) = frame else { continue };
            let envelope: Envelope<ServerMessage> = serde_json::from_str(&text).expect("a protocol message");
            let message = envelope.message;
            self.apply(&message);
            self.messages.push(message.clone());
            return Some(message);
        }
    }

    fn apply(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Events { from, to, events, .. } => {
                self.last_seq = check_events(self.last_seq, *from, *to, events);
                self.events.extend(events.iter().cloned());
            }
            ServerMessage::Snapshot { seq, chunk, chunks, .. } if chunk + 1 == *chunks => self.last_seq = *seq,
            _ => {}
        }
    }

    /// Receives until `predicate` matches a message, and returns it.
    pub async fn until(&mut self, mut predicate: impl FnMut(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let message = self.recv().await;
            if predicate(&message) {
                return message;
            }
        }
    }

    /// Receives until the stream reaches `seq`.
    pub async fn until_seq(&mut self, seq: u64) {
        while self.last_seq < seq {
            self.recv().await;
        }
    }

    pub async fn order(&mut self, client_order_id: &str, side: &str, qty: u64, order_type: Value) {
        let order = json!({
            "instrument": 0, "client_order_id": client_order_id, "side": side, "qty": qty,
            "order_type": order_type, "tif": { "type": "gtc" },
        });
        self.send(json!({ "type": "order", "order": order })).await;
    }
}

/// Checks that an `Events` message continues a stream that reached `last_seq` with no gap, overlap or reordering,
/// and returns the seq it reaches.
pub fn check_events(last_seq: u64, from: u64, to: u64, events: &[Event]) -> u64 {
    assert_eq!(from, last_seq + 1, "a gap or an overlap in the stream");
    let mut previous = last_seq;
    for event in events {
        assert!(event.seq > previous && event.seq <= to, "event {} out of order", event.seq);
        previous = event.seq;
    }
    to
}

/// The `i`th order of a mixed flow: resting limit orders far from the market and marketable ones that fill,
/// alternating sides.
pub fn mixed_order(i: usize, client_order_id: &str) -> Value {
    let (side, order_type, tif) = match i % 4 {
        0 => ("buy", json!({ "type": "limit", "price": 9_500 }), json!({ "type": "gtc" })),
        1 => ("sell", json!({ "type": "market" }), json!({ "type": "ioc" })),
        2 => ("sell", json!({ "type": "limit", "price": 10_500 }), json!({ "type": "gtc" })),
        _ => ("buy", json!({ "type": "market" }), json!({ "type": "ioc" })),
    };
    json!({
        "type": "order",
        "order": {
            "instrument": 0, "client_order_id": client_order_id, "side": side, "qty": 1,
            "order_type": order_type, "tif": tif,
        },
    })
}

/// The user's execution reports among `events`.
pub fn user_reports(events: &[Event]) -> Vec<&tradesim_protocol::ExecutionReport> {
    events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::ExecutionReport(report) => Some(report),
            _ => None,
        })
        .collect()
}
