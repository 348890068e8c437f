//! `tradesim-manager`: the simulator manager (tradesim_control::manager) as one ECS task in AWS. It heartbeats the
//! hosts, keeps spare capacity by starting host tasks through ECS RunTask, and sweeps, until SIGTERM. The hosts
//! outlive it. Configuration: see `settings.rs`.

mod settings;

use anyhow::Context;
use settings::Settings;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tradesim_control::aws::EcsLauncher;
use tradesim_control::{HttpHostClient, Manager, SystemClock};

/// Each call to a host's internal API gives up after this.
const HOST_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tradesim_net::init_json_logs();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    tradesim_control::db::migrate(&settings.database_url).await.context("migrating the database")?;
    let pool = tradesim_control::db::pool(&settings.database_url, settings.pool_size)?;
    let hosts = Arc::new(HttpHostClient::new(&settings.service_token, HOST_TIMEOUT)?);
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let launcher = Arc::new(EcsLauncher::new(&shared, settings.ecs.clone(), Arc::clone(&hosts) as _));
    tracing::info!(cluster = %settings.ecs.cluster, family = %settings.ecs.task_family, "simulator manager running");
    let manager = Manager::new(pool, hosts, launcher, Arc::new(SystemClock), settings.manager);
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    manager
        .run(async {
            tokio::select! { _ = terminate.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        })
        .await;
    tracing::info!("simulator manager stopped");
    Ok(())
}
