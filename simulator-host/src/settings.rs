//! The host's configuration from the environment. Every variable, its default and its meaning is in
//! [`VARIABLES`] (and docs/host.md); a bad value stops the host at start with a message naming it.

use crate::host::HostConfig;
use crate::link::Heartbeat;
use crate::outbox::OutboxLimits;
use crate::simulator::SimulatorLimits;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tradesim_sandbox::SandboxConfig;

/// (variable, default, meaning). An empty default means required or unset.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("TRADESIM_BIND", "127.0.0.1:8090", "address of the HTTP/WebSocket listener"),
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradesim", "PostgreSQL holding the journal"),
    ("TRADESIM_DB_POOL", "16", "journal connection pool size"),
    ("TRADESIM_HOST_ID", "<hostname>", "this host's name in the simulators table (stable across restarts)"),
    ("TRADESIM_SERVICE_TOKEN", "", "bearer credential of the internal API (required)"),
    ("TRADESIM_TICKET_SECRET", "", "HMAC key of connect tickets, shared with the control plane (required)"),
    ("TRADESIM_GUEST_WASM", "target/wasm32-unknown-unknown/release/tradesim_guest.wasm", "the engine module"),
    ("TRADESIM_CACHE_DIR", "", "where the compiled engine is cached (unset: compile at every start)"),
    ("TRADESIM_SHARDS", "<cores>", "simulator worker threads"),
    ("TRADESIM_CAPACITY", "4000", "simulators this host accepts"),
    ("TRADESIM_MEMORY_MB", "64", "linear memory cap per engine"),
    ("TRADESIM_CALL_DEADLINE_MS", "100", "deadline of one engine call"),
    ("TRADESIM_HEARTBEAT_MS", "5000", "application ping interval"),
    ("TRADESIM_DEAD_AFTER_MS", "12000", "silence after which a connection is dropped"),
    (
        "TRADESIM_FLUSH_MS",
        "25",
        "the least time between two frames that carry market data alone (the first goes at once), direct connections",
    ),
    (
        "TRADESIM_GATEWAY_FLUSH_MS",
        "200",
        "the same for API Gateway connections, where each frame is one PostToConnection request",
    ),
    (
        "TRADESIM_STEP_INTERVAL_MS",
        "25",
        "how far real time may run ahead of a simulator with no commands waiting before its steps run (in one call)",
    ),
    ("TRADESIM_SNAPSHOT_SECS", "30", "snapshot interval per simulator"),
    ("TRADESIM_REPLAY_WINDOW", "8192", "events kept per simulator for resuming clients"),
    ("TRADESIM_CONFLATE_AT", "4096", "queued events per client past which market data is conflated"),
    ("TRADESIM_CLOSE_AT", "32768", "queued events per client past which it is dropped as too slow"),
    ("TRADESIM_ORDER_RATE", "50", "orders per second per user, sustained"),
    ("TRADESIM_ORDER_BURST", "100", "orders per user in a burst"),
    ("TRADESIM_ALLOWED_ORIGINS", "", "comma-separated browser origins allowed to connect (empty: any)"),
    ("TRADESIM_GATEWAY_ENDPOINT", "", "API Gateway management endpoint; set to enable API Gateway mode"),
    ("TRADESIM_ADOPT", "true", "at start, recover the simulators the journal places on this host id"),
    ("TRADESIM_LOG", "info", "log filter (tracing EnvFilter syntax); logs are JSON on stdout"),
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable} is required")]
    Missing { variable: &'static str },
    #[error("{variable}={value:?} is not valid: {reason}")]
    Invalid { variable: &'static str, value: String, reason: String },
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: String,
    pub pool_size: usize,
    pub guest_wasm: PathBuf,
    pub sandbox: SandboxConfig,
    pub host: HostConfig,
    pub gateway_endpoint: Option<String>,
    pub adopt: bool,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host-1".to_owned())
}

struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn raw(&self, variable: &'static str) -> Option<String> {
        (self.0)(variable).filter(|value| !value.is_empty())
    }

    fn parse<T: FromStr>(&self, variable: &'static str, default: T) -> Result<T, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        match self.raw(variable) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|error: T::Err| SettingsError::Invalid {
                variable,
                reason: error.to_string(),
                value,
            }),
        }
    }

    fn millis(&self, variable: &'static str, default: u64) -> Result<Duration, SettingsError> {
        self.parse(variable, default).map(Duration::from_millis)
    }

    fn required(&self, variable: &'static str) -> Result<String, SettingsError> {
        self.raw(variable).ok_or(SettingsError::Missing { variable })
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|variable| std::env::var(variable).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env(lookup);
        let defaults = HostConfig::default();
        let sandbox_defaults = SandboxConfig::default();
        let host = HostConfig {
            host_id: env.raw("TRADESIM_HOST_ID").unwrap_or_else(hostname),
            shards: env.parse("TRADESIM_SHARDS", defaults.shards)?,
            capacity: env.parse("TRADESIM_CAPACITY", defaults.capacity)?,
            simulator: SimulatorLimits {
                replay_window: env.parse("TRADESIM_REPLAY_WINDOW", defaults.simulator.replay_window)?,
                step_interval: env.millis(
                    "TRADESIM_STEP_INTERVAL_MS",
                    u64::try_from(defaults.simulator.step_interval.as_millis()).unwrap_or(u64::MAX),
                )?,
                ..defaults.simulator
            },
            outbox: OutboxLimits {
                conflate_at: env.parse("TRADESIM_CONFLATE_AT", defaults.outbox.conflate_at)?,
                close_at: env.parse("TRADESIM_CLOSE_AT", defaults.outbox.close_at)?,
            },
            heartbeat: Heartbeat {
                interval: env.millis("TRADESIM_HEARTBEAT_MS", 5_000)?,
                dead_after: env.millis("TRADESIM_DEAD_AFTER_MS", 12_000)?,
            },
            flush_interval: env.millis("TRADESIM_FLUSH_MS", 25)?,
            gateway_flush_interval: env.millis("TRADESIM_GATEWAY_FLUSH_MS", 200)?,
            snapshot_interval: Duration::from_secs(env.parse("TRADESIM_SNAPSHOT_SECS", 30)?),
            service_token: env.required("TRADESIM_SERVICE_TOKEN")?,
            ticket_secret: env.required("TRADESIM_TICKET_SECRET")?.into_bytes(),
            order_rate: (
                env.parse("TRADESIM_ORDER_RATE", NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN))?,
                env.parse("TRADESIM_ORDER_BURST", NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN))?,
            ),
            allowed_origins: env
                .raw("TRADESIM_ALLOWED_ORIGINS")
                .map(|origins| origins.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
        };
        let sandbox = SandboxConfig {
            max_instances: u32::try_from(host.capacity.saturating_add(16)).unwrap_or(u32::MAX),
            memory_limit_bytes: env.parse("TRADESIM_MEMORY_MB", sandbox_defaults.memory_limit_bytes >> 20)? << 20,
            call_deadline: env.millis("TRADESIM_CALL_DEADLINE_MS", 100)?,
            cache_dir: env.raw("TRADESIM_CACHE_DIR").map(PathBuf::from),
            ..sandbox_defaults
        };
        Ok(Self {
            bind: env.parse("TRADESIM_BIND", SocketAddr::from(([127, 0, 0, 1], 8090)))?,
            database_url: env
                .raw("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/tradesim".to_owned()),
            pool_size: env.parse("TRADESIM_DB_POOL", 16)?,
            guest_wasm: env.raw("TRADESIM_GUEST_WASM").map_or_else(tradesim_sandbox::default_guest_path, PathBuf::from),
            sandbox,
            host,
            gateway_endpoint: env.raw("TRADESIM_GATEWAY_ENDPOINT"),
            adopt: env.parse("TRADESIM_ADOPT", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|key| map.get(key).cloned())
    }

    const REQUIRED: [(&str, &str); 2] = [("TRADESIM_SERVICE_TOKEN", "t"), ("TRADESIM_TICKET_SECRET", "s")];

    #[test]
    fn defaults_apply_and_required_values_are_required() {
        let settings = settings(&REQUIRED).unwrap();
        assert_eq!(settings.bind, SocketAddr::from(([127, 0, 0, 1], 8090)));
        assert_eq!(settings.host.heartbeat, Heartbeat::default());
        assert_eq!(settings.host.flush_interval, HostConfig::default().flush_interval);
        assert_eq!(settings.host.gateway_flush_interval, HostConfig::default().gateway_flush_interval);
        assert!(settings.gateway_endpoint.is_none());
        assert_eq!(
            Settings::from_lookup(|_| None).unwrap_err(),
            SettingsError::Missing { variable: "TRADESIM_SERVICE_TOKEN" }
        );
    }

    #[test]
    fn api_gateway_connections_have_their_own_flush_interval() {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend([("TRADESIM_FLUSH_MS", "10"), ("TRADESIM_GATEWAY_FLUSH_MS", "250")]);
        let host = settings(&pairs).unwrap().host;
        assert_eq!(
            (host.flush_interval, host.gateway_flush_interval),
            (Duration::from_millis(10), Duration::from_millis(250))
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push(("TRADESIM_HEARTBEAT_MS", "soon"));
        assert!(matches!(settings(&pairs), Err(SettingsError::Invalid { variable: "TRADESIM_HEARTBEAT_MS", .. })));
    }
}
