//! Starting and stopping simulator hosts: the [`Launcher`] trait and [`LocalLauncher`], which runs `tradesim-host`
//! as child processes of this one (ECS comes later, behind the same trait).

use crate::domain::random_bytes;
use crate::error::ControlError;
use crate::hosts::{BoxFuture, HostClient, HostTarget, HttpHostClient};
use rustix::process::{Pid, Signal, kill_process};
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// A host a launcher started, and whether its process (or task) still runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchedHost {
    pub target: HostTarget,
    pub alive: bool,
}

/// Starts and stops simulator hosts.
pub trait Launcher: Send + Sync + fmt::Debug {
    /// Starts a host and answers once its internal API is up.
    fn launch(&self) -> BoxFuture<'_, Result<HostTarget, ControlError>>;
    /// Stops a host this launcher started and forgets it: a graceful shutdown first (the host snapshots its
    /// simulators), forced after a grace period. A host it does not know is stopped already: `Ok`.
    fn stop<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, Result<(), ControlError>>;
    /// The hosts started and not stopped yet.
    fn list(&self) -> BoxFuture<'_, Result<Vec<LaunchedHost>, ControlError>>;
}

/// How [`LocalLauncher`] runs `tradesim-host` (variables as in docs/host.md).
#[derive(Clone)]
pub struct LocalLauncherConfig {
    /// The `tradesim-host` executable.
    pub binary: PathBuf,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `TRADESIM_SERVICE_TOKEN`.
    pub service_token: String,
    /// `TRADESIM_TICKET_SECRET`.
    pub ticket_secret: String,
    /// `TRADESIM_GUEST_WASM`.
    pub guest_wasm: PathBuf,
    /// `TRADESIM_GATEWAY_ENDPOINT`; unset (and removed from the inherited environment) when `None`.
    pub gateway_endpoint: Option<String>,
    /// `TRADESIM_CAPACITY`. Default 4,000, the host's own default.
    pub capacity: u32,
    /// Host ids are this prefix and random hex. Default `local`.
    pub id_prefix: String,
    /// More variables, passed as they are (e.g. `TRADESIM_SHARDS`, `TRADESIM_LOG`, `TRADESIM_CACHE_DIR`).
    pub env: Vec<(String, String)>,
    /// How long a host may take to answer `/health` after it was started. Default 60 s (it compiles the engine).
    pub start_timeout: Duration,
    /// How long a host may take to exit after SIGTERM before it is killed. Default 10 s.
    pub stop_grace: Duration,
}

impl LocalLauncherConfig {
    pub fn new(
        binary: impl Into<PathBuf>,
        database_url: impl Into<String>,
        service_token: impl Into<String>,
        ticket_secret: impl Into<String>,
        guest_wasm: impl Into<PathBuf>,
    ) -> Self {
        Self {
            binary: binary.into(),
            database_url: database_url.into(),
            service_token: service_token.into(),
            ticket_secret: ticket_secret.into(),
            guest_wasm: guest_wasm.into(),
            gateway_endpoint: None,
            capacity: 4000,
            id_prefix: "local".into(),
            env: Vec::new(),
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for LocalLauncherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The database URL may carry a password; the token and secret are credentials.
        f.debug_struct("LocalLauncherConfig")
            .field("binary", &self.binary)
            .field("guest_wasm", &self.guest_wasm)
            .field("gateway_endpoint", &self.gateway_endpoint)
            .field("capacity", &self.capacity)
            .field("id_prefix", &self.id_prefix)
            .finish_non_exhaustive()
    }
}

/// Runs hosts as child processes on 127.0.0.1. Children are killed if the launcher is dropped, so none outlives
/// it by accident; [`Launcher::stop`] is the graceful way.
#[derive(Debug)]
pub struct LocalLauncher {
    config: LocalLauncherConfig,
    health: HttpHostClient,
    children: Mutex<HashMap<String, LocalHost>>,
}

#[derive(Debug)]
struct LocalHost {
    target: HostTarget,
    child: Child,
}

/// How often a starting host's `/health` is asked.
const START_POLL: Duration = Duration::from_millis(50);

impl LocalLauncher {
    pub fn new(config: LocalLauncherConfig) -> Result<Self, ControlError> {
        let health = HttpHostClient::new(config.service_token.clone(), Duration::from_secs(1))?;
        Ok(Self { config, health, children: Mutex::new(HashMap::new()) })
    }

    fn spawn(&self, id: &str, bind: &str) -> Result<Child, ControlError> {
        let config = &self.config;
        let mut command = Command::new(&config.binary);
        command
            .env("TRADESIM_BIND", bind)
            .env("TRADESIM_HOST_ID", id)
            .env("DATABASE_URL", &config.database_url)
            .env("TRADESIM_SERVICE_TOKEN", &config.service_token)
            .env("TRADESIM_TICKET_SECRET", &config.ticket_secret)
            .env("TRADESIM_GUEST_WASM", &config.guest_wasm)
            .env("TRADESIM_CAPACITY", config.capacity.to_string())
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match &config.gateway_endpoint {
            Some(endpoint) => command.env("TRADESIM_GATEWAY_ENDPOINT", endpoint),
            None => command.env_remove("TRADESIM_GATEWAY_ENDPOINT"),
        };
        command
            .spawn()
            .map_err(|e| ControlError::LaunchFailed(format!("cannot start {}: {e}", config.binary.display())))
    }

    /// Waits until the host answers `/health` as `target.id`; a child that exits or stays silent past the start
    /// timeout is a failed launch (and is killed).
    async fn wait_until_up(&self, target: &HostTarget, child: &mut Child) -> Result<(), ControlError> {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(|e| ControlError::LaunchFailed(e.to_string()))? {
                return Err(ControlError::LaunchFailed(format!(
                    "host {} exited ({status}) before answering /health; see its log",
                    target.id
                )));
            }
            match self.health.health(target).await {
                Ok(health) if health.host_id == target.id => return Ok(()),
                _ if started.elapsed() >= self.config.start_timeout => {
                    // Best effort: the launch has failed either way, and kill_on_drop is the backstop.
                    let _ = child.kill().await;
                    return Err(ControlError::LaunchFailed(format!(
                        "host {} did not answer /health within {:?}",
                        target.id, self.config.start_timeout
                    )));
                }
                _ => tokio::time::sleep(START_POLL).await,
            }
        }
    }
}

/// A port free now. Another process may take it before the host binds it; the host then exits, the launch fails
/// and the next capacity check tries again.
fn free_port() -> Result<u16, ControlError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| ControlError::LaunchFailed(format!("cannot find a free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| ControlError::LaunchFailed(e.to_string()))
}

/// SIGTERM, the host's graceful shutdown. rustix makes this a safe call without spawning `kill`.
fn terminate(child: &Child) -> std::io::Result<()> {
    let pid = child.id().and_then(|id| Pid::from_raw(i32::try_from(id).ok()?));
    match pid {
        Some(pid) => kill_process(pid, Signal::TERM).map_err(std::io::Error::from),
        // Already reaped: nothing to signal.
        None => Ok(()),
    }
}

impl Launcher for LocalLauncher {
    fn launch(&self) -> BoxFuture<'_, Result<HostTarget, ControlError>> {
        Box::pin(async move {
            if !self.config.binary.is_file() {
                return Err(ControlError::LaunchFailed(format!(
                    "the host binary {} does not exist; build it with `cargo build -p tradesim-host`",
                    self.config.binary.display()
                )));
            }
            // Random ids: a host orphaned by an earlier run can never share an id, and so simulators, with a new one.
            let suffix: [u8; 6] = random_bytes();
            let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
            let id = format!("{}-{suffix}", self.config.id_prefix);
            let bind = format!("127.0.0.1:{}", free_port()?);
            let target = HostTarget { id: id.clone(), address: format!("http://{bind}") };
            let mut child = self.spawn(&id, &bind)?;
            self.wait_until_up(&target, &mut child).await?;
            tracing::info!(host = %id, address = %target.address, "launched a simulator host");
            self.children.lock().await.insert(id, LocalHost { target: target.clone(), child });
            Ok(target)
        })
    }

    fn stop<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            // Taken out first, so a slow shutdown does not hold the others.
            let Some(mut host) = self.children.lock().await.remove(host_id) else { return Ok(()) };
            let child = &mut host.child;
            if child.try_wait().ok().flatten().is_some() {
                return Ok(());
            }
            if let Err(e) = terminate(child) {
                tracing::warn!(host = host_id, error = %e, "SIGTERM failed; killing the host");
            }
            let failed = |e: std::io::Error| ControlError::Internal(format!("cannot stop host {host_id}: {e}"));
            match tokio::time::timeout(self.config.stop_grace, child.wait()).await {
                Ok(exit) => {
                    exit.map_err(failed)?;
                }
                Err(_) => {
                    tracing::warn!(host = host_id, grace = ?self.config.stop_grace, "host still running; killing it");
                    // Kills and reaps.
                    child.kill().await.map_err(failed)?;
                }
            }
            tracing::info!(host = host_id, "stopped a simulator host");
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<LaunchedHost>, ControlError>> {
        Box::pin(async move {
            let mut children = self.children.lock().await;
            // try_wait also reaps a child that has exited.
            Ok(children
                .values_mut()
                .map(|host| LaunchedHost {
                    target: host.target.clone(),
                    alive: matches!(host.child.try_wait(), Ok(None)),
                })
                .collect())
        })
    }
}
