//! The test stack: a fresh database, the control router on port 0 over real HTTP, a manual clock, a recording
//! socket closer, and an in-test fake of a simulator host's internal API (docs/host.md).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tradesim_control::limits::Rate;
use tradesim_control::password::HashCost;
use tradesim_control::{
    Clock, Config, Control, HostTable, HostTarget, HttpHostClient, ManualClock, RecordingCloser, Services, db, router,
};
use tradesim_journal::testing::TestDatabase;

pub const SERVICE_TOKEN: &str = "test-service-token";
pub const IDLE: Duration = Duration::from_secs(120);
pub const LIFETIME: Duration = Duration::from_secs(300);
pub const ACCESS: Duration = Duration::from_secs(15 * 60);
pub const LOGIN_BURST: u32 = 3;
pub const PASSWORD: &str = "correct horse battery";

/// What the fake host holds: simulator id to (owner, state).
#[derive(Debug, Default)]
pub struct FakeHost {
    pub simulators: Mutex<HashMap<String, (String, &'static str)>>,
    pub stops: Mutex<Vec<String>>,
    /// Refuse creation with `503 at_capacity`.
    pub full: AtomicBool,
    /// How long a creation takes, in milliseconds (a loaded host's).
    pub create_ms: AtomicU64,
}

fn info(id: &str, owner: &str, state: &str) -> Value {
    json!({ "id": id, "owner": owner, "state": state, "speed": "1x", "step": 7, "seq": 3, "lag_ms": 0,
            "connections": 0, "memory_bytes": 65536 })
}

fn host_error(status: StatusCode, code: &str) -> axum::response::Response {
    (status, Json(json!({ "code": code, "message": code }))).into_response()
}

/// Every internal route wants the service credential, as on a real host.
async fn service_auth(request: Request, next: Next) -> axum::response::Response {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if authorization != Some(&format!("Bearer {SERVICE_TOKEN}")) {
        return host_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    next.run(request).await
}

async fn fake_create(State(host): State<Arc<FakeHost>>, Json(body): Json<Value>) -> axum::response::Response {
    if host.full.load(Ordering::SeqCst) {
        return host_error(StatusCode::SERVICE_UNAVAILABLE, "at_capacity");
    }
    tokio::time::sleep(Duration::from_millis(host.create_ms.load(Ordering::SeqCst))).await;
    let (id, owner) = (body["id"].as_str().unwrap().to_owned(), body["owner"].as_str().unwrap().to_owned());
    assert!(body["config"].is_object() && body["seed"].is_u64(), "create body as documented: {body}");
    host.simulators.lock().unwrap().insert(id.clone(), (owner.clone(), "running"));
    (StatusCode::CREATED, Json(info(&id, &owner, "running"))).into_response()
}

async fn fake_status(State(host): State<Arc<FakeHost>>, Path(id): Path<String>) -> axum::response::Response {
    match host.simulators.lock().unwrap().get(&id) {
        Some((owner, state)) => Json(info(&id, owner, state)).into_response(),
        None => host_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn fake_stop(State(host): State<Arc<FakeHost>>, Path(id): Path<String>) -> axum::response::Response {
    host.stops.lock().unwrap().push(id.clone());
    match host.simulators.lock().unwrap().remove(&id) {
        Some((owner, _)) => Json(info(&id, &owner, "stopped")).into_response(),
        None => host_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn fake_ticket(State(host): State<Arc<FakeHost>>, Json(body): Json<Value>) -> axum::response::Response {
    let (user, sim) = (body["user"].as_str().unwrap(), body["sim"].as_str().unwrap());
    match host.simulators.lock().unwrap().get(sim) {
        Some((owner, _)) if owner == user => Json(json!({ "ticket": format!("ticket.{user}.{sim}") })).into_response(),
        Some(_) => host_error(StatusCode::FORBIDDEN, "forbidden"),
        None => host_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    address
}

#[derive(Debug)]
pub struct Stack {
    pub base: String,
    pub clock: ManualClock,
    pub closer: Arc<RecordingCloser>,
    pub host: Arc<FakeHost>,
    pub control: Arc<Control>,
    pub pool: deadpool_postgres::Pool,
    started: std::time::SystemTime,
    http: reqwest::Client,
    _database: TestDatabase,
}

/// An answer: status, headers and the JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 4).unwrap();
        let clock = ManualClock::starting_now();
        let fake = Arc::new(FakeHost::default());
        let host_router = Router::new()
            .route("/internal/simulators", post(fake_create))
            .route("/internal/simulators/{id}", get(fake_status).delete(fake_stop))
            .route("/internal/tickets", post(fake_ticket))
            .route_layer(middleware::from_fn(service_auth))
            .with_state(Arc::clone(&fake));
        let host_address = serve(host_router).await;
        let placement = HostTable::new(pool.clone(), Duration::from_secs(24 * 3600));
        let target = HostTarget { id: "host-a".into(), address: format!("http://{host_address}") };
        placement.heartbeat(&target, 100, clock.now()).await.unwrap();
        let closer = Arc::new(RecordingCloser::default());
        let mut config = Config::new([42; 32]);
        config.access_lifetime = ACCESS;
        config.session_idle = IDLE;
        config.session_lifetime = LIFETIME;
        config.hash_cost = HashCost { memory_kib: 256, iterations: 1 };
        config.login_rate = Rate::new(1, LOGIN_BURST);
        let services = Services {
            clock: Arc::new(clock.clone()),
            hosts: Arc::new(HttpHostClient::new(SERVICE_TOKEN, Duration::from_secs(5)).unwrap()),
            placement: Arc::new(placement),
            closer: Arc::clone(&closer) as _,
        };
        let control = Arc::new(Control::new(config, pool.clone(), services).unwrap());
        let address = serve(router(Arc::clone(&control))).await;
        Stack {
            base: format!("http://{address}"),
            started: clock.now(),
            clock,
            closer,
            host: fake,
            control,
            pool,
            http: reqwest::Client::new(),
            _database: database,
        }
    }

    /// Sends `body` as raw text with the given content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: String,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        match body {
            Some(body) => self.raw(method, path, token, Some("application/json"), body.to_string()).await,
            None => self.raw(method, path, token, None, String::new()).await,
        }
    }

    /// Registers `username` and logs in: (access token, refresh token).
    pub async fn user(&self, username: &str) -> (String, String) {
        let credentials = json!({ "username": username, "password": PASSWORD });
        let registered = self.call("POST", "/v1/auth/register", None, Some(credentials.clone())).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{:?}", registered.body);
        let tokens = self.call("POST", "/v1/auth/login", None, Some(credentials)).await;
        assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
        (tokens.body["access_token"].as_str().unwrap().into(), tokens.body["refresh_token"].as_str().unwrap().into())
    }

    pub async fn session(&self, token: &str) -> String {
        let session = self.call("POST", "/v1/sessions", Some(token), None).await;
        assert_eq!(session.status, StatusCode::CREATED, "{:?}", session.body);
        session.body["id"].as_str().unwrap().into()
    }

    pub async fn simulator(&self, token: &str, session: &str) -> String {
        let started = self.call("POST", "/v1/simulators", Some(token), Some(json!({ "session_id": session }))).await;
        assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
        started.body["id"].as_str().unwrap().into()
    }

    /// Advances the clock by `step` and answers the time since the stack started.
    pub fn clock_elapsed_after(&self, step: Duration) -> Duration {
        self.clock.advance(step);
        self.clock.now().duration_since(self.started).unwrap_or_default()
    }

    pub async fn audit_kinds(&self) -> Vec<String> {
        tradesim_control::audit::kinds(&self.pool.get().await.unwrap()).await.unwrap()
    }
}
