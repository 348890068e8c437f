//! Recovery from a SIGKILL: the real `tradesim-host` binary is killed mid-trading, and its simulator is rebuilt
//! from snapshot plus journal on another host (or on the same host id after a restart). Every acknowledged order
//! survives with its outcome, the client resumes from its last seq with nothing lost or duplicated, and the state
//! hash and every event equal those of a native engine replaying the journal.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;
use support::{Client, SECRET, TOKEN, USER, calm, database, mixed_order};
use tradesim_journal::Journal;
use tradesim_protocol::stream::{OrderOutcome, ResumeMode, ServerMessage, SimState};
use tradesim_protocol::{Batch, ClientOrderId, EngineView, Event, EventBody, ExecType, ParticipantId};

const SEED: u64 = 20_260_426;

/// A `tradesim-host` child process.
struct HostProcess {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl HostProcess {
    async fn start(database_url: &str, host_id: &str) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::env::temp_dir().join(format!(
            "tradesim-recovery-{}-{host_id}-{}.log",
            std::process::id(),
            addr.port()
        ));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tradesim-host"))
            .env("DATABASE_URL", database_url)
            .env("TRADESIM_BIND", addr.to_string())
            .env("TRADESIM_SERVICE_TOKEN", TOKEN)
            .env("TRADESIM_TICKET_SECRET", SECRET)
            .env("TRADESIM_HOST_ID", host_id)
            .env("TRADESIM_GUEST_WASM", tradesim_sandbox::default_guest_path())
            .env("TRADESIM_CACHE_DIR", std::env::temp_dir().join("tradesim-recovery-test-cache"))
            .env("TRADESIM_SNAPSHOT_SECS", "1")
            .env("TRADESIM_SHARDS", "2")
            .env("TRADESIM_FLUSH_MS", "5")
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start tradesim-host");
        let mut host = Self { child, addr, http: reqwest::Client::new(), log };
        for _ in 0..600 {
            if let Some(status) = host.child.try_wait().expect("child status") {
                panic!("{host_id} exited with {status}; log in {}", host.log.display());
            }
            if let Ok(response) = host.http.get(format!("http://{addr}/health")).send().await
                && response.status().is_success()
            {
                return host;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{host_id} did not come up within 60 s; log in {}", host.log.display());
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("http://{}{path}", self.addr)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    async fn ticket(&self, sim: &str) -> String {
        let (status, body) =
            self.call(reqwest::Method::POST, "/internal/tickets", Some(json!({ "user": USER, "sim": sim }))).await;
        assert_eq!(status, 200, "ticket: {body}");
        body["ticket"].as_str().expect("ticket").to_owned()
    }

    async fn connect(&self, sim: &str, last_seq: u64) -> Client {
        Client::connect_at(self.addr, &self.ticket(sim).await, sim, last_seq).await
    }

    async fn status(&self, sim: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, &format!("/internal/simulators/{sim}"), None).await;
        assert_eq!(status, 200, "status: {body}");
        body
    }

    async fn state_hash(&self, sim: &str) -> String {
        let (status, body) =
            self.call(reqwest::Method::GET, &format!("/internal/simulators/{sim}/state-hash"), None).await;
        assert_eq!(status, 200, "state hash: {body}");
        body["state_hash"].as_str().expect("hash").to_owned()
    }

    /// SIGKILL: no shutdown snapshot, no goodbye.
    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends an order and waits for its acknowledgement.
async fn place(client: &mut Client, message: &Value) -> OrderOutcome {
    let id: ClientOrderId =
        ClientOrderId::parse(message["order"]["client_order_id"].as_str().expect("id")).expect("id");
    client.send(message.clone()).await;
    let ack =
        client.until(|m| matches!(m, ServerMessage::OrderAck { client_order_id, .. } if *client_order_id == id)).await;
    let ServerMessage::OrderAck { outcome, .. } = ack else { unreachable!() };
    outcome
}

/// The events a native engine produces replaying the journal up to `step`, and its state hash.
async fn native_replay(journal: &Journal, sim: &str, step: u64) -> (Vec<Event>, String) {
    let record = journal.simulator(sim).await.expect("journal").expect("simulator record");
    let entries = journal.entries_after(sim, 0).await.expect("journal entries");
    let mut engine = tradesim_core::Engine::new(record.config, record.seed).expect("engine");
    let mut events = Vec::new();
    let advance_to = |engine: &mut tradesim_core::Engine, events: &mut Vec<Event>, target: u64| {
        while engine.step() < target {
            let steps = u32::try_from(target - engine.step()).unwrap_or(u32::MAX).min(100);
            engine.execute(&Batch { commands: Vec::new(), steps }, events);
        }
    };
    let mut index = 0;
    while index < entries.len() {
        let at = entries[index].step;
        let end = index + entries[index..].iter().take_while(|entry| entry.step == at).count();
        assert!(at <= step, "a journal entry at step {at} after the simulator's step {step}");
        advance_to(&mut engine, &mut events, at - 1);
        let commands = entries[index..end].iter().map(|entry| entry.command).collect();
        engine.execute(&Batch { commands, steps: 1 }, &mut events);
        index = end;
    }
    advance_to(&mut engine, &mut events, step);
    assert_eq!(engine.step(), step);
    (events, format!("{:016x}", engine.state_hash()))
}

/// Waits for the last chunk of a snapshot and decodes the view.
async fn snapshot_view(client: &mut Client) -> EngineView {
    let mut data = String::new();
    loop {
        if let ServerMessage::Snapshot { chunk, chunks, data: piece, .. } = client.recv().await {
            data.push_str(&piece);
            if chunk + 1 == chunks {
                return serde_json::from_str(&data).expect("a snapshot view");
            }
        }
    }
}

/// Kills the host running `sim` mid-trading, recovers it (on `host-b`, or in place on a restarted `host-a`) and
/// checks everything that must survive.
async fn kill_and_recover(sim: &str, in_place: bool) {
    let db = database().await;
    let journal = Journal::connect(db.url(), 2).await.expect("journal");
    let host_a = HostProcess::start(db.url(), "host-a").await;
    let create = json!({ "id": sim, "owner": USER, "config": calm(), "seed": SEED, "speed": "10x" });
    let (status, body) = host_a.call(reqwest::Method::POST, "/internal/simulators", Some(create)).await;
    assert_eq!(status, 201, "create: {body}");

    let mut client = host_a.connect(sim, 0).await;
    let start = snapshot_view(&mut client).await.seq;
    let mut orders: Vec<(ClientOrderId, Value)> = Vec::new();
    let mut acks: HashMap<ClientOrderId, OrderOutcome> = HashMap::new();
    let next_order = |orders: &mut Vec<(ClientOrderId, Value)>| {
        let i = orders.len();
        let id: ClientOrderId = ClientOrderId::parse(&format!("{sim}-{i}")).expect("id");
        let message = mixed_order(i, id.as_str());
        orders.push((id, message.clone()));
        message
    };
    // Trade across several snapshot intervals, so recovery takes a snapshot and the journal after it.
    for round in 0..3 {
        for _ in 0..8 {
            let message = next_order(&mut orders);
            let outcome = place(&mut client, &message).await;
            acks.insert(orders.last().expect("order").0, outcome);
        }
        if round < 2 {
            tokio::time::sleep(Duration::from_millis(1_200)).await;
        }
    }
    // Two more orders on their way when the host dies: no acknowledgement, so they are retried later.
    for _ in 0..2 {
        let message = next_order(&mut orders);
        client.send(message).await;
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    host_a.kill();
    // Whatever reached the client before the kill is what it applied.
    while let Some(message) = client.try_recv(Duration::from_millis(500)).await {
        if let ServerMessage::OrderAck { client_order_id, outcome } = message {
            acks.insert(client_order_id, outcome);
        }
    }
    let before_kill = client.last_seq;
    let snapshot = journal.latest_snapshot(sim).await.expect("journal").expect("a snapshot was taken");
    let after_snapshot = journal.entries_after(sim, snapshot.step).await.expect("journal").len();
    println!(
        "killed at client seq {before_kill}; latest snapshot at step {} seq {}; {} journal entries after it",
        snapshot.step, snapshot.seq, after_snapshot
    );
    let journaled: HashSet<String> =
        journal.entries_after(sim, 0).await.expect("journal").into_iter().filter_map(|e| e.client_order_id).collect();
    for id in acks.keys() {
        assert!(journaled.contains(id.as_str()), "acknowledged order {id} is in the journal");
    }

    let host_b = if in_place {
        // The same host id restarts and adopts its simulator at start.
        HostProcess::start(db.url(), "host-a").await
    } else {
        let host_b = HostProcess::start(db.url(), "host-b").await;
        let (status, body) =
            host_b.call(reqwest::Method::POST, &format!("/internal/simulators/{sim}/recover"), None).await;
        assert_eq!(status, 200, "recover: {body}");
        host_b
    };
    let info = host_b.status(sim).await;
    assert_eq!(info["state"], "running", "{info}");

    // The client resumes from the last seq it applied.
    let mut resumed = host_b.connect(sim, before_kill).await;
    let welcome = resumed.recv().await;
    let ServerMessage::Welcome { resume, seq: head, .. } = welcome else { panic!("welcome expected: {welcome:?}") };
    match resume {
        ResumeMode::Replay => resumed.until_seq(head).await,
        ResumeMode::Snapshot => {
            let view = snapshot_view(&mut resumed).await;
            assert!(view.seq >= before_kill, "a snapshot at {} behind the client's {before_kill}", view.seq);
        }
    }
    println!("resumed by {resume:?} from seq {before_kill} to {head}");

    // Every order is retried with its client order id: acknowledged ones get their outcome again, the two in
    // flight get theirs (entered once, whether or not the journal had them).
    for (id, message) in &orders {
        let outcome = place(&mut resumed, message).await;
        if let Some(first) = acks.get(id) {
            assert_eq!(&outcome, first, "order {id} after recovery");
        }
        acks.insert(*id, outcome);
    }

    // Pause, then compare with a native engine replaying the journal to the same step.
    resumed.send(json!({ "type": "set_speed", "speed": "paused" })).await;
    resumed.until(|m| matches!(m, ServerMessage::Status { state: SimState::Paused, .. })).await;
    let step = host_b.status(sim).await["step"].as_u64().expect("step");
    let seq = host_b.status(sim).await["seq"].as_u64().expect("seq");
    resumed.until_seq(seq).await;
    let (native, native_hash) = native_replay(&journal, sim, step).await;
    assert_eq!(host_b.state_hash(sim).await, native_hash, "the recovered state hash equals the native replay's");

    // The client's whole stream (before the kill and after the resume) is the native stream.
    let native: BTreeMap<u64, &Event> = native.iter().map(|event| (event.seq, event)).collect();
    let mut seen = BTreeMap::new();
    for event in client.events.iter().chain(&resumed.events) {
        assert!(seen.insert(event.seq, event).is_none(), "event {} twice", event.seq);
        assert_eq!(native.get(&event.seq), Some(&event), "event {} differs from the native replay's", event.seq);
    }
    if resume == ResumeMode::Replay {
        let expected: Vec<u64> = native.keys().copied().filter(|s| *s > start && *s <= resumed.last_seq).collect();
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), expected, "nothing lost");
    }

    // Each order was entered exactly once.
    let mut entered: HashMap<ClientOrderId, usize> = HashMap::new();
    for event in native.values() {
        if let EventBody::ExecutionReport(report) = &event.body
            && report.participant == ParticipantId::USER
            && matches!(report.exec_type, ExecType::New | ExecType::Rejected)
            && let Some(id) = report.client_order_id
        {
            *entered.entry(id).or_default() += 1;
        }
    }
    for (id, _) in &orders {
        assert_eq!(entered.get(id), Some(&1), "order {id} entered once");
    }

    // The resting orders acknowledged before the kill are open on the recovered simulator (or filled since).
    let mut fresh = host_b.connect(sim, 0).await;
    let view = snapshot_view(&mut fresh).await;
    let open: HashSet<_> = view.open_orders.iter().map(|order| order.order_id).collect();
    let done: HashSet<_> = native
        .values()
        .filter_map(|event| match &event.body {
            EventBody::ExecutionReport(report) if !matches!(report.exec_type, ExecType::New) => report.order_id,
            _ => None,
        })
        .collect();
    for (i, (id, _)) in orders.iter().enumerate() {
        if let (0 | 2, OrderOutcome::Accepted { order_id, .. }) = (i % 4, &acks[id]) {
            assert!(open.contains(order_id) || done.contains(order_id), "resting order {id} survived");
        }
    }
    println!(
        "{} orders ({} open after recovery); state hash {native_hash} at step {step} seq {seq}",
        orders.len(),
        open.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulator_of_a_killed_host_recovers_on_another_host() {
    kill_and_recover("sim-moved", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_restarted_in_place_adopts_its_simulator() {
    kill_and_recover("sim-restarted", true).await;
}
