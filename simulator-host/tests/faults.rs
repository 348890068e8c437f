//! Fault injection: a client trades through a TCP proxy that cuts, stalls and slices its connections at random
//! (over a thousand faults), reconnecting with a new ticket and retrying every unacknowledged order each time. It
//! must lose, duplicate and reorder nothing: its stream equals, event for event, that of an observer connected
//! directly, and every client order id is entered exactly once with the same outcome for every retry.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use support::proxy::{FaultPlan, FaultProxy};
use support::{Client, Socket, TestHost, calm, check_events, database, host_config, mixed_order};
use tokio_tungstenite::tungstenite::Message;
use tradesim_host::HostConfig;
use tradesim_host::outbox::{OutboxLimits, is_market_data};
use tradesim_host::simulator::SimulatorLimits;
use tradesim_protocol::stream::{Envelope, ErrorCode, OrderOutcome, ResumeMode, ServerMessage};
use tradesim_protocol::{ClientOrderId, Event, EventBody, ExecType, ParticipantId};

const SIM: &str = "sim-faults";
/// Faults to inject before the client stops entering orders.
const TARGET_FAULTS: u64 = 1_200;
/// Orders in flight (sent, not acknowledged) at most.
const IN_FLIGHT: usize = 3;
/// Silence after which the client gives a connection up (a stall can last 2 s, and stalls can follow each other).
const CLIENT_DEAD_AFTER: Duration = Duration::from_secs(4);

fn seed() -> u64 {
    std::env::var("TRADESIM_FAULT_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(rand::random)
}

/// The `i`th order, in the full envelope (version and simulator named).
fn order(i: usize, client_order_id: &str) -> Value {
    let mut message = mixed_order(i, client_order_id);
    message["v"] = json!(1);
    message["sim"] = json!(SIM);
    message
}

/// What the faulty client knows across its connections.
#[derive(Default)]
struct State {
    last_seq: u64,
    /// The seq of the snapshot its first connection started from (`None` until it has one).
    start: Option<u64>,
    events: Vec<Event>,
    /// The seq each hello resumed from, and how the server resumed it.
    welcomes: Vec<(u64, ResumeMode)>,
    orders: Vec<(ClientOrderId, Value)>,
    /// First outcome per client order id.
    acks: HashMap<ClientOrderId, OrderOutcome>,
    /// Acknowledgements received, retries included.
    ack_messages: usize,
    /// Acknowledgements of orders already acknowledged (answers to retries).
    repeated_acks: usize,
    deliberate_retries: usize,
    connections: usize,
    failed_connects: usize,
    dead_links: usize,
    refused: usize,
}

impl State {
    fn pending(&self) -> impl Iterator<Item = &(ClientOrderId, Value)> {
        self.orders.iter().filter(|(id, _)| !self.acks.contains_key(id))
    }

    /// Applies one server message, checking the stream. `welcomed` says whether this connection had its welcome.
    fn apply(&mut self, message: &ServerMessage, welcomed: bool) {
        match message {
            ServerMessage::Events { from, to, events, .. } => {
                assert!(welcomed, "events before the welcome on a fresh connection");
                assert!(self.start.is_some(), "events before the first snapshot");
                self.last_seq = check_events(self.last_seq, *from, *to, events);
                self.events.extend(events.iter().cloned());
            }
            ServerMessage::Snapshot { seq, chunk, chunks, .. } if chunk + 1 == *chunks => {
                // A client that has applied nothing yet (a first snapshot at seq 0, cut before any event) says
                // hello from 0 again and is rightly sent a fresh snapshot; anyone further along must get a replay.
                assert!(
                    self.start.is_none() || self.last_seq == 0,
                    "a snapshot resume at seq {seq} after {}",
                    self.last_seq
                );
                self.start = Some(*seq);
                self.last_seq = *seq;
            }
            ServerMessage::OrderAck { client_order_id, outcome } => {
                self.ack_messages += 1;
                match self.acks.get(client_order_id) {
                    Some(first) => {
                        assert_eq!(outcome, first, "a retry of {client_order_id} got another outcome");
                        self.repeated_acks += 1;
                    }
                    None => {
                        self.acks.insert(*client_order_id, outcome.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

async fn send(socket: &mut Socket, message: &Value) -> bool {
    let sent = tokio::time::timeout(Duration::from_secs(2), socket.send(Message::Text(message.to_string().into())));
    matches!(sent.await, Ok(Ok(())))
}

/// One connection through the proxy, until it dies or the client is done. Returns `true` when done.
async fn session(host: &TestHost, proxy: &FaultProxy, state: &mut State, placing: &dyn Fn(&State) -> bool) -> bool {
    let ticket = host.ticket(SIM).await;
    let connect = tokio::time::timeout(Duration::from_secs(3), Client::connect_to(proxy.addr, &ticket, SIM));
    let Ok(Ok(mut socket)) = connect.await else {
        state.failed_connects += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        return false;
    };
    state.connections += 1;
    if !send(&mut socket, &json!({ "v": 1, "type": "hello", "sim": SIM, "last_seq": state.last_seq })).await {
        return false;
    }
    let mut welcomed = false;
    let hello_seq = state.last_seq;
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    let mut resend_at: Option<tokio::time::Instant> = None;
    loop {
        if !placing(state) && state.pending().next().is_none() {
            return true;
        }
        tokio::select! {
            frame = tokio::time::timeout(CLIENT_DEAD_AFTER, socket.next()) => {
                let text = match frame {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    Ok(Some(Err(_)) | None) => return false,
                    Err(_) => {
                        state.dead_links += 1;
                        return false;
                    }
                };
                assert!(text.len() <= tradesim_protocol::stream::MAX_FRAME_BYTES);
                let envelope: Envelope<ServerMessage> = serde_json::from_str(&text).expect("a protocol message");
                let message = envelope.message;
                state.apply(&message, welcomed);
                match message {
                    ServerMessage::Welcome { resume, .. } => {
                        assert!(!welcomed, "one welcome per hello");
                        welcomed = true;
                        state.welcomes.push((hello_seq, resume));
                        // Reconciling after a reconnect: every order without an acknowledgement is sent again.
                        let mut pending: Vec<Value> = state.pending().map(|(_, order)| order.clone()).collect();
                        // And a deliberate retry of an order already answered: it must get the same answer.
                        let nth = state.connections * 7 % state.orders.len().max(1);
                        if let Some((id, order)) = state.orders.get(nth)
                            && state.acks.contains_key(id)
                        {
                            pending.push(order.clone());
                            state.deliberate_retries += 1;
                        }
                        for order in pending {
                            if !send(&mut socket, &order).await {
                                return false;
                            }
                        }
                    }
                    ServerMessage::Ping { nonce }
                        if !send(&mut socket, &json!({ "v": 1, "type": "pong", "sim": SIM, "nonce": nonce })).await =>
                    {
                        return false;
                    }
                    ServerMessage::Error { code, retry_after_ms, .. } => {
                        assert!(
                            matches!(code, ErrorCode::RateLimited | ErrorCode::JournalUnavailable),
                            "unexpected error {code:?}"
                        );
                        state.refused += 1;
                        let wait = Duration::from_millis(retry_after_ms.unwrap_or(100));
                        resend_at = Some(tokio::time::Instant::now() + wait);
                    }
                    _ => {}
                }
            }
            _ = ticker.tick() => {
                if !welcomed || state.start.is_none() {
                    continue;
                }
                let mut outgoing = Vec::new();
                if resend_at.is_some_and(|at| at <= tokio::time::Instant::now()) {
                    resend_at = None;
                    outgoing.extend(state.pending().map(|(_, order)| order.clone()));
                }
                if placing(state) && state.pending().count() < IN_FLIGHT {
                    let i = state.orders.len();
                    let id = ClientOrderId::parse(&format!("f-{i}")).expect("client order id");
                    let order = order(i, id.as_str());
                    state.orders.push((id, order.clone()));
                    outgoing.push(order);
                }
                for message in outgoing {
                    if !send(&mut socket, &message).await {
                        return false;
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_behind_a_faulty_network_loses_and_duplicates_nothing() {
    let seed = seed();
    println!("fault seed {seed} (rerun with TRADESIM_FAULT_SEED={seed})");
    let db = database().await;
    let config = HostConfig {
        simulator: SimulatorLimits { replay_window: 1_000_000, ..SimulatorLimits::default() },
        outbox: OutboxLimits::default(),
        order_rate: (500.try_into().unwrap(), 1_000.try_into().unwrap()),
        ..host_config("h-faults")
    };
    let host = TestHost::start(db.url(), config).await;
    let body = json!({ "id": SIM, "owner": support::USER, "config": calm(), "seed": seed, "speed": "10x" });
    let (status, body) = host.call(reqwest::Method::POST, "/internal/simulators", Some(body)).await;
    assert_eq!(status, 201, "create: {body}");

    // The observer: connected directly before any order, it records the whole stream.
    let mut observer = Client::connect(&host, SIM, 0).await;
    observer.until(|m| matches!(m, ServerMessage::Snapshot { chunk, chunks, .. } if chunk + 1 == *chunks)).await;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(u64::MAX);
    let observer = tokio::spawn(async move {
        while observer.last_seq < *stop_rx.borrow_and_update() {
            if let ServerMessage::Ping { nonce } = observer.recv().await {
                observer.send(json!({ "type": "pong", "nonce": nonce })).await;
            }
        }
        observer
    });

    let proxy = FaultProxy::start(host.addr, seed, FaultPlan::default()).await;
    let mut state = State::default();
    let target = std::env::var("TRADESIM_FAULTS").ok().and_then(|n| n.parse().ok()).unwrap_or(TARGET_FAULTS);
    let placing = |state: &State| proxy.counts().total() < target || state.orders.len() < 100;
    let started = std::time::Instant::now();
    while !session(&host, &proxy, &mut state, &placing).await {}
    let faults = proxy.counts();
    // The network heals; a last connection brings the client up to the head of the stream.
    proxy.set_faults(false);
    let (status, info) = host.call(reqwest::Method::GET, &format!("/internal/simulators/{SIM}"), None).await;
    assert_eq!(status, 200, "status: {info}");
    let head = info["seq"].as_u64().expect("seq");
    let ticket = host.ticket(SIM).await;
    let mut last = Client::connect_at(proxy.addr, &ticket, SIM, state.last_seq).await;
    let welcome = last.recv().await;
    assert!(matches!(welcome, ServerMessage::Welcome { resume: ResumeMode::Replay, .. }), "{welcome:?}");
    last.until_seq(head).await;
    state.events.append(&mut last.events);
    state.last_seq = last.last_seq;
    drop(last);
    let elapsed = started.elapsed();

    stop_tx.send(state.last_seq).expect("observer running");
    let observer = tokio::time::timeout(Duration::from_secs(30), observer).await.expect("observer").expect("observer");
    let conflated = host.host.metrics().events_conflated.get();
    println!(
        "faults: {} ({} cuts, {} stalls, {} slices) over {} proxied connections in {:.1} s; client: {} sessions, \
         {} failed connects, {} dead links, {} orders, {} acks ({} deliberate retries, {} repeated acks), {} refused (rate), \
         {} events from seq {:?} to {}; conflated {conflated}",
        faults.total(),
        faults.cuts,
        faults.stalls,
        faults.slices,
        faults.connections,
        elapsed.as_secs_f64(),
        state.connections,
        state.failed_connects,
        state.dead_links,
        state.orders.len(),
        state.ack_messages,
        state.deliberate_retries,
        state.repeated_acks,
        state.refused,
        state.events.len(),
        state.start,
        state.last_seq,
    );
    assert!(faults.total() >= 1_000, "at least a thousand faults: {faults:?}");
    assert!(state.repeated_acks > 0, "retries of answered orders were answered");
    assert!(faults.cuts >= 100 && faults.stalls >= 100 && faults.slices >= 100, "every kind of fault: {faults:?}");

    // Every resume after the first connection replayed (the window is large enough).
    // Every resume from a seq replayed (the window is large enough); only hellos from 0 (before the first
    // snapshot completed) got snapshots.
    for (from, mode) in &state.welcomes {
        let expected = if *from == 0 { ResumeMode::Snapshot } else { ResumeMode::Replay };
        assert_eq!(*mode, expected, "resuming from seq {from}");
    }
    let replays = state.welcomes.iter().filter(|(_, mode)| *mode == ResumeMode::Replay).count();

    // The client's events equal the observer's over the range the client covered.
    let start = state.start.expect("a start");
    let reference: BTreeMap<u64, &Event> = observer
        .events
        .iter()
        .filter(|event| event.seq > start && event.seq <= state.last_seq)
        .map(|e| (e.seq, e))
        .collect();
    let seen: BTreeMap<u64, &Event> = state.events.iter().map(|event| (event.seq, event)).collect();
    assert_eq!(seen.len(), state.events.len(), "no event twice");
    for (seq, event) in &seen {
        assert_eq!(reference.get(seq), Some(event), "event {seq} differs from the observer's");
    }
    let missing: Vec<&&Event> = reference.iter().filter(|(seq, _)| !seen.contains_key(seq)).map(|(_, e)| e).collect();
    assert!(missing.iter().all(|event| is_market_data(event)), "only market data may be conflated away");
    if conflated == 0 {
        assert!(missing.is_empty(), "{} events missing with nothing conflated", missing.len());
        assert_eq!(reference.len(), usize::try_from(state.last_seq - start).unwrap(), "the observer saw every seq");
    }

    // Each client order id was entered exactly once, and its acknowledgement names its first report.
    assert!(state.pending().next().is_none(), "every order acknowledged");
    let mut entered: HashMap<ClientOrderId, Vec<&Event>> = HashMap::new();
    for event in &observer.events {
        if let EventBody::ExecutionReport(report) = &event.body
            && report.participant == ParticipantId::USER
            && matches!(report.exec_type, ExecType::New | ExecType::Rejected)
            && let Some(id) = report.client_order_id
        {
            entered.entry(id).or_default().push(event);
        }
    }
    for (id, _) in &state.orders {
        let reports = entered.get(id).map_or(&[][..], Vec::as_slice);
        assert_eq!(reports.len(), 1, "order {id} entered {} times", reports.len());
        let seq = match &state.acks[id] {
            OrderOutcome::Accepted { seq, .. } | OrderOutcome::Rejected { seq, .. } => *seq,
            other => panic!("order {id}: {other:?}"),
        };
        assert_eq!(reports[0].seq, seq, "the acknowledgement of {id} names its first report");
    }
    assert_eq!(entered.len(), state.orders.len(), "no order the client did not send");
    let accepted = state.acks.values().filter(|o| matches!(o, OrderOutcome::Accepted { .. })).count();
    println!("orders: {} accepted, {} rejected; {replays} resumes by replay", accepted, state.orders.len() - accepted);
}
