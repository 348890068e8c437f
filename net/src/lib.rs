//! What every tradesim server does: to the connections it accepts (the simulator host, the local API gateway), and
//! to its logs (the simulator host, the simulator manager).

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// The accepted connections of `listener` with Nagle's algorithm off: an order acknowledgement or a pushed frame
/// is one small write, and Nagle would hold it behind the peer's delayed ACK (about 40 ms on Linux).
pub fn low_latency(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    let no_delay: fn(&mut TcpStream) = |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY; this connection's small frames may wait");
        }
    };
    listener.tap_io(no_delay)
}

/// Logs as JSON lines on standard output, filtered by `TRADESIM_LOG` (a tracing `EnvFilter` directive; `info` when
/// unset or invalid).
pub fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "info".into()))
        .init();
}
