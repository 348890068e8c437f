//! Faults through the local gateway: PostgreSQL stopped and started under a running control plane, and a
//! simulator host killed with SIGKILL under a connected client. The second needs `tradesim-host` built
//! (`cargo build -p tradesim-host`) and the guest module (`make guest`).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{Api, Socket, has_market_data, next, send, until};
use tradesim_control::hosts::HostTable;
use tradesim_control::manager::{Fleet, Launcher, Parts, Sweeper};
use tradesim_control::{HostTarget, LocalLauncher, ManagerConfig};
use tradesim_devstack::postgres::{self, PrivateCluster};
use tradesim_devstack::{DevSettings, launcher_config, process};
use tradesim_journal::Journal;
use tradesim_journal::testing::TestDatabase;
use tradesim_protocol::EventBody;
use tradesim_protocol::event::ExecType;
use tradesim_protocol::stream::{OrderOutcome, ResumeMode, ServerMessage};

/// A throwaway cluster in its own directory (never the machine's shared server), stopped and removed on drop.
struct Throwaway {
    cluster: PrivateCluster,
    dir: PathBuf,
}

impl Throwaway {
    fn create(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tradesim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = PrivateCluster::ensure(&dir).expect("initdb and pg_ctl start a private cluster");
        Self { cluster, dir }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_postgres_is_down_and_succeed_once_it_is_back() {
    let mut pg = tokio::task::block_in_place(|| Throwaway::create("pg-restart"));
    postgres::create_database(&pg.cluster.url("postgres"), "tradesim").await.unwrap();
    let url = pg.cluster.url("tradesim");
    Journal::connect(&url, 1).await.unwrap().migrate().await.unwrap();
    let api = Api::start(&url).await;
    let access = api.sign_up("alice").await;
    let session = api.session(&access).await;
    let credentials = json!({ "username": "alice", "password": support::PASSWORD });
    let keep_alive = format!("/v1/sessions/{session}/keep-alive");
    let start = json!({ "session_id": session, "config": { "scenario": "calm" }, "seed": 7 });
    let requests: Vec<(Method, &str, Option<&str>, Option<Value>)> = vec![
        (Method::POST, "/v1/auth/register", None, Some(json!({ "username": "bob", "password": support::PASSWORD }))),
        (Method::POST, "/v1/auth/login", None, Some(credentials)),
        (Method::POST, "/v1/sessions", Some(&access), None),
        (Method::GET, "/v1/sessions", Some(&access), None),
        (Method::POST, &keep_alive, Some(&access), None),
        (Method::GET, "/v1/simulators", Some(&access), None),
        (Method::POST, "/v1/simulators", Some(&access), Some(start)),
        (Method::POST, "/v1/tickets", Some(&access), Some(json!({ "sim": "sim_unknown" }))),
    ];

    tokio::task::block_in_place(|| pg.cluster.stop()).unwrap();
    let mut wrong = Vec::new();
    for (method, path, token, body) in &requests {
        let (status, answer) = api.call(method.clone(), path, *token, body.clone()).await;
        if (status, answer["code"].as_str()) != (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")) {
            wrong.push(format!("{method} {path}: {status} {answer}"));
        }
    }
    assert!(wrong.is_empty(), "during the outage, expected 503 unavailable from every request:\n{}", wrong.join("\n"));

    // Same port, same pool, nothing restarted on our side.
    tokio::task::block_in_place(|| pg.cluster.start()).unwrap();
    for (method, path, token, body) in &requests[1..6] {
        let (status, answer) = api.call(method.clone(), path, *token, body.clone()).await;
        assert!(status.is_success(), "after the outage, {method} {path}: {status} {answer}");
    }
}

/// Where `cargo build -p tradesim-host` put the binary: `TRADESIM_HOST_BIN`, else `<target>/debug/tradesim-host`
/// with the target directory `CARGO_TARGET_DIR` or the one this test was built into (`<target>/debug/deps`).
fn host_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRADESIM_HOST_BIN") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::env::current_exe().unwrap().ancestors().nth(3).expect("<target>/debug/deps").to_path_buf(),
        PathBuf::from,
    );
    let binary = target.join("debug/tradesim-host");
    assert!(binary.is_file(), "{} does not exist: `cargo build -p tradesim-host`", binary.display());
    binary
}

/// The pid of this process's child running host `id`.
fn child_running(id: &str) -> rustix::process::Pid {
    let host = process::hosts_of(std::process::id() as i32).into_iter().find(|host| host.host_id == id);
    let host = host.unwrap_or_else(|| panic!("no child process runs host {id}"));
    rustix::process::Pid::from_raw(host.pid).unwrap()
}

/// What a client applied of its simulator's stream: every frame's range, and its own order's `new` reports.
#[derive(Default)]
struct Applied {
    last_seq: u64,
    news: usize,
}

impl Applied {
    /// Applies `message` if it is an `events` frame, checking it continues the stream: no gap, no overlap.
    fn apply(&mut self, message: &ServerMessage, client_order_id: &str) {
        let ServerMessage::Events { from, to, events, .. } = message else { return };
        assert_eq!(*from, self.last_seq + 1, "events {from}..={to} after seq {}", self.last_seq);
        self.last_seq = *to;
        self.news += events
            .iter()
            .filter(|e| match &e.body {
                EventBody::ExecutionReport(report) => {
                    report.exec_type == ExecType::New
                        && report.client_order_id.is_some_and(|id| id.as_str() == client_order_id)
                }
                _ => false,
            })
            .count();
    }
}

/// Reads until `done` says so, applying every `events` frame; the message `done` accepted.
async fn read_until(
    socket: &mut Socket,
    applied: &mut Applied,
    client_order_id: &str,
    mut done: impl FnMut(&ServerMessage, &Applied) -> bool,
) -> ServerMessage {
    loop {
        let message = next(socket).await.expect("the socket stays open");
        applied.apply(&message, client_order_id);
        if done(&message, applied) {
            return message;
        }
    }
}

async fn heartbeat(pool: &deadpool_postgres::Pool, host: &HostTarget, at: SystemTime) {
    HostTable::new(pool.clone(), Duration::from_secs(3600)).heartbeat(host, 10, at).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_s_simulator_is_rehomed_and_its_client_resumes_with_the_acknowledged_order() {
    let database = TestDatabase::create().await;
    let api = Api::start(database.url()).await;
    let dir = std::env::temp_dir().join(format!("tradesim-rehome-{}", std::process::id()));
    let (binary, guest) = (host_binary(), tradesim_sandbox::default_guest_path());
    let settings = DevSettings::from_lookup(|name| match name {
        "TRADESIM_DEV_DIR" => Some(dir.to_string_lossy().into_owned()),
        "TRADESIM_HOST_BIN" => Some(binary.to_string_lossy().into_owned()),
        "TRADESIM_GUEST_WASM" => Some(guest.to_string_lossy().into_owned()),
        _ => None,
    })
    .unwrap();
    let mut config = launcher_config(&settings, database.url(), &api.secrets, api.address);
    config.env.push(("TRADESIM_SHARDS".into(), "1".into()));
    config.start_timeout = Duration::from_secs(120);
    let launcher = Arc::new(LocalLauncher::new(config).unwrap());

    // The simulator goes to the only host there is; a second one is up before the first dies.
    let doomed = launcher.launch().await.unwrap();
    heartbeat(&api.pool, &doomed, SystemTime::now()).await;
    let access = api.sign_up("alice").await;
    let session = api.session(&access).await;
    let sim = api.start_simulator(&access, &session).await;
    let survivor = launcher.launch().await.unwrap();
    heartbeat(&api.pool, &survivor, SystemTime::now()).await;

    let (mut socket, _) = api.open(&access, &sim, 0).await;
    // From 0 the stream starts with a snapshot; the client's stream then starts at the first events frame.
    let mut applied = Applied::default();
    let first = until(&mut socket, has_market_data).await;
    let ServerMessage::Events { from, .. } = &first else { unreachable!() };
    applied.last_seq = from - 1;
    applied.apply(&first, "rehome-1");
    let order = json!({
        "instrument": 0, "client_order_id": "rehome-1", "side": "buy", "qty": 1,
        "order_type": { "type": "market" }, "tif": { "type": "ioc" },
    });
    send(&mut socket, &sim, json!({ "type": "order", "order": order.clone() })).await;
    let ack =
        read_until(&mut socket, &mut applied, "rehome-1", |m, _| matches!(m, ServerMessage::OrderAck { .. })).await;
    let ServerMessage::OrderAck { outcome: acknowledged @ OrderOutcome::Accepted { seq: ack_seq, .. }, .. } = ack
    else {
        panic!("{ack:?}")
    };
    // The client has applied its order's report, then stops reading: what it has not read must come back.
    read_until(&mut socket, &mut applied, "rehome-1", |_, a| a.last_seq >= ack_seq).await;
    assert_eq!(applied.news, 1);

    rustix::process::kill_process(child_running(&doomed.id), rustix::process::Signal::KILL).unwrap();
    drop(socket);
    // The manager's probes find the killed host silent until it is dead; the survivor answers and is heartbeated.
    let manager_config = ManagerConfig { heartbeat_timeout: Duration::from_secs(2), ..ManagerConfig::default() };
    let hosts = Arc::clone(&api.plane.plane.hosts) as _;
    let parts = Parts::new(api.pool.clone(), hosts, Arc::clone(&launcher) as _, &manager_config);
    let (fleet, sweeper) = (Fleet::new(parts.clone(), &manager_config), Sweeper::new(parts, &manager_config));
    let mut later = SystemTime::now();
    for _ in 0..manager_config.dead_after_probes {
        assert_eq!(fleet.poll(later).await.unwrap(), 1, "only the survivor answers");
        later += Duration::from_secs(1);
    }
    let report = sweeper.tick(later).await.unwrap();
    assert_eq!((report.simulators_rehomed, report.failures), (1, 0), "{report:?}");
    let row = api.pool.get().await.unwrap().query_one("SELECT host_id FROM user_simulators", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), survivor.id);

    // A new ticket and connection, resuming after the last seq the client applied.
    let (mut socket, welcome) = api.open(&access, &sim, applied.last_seq).await;
    let ServerMessage::Welcome { resume, seq, .. } = welcome else { unreachable!() };
    assert_eq!(resume, ResumeMode::Replay, "{welcome:?}");
    assert!(seq >= applied.last_seq, "{welcome:?} after seq {}", applied.last_seq);
    // The retry of an acknowledged order gets its outcome again, not a second order.
    send(&mut socket, &sim, json!({ "type": "order", "order": order })).await;
    let again =
        read_until(&mut socket, &mut applied, "rehome-1", |m, _| matches!(m, ServerMessage::OrderAck { .. })).await;
    let ServerMessage::OrderAck { outcome, .. } = again else { unreachable!() };
    assert_eq!(outcome, acknowledged);
    send(&mut socket, &sim, json!({ "type": "ping", "nonce": 9 })).await;
    let mut ponged = false;
    read_until(&mut socket, &mut applied, "rehome-1", |m, a| {
        ponged |= matches!(m, ServerMessage::Pong { nonce: 9 });
        ponged && a.last_seq >= seq
    })
    .await;
    assert_eq!(applied.news, 1, "the order's report once in the whole stream");

    for host in [&doomed, &survivor] {
        launcher.stop(&host.id).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
