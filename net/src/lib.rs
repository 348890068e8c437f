//! What every tradesim server (the simulator host, the local API gateway) does to the connections it accepts.

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
