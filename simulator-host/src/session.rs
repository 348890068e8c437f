//! The protocol of one client connection, whatever carries it: parsing and validating inbound frames, hello and
//! resume, order entry with its rate limit, heartbeats. Transports feed frames in and drain the link's outbox.
//!
//! # Invariants
//! - A refused frame gets an `error` with a stable code and changes nothing.
//! - Nothing but `hello` (and pings) is taken before `hello`.

use crate::host::Host;
use crate::link::Link;
use crate::simulator::Submitted;
use std::sync::Arc;
use tradesim_protocol::stream::{
    CLIENT_MESSAGE_TYPES, ClientMessage, ErrorCode, MAX_FRAME_BYTES, STREAM_VERSION, ServerMessage,
};
use tradesim_protocol::{Command, ParticipantId};

/// A refused frame: the code and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
}

impl FrameError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Parses one client frame: size, JSON, version, type, fields, simulator, in that order.
pub fn parse_frame(text: &str, link: &Link) -> Result<ClientMessage, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::new(ErrorCode::Oversize, format!("frames are at most {MAX_FRAME_BYTES} bytes")));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| FrameError::new(ErrorCode::BadJson, format!("the frame is not JSON: {error}")))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(FrameError::new(ErrorCode::BadJson, "the frame must be a JSON object"));
    };
    match object.remove("v").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(STREAM_VERSION) => {}
        _ => {
            return Err(FrameError::new(
                ErrorCode::WrongVersion,
                format!(
                    "this server speaks version {STREAM_VERSION} of the stream protocol; send \"v\": {STREAM_VERSION}"
                ),
            ));
        }
    }
    let known = object.get("type").and_then(|t| t.as_str()).is_some_and(|t| CLIENT_MESSAGE_TYPES.contains(&t));
    if !known {
        return Err(FrameError::new(
            ErrorCode::UnknownType,
            format!("\"type\" must be one of {}", CLIENT_MESSAGE_TYPES.join(", ")),
        ));
    }
    let message: ClientMessage = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|error| FrameError::new(ErrorCode::InvalidMessage, error.to_string()))?;
    if message.sim() != &link.sim {
        return Err(FrameError::new(
            ErrorCode::WrongSimulator,
            format!("this connection is for simulator {}, not {}", link.sim, message.sim()),
        ));
    }
    Ok(message)
}

fn refuse(host: &Host, link: &Link, error: FrameError, request_id: Option<String>) {
    host.metrics().bad_frames.inc();
    link.send(ServerMessage::Error { code: error.code, message: error.message, request_id, retry_after_ms: None });
}

/// Handles one inbound frame.
pub fn handle_frame(host: &Host, link: &Arc<Link>, text: &str) {
    link.heard();
    let message = match parse_frame(text, link) {
        Ok(message) => message,
        Err(error) => return refuse(host, link, error, None),
    };
    let participant = ParticipantId::USER;
    let (command, client_order_id, request_id) = match message {
        ClientMessage::Hello { last_seq, .. } => {
            if host.attach(link, last_seq).is_err() {
                link.send(unavailable(link));
                link.close();
            }
            return;
        }
        ClientMessage::Ping { nonce, .. } => return link.send(ServerMessage::Pong { nonce }),
        ClientMessage::Pong { .. } => return,
        _ if !link.has_said_hello() => {
            return refuse(host, link, FrameError::new(ErrorCode::HelloFirst, "send hello first"), None);
        }
        ClientMessage::SetSpeed { speed, .. } => {
            if host.set_speed(&link.sim, speed).is_err() {
                link.send(unavailable(link));
            }
            return;
        }
        ClientMessage::Order { order, .. } => {
            let command = Command::NewOrder(order.to_new_order(participant));
            (command, Some(order.client_order_id), Some(order.client_order_id.as_str().to_owned()))
        }
        ClientMessage::Cancel { order, request_id, .. } => (Command::Cancel { participant, order }, None, request_id),
        ClientMessage::Amend { order, qty, price, request_id, .. } => {
            (Command::Amend { participant, order, qty, price }, None, request_id)
        }
        ClientMessage::MassCancel { instrument, side, request_id, .. } => {
            (Command::MassCancel { participant, instrument, side }, None, request_id)
        }
    };
    if let Err(retry_after) = host.check_rate(&link.user) {
        let retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1);
        link.send(ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: format!("orders, cancels and amends are limited per user; retry in {retry_after_ms} ms"),
            request_id: request_id.clone(),
            retry_after_ms: Some(retry_after_ms),
        });
        return;
    }
    let submitted = Submitted { command, client_order_id, request_id, link: Some(Arc::clone(link)) };
    if host.submit(link, submitted).is_err() {
        link.send(unavailable(link));
    }
}

/// The answer when the link's simulator is not (or no longer) running here.
pub fn unavailable(link: &Link) -> ServerMessage {
    ServerMessage::Error {
        code: ErrorCode::Unavailable,
        message: format!("simulator {} is not running on this host; reconnect to find it", link.sim),
        request_id: None,
        retry_after_ms: Some(1_000),
    }
}

/// A connection's heartbeat duty: pings at the link's interval, and the dead-link verdict, checked at least once a
/// second so that a silent client goes close to the configured timeout.
#[derive(Debug)]
pub struct HeartbeatTimer {
    last_ping: std::time::Instant,
    nonce: u64,
}

impl HeartbeatTimer {
    pub fn new() -> Self {
        Self { last_ping: std::time::Instant::now(), nonce: 0 }
    }

    /// How often the transport should call [`Self::tick`].
    pub fn period(link: &Link) -> std::time::Duration {
        link.heartbeat.interval.min(std::time::Duration::from_secs(1))
    }

    /// `false` when the client has been silent too long. A client is pinged (once an interval) only while it has
    /// been silent for an interval: one that speaks on its own, as the SPA does with its pings, needs no ping to
    /// show it is alive, and every ping costs it a pong (two pushes through API Gateway).
    pub fn tick(&mut self, link: &Link) -> bool {
        let silence = link.silence();
        if silence > link.heartbeat.dead_after {
            tracing::info!(link = link.id, sim = %link.sim, "peer silent past the dead-link timeout");
            return false;
        }
        if silence >= link.heartbeat.interval && self.last_ping.elapsed() >= link.heartbeat.interval {
            self.last_ping = std::time::Instant::now();
            self.nonce += 1;
            link.send(ServerMessage::Ping { nonce: self.nonce });
        }
        true
    }
}

impl Default for HeartbeatTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Heartbeat;
    use crate::outbox::OutboxLimits;
    use rstest::rstest;
    use tradesim_protocol::stream::{SimId, UserId};

    fn link() -> Link {
        let user = UserId::parse("u1").unwrap();
        Link::new(user, SimId::parse("s1").unwrap(), "c1".into(), Heartbeat::default(), OutboxLimits::default())
    }

    #[rstest]
    #[case::not_json("hello", ErrorCode::BadJson)]
    #[case::not_an_object("[1,2]", ErrorCode::BadJson)]
    #[case::no_version(r#"{"type":"hello","sim":"s1","last_seq":0}"#, ErrorCode::WrongVersion)]
    #[case::wrong_version(r#"{"v":2,"type":"hello","sim":"s1","last_seq":0}"#, ErrorCode::WrongVersion)]
    #[case::unknown_type(r#"{"v":1,"type":"subscribe","sim":"s1"}"#, ErrorCode::UnknownType)]
    #[case::no_type(r#"{"v":1,"sim":"s1"}"#, ErrorCode::UnknownType)]
    #[case::missing_field(r#"{"v":1,"type":"hello","sim":"s1"}"#, ErrorCode::InvalidMessage)]
    #[case::wrong_type(r#"{"v":1,"type":"hello","sim":"s1","last_seq":"x"}"#, ErrorCode::InvalidMessage)]
    #[case::bad_order(r#"{"v":1,"type":"order","sim":"s1","order":{"instrument":1}}"#, ErrorCode::InvalidMessage)]
    #[case::wrong_simulator(r#"{"v":1,"type":"hello","sim":"s2","last_seq":0}"#, ErrorCode::WrongSimulator)]
    fn bad_frames_get_their_code(#[case] frame: &str, #[case] code: ErrorCode) {
        assert_eq!(parse_frame(frame, &link()).unwrap_err().code, code);
    }

    #[test]
    fn oversize_frames_are_refused_before_parsing() {
        let frame = format!(r#"{{"v":1,"type":"ping","sim":"s1","nonce":1,"pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
        assert_eq!(parse_frame(&frame, &link()).unwrap_err().code, ErrorCode::Oversize);
    }

    /// What the link has queued for the client, as frames (none within a moment: nothing).
    async fn sent(link: &Link) -> Vec<String> {
        let frames = link.next_frames(std::time::Duration::ZERO);
        tokio::time::timeout(std::time::Duration::from_millis(20), frames).await.ok().flatten().unwrap_or_default()
    }

    #[tokio::test]
    async fn only_a_client_silent_for_an_interval_is_pinged() {
        let interval = std::time::Duration::from_millis(200);
        let heartbeat = Heartbeat { interval, dead_after: std::time::Duration::from_secs(60) };
        let (user, sim) = (UserId::parse("u1").unwrap(), SimId::parse("s1").unwrap());
        let link = Link::new(user, sim, "c1".into(), heartbeat, OutboxLimits::default());
        let mut timer = HeartbeatTimer::new();
        assert!(timer.tick(&link));
        assert!(sent(&link).await.is_empty(), "nothing is due yet");

        tokio::time::sleep(interval + interval / 4).await;
        link.heard();
        assert!(timer.tick(&link));
        assert!(sent(&link).await.is_empty(), "a ping is due, but the client has just spoken");

        tokio::time::sleep(interval + interval / 4).await;
        assert!(timer.tick(&link));
        let frames = sent(&link).await;
        assert!(matches!(frames.as_slice(), [ping] if ping.contains(r#""type":"ping""#)), "{frames:?}");
    }

    #[test]
    fn good_frames_parse() {
        let frame = r#"{"v":1,"type":"order","sim":"s1","order":{"instrument":1,"client_order_id":"c-1","side":"buy",
            "qty":5,"order_type":{"type":"limit","price":100},"tif":{"type":"gtc"}}}"#;
        assert!(matches!(parse_frame(frame, &link()), Ok(ClientMessage::Order { .. })));
    }
}
