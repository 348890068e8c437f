//! CPU and memory of every process of the run, from `/proc` once a second: the load generator itself, the
//! gateway and control plane, each host, PostgreSQL (server and backends summed).

use crate::stack::LocalStack;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tradesim_devstack::process::{self, TICKS_PER_SECOND};

/// One process (or group of processes) at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSample {
    /// Seconds since the run started.
    pub at: f64,
    pub process: String,
    /// Of one core, over the last interval.
    pub cpu_percent: f64,
    pub rss_mib: f64,
}

/// The load generator's own name in the samples.
pub const GENERATOR: &str = "tradesim-loadtest (users, proxy)";

/// What the sampler saw.
#[derive(Clone, Debug, Default)]
pub struct Sampled {
    pub processes: Vec<ResourceSample>,
    /// The machine's 1-minute load average: (seconds since the start, load).
    pub load: Vec<(f64, f64)>,
}

/// The 1-, 5- and 15-minute load averages as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |line| line.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Samples every second until `stop` fires.
pub async fn sample(stack: Arc<LocalStack>, started: Instant, mut stop: watch::Receiver<bool>) -> Sampled {
    let me = std::process::id() as i32;
    let mut ticks_before: HashMap<i32, u64> = HashMap::new();
    let mut last = Instant::now();
    let mut sampled = Sampled::default();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let now = Instant::now();
        let elapsed = now.duration_since(last).as_secs_f64().max(1e-3);
        last = now;
        let mut groups = vec![(GENERATOR.to_owned(), vec![me])];
        groups.extend(stack.processes());
        let mut ticks_now = HashMap::new();
        for (name, pids) in groups {
            let (mut ticks, mut rss) = (0u64, 0u64);
            for stat in pids.into_iter().filter_map(process::stat) {
                // A process seen for the first time counts from now on.
                let before = ticks_before.get(&stat.pid).copied().unwrap_or(stat.cpu_ticks);
                ticks += stat.cpu_ticks.saturating_sub(before);
                rss += stat.rss_bytes;
                ticks_now.insert(stat.pid, stat.cpu_ticks);
            }
            let cpu_percent = ticks as f64 / TICKS_PER_SECOND as f64 / elapsed * 100.0;
            let at = now.duration_since(started).as_secs_f64();
            let rss_mib = rss as f64 / (1024.0 * 1024.0);
            sampled.processes.push(ResourceSample { at, process: name, cpu_percent, rss_mib });
        }
        ticks_before = ticks_now;
        if let Some(load) = load_average().split_whitespace().next().and_then(|l| l.parse().ok()) {
            sampled.load.push((now.duration_since(started).as_secs_f64(), load));
        }
    }
    sampled
}
