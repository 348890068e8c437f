//! API Gateway mode: inbound frames through the internal endpoint, outbound frames through PostToConnection
//! (the real AWS SDK client, SigV4 and all) to a local @connections endpoint; a 410 Gone drops the connection, and a
//! connection given up is closed with DeleteConnection.

mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use support::{TestHost, USER, database, host_config};
use tokio::sync::mpsc;
use tradesim_host::apigateway::ApiGatewayPusher;
use tradesim_protocol::stream::{Envelope, OrderOutcome, ServerMessage};

#[derive(Clone)]
struct Fake {
    pushed: mpsc::UnboundedSender<(String, String)>,
    deleted: Arc<Mutex<Vec<String>>>,
}

/// `gone` is gone (410), `broken` fails every push (500).
async fn post_to_connection(State(fake): State<Fake>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    match id.as_str() {
        "gone" => StatusCode::GONE,
        "broken" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => {
            let _ = fake.pushed.send((id, String::from_utf8_lossy(&body).into_owned()));
            StatusCode::OK
        }
    }
}

async fn delete_connection(State(fake): State<Fake>, Path(id): Path<String>) -> StatusCode {
    fake.deleted.lock().unwrap().push(id);
    StatusCode::NO_CONTENT
}

/// A stand-in for API Gateway's management API: records every pushed frame and every deleted connection.
async fn fake_gateway() -> (String, mpsc::UnboundedReceiver<(String, String)>, Arc<Mutex<Vec<String>>>) {
    let (pushed, receiver) = mpsc::unbounded_channel();
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let fake = Fake { pushed, deleted: Arc::clone(&deleted) };
    let management = post(post_to_connection).delete(delete_connection);
    let app = Router::new().route("/@connections/{id}", management).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (endpoint, receiver, deleted)
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
    let (endpoint, mut pushed, deleted) = fake_gateway().await;
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

    // Pushes that keep failing: the host gives the connection up and closes it at API Gateway, so that the browser
    // sees the close and reconnects. A gone connection needs no closing.
    let connect = json!({ "sim": "sim-g", "ticket": host.ticket("sim-g").await });
    let (status, _) = host.call(reqwest::Method::POST, "/internal/gateway/connections/broken", Some(connect)).await;
    assert_eq!(status, 200);
    let url = host.url("/internal/gateway/connections/broken/messages");
    let sent = host.http.post(&url).bearer_auth(support::TOKEN).body(hello.to_string()).send().await;
    assert_eq!(sent.expect("message").status().as_u16(), 202);
    for _ in 0..100 {
        if deleted.lock().unwrap().contains(&"broken".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deleted = deleted.lock().unwrap().clone();
    assert!(deleted.contains(&"broken".to_owned()) && !deleted.contains(&"gone".to_owned()), "{deleted:?}");

    // Without the service credential nothing is accepted.
    let response = host.http.post(host.url("/internal/gateway/connections/c1/messages")).body("{}").send().await;
    assert_eq!(response.expect("request").status().as_u16(), 401);
}
