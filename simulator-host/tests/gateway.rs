//! API Gateway mode: inbound frames through the internal endpoint, outbound frames through PostToConnection
//! (the real AWS SDK client, SigV4 and all) to a local @connections endpoint; a 410 Gone drops the connection.

mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{TestHost, USER, database, host_config};
use tokio::sync::mpsc;
use tradesim_host::transport::ApiGatewayPusher;
use tradesim_protocol::stream::{Envelope, OrderOutcome, ServerMessage};

type Pushed = mpsc::UnboundedSender<(String, String)>;

async fn post_to_connection(State(pushed): State<Pushed>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if id == "gone" {
        return StatusCode::GONE;
    }
    let _ = pushed.send((id, String::from_utf8_lossy(&body).into_owned()));
    StatusCode::OK
}

/// A stand-in for API Gateway's management API: records every pushed frame.
async fn fake_gateway() -> (String, mpsc::UnboundedReceiver<(String, String)>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let app = Router::new().route("/@connections/{id}", post(post_to_connection)).with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (endpoint, receiver)
}

async fn next_message(pushed: &mut mpsc::UnboundedReceiver<(String, String)>) -> (String, ServerMessage) {
    let (id, frame) =
        tokio::time::timeout(Duration::from_secs(10), pushed.recv()).await.expect("a push in 10 s").expect("open");
    let envelope: Envelope<ServerMessage> = serde_json::from_str(&frame).expect("a protocol message");
    (id, envelope.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_flow_through_the_gateway_and_gone_connections_are_dropped() {
    let db = database().await;
    let (endpoint, mut pushed) = fake_gateway().await;
    let pusher = Arc::new(ApiGatewayPusher::with_static_credentials(&endpoint, "eu-west-1", "AKIDTEST", "secret"));
    let host = TestHost::start_with_pusher(db.url(), host_config("gw"), Some(pusher)).await;
    host.create_sim("sim-g", json!({ "scenario": "none" }), 3).await;

    // The host redeems the browser's ticket itself: a forged, reused or foreign one is refused.
    let forged = json!({ "sim": "sim-g", "ticket": "forged.ticket" });
    let (status, body) = host.call(reqwest::Method::POST, "/internal/gateway/connections/c0", Some(forged)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("bad_ticket")), "{body}");
    let ticket = host.ticket("sim-g").await;
    let connect = json!({ "sim": "sim-g", "ticket": ticket });
    let (status, body) =
        host.call(reqwest::Method::POST, "/internal/gateway/connections/c1", Some(connect.clone())).await;
    assert_eq!((status, body), (200, json!({ "user": USER, "sim": "sim-g" })));
    let (status, body) = host.call(reqwest::Method::POST, "/internal/gateway/connections/c2", Some(connect)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("bad_ticket")), "a ticket is single-use: {body}");
    let send = |frame: serde_json::Value| {
        let http = host.http.clone();
        let url = host.url("/internal/gateway/connections/c1/messages");
        async move {
            let response = http.post(url).bearer_auth(support::TOKEN).body(frame.to_string()).send().await;
            response.expect("message").status().as_u16()
        }
    };
    assert_eq!(send(json!({ "v": 1, "type": "hello", "sim": "sim-g", "last_seq": 0 })).await, 202);
    let (id, welcome) = next_message(&mut pushed).await;
    assert_eq!(id, "c1");
    assert!(matches!(welcome, ServerMessage::Welcome { .. }), "{welcome:?}");

    let order = json!({ "v": 1, "type": "order", "sim": "sim-g", "order": {
        "instrument": 0, "client_order_id": "g-1", "side": "sell", "qty": 3,
        "order_type": { "type": "limit", "price": 10_100 }, "tif": { "type": "gtc" } } });
    assert_eq!(send(order).await, 202);
    loop {
        let (_, message) = next_message(&mut pushed).await;
        if let ServerMessage::OrderAck { outcome, .. } = message {
            assert!(matches!(outcome, OrderOutcome::Accepted { .. }), "{outcome:?}");
            break;
        }
    }
    // A bad frame through the gateway gets its typed error pushed back.
    assert_eq!(send(json!({ "v": 1, "type": "warp", "sim": "sim-g" })).await, 202);
    loop {
        if let (_, ServerMessage::Error { code, .. }) = next_message(&mut pushed).await {
            assert_eq!(code, tradesim_protocol::stream::ErrorCode::UnknownType);
            break;
        }
    }

    // API Gateway answers 410 for a connection that went away: the host drops it.
    let connect = json!({ "sim": "sim-g", "ticket": host.ticket("sim-g").await });
    let (status, _) = host.call(reqwest::Method::POST, "/internal/gateway/connections/gone", Some(connect)).await;
    assert_eq!(status, 200);
    let hello = json!({ "v": 1, "type": "hello", "sim": "sim-g", "last_seq": 0 });
    let url = host.url("/internal/gateway/connections/gone/messages");
    let post = || host.http.post(&url).bearer_auth(support::TOKEN).body(hello.to_string()).send();
    assert_eq!(post().await.expect("message").status().as_u16(), 202);
    let mut dropped = false;
    for _ in 0..100 {
        if post().await.expect("message").status().as_u16() == 410 {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped, "a connection API Gateway calls gone is dropped");

    // Without the service credential nothing is accepted.
    let response = host.http.post(host.url("/internal/gateway/connections/c1/messages")).body("{}").send().await;
    assert_eq!(response.expect("request").status().as_u16(), 401);
}
