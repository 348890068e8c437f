//! Host benchmark (`make bench`): plain wall-clock figures, one printed line each with its goal, against a real
//! host (router on loopback, real PostgreSQL journal, real guest module) in this process.
//!
//! 1. Order round trip over loopback WebSocket with journaling on, 100 concurrent users: p50, p99.
//! 2. Resume after a cut with 1,000 events missed: p50, p99.
//! 3. Density: simulators at 1x, each with a connected client, at rising counts: step lag p99, resident memory per
//!    simulator and the shards' CPU. `TRADESIM_BENCH_DENSITY` lists the counts (default "250,500,1000,2000");
//!    `TRADESIM_STEP_INTERVAL_MS` sets the hosts' step interval, for an A/B of it.

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use support::{Client, SECRET, TestHost, database, host_config};
use tradesim_host::CreateSimulator;
use tradesim_protocol::SimConfig;
use tradesim_protocol::stream::{ServerMessage, SimId, Speed, UserId};

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

/// On-CPU time of this process's shard threads (the engines' work), from each thread's schedstat.
fn shard_cpu() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten();
    tasks
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with("shard-")))
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .sum()
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Each simulator has its own owner (`u-<sim>`): order entry is rate-limited per user.
fn owner(sim: &str) -> UserId {
    UserId::parse(format!("u-{sim}")).expect("user")
}

async fn create(host: &TestHost, id: &str, speed: Speed) {
    let request = CreateSimulator {
        id: SimId::parse(id).expect("id"),
        owner: owner(id),
        config: SimConfig::default(),
        seed: 42,
        speed,
    };
    host.host.create(request).await.expect("create");
}

fn ticket(sim: &str) -> String {
    let user = owner(sim);
    let sim = SimId::parse(sim).expect("sim");
    tradesim_host::ticket::mint(SECRET.as_bytes(), &user, &sim, SystemTime::now(), Duration::from_secs(30))
}

async fn connect(host: &TestHost, sim: &str, last_seq: u64) -> Client {
    let socket = Client::connect_to(host.addr, &ticket(sim), sim).await.expect("connect");
    let mut client = Client { sim: sim.to_owned(), socket, last_seq, events: Vec::new(), messages: Vec::new() };
    client.send(json!({ "type": "hello", "last_seq": last_seq })).await;
    client
}

async fn round_trip(host: &TestHost) {
    const USERS: usize = 100;
    const ORDERS: usize = 40;
    for user in 0..USERS {
        create(host, &format!("rt-{user}"), Speed::X1).await;
    }
    let mut tasks = Vec::new();
    for user in 0..USERS {
        let mut client = connect(host, &format!("rt-{user}"), 0).await;
        tasks.push(tokio::spawn(async move {
            client.until(|m| matches!(m, ServerMessage::Snapshot { chunk, chunks, .. } if chunk + 1 == *chunks)).await;
            let mut samples = Vec::new();
            for order in 0..ORDERS {
                let started = Instant::now();
                let price = 5_000 + order as i64;
                client.order(&format!("u{user}-o{order}"), "buy", 1, json!({ "type": "limit", "price": price })).await;
                client.until(|m| matches!(m, ServerMessage::OrderAck { .. })).await;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("client"));
    }
    let (p50, p99) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99));
    println!(
        "order round trip, loopback WebSocket, journaled, {USERS} users x {ORDERS} orders: p50 {p50:.2} ms, p99 {p99:.2} ms (goal p99 < 5 ms)"
    );
    let journal = mean_journal_latency_ms(host).await;
    println!("  of which journaling (arrival at the host to the journal's answer), mean: {journal:.2} ms");
}

/// The mean of the host's `journal_latency_seconds` histogram, read from `/metrics` as Prometheus would.
async fn mean_journal_latency_ms(host: &TestHost) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", host.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let (sum, count) =
        (value("tradesim_host_journal_latency_seconds_sum"), value("tradesim_host_journal_latency_seconds_count"));
    sum / count.max(1.0) * 1e3
}

async fn resume(host: &TestHost) {
    const ROUNDS: usize = 30;
    const MISSED: u64 = 1_000;
    create(host, "resume", Speed::X100).await;
    let mut samples = Vec::new();
    let mut client = connect(host, "resume", 0).await;
    client.until(|m| matches!(m, ServerMessage::Snapshot { chunk, chunks, .. } if chunk + 1 == *chunks)).await;
    for _ in 0..ROUNDS {
        let last = client.last_seq;
        drop(client);
        let sim = SimId::parse("resume").expect("sim");
        while host.host.status(&sim).await.expect("running").seq < last + MISSED {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        client = connect(host, "resume", last).await;
        let ServerMessage::Welcome { seq, .. } = client.recv().await else { panic!("welcome expected") };
        client.until_seq(seq).await;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(seq - last >= MISSED);
    }
    let (p50, p99) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99));
    println!("resume after a cut, >= {MISSED} events missed: p50 {p50:.2} ms, p99 {p99:.2} ms (goal p99 < 50 ms)");
}

async fn density(host: &TestHost, count: usize, already: usize) -> f64 {
    let rss_before = rss_kb();
    for index in already..count {
        create(host, &format!("d-{index}"), Speed::X1).await;
    }
    let running = Arc::new(AtomicBool::new(true));
    let frames = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for index in 0..count {
        let client = connect(host, &format!("d-{index}"), 0).await;
        let (running, frames) = (Arc::clone(&running), Arc::clone(&frames));
        readers.push(tokio::spawn(async move {
            let mut socket = client.socket;
            while running.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
                    Ok(Some(Ok(_))) => {
                        frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // settle: snapshots sent, steps caught up
    let mut lags = Vec::new();
    let started = Instant::now();
    let cpu_before = shard_cpu();
    frames.store(0, Ordering::Relaxed);
    let metrics = host.host.metrics();
    let (conflated_before, closed_before) = (metrics.events_conflated.get(), metrics.slow_clients_closed.get());
    while started.elapsed() < Duration::from_secs(15) {
        for index in (0..count).step_by((count / 50).max(1)) {
            let sim = SimId::parse(format!("d-{index}")).expect("sim");
            if let Some(info) = host.host.status(&sim).await {
                lags.push(info.lag_ms as f64);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let frames_per_second = frames.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let shard_cores = (shard_cpu() - cpu_before).as_secs_f64() / started.elapsed().as_secs_f64();
    // A client that cannot keep up loses market data (conflated) or, past that, its connection: both say the
    // figure is not a free ride.
    let conflated = metrics.events_conflated.get() - conflated_before;
    let closed = metrics.slow_clients_closed.get() - closed_before;
    let rss_per_sim = (rss_kb().saturating_sub(rss_before)) as f64 / (count - already).max(1) as f64;
    running.store(false, Ordering::Relaxed);
    for reader in readers {
        let _ = reader.await;
    }
    let p99 = percentile(&mut lags, 0.99);
    println!(
        "density: {count} simulators at 1x with a client each: step lag p99 {p99:.1} ms (goal < 50 ms), \
         {frames_per_second:.0} frames/s ({conflated} events conflated, {closed} slow clients closed), \
         resident memory {:.0} KB per added simulator (goal <= 4096 KB); shards on CPU {:.1}% of a core, \
         {:.0} us per simulator per second (step interval {:?})",
        rss_per_sim,
        shard_cores * 100.0,
        shard_cores * 1e6 / count as f64,
        host.host.config().simulator.step_interval,
    );
    p99
}

fn main() {
    // Warnings and errors of the host (a client dropped, a journal failure) explain a bad figure.
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = database().await;
        let mut config = host_config("bench");
        config.capacity = 4_000;
        config.flush_interval = Duration::from_millis(25);
        if let Some(ms) = std::env::var("TRADESIM_STEP_INTERVAL_MS").ok().and_then(|ms| ms.parse().ok()) {
            config.simulator.step_interval = Duration::from_millis(ms);
        }
        // Room for every simulator of the density runs (the round-trip and resume ones are stopped first).
        support::sandbox_for(4_096);
        let host = TestHost::start(db.url(), config).await;
        round_trip(&host).await;
        resume(&host).await;
        // Density runs alone.
        for id in (0..100).map(|user| format!("rt-{user}")).chain(["resume".to_owned()]) {
            host.host.stop(&SimId::parse(id).expect("sim")).await.expect("stop");
        }
        let counts = std::env::var("TRADESIM_BENCH_DENSITY").unwrap_or_else(|_| "250,500,1000,2000".to_owned());
        let mut already = 0;
        let mut best = 0;
        for count in counts.split(',').filter_map(|c| c.trim().parse::<usize>().ok()) {
            let p99 = density(&host, count, already).await;
            already = count;
            if p99 < 50.0 {
                best = count;
            } else {
                break;
            }
        }
        println!("density: most simulators at 1x with lag p99 under 50 ms: {best} (goal >= 2000)");
    });
}
