//! `tradesim-dev`: runs the local stack (see the library's documentation for its configuration) until Ctrl-C or
//! SIGTERM.

use tradesim_devstack::{DevSettings, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let settings = DevSettings::from_env()?;
    run(settings, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
