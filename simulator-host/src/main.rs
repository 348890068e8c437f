//! `tradesim-host`: configuration from the environment (see `tradesim_host::settings`), then serve until Ctrl-C or
//! SIGTERM, then snapshot every simulator.

use anyhow::Context;
use std::sync::Arc;
use tradesim_host::api::router;
use tradesim_host::apigateway::ApiGatewayPusher;
use tradesim_host::{Host, Settings};
use tradesim_journal::Journal;
use tradesim_net::low_latency;
use tradesim_sandbox::Sandbox;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tradesim_net::init_json_logs();
    let settings = Settings::from_env()?;
    let sandbox = Sandbox::from_file(settings.sandbox.clone(), &settings.guest_wasm)
        .with_context(|| format!("loading the engine from {}", settings.guest_wasm.display()))?;
    let journal = Journal::connect(&settings.database_url, settings.pool_size).await?;
    journal.migrate().await.context("migrating the journal")?;
    let host = Host::start(settings.host.clone(), sandbox, journal)?;
    let pusher = match &settings.gateway_endpoint {
        Some(endpoint) => Some(Arc::new(ApiGatewayPusher::new(endpoint).await)),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    tracing::info!(address = %listener.local_addr()?, host_id = %settings.host.host_id, "simulator host listening");
    if settings.adopt {
        let adopted = host.adopt(&settings.host.host_id).await?;
        tracing::info!(count = adopted.len(), "recovered this host's simulators");
    }
    axum::serve(low_latency(listener), router(host.clone(), pusher)).with_graceful_shutdown(shutdown_signal()).await?;
    host.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { if let Some(signal) = terminate.as_mut() { signal.recv().await; } else { std::future::pending::<()>().await } } => {}
    }
    tracing::info!("shutting down: snapshotting every simulator");
}
