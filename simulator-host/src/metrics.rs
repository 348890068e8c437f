//! Prometheus metrics of a host, served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResumeLabels {
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub shard: usize,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub simulators: Gauge,
    pub connections: Gauge,
    pub steps: Counter,
    pub step_lag_seconds: Histogram,
    pub queue_depth: Family<ShardLabels, Gauge>,
    pub frames_sent: Counter,
    pub events_conflated: Counter,
    pub slow_clients_closed: Counter,
    pub resumes: Family<ResumeLabels, Counter>,
    pub snapshot_bytes: Histogram,
    pub journal_latency_seconds: Histogram,
    pub commands: Counter,
    pub rate_limited: Counter,
    pub bad_frames: Counter,
    pub failed_simulators: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tradesim_host");
        let metrics = Self {
            simulators: Gauge::default(),
            connections: Gauge::default(),
            steps: Counter::default(),
            step_lag_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            queue_depth: Family::default(),
            frames_sent: Counter::default(),
            events_conflated: Counter::default(),
            slow_clients_closed: Counter::default(),
            resumes: Family::default(),
            snapshot_bytes: Histogram::new(exponential_buckets(1024.0, 2.0, 16)),
            journal_latency_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            commands: Counter::default(),
            rate_limited: Counter::default(),
            bad_frames: Counter::default(),
            failed_simulators: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("simulators", "Simulators running on this host", metrics.simulators.clone());
        registry.register("connections", "Client connections attached", metrics.connections.clone());
        registry.register("steps", "Engine steps run", metrics.steps.clone());
        registry.register("step_lag_seconds", "How far simulators trail real time", metrics.step_lag_seconds.clone());
        registry.register(
            "queue_depth",
            "Events queued for the slowest client, per shard",
            metrics.queue_depth.clone(),
        );
        registry.register("frames_sent", "Frames sent to clients", metrics.frames_sent.clone());
        registry.register("events_conflated", "Market-data events conflated away", metrics.events_conflated.clone());
        registry.register("slow_clients_closed", "Clients closed as too slow", metrics.slow_clients_closed.clone());
        registry.register("resumes", "Client resumes by mode (replay, snapshot)", metrics.resumes.clone());
        registry.register("snapshot_bytes", "Sizes of stored snapshots", metrics.snapshot_bytes.clone());
        registry.register(
            "journal_latency_seconds",
            "From a command's arrival to the journal's answer",
            metrics.journal_latency_seconds.clone(),
        );
        registry.register("commands", "User commands received", metrics.commands.clone());
        registry.register("rate_limited", "Commands refused by the rate limit", metrics.rate_limited.clone());
        registry.register("bad_frames", "Client frames refused", metrics.bad_frames.clone());
        registry.register("failed_simulators", "Simulators whose engine failed", metrics.failed_simulators.clone());
        Self { registry, ..metrics }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "encoding metrics failed");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_their_prefix() {
        let metrics = Metrics::default();
        metrics.steps.inc_by(3);
        metrics.resumes.get_or_create(&ResumeLabels { mode: "replay" }).inc();
        let text = metrics.render();
        assert!(text.contains("tradesim_host_steps_total 3"), "{text}");
        assert!(text.contains(r#"tradesim_host_resumes_total{mode="replay"} 1"#), "{text}");
    }
}
