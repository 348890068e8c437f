//! The local stack under test, started by the load test itself: a private PostgreSQL cluster it owns (so it can
//! restart it) with a fresh database, and `tradesim-dev` as a child process (the control plane and the local
//! gateway; its simulator manager launches the hosts as its own children). And what can be done to it: a host
//! killed with SIGKILL, PostgreSQL restarted, the gateway restarted (SIGHUP), every process sampled.

use rustix::process::{Pid, Signal, kill_process};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tradesim_devstack::postgres::{self, PrivateCluster};
use tradesim_devstack::process::{self, HostProcess};
use tradesim_devstack::{DevError, client::ControlClient};

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Dev(#[from] DevError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the stack did not start: {0}")]
    Start(String),
}

/// How to run the stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The run's directory: `postgres/` (the cluster, kept between runs), the engine cache, `stack.log`.
    pub dir: PathBuf,
    pub dev_bin: PathBuf,
    pub host_bin: PathBuf,
    pub guest_wasm: PathBuf,
    pub hosts: usize,
    pub host_capacity: u32,
    /// Allowed browser origin of the stream.
    pub origin: String,
    pub start_timeout: Duration,
}

/// The running stack.
#[derive(Debug)]
pub struct LocalStack {
    cluster: Arc<Mutex<PrivateCluster>>,
    child: tokio::sync::Mutex<Child>,
    pid: i32,
    gateway: SocketAddr,
}

const DATABASE: &str = "tradesim";
/// What `tradesim-dev` prints once its hosts are up.
const BANNER: &str = "tradesim is running at";

impl LocalStack {
    pub async fn start(config: &StackConfig) -> Result<Self, StackError> {
        std::fs::create_dir_all(&config.dir)?;
        let cluster_dir = config.dir.join("postgres");
        let cluster = tokio::task::spawn_blocking(move || PrivateCluster::ensure(&cluster_dir))
            .await
            .map_err(|e| StackError::Start(format!("starting PostgreSQL panicked: {e}")))??;
        fresh_database(&cluster.url("postgres")).await?;
        let gateway =
            SocketAddr::from((Ipv4Addr::LOCALHOST, std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()));
        let log_path = config.dir.join("stack.log");
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(&config.dev_bin)
            .env("TRADESIM_DEV_BIND", gateway.to_string())
            .env("DATABASE_URL", cluster.url(DATABASE))
            .env("TRADESIM_DEV_DIR", &config.dir)
            .env("TRADESIM_DEV_HOSTS", config.hosts.to_string())
            .env("TRADESIM_DEV_HOST_CAPACITY", config.host_capacity.to_string())
            .env("TRADESIM_HOST_BIN", &config.host_bin)
            .env("TRADESIM_GUEST_WASM", &config.guest_wasm)
            .env("TRADESIM_DEV_FRONTEND", config.dir.join("no-frontend"))
            .env("TRADESIM_ALLOWED_ORIGINS", &config.origin)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StackError::Start(format!("cannot run {}: {e}", config.dev_bin.display())))?;
        let pid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or_else(|| StackError::Start("no pid".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| StackError::Start("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut log = tokio::fs::File::from_std(log);
        let banner = tokio::time::timeout(config.start_timeout, async {
            while let Some(line) = lines.next_line().await? {
                log.write_all(format!("{line}\n").as_bytes()).await?;
                if line.contains(BANNER) {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        match banner {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(StackError::Start(format!("tradesim-dev exited; see {}", log_path.display()))),
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => {
                return Err(StackError::Start(format!(
                    "no banner in {:?}; see {}",
                    config.start_timeout,
                    log_path.display()
                )));
            }
        }
        // The rest of its output goes to the log too.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = log.write_all(format!("{line}\n").as_bytes()).await;
            }
        });
        Ok(Self { cluster: Arc::new(Mutex::new(cluster)), child: tokio::sync::Mutex::new(child), pid, gateway })
    }

    /// The local gateway's address.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    pub fn control(&self, timeout: Duration) -> Result<ControlClient, StackError> {
        ControlClient::new(format!("http://{}", self.gateway), timeout)
            .map_err(|e| StackError::Start(format!("no HTTP client: {e}")))
    }

    pub fn hosts(&self) -> Vec<HostProcess> {
        let mut hosts = process::hosts_of(self.pid);
        hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
        hosts
    }

    /// SIGKILLs the first host (by id): the one killed, if any ran.
    pub fn kill_host(&self) -> Option<HostProcess> {
        let host = self.hosts().into_iter().next()?;
        kill_process(Pid::from_raw(host.pid)?, Signal::KILL).ok()?;
        Some(host)
    }

    /// SIGHUP: `tradesim-dev` restarts its gateway alone, on the same port.
    pub fn restart_gateway(&self) -> Result<(), StackError> {
        let pid = Pid::from_raw(self.pid).ok_or_else(|| StackError::Start("no pid".into()))?;
        kill_process(pid, Signal::HUP).map_err(std::io::Error::from)?;
        Ok(())
    }

    /// Stops PostgreSQL (fast shutdown: clients are disconnected) and starts it again `down` later.
    pub async fn restart_postgres(&self, down: Duration) -> Result<(), StackError> {
        let cluster = Arc::clone(&self.cluster);
        tokio::task::spawn_blocking(move || cluster.lock().unwrap_or_else(PoisonError::into_inner).restart(down))
            .await
            .map_err(|e| StackError::Start(format!("restarting PostgreSQL panicked: {e}")))??;
        Ok(())
    }

    /// Every process of the stack by role: the gateway and control plane, each host, PostgreSQL (the server and
    /// its backends together).
    pub fn processes(&self) -> Vec<(String, Vec<i32>)> {
        let mut processes = vec![("tradesim-dev (gateway, control plane)".to_owned(), vec![self.pid])];
        processes.extend(self.hosts().into_iter().map(|host| (format!("host {}", host.host_id), vec![host.pid])));
        let server = self.cluster.lock().unwrap_or_else(PoisonError::into_inner).server_pid();
        if let Some(server) = server {
            let mut pids = vec![server];
            pids.extend(process::children(server).into_iter().map(|child| child.pid));
            processes.push(("postgres".to_owned(), pids));
        }
        processes
    }

    /// SIGTERM (the hosts snapshot their simulators), waited for up to `grace`, then the cluster stopped.
    pub async fn stop(&self, grace: Duration) -> Result<(), StackError> {
        if let Some(pid) = Pid::from_raw(self.pid) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let mut child = self.child.lock().await;
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            tracing::warn!("tradesim-dev did not stop in time; killing it");
            let _ = child.kill().await;
        }
        let cluster = Arc::clone(&self.cluster);
        tokio::task::spawn_blocking(move || cluster.lock().unwrap_or_else(PoisonError::into_inner).stop())
            .await
            .map_err(|e| StackError::Start(format!("stopping PostgreSQL panicked: {e}")))??;
        Ok(())
    }
}

/// Drops the previous run's database and creates an empty one (tradesim-dev migrates it).
async fn fresh_database(admin_url: &str) -> Result<(), StackError> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    // The name is a constant of ours; identifiers cannot be bound as parameters.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{DATABASE}\" WITH (FORCE)")).await?;
    drop(client);
    let _ = connection.await;
    postgres::create_database(admin_url, DATABASE).await?;
    Ok(())
}
