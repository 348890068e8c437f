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

/// Why a push to an API Gateway connection failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// 410: the client is gone; the connection is dropped.
    #[error("the connection is gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Where outbound frames go in API Gateway mode.
pub trait Pusher: Send + Sync + std::fmt::Debug + 'static {
    fn push(&self, connection_id: &str, frame: String) -> impl Future<Output = Result<(), PushError>> + Send;
}

/// PostToConnection through the API Gateway Management API (or the local gateway's equal at `endpoint`).
#[derive(Clone, Debug)]
pub struct ApiGatewayPusher {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPusher {
    /// A pusher for the management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`, or the
    /// local gateway's URL), with credentials and region from the environment.
    pub async fn new(endpoint: &str) -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&shared).endpoint_url(endpoint).build();
        Self { client: aws_sdk_apigatewaymanagement::Client::from_conf(config) }
    }

    /// A pusher with fixed credentials and region (the local gateway, tests).
    pub fn with_static_credentials(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Self {
        use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
        let credentials = Credentials::new(access_key, secret_key, None, None, "static");
        let config = aws_sdk_apigatewaymanagement::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .build();
        Self { client: aws_sdk_apigatewaymanagement::Client::from_conf(config) }
    }
}

impl Pusher for ApiGatewayPusher {
    async fn push(&self, connection_id: &str, frame: String) -> Result<(), PushError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(frame.into_bytes()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(service) if service.is_gone_exception() => Err(PushError::Gone),
                _ => {
                    Err(PushError::Failed(aws_sdk_apigatewaymanagement::error::DisplayErrorContext(error).to_string()))
                }
            },
        }
    }
}

/// Attempts per frame before an API Gateway connection is given up as broken.
const PUSH_ATTEMPTS: u32 = 3;

/// Drives one API Gateway connection's outbound side: drains its link through `pusher` and keeps the heartbeat.
/// Inbound frames reach the link through [`handle_frame`] from the internal endpoint.
pub async fn drive_gateway<P: Pusher>(host: Host, link: Arc<Link>, pusher: Arc<P>) {
    host.metrics().connections.inc();
    let flush = host.config().flush_interval;
    let mut heartbeat = HeartbeatTimer::new();
    let mut ticker = tokio::time::interval(HeartbeatTimer::period(&link));
    ticker.tick().await;
    'connection: loop {
        tokio::select! {
            frames = link.next_frames(flush) => {
                let Some(frames) = frames else { break };
                for frame in frames {
                    let mut attempt = 0;
                    loop {
                        match pusher.push(&link.connection_id, frame.clone()).await {
                            Ok(()) => {
                                host.metrics().frames_sent.inc();
                                break;
                            }
                            Err(PushError::Gone) => break 'connection,
                            Err(PushError::Failed(error)) => {
                                attempt += 1;
                                if attempt >= PUSH_ATTEMPTS {
                                    tracing::warn!(link = link.id, %error, "giving up on a connection");
                                    break 'connection;
                                }
                                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                            }
                        }
                    }
                }
            }
            _ = ticker.tick() => if !heartbeat.tick(&link) {
                break;
            },
        }
    }
    host.remove_gateway_link(&link.connection_id);
    host.detach(&link);
    host.metrics().connections.dec();
}
