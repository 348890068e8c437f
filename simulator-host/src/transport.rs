//! The two transports of the one protocol: a direct WebSocket, and API Gateway WebSockets (inbound frames arrive
//! by internal HTTP calls; outbound frames leave through PostToConnection). Both run the same
//! [`crate::session`] logic over a [`Link`]; only the wire differs.
//!
//! # Invariants
//! - A connection's frames leave in outbox order, one at a time.
//! - A peer that is silent past the dead-link timeout, or that cannot take a frame within it, is dropped; it
//!   resumes from its last seq on its next connection.

use crate::host::Host;
use crate::link::Link;
use crate::session::{HeartbeatTimer, handle_frame};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tradesim_aws::{AwsError, RetryPolicy, Transient, retry};

/// Drives one direct connection until either side ends it: `inbound` yields the client's text frames, `outbound`
/// takes the server's. Generic so that tests can drive it with channels.
pub async fn drive<S, K, E>(host: Host, link: Arc<Link>, mut inbound: S, mut outbound: K)
where
    S: Stream<Item = Result<String, E>> + Unpin,
    K: Sink<String> + Unpin,
{
    host.metrics().connections.inc();
    let flush = host.config().flush_interval;
    let dead_after = link.heartbeat.dead_after;
    let mut heartbeat = HeartbeatTimer::new();
    let mut ticker = tokio::time::interval(HeartbeatTimer::period(&link));
    ticker.tick().await;
    loop {
        tokio::select! {
            frame = inbound.next() => match frame {
                Some(Ok(text)) => handle_frame(&host, &link, &text),
                Some(Err(_)) | None => break,
            },
            frames = link.next_frames(flush) => {
                let Some(frames) = frames else { break };
                if !send_all(&host, frames, dead_after, &mut outbound).await {
                    break;
                }
            }
            _ = ticker.tick() => if !heartbeat.tick(&link) {
                break;
            },
        }
    }
    host.detach(&link);
    let _ = outbound.close().await;
    host.metrics().connections.dec();
}

/// Sends frames in order, each within `deadline`; `false` when the peer is gone or too slow.
async fn send_all<K: Sink<String> + Unpin>(host: &Host, frames: Vec<String>, deadline: Duration, sink: &mut K) -> bool {
    for frame in frames {
        match tokio::time::timeout(deadline, sink.send(frame)).await {
            Ok(Ok(())) => {
                host.metrics().frames_sent.inc();
            }
            Ok(Err(_)) | Err(_) => return false,
        }
    }
    true
}

/// Why a push to (or the close of) an API Gateway connection failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// 410: the client is gone; the connection is dropped.
    #[error("the connection is gone")]
    Gone,
    /// Throttled or failing ([`AwsError::Transient`], worth retrying) or refused.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl Transient for PushError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Aws(error) if error.is_transient())
    }
}

/// Where outbound frames go in API Gateway mode.
pub trait Pusher: Send + Sync + std::fmt::Debug + 'static {
    fn push(&self, connection_id: &str, frame: String) -> impl Future<Output = Result<(), PushError>> + Send;
    /// Closes the client's socket (DeleteConnection); one already gone is closed.
    fn close(&self, connection_id: &str) -> impl Future<Output = Result<(), PushError>> + Send;
}

/// Pushes to an API Gateway connection: three attempts, 40–80 ms and then 80–160 ms apart, before the connection
/// is given up as broken (its client resumes on a new one).
const PUSH_RETRY: RetryPolicy =
    RetryPolicy { attempts: 3, base: Duration::from_millis(80), cap: Duration::from_millis(160) };

/// Drives one API Gateway connection's outbound side: drains its link through `pusher` and keeps the heartbeat.
/// Inbound frames reach the link through [`handle_frame`] from the internal endpoint.
pub async fn drive_gateway<P: Pusher>(host: Host, link: Arc<Link>, pusher: Arc<P>) {
    host.metrics().connections.inc();
    let flush = host.config().gateway_flush_interval;
    let mut heartbeat = HeartbeatTimer::new();
    let mut ticker = tokio::time::interval(HeartbeatTimer::period(&link));
    ticker.tick().await;
    let mut gone = false;
    'connection: loop {
        tokio::select! {
            frames = link.next_frames(flush) => {
                let Some(frames) = frames else { break };
                for frame in frames {
                    let id = &link.connection_id;
                    match retry(&PUSH_RETRY, "API Gateway PostToConnection", || pusher.push(id, frame.clone())).await {
                        Ok(()) => host.metrics().frames_sent.inc(),
                        Err(PushError::Gone) => {
                            gone = true;
                            break 'connection;
                        }
                        Err(error) => {
                            tracing::warn!(link = link.id, %error, "giving up on a connection");
                            break 'connection;
                        }
                    };
                }
            }
            _ = ticker.tick() => if !heartbeat.tick(&link) {
                break;
            },
        }
    }
    host.remove_gateway_link(&link.connection_id);
    host.detach(&link);
    // A link given up here (silent, too slow, failing, stopped) still has the browser's socket open at API Gateway:
    // closing it there lets the client reconnect at once and runs $disconnect, which forgets it in the registry.
    if !gone {
        let id = &link.connection_id;
        if let Err(error) = retry(&PUSH_RETRY, "API Gateway DeleteConnection", || pusher.close(id)).await {
            tracing::warn!(link = link.id, %error, "closing a given-up connection failed");
        }
    }
    host.metrics().connections.dec();
}
