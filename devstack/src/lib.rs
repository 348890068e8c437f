//! `tradesim-dev`: the whole system on one machine. A database (`DATABASE_URL`, or a private PostgreSQL cluster
//! under `./.tradesim`), migrations, a demo user, simulator hosts as child processes (the simulator manager's
//! [`LocalLauncher`], which also keeps spare capacity and sweeps), and the local API gateway
//! ([`local_gateway`]) serving the HTTP API, the WebSocket and the SPA on one port. The gateway alone can be
//! restarted on its port while everything else runs ([`GatewayServer::restart`]; SIGHUP to `tradesim-dev`).
//!
//! Configuration, from the environment (an empty value counts as unset):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TRADESIM_DEV_BIND` | `127.0.0.1:8080` | the local gateway's address |
//! | `DATABASE_URL` | (unset) | use this database instead of the private cluster |
//! | `TRADESIM_DEV_DIR` | `.tradesim` | the private cluster, the engine cache, host state |
//! | `TRADESIM_DEV_HOSTS` | `1` | simulator hosts started at once (the manager may add more, up to 4 or this) |
//! | `TRADESIM_DEV_HOST_CAPACITY` | `100` | simulators per host |
//! | `TRADESIM_HOST_BIN` | `<target>/release/tradesim-host` | the host executable |
//! | `TRADESIM_GUEST_WASM` | `<target>/wasm32-unknown-unknown/release/tradesim_guest.wasm` | the engine module |
//! | `TRADESIM_DEV_FRONTEND` | `frontend/dist` | the SPA's build |
//! | `TRADESIM_ALLOWED_ORIGINS` | the gateway's own origins | browser origins allowed to open the WebSocket |
//! | `TRADESIM_DEMO_PASSWORD` | `tradesim-demo` | the demo user's password |
//! | `TRADESIM_HOST_LOG` | `warn` | the hosts' log filter |
//! | `TRADESIM_PG_BIN`, `TRADESIM_PG_USER` | | see [`postgres`] |
//!
//! `<target>` is `CARGO_TARGET_DIR` or the workspace's `target`.

pub mod client;
pub mod local_gateway;
pub mod postgres;
pub mod process;
pub mod spa;

use axum::Router;
use local_gateway::LocalConnections;
use postgres::PrivateCluster;
use rand::TryRngCore;
use rand::rngs::OsRng;
use spa::Spa;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tradesim_control::gateway::HEARTBEAT_TIMEOUT;
use tradesim_control::hosts::HostTable;
use tradesim_control::manager::Launcher;
use tradesim_control::{
    Config, Control, ControlError, ControlPlane, Credentials, GatewayConfig, LocalLauncher, LocalLauncherConfig,
    Manager, ManagerConfig, SystemClock,
};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Journal(#[from] tradesim_journal::JournalError),
}

impl From<tokio_postgres::Error> for DevError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Postgres(error.to_string())
    }
}

/// The demo user `make dev` creates.
pub const DEMO_USER: &str = "demo";

#[derive(Clone, Debug)]
pub struct DevSettings {
    pub bind: SocketAddr,
    pub database_url: Option<String>,
    pub dir: PathBuf,
    pub hosts: usize,
    pub host_capacity: u32,
    pub host_bin: PathBuf,
    pub guest_wasm: PathBuf,
    pub frontend: PathBuf,
    pub allowed_origins: Vec<String>,
    pub demo_password: String,
    pub host_log: String,
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the workspace) or the workspace's `target`.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    workspace.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}

impl DevSettings {
    pub fn from_env() -> Result<Self, DevError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, DevError> {
        fn parse<T: std::str::FromStr>(name: &str, value: Option<String>, default: T) -> Result<T, DevError> {
            value.map_or(Ok(default), |v| v.parse().map_err(|_| DevError::Config(format!("{name}={v:?} is not valid"))))
        }
        let bind: SocketAddr = parse("TRADESIM_DEV_BIND", var("TRADESIM_DEV_BIND"), ([127, 0, 0, 1], 8080).into())?;
        let hosts = parse("TRADESIM_DEV_HOSTS", var("TRADESIM_DEV_HOSTS"), 1usize)?;
        if hosts == 0 {
            return Err(DevError::Config("TRADESIM_DEV_HOSTS must be at least 1".into()));
        }
        let path = |name: &str, default: PathBuf| var(name).map_or(default, PathBuf::from);
        let allowed_origins = match var("TRADESIM_ALLOWED_ORIGINS") {
            Some(list) => list.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect(),
            None => vec![format!("http://{bind}"), format!("http://localhost:{}", bind.port())],
        };
        Ok(Self {
            bind,
            database_url: var("DATABASE_URL"),
            dir: path("TRADESIM_DEV_DIR", ".tradesim".into()),
            hosts,
            host_capacity: parse("TRADESIM_DEV_HOST_CAPACITY", var("TRADESIM_DEV_HOST_CAPACITY"), 100)?,
            host_bin: path("TRADESIM_HOST_BIN", target_dir().join("release/tradesim-host")),
            guest_wasm: path(
                "TRADESIM_GUEST_WASM",
                target_dir().join("wasm32-unknown-unknown/release/tradesim_guest.wasm"),
            ),
            frontend: path("TRADESIM_DEV_FRONTEND", "frontend/dist".into()),
            allowed_origins,
            demo_password: var("TRADESIM_DEMO_PASSWORD").unwrap_or_else(|| "tradesim-demo".into()),
            host_log: var("TRADESIM_HOST_LOG").unwrap_or_else(|| "warn".into()),
        })
    }
}

/// Fresh secrets for one run: access tokens and tickets from an earlier run stop working, which is what a restart
/// of a real deployment with rotated keys would do too.
#[derive(Clone)]
pub struct Secrets {
    pub signing_seed: [u8; 32],
    pub service_token: String,
    pub ticket_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Secrets {
    pub fn generate() -> Self {
        let mut signing_seed = [0u8; 32];
        OsRng.try_fill_bytes(&mut signing_seed).expect("the operating system's random number generator failed");
        Self { signing_seed, service_token: random_hex(), ticket_secret: random_hex() }
    }
}

/// The control plane with the local gateway's sockets as its gateway connections.
#[derive(Clone, Debug)]
pub struct LocalPlane {
    pub plane: ControlPlane,
    pub sockets: Arc<LocalConnections>,
}

impl LocalPlane {
    pub fn new(
        pool: deadpool_postgres::Pool,
        config: Config,
        gateway: GatewayConfig,
        service_token: &str,
    ) -> Result<Self, DevError> {
        let sockets = Arc::new(LocalConnections::default());
        let plane = ControlPlane::new(pool, config, gateway, service_token, Arc::clone(&sockets) as _)?;
        Ok(Self { plane, sockets })
    }

    pub fn router(&self, spa: Spa) -> Router {
        let plane = &self.plane;
        local_gateway::router(Arc::clone(&plane.control), Arc::clone(&plane.gateway), Arc::clone(&self.sockets), spa)
    }
}

/// Serves `router` on `listener` until `shutdown`, with the client address available to the handlers. Open
/// sockets should be closed (see [`LocalConnections::close_all`]) when `shutdown` fires.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(tradesim_net::low_latency(listener), service).with_graceful_shutdown(shutdown).await
    {
        tracing::error!(%error, "the local gateway stopped");
    }
}

/// The local gateway's server. It can be stopped and started again on the same address while the control plane
/// and the hosts keep running: what an API Gateway outage looks like to clients (every socket closed, connects
/// refused meanwhile, then the same service as before).
#[derive(Debug)]
pub struct GatewayServer {
    address: SocketAddr,
    router: Router,
    sockets: Arc<LocalConnections>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GatewayServer {
    /// Serves `router` on `listener`; `sockets` are the router's WebSockets, closed when it stops.
    pub fn start(listener: TcpListener, router: Router, sockets: Arc<LocalConnections>) -> std::io::Result<Self> {
        let mut server = Self { address: listener.local_addr()?, router, sockets, running: None };
        server.serve(listener);
        Ok(server)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let task = tokio::spawn(serve(listener, self.router.clone(), shutdown));
        self.running = Some(Running { stop, task });
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes every socket and waits (at most [`DRAIN`]) for the open requests to finish.
    pub async fn stop(&mut self) {
        let Some(mut running) = self.running.take() else { return };
        let _ = running.stop.send(true);
        self.sockets.close_all();
        if tokio::time::timeout(DRAIN, &mut running.task).await.is_err() {
            tracing::warn!("the local gateway did not wind down in time");
            running.task.abort();
        }
        // A socket whose upgrade was under way when the server stopped.
        self.sockets.close_all();
    }

    /// Stops, then serves again on the same address (retrying the bind for up to [`DRAIN`]).
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let deadline = tokio::time::Instant::now() + DRAIN;
        let listener = loop {
            match TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
        Ok(())
    }
}

/// Restarts `server` on every request, until the requests end.
async fn restart_on_request(server: Arc<Mutex<GatewayServer>>, mut requests: mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        let mut server = server.lock().await;
        match server.restart().await {
            Ok(()) => println!("tradesim-dev: the local gateway restarted on {}", server.address()),
            Err(error) => tracing::error!(%error, "the local gateway could not bind its address again"),
        }
    }
}

/// Creates the demo user unless it exists.
pub async fn ensure_demo_user(control: &Control, password: &str) -> Result<(), DevError> {
    let credentials = Credentials { username: DEMO_USER.into(), password: password.into() };
    match control.register(&credentials).await {
        Ok(_) | Err(ControlError::UsernameTaken) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// How long the gateway may take to wind down after its sockets were closed.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs the local stack until `shutdown` completes, then stops the hosts (SIGTERM, waited for), the gateway and
/// the private cluster (if this run started it). Each message on `gateway_restarts` restarts the local gateway
/// alone ([`GatewayServer::restart`]).
pub async fn run(
    settings: DevSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    gateway_restarts: mpsc::Receiver<()>,
) -> Result<(), DevError> {
    let (database_url, cluster) = match &settings.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = settings.dir.join("postgres");
            let cluster = tokio::task::spawn_blocking(move || PrivateCluster::ensure(&dir))
                .await
                .map_err(|e| DevError::Postgres(format!("starting the cluster panicked: {e}")))??;
            postgres::create_database(&cluster.url("postgres"), "tradesim").await?;
            (cluster.url("tradesim"), Some(cluster))
        }
    };
    let outcome = run_with_database(&settings, &database_url, shutdown, gateway_restarts).await;
    if let Some(cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .map_err(|e| DevError::Postgres(format!("stopping the cluster panicked: {e}")))??;
        println!("tradesim-dev: PostgreSQL stopped");
    }
    outcome
}

async fn run_with_database(
    settings: &DevSettings,
    database_url: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
    gateway_restarts: mpsc::Receiver<()>,
) -> Result<(), DevError> {
    tradesim_journal::Journal::connect(database_url, 1).await?.migrate().await?;
    let pool = tradesim_control::db::pool(database_url, 16)?;
    let secrets = Secrets::generate();
    let gateway_config =
        GatewayConfig { allowed_origins: settings.allowed_origins.clone(), ..GatewayConfig::default() };
    let local = LocalPlane::new(pool, Config::new(secrets.signing_seed), gateway_config, &secrets.service_token)?;
    let plane = &local.plane;
    ensure_demo_user(&plane.control, &settings.demo_password).await?;

    // Bound before the hosts start: they push to it.
    let listener = TcpListener::bind(settings.bind).await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let router = local.router(Spa::new(&settings.frontend));
    let server = Arc::new(Mutex::new(GatewayServer::start(listener, router, Arc::clone(&local.sockets))?));
    let restarter = tokio::spawn(restart_on_request(Arc::clone(&server), gateway_restarts));

    let launcher = Arc::new(LocalLauncher::new(launcher_config(settings, database_url, &secrets, address))?);
    let manager_config = ManagerConfig {
        heartbeat_timeout: HEARTBEAT_TIMEOUT,
        max_hosts: settings.hosts.max(ManagerConfig::default().max_hosts),
        ..ManagerConfig::default()
    };
    // The manager's own connections: its heartbeat records must not wait behind request traffic, or a busy control
    // plane takes its healthy hosts for dead (the load test saw a host stopped and its simulators re-homed so).
    let manager_pool = tradesim_control::db::pool(database_url, 4)?;
    let table = HostTable::new(manager_pool.clone(), HEARTBEAT_TIMEOUT);
    let manager = Manager::new(
        manager_pool,
        Arc::clone(&plane.hosts) as _,
        Arc::clone(&launcher) as _,
        Arc::new(SystemClock),
        manager_config,
    );
    let started = start_hosts(&launcher, &table, settings).await;
    let outcome = match started {
        Ok(()) => {
            print_banner(settings, address);
            tokio::spawn(async move {
                shutdown.await;
                println!("\ntradesim-dev: stopping (hosts snapshot their simulators)...");
                let _ = stop.send(true);
            });
            // Returns once `stopped` fires, after stopping the launcher's hosts.
            manager.run(until_stopped(stopped)).await;
            Ok(())
        }
        Err(error) => {
            for host in launcher.list().await.unwrap_or_default() {
                let _ = launcher.stop(&host.target.id).await;
            }
            let _ = stop.send(true);
            Err(error)
        }
    };
    restarter.abort();
    server.lock().await.stop().await;
    outcome
}

/// Launches the first hosts and records them at once, so simulators can start before the manager's first round.
async fn start_hosts(launcher: &LocalLauncher, table: &HostTable, settings: &DevSettings) -> Result<(), DevError> {
    for _ in 0..settings.hosts {
        let host = launcher.launch().await?;
        table.heartbeat(&host, settings.host_capacity, std::time::SystemTime::now()).await?;
        println!("tradesim-dev: simulator host {} at {}", host.id, host.address);
    }
    Ok(())
}

/// How the stack's [`LocalLauncher`] runs hosts: pushing to the gateway at `gateway`, caching under `settings.dir`.
pub fn launcher_config(
    settings: &DevSettings,
    database_url: &str,
    secrets: &Secrets,
    gateway: SocketAddr,
) -> LocalLauncherConfig {
    let mut config = LocalLauncherConfig::new(
        &settings.host_bin,
        database_url,
        &secrets.service_token,
        &secrets.ticket_secret,
        &settings.guest_wasm,
    );
    // The hosts push through the gateway's @connections endpoint, as they would through API Gateway's.
    config.gateway_endpoint = Some(format!("http://{gateway}"));
    config.capacity = settings.host_capacity;
    config.id_prefix = "dev".into();
    let cache =
        std::path::absolute(settings.dir.join("engine-cache")).unwrap_or_else(|_| settings.dir.join("engine-cache"));
    config.env = [
        ("TRADESIM_LOG", settings.host_log.as_str()),
        ("TRADESIM_CACHE_DIR", &cache.to_string_lossy()),
        // The SDK signs PostToConnection; the local gateway takes any SigV4 credentials. No instance metadata.
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    config
}

fn print_banner(settings: &DevSettings, address: SocketAddr) {
    println!();
    println!("  tradesim is running at http://{address}");
    println!("  log in as {DEMO_USER} / {}", settings.demo_password);
    println!("  API: http://{address}/v1/openapi.json   WebSocket: ws://{address}/ws?sim=<id>&ticket=<ticket>");
    println!("  Ctrl-C stops everything.");
    println!();
}
