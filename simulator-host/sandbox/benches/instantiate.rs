//! Sandbox benchmark: plain wall-clock timing, one printed line per figure with its goal. Run with
//! `cargo bench -p tradesim-sandbox` after `make guest`.
//!
//! 1. Instantiate + init + first step of the calm scenario: p50/p99 over 2,000 iterations (pool slots warm, as in a
//!    running host). Wall time only: sections this short are below schedstat's resolution; the load average is
//!    printed because other load on the machine inflates the tail.
//! 2. Resident memory per instance after init and one simulated second of the calm market, from the process's VmRSS
//!    over 500 live instances.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tradesim_protocol::{Batch, Scenario, SimConfig};
use tradesim_sandbox::{Sandbox, SandboxConfig, default_guest_path};

const WARMUP: usize = 200;
const ITERATIONS: usize = 2_000;
const LIVE_INSTANCES: usize = 500;
const SEED: u64 = 7;

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

/// This process's resident set in KB (Linux), or None elsewhere.
fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let path = default_guest_path();
    let wasm = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("guest module {} is missing ({error}); run `make guest` first", path.display()));
    let config = SandboxConfig {
        // Room for the live instances of the memory figure.
        max_instances: 1_024,
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache")),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config, &wasm).expect("the guest module loads");
    let calm = SimConfig { scenario: Scenario::Calm, ..SimConfig::default() };
    let first_step = Batch { commands: vec![], steps: 1 };
    let mut events = Vec::new();

    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARMUP + ITERATIONS {
        events.clear();
        let start = Instant::now();
        let mut instance = sandbox.instantiate().expect("instance");
        instance.init(&calm, SEED).expect("init");
        instance.execute(&first_step, &mut events).expect("first step");
        let elapsed = start.elapsed();
        black_box(&events);
        drop(instance);
        if i >= WARMUP {
            samples.push(elapsed);
        }
    }
    samples.sort();
    let (p50, p99) = (percentile(&samples, 50), percentile(&samples, 99));
    println!(
        "instantiate + init + first step (calm): p50 {}  p99 {}  goal p99 < 1 ms: {}  \
         ({ITERATIONS} iterations, load average {})",
        micros(p50),
        micros(p99),
        verdict(p99 < Duration::from_millis(1)),
        std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".to_owned(), |l| l.trim().to_owned())
    );

    let one_second = Batch { commands: vec![], steps: 1_000 / calm.step_ms };
    let before = resident_kb();
    let instances: Vec<_> = (0..LIVE_INSTANCES)
        .map(|i| {
            let mut instance = sandbox.instantiate().expect("instance");
            instance.init(&calm, SEED + i as u64).expect("init");
            events.clear();
            instance.execute(&one_second, &mut events).expect("one simulated second");
            instance
        })
        .collect();
    let after = resident_kb();
    let linear_kb = instances.iter().map(|i| i.memory_bytes()).sum::<usize>() / LIVE_INSTANCES / 1024;
    match before.zip(after) {
        Some((before, after)) => {
            let per_instance = after.saturating_sub(before) / LIVE_INSTANCES as u64;
            println!(
                "resident memory per instance (calm, init + 1 s simulated): {per_instance} KB  goal <= 4 MB: {}  \
                 ({LIVE_INSTANCES} live instances; linear memory {linear_kb} KB each)",
                verdict(per_instance <= 4 * 1024)
            );
        }
        None => println!("resident memory per instance: unavailable (no /proc/self/status)"),
    }
    assert_eq!(sandbox.live_instances(), LIVE_INSTANCES);
}
