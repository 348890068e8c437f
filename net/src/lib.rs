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

/// The read buffer of every WebSocket, server or client side (tungstenite's default is 128 KiB). tungstenite
/// zero-fills the buffer's free space before every read, also before a poll that finds nothing to read, so a socket
/// whose task wakes for each frame it sends paid a 128 KiB memset per frame. Frames are at most 32 KB: 8 KiB reads
/// even the largest in a few reads.
pub const WEBSOCKET_READ_BUFFER_BYTES: usize = 8 * 1024;

/// Logs as JSON lines on standard output, filtered by `TRADESIM_LOG` (a tracing `EnvFilter` directive; `info` when
/// unset or invalid).
pub fn init_json_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "info".into()))
        .init();
}
