//! The local gateway's figures, on loopback with real PostgreSQL (a fresh test database) and an in-process
//! simulator host: keep-alive throughput and latency under concurrent clients, and the time from the HTTP start
//! request to the first two-sided book on the WebSocket. Needs the guest module: `make guest`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::{Api, Stack, has_quote, next};
use tradesim_control::limits::Rate;
use tradesim_control::{Config, GatewayConfig};
use tradesim_protocol::EngineView;
use tradesim_protocol::stream::ServerMessage;

const SATURATING_CLIENTS: usize = 32;
/// Sessions sharing the scheduled keep-alives; each sends one every 21 ms at the goal's rate.
const KEEPERS: usize = 64;
const GOAL_RATE: u32 = 3_000;
const KEEP_ALIVE_FOR: Duration = Duration::from_secs(10);
// Enough that the p99 is not simply the slowest start.
const STARTS: usize = 200;

/// The rate limits would refuse a bench's burst of logins, tickets and connects from one address; what is
/// measured here is the path behind them.
fn unlimited(config: &mut Config, gateway: &mut GatewayConfig) {
    let plenty = Rate::new(1_000_000, 100_000);
    config.login_rate = plenty;
    config.ticket_rate = plenty;
    gateway.connect_rate = plenty;
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |l| l.trim().to_owned())
}

/// The `p`th percentile of sorted `samples`, in milliseconds.
fn percentile(samples: &[Duration], p: f64) -> f64 {
    let rank = ((samples.len() as f64 * p / 100.0).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

/// A signed-in user's keep-alive: its access token and its session's keep-alive URL.
#[derive(Clone)]
struct Keeper {
    access: String,
    url: String,
}

async fn keepers(api: &Api, count: usize) -> Vec<Keeper> {
    let mut keepers = Vec::new();
    for n in 0..count {
        let access = api.sign_up(&format!("keeper{n}")).await;
        let session = api.session(&access).await;
        keepers.push(Keeper { access, url: format!("{}/v1/sessions/{session}/keep-alive", api.base) });
    }
    keepers
}

async fn keep_alive_once(http: &reqwest::Client, keeper: &Keeper) {
    let response = http.post(&keeper.url).bearer_auth(&keeper.access).send().await.expect("keep-alive");
    assert!(response.status().is_success(), "keep-alive: {}", response.status());
}

fn report(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{label}: {} requests in {elapsed:.1?}, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
    );
}

/// Runs `client` for each keeper (its index, an HTTP client, the keeper) at once, and gathers their latencies.
async fn on_each<F, C>(api: &Api, keepers: &[Keeper], client: C) -> Vec<Duration>
where
    C: Fn(usize, reqwest::Client, Keeper) -> F,
    F: Future<Output = Vec<Duration>> + Send + 'static,
{
    let tasks: Vec<_> = keepers
        .iter()
        .enumerate()
        .map(|(n, keeper)| tokio::spawn(client(n, api.http.clone(), keeper.clone())))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies
}

/// The most the stack serves: every client sends its next keep-alive as soon as the last one is answered. In such a
/// closed loop the latency is only the clients' count over the throughput (Little's law), so it says nothing about
/// the latency at a given rate.
async fn keep_alive_saturated(api: &Api, keepers: &[Keeper]) {
    let started = Instant::now();
    let deadline = started + KEEP_ALIVE_FOR;
    let latencies = on_each(api, &keepers[..SATURATING_CLIENTS], move |_, http, keeper| async move {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let sent = Instant::now();
            keep_alive_once(&http, &keeper).await;
            latencies.push(sent.elapsed());
        }
        latencies
    })
    .await;
    report(&format!("keep-alive, saturated ({SATURATING_CLIENTS} clients, closed loop)"), latencies, started.elapsed());
}

/// The latency at the goal's rate, as wrk2 measures it: each session sends on a fixed schedule (its share of the
/// rate), and each request is timed from when it was due, not from when it went out, so a stall counts for every
/// request it held up. A session behind its schedule sends at once; one request per session is in flight at most.
async fn keep_alive_at_rate(
    api: &Api,
    keepers: &[Keeper],
    per_second: u32,
    over: Duration,
) -> (Vec<Duration>, Duration) {
    let sessions = keepers.len() as u32;
    let period = Duration::from_secs(1) * sessions / per_second;
    let per_session = (over.as_secs_f64() / period.as_secs_f64()) as u32;
    let started = tokio::time::Instant::now();
    let latencies = on_each(api, keepers, move |n, http, keeper| async move {
        // Staggered, so that the sessions' requests spread evenly over each period.
        let first = started + period * n as u32 / sessions;
        let mut latencies = Vec::with_capacity(per_session as usize);
        for k in 0..per_session {
            let due = first + period * k;
            tokio::time::sleep_until(due).await;
            keep_alive_once(&http, &keeper).await;
            latencies.push(due.elapsed());
        }
        latencies
    })
    .await;
    (latencies, started.elapsed())
}

async fn keep_alive(api: &Api) {
    let keepers = keepers(api, KEEPERS).await;
    keep_alive_saturated(api, &keepers).await;
    // Warm the connection pools at the rate, then measure at it.
    keep_alive_at_rate(api, &keepers, GOAL_RATE, Duration::from_secs(1)).await;
    let (latencies, elapsed) = keep_alive_at_rate(api, &keepers, GOAL_RATE, KEEP_ALIVE_FOR).await;
    report(
        &format!("keep-alive at {GOAL_RATE}/s on a schedule ({KEEPERS} sessions, timed from when due)"),
        latencies,
        elapsed,
    );
    println!("  (goal: at least 3,000/s, p99 under 10 ms)");
}

/// The simulated time of the quote `message` shows, if it shows a two-sided market: the resume snapshot's books
/// (its chunks gathered in `snapshot`) or an events frame's best bid and offer, whichever the client gets first.
fn first_quote(message: &ServerMessage, snapshot: &mut String) -> Option<u64> {
    match message {
        ServerMessage::Events { events, .. } => events.iter().find(|event| has_quote(event)).map(|e| e.time_ms),
        ServerMessage::Snapshot { chunk, chunks, data, .. } => {
            snapshot.push_str(data);
            if chunk + 1 < *chunks {
                return None;
            }
            let view: EngineView = serde_json::from_str(&std::mem::take(snapshot)).expect("a snapshot view");
            view.books.iter().any(|book| !book.bids.is_empty() && !book.asks.is_empty()).then_some(view.time_ms)
        }
        _ => None,
    }
}

async fn start_simulator(api: &Api) {
    let access = api.sign_up("starter").await;
    let session = api.session(&access).await;
    // The whole path and its milestones, to tell where the time goes.
    let (mut latencies, mut requests, mut welcomes) = (Vec::new(), Vec::new(), Vec::new());
    let mut quoted_at_simulated = Vec::new();
    for _ in 0..STARTS {
        let started = Instant::now();
        let sim = api.start_simulator(&access, &session).await;
        requests.push(started.elapsed());
        let (mut socket, _) = api.open(&access, &sim, 0).await;
        welcomes.push(started.elapsed());
        let mut snapshot = String::new();
        let quoted_at = loop {
            if let Some(at) = first_quote(&next(&mut socket).await.expect("open"), &mut snapshot) {
                break at;
            }
        };
        latencies.push(started.elapsed());
        quoted_at_simulated.push(Duration::from_millis(quoted_at));
        drop(socket);
        // Stopped again, so the host's capacity bounds nothing.
        let (status, body) =
            api.call(reqwest::Method::DELETE, &format!("/v1/simulators/{sim}"), Some(&access), None).await;
        assert!(status.is_success(), "stop: {status} {body}");
    }
    for samples in [&mut latencies, &mut requests, &mut welcomes, &mut quoted_at_simulated] {
        samples.sort();
    }
    println!(
        "start simulator to the first two-sided book on the WebSocket, {STARTS} times: p50 {:.2} ms, p99 {:.2} ms \
         (goal: p99 under 25 ms; a pod per user takes 2 to 5 s)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    );
    println!(
        "  milestones (p50 / p99): start request answered {:.2} / {:.2} ms, welcome {:.2} / {:.2} ms; \
         the first quote's simulated time {:.0} / {:.0} ms",
        percentile(&requests, 50.0),
        percentile(&requests, 99.0),
        percentile(&welcomes, 50.0),
        percentile(&welcomes, 99.0),
        percentile(&quoted_at_simulated, 50.0),
        percentile(&quoted_at_simulated, 99.0),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        println!("load average before: {}", load_average());
        let stack = Stack::start_with(unlimited).await;
        keep_alive(&stack.api).await;
        // The keep-alives outlast the heartbeat timeout, and no manager runs here.
        stack.heartbeat().await;
        start_simulator(&stack.api).await;
        println!("load average after: {}", load_average());
    });
}
