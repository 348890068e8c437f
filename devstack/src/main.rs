//! `tradesim-dev`: runs the local stack (see the library's documentation for its configuration) until Ctrl-C or
//! SIGTERM. SIGHUP restarts the local gateway alone, on the same port.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tradesim_devstack::{DevSettings, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let settings = DevSettings::from_env()?;
    let (restart, restarts) = mpsc::channel(1);
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            // A restart already asked for covers this hangup too.
            let _ = restart.try_send(());
        }
    });
    run(settings, shutdown_signal(), restarts).await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = signal(SignalKind::terminate()).ok();
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
