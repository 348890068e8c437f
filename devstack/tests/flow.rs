//! The whole system through the local gateway: real HTTP and WebSocket on port 0, real PostgreSQL (a database per
//! test), a real simulator host pushing through the gateway's @connections endpoint (see [`support::Stack`]).
//! Needs the guest module: `make guest`.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::{ORIGIN, Stack, has_market_data, next, refused_with, send, until};
use tradesim_protocol::EventBody;
use tradesim_protocol::stream::{OrderOutcome, ResumeMode, ServerMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_to_fill_through_the_local_gateway_and_logout_closes_the_socket() {
    let stack = Stack::start().await;
    let stack = &stack.api;
    let access = stack.sign_up("alice").await;
    let session = stack.session(&access).await;
    let sim = stack.start_simulator(&access, &session).await;

    // $connect refuses a foreign origin and a forged ticket; a ticket works once.
    let ticket = stack.ticket(&access, &sim).await;
    assert_eq!(refused_with(stack.connect(&sim, &ticket, "http://evil.test").await), 403);
    assert_eq!(refused_with(stack.connect(&sim, "forged.ticket", ORIGIN).await), 401);
    let mut socket = stack.connect(&sim, &ticket, ORIGIN).await.expect("connect");
    assert_eq!(refused_with(stack.connect(&sim, &ticket, ORIGIN).await), 401, "a ticket is single use");

    // $default: hello, then the stream comes back through @connections.
    send(&mut socket, &sim, json!({ "type": "hello", "last_seq": 0 })).await;
    until(&mut socket, |m| matches!(m, ServerMessage::Welcome { .. })).await;
    until(&mut socket, has_market_data).await;
    let order = json!({
        "instrument": 0, "client_order_id": "e2e-1", "side": "buy", "qty": 1,
        "order_type": { "type": "market" }, "tif": { "type": "ioc" },
    });
    send(&mut socket, &sim, json!({ "type": "order", "order": order })).await;
    let (mut acked, mut filled) = (false, false);
    while !(acked && filled) {
        match next(&mut socket).await.expect("open") {
            ServerMessage::OrderAck { client_order_id, outcome } if client_order_id.as_str() == "e2e-1" => {
                assert!(matches!(outcome, OrderOutcome::Accepted { .. }), "{outcome:?}");
                acked = true;
            }
            ServerMessage::Events { events, .. } => {
                filled |= events.iter().any(|e| match &e.body {
                    EventBody::ExecutionReport(report) => {
                        report.client_order_id.is_some_and(|id| id.as_str() == "e2e-1") && report.cum_qty.0 == 1
                    }
                    _ => false,
                });
            }
            _ => {}
        }
    }
    send(&mut socket, &sim, json!({ "type": "ping", "nonce": 7 })).await;
    until(&mut socket, |m| matches!(m, ServerMessage::Pong { nonce: 7 })).await;

    // Keep-alive over HTTP while the stream runs.
    let kept = stack.post(&format!("/v1/sessions/{session}/keep-alive"), Some(&access), None).await;
    assert_eq!(kept["state"], "active");
    assert_eq!(stack.open_connections().await, 1);

    // Logout revokes the sign-in: its socket is closed within 2 s.
    let (status, _) = stack.call(reqwest::Method::POST, "/v1/auth/logout", Some(&access), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed =
        tokio::time::timeout(Duration::from_secs(2), async { while next(&mut socket).await.is_some() {} }).await;
    assert!(closed.is_ok(), "the socket closes within 2 s of logout");
    assert_eq!(stack.open_connections().await, 0);
    let kinds = stack.audit_kinds().await;
    for kind in ["connection_opened", "connection_closed", "logout"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_endpoint_wants_a_signature_and_answers_gone_for_unknown_connections() {
    let stack = Stack::start().await;
    let stack = &stack.api;
    let url = format!("{}/@connections/con_unknown", stack.base);
    let unsigned = stack.http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    let signed = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/execute-api/aws4_request, Signature=0";
    let gone = stack.http.post(&url).header("authorization", signed).body("{}").send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
    // A $connect for a simulator nobody started, and a frame-less upgrade without a ticket.
    assert_eq!(refused_with(stack.connect("sim_nope", "t.t", ORIGIN).await), 404);
    let (status, body) = stack.call(reqwest::Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!((status, body["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
    let (status, body) = stack.call(reqwest::Method::GET, "/v1/nothing-here", None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // No SPA build in this test: the page says how to make one.
    let page = stack.http.get(format!("{}/trade", stack.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("npm run build"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_restarts_on_its_port_and_a_client_resumes_after_the_seq_it_applied() {
    let stack = Stack::start().await;
    let stack = &stack.api;
    let access = stack.sign_up("carol").await;
    let session = stack.session(&access).await;
    let sim = stack.start_simulator(&access, &session).await;
    let (mut socket, _) = stack.open(&access, &sim, 0).await;
    let ServerMessage::Events { to: applied, .. } = until(&mut socket, has_market_data).await else { unreachable!() };

    stack.gateway.lock().await.restart().await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async { while next(&mut socket).await.is_some() {} });
    assert!(closed.await.is_ok(), "the restart closes every socket");
    // Same port: a new ticket and connection resume after the seq the client applied, nothing skipped.
    let _resumed = resumes_after(stack, &access, &sim, applied).await;
    // The old socket's $disconnect ran: only the new connection is registered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stack.open_connections().await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "{} connections registered", stack.open_connections().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_closed_at_its_lifetime_and_the_client_resumes_on_a_new_one() {
    let stack = Stack::start().await;
    let stack = &stack.api;
    stack.plane.sockets.set_lifetime(Duration::from_secs(2));
    let access = stack.sign_up("dave").await;
    let session = stack.session(&access).await;
    let sim = stack.start_simulator(&access, &session).await;
    let opened = tokio::time::Instant::now();
    let (mut socket, _) = stack.open(&access, &sim, 0).await;
    let mut applied = 0;
    while let Some(message) = next(&mut socket).await {
        if let ServerMessage::Events { to, .. } = message {
            applied = to;
        }
    }
    let lived = opened.elapsed();
    assert!((Duration::from_secs(2)..Duration::from_secs(5)).contains(&lived), "closed after {lived:?}");
    assert!(applied > 0, "market data flowed before the cutoff");
    resumes_after(stack, &access, &sim, applied).await;
}

/// A new ticket and connection for `sim` replay from the seq after `applied`: nothing skipped, nothing repeated.
/// The new socket, still open.
async fn resumes_after(stack: &support::Api, access: &str, sim: &str, applied: u64) -> support::Socket {
    let (mut socket, welcome) = stack.open(access, sim, applied).await;
    assert!(matches!(welcome, ServerMessage::Welcome { resume: ResumeMode::Replay, .. }), "{welcome:?}");
    let ServerMessage::Events { from, .. } = until(&mut socket, |m| matches!(m, ServerMessage::Events { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(from, applied + 1);
    socket
}
