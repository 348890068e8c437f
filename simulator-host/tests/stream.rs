//! The stream protocol end to end over a real WebSocket: hello, snapshot, orders and their acknowledgements,
//! idempotent retries, resume by replay, bad frames.

mod support;

use serde_json::json;
use support::{Client, TestHost, calm, database, host_config, user_reports};
use tradesim_protocol::stream::{ErrorCode, OrderOutcome, ResumeMode, ServerMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trades_and_resumes_without_loss_or_duplicates() {
    let db = database().await;
    let host = TestHost::start(db.url(), host_config("h1")).await;
    host.create_sim("sim-a", calm(), 7).await;

    let mut client = Client::connect(&host, "sim-a", 0).await;
    let welcome = client.recv().await;
    assert!(matches!(welcome, ServerMessage::Welcome { resume: ResumeMode::Snapshot, .. }), "{welcome:?}");
    client.until(|m| matches!(m, ServerMessage::Snapshot { chunk, chunks, .. } if chunk + 1 == *chunks)).await;

    client.order("o-1", "buy", 5, json!({ "type": "limit", "price": 9_000 })).await;
    let ack = client.until(|m| matches!(m, ServerMessage::OrderAck { .. })).await;
    let ServerMessage::OrderAck { outcome: OrderOutcome::Accepted { order_id, seq }, .. } = ack else {
        panic!("accepted expected: {ack:?}")
    };
    client.until_seq(seq).await;
    // A retry (as after a lost acknowledgement) gets the same answer and enters nothing.
    client.order("o-1", "buy", 5, json!({ "type": "limit", "price": 9_000 })).await;
    let retry = client.until(|m| matches!(m, ServerMessage::OrderAck { .. })).await;
    assert_eq!(
        retry,
        ServerMessage::OrderAck {
            client_order_id: tradesim_protocol::ClientOrderId::parse("o-1").unwrap(),
            outcome: OrderOutcome::Accepted { order_id, seq },
        }
    );
    // An order the engine refuses is answered with its reason.
    client.order("o-2", "buy", 0, json!({ "type": "limit", "price": 9_000 })).await;
    let refused = client.until(|m| matches!(m, ServerMessage::OrderAck { .. })).await;
    assert!(matches!(refused, ServerMessage::OrderAck { outcome: OrderOutcome::Rejected { .. }, .. }), "{refused:?}");

    // Drop the connection, let the market move, resume from the last seq applied.
    let resumed_from = client.last_seq;
    let seen = client.events.clone();
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut client = Client::connect(&host, "sim-a", resumed_from).await;
    let welcome = client.recv().await;
    assert!(matches!(welcome, ServerMessage::Welcome { resume: ResumeMode::Replay, .. }), "{welcome:?}");
    let ServerMessage::Welcome { seq: head, .. } = welcome else { unreachable!() };
    client.until_seq(head).await;
    let new_orders = user_reports(&seen)
        .iter()
        .chain(user_reports(&client.events).iter())
        .filter(|r| r.exec_type == tradesim_protocol::ExecType::New)
        .count();
    assert_eq!(new_orders, 1, "exactly one order was entered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_typed_errors_and_change_nothing() {
    let db = database().await;
    let host = TestHost::start(db.url(), host_config("h1")).await;
    // Paused, so that nothing but a command could change the state between the two hashes.
    let body = json!({ "id": "sim-b", "owner": support::USER, "config": { "scenario": "none" }, "seed": 1, "speed": "paused" });
    let (status, created) = host.call(reqwest::Method::POST, "/internal/simulators", Some(body)).await;
    assert_eq!(status, 201, "create: {created}");
    // The host lists its simulators, all or those in one state (the simulator manager asks for the failed ones).
    let (status, all) = host.call(reqwest::Method::GET, "/internal/simulators", None).await;
    let listed = (all["simulators"][0]["id"].as_str(), all["simulators"][0]["state"].as_str());
    assert_eq!(
        (status, listed, all["simulators"].as_array().map(Vec::len)),
        (200, (Some("sim-b"), Some("paused")), Some(1))
    );
    let (status, failed) = host.call(reqwest::Method::GET, "/internal/simulators?state=failed", None).await;
    assert_eq!((status, failed), (200, json!({ "simulators": [] })));
    let mut client = Client::connect(&host, "sim-b", 0).await;
    client.until(|m| matches!(m, ServerMessage::Snapshot { chunk, chunks, .. } if chunk + 1 == *chunks)).await;
    let before = host.state_hash("sim-b").await;
    let oversize = format!(r#"{{"v":1,"type":"ping","sim":"sim-b","nonce":1,"pad":"{}"}}"#, "x".repeat(40_000));
    let cases = [
        ("not json".to_owned(), ErrorCode::BadJson),
        (r#"{"v":1,"type":"teleport","sim":"sim-b"}"#.to_owned(), ErrorCode::UnknownType),
        (r#"{"v":9,"type":"hello","sim":"sim-b","last_seq":0}"#.to_owned(), ErrorCode::WrongVersion),
        (oversize, ErrorCode::Oversize),
        (r#"{"v":1,"type":"cancel","sim":"sim-x","order":{"order_id":1}}"#.to_owned(), ErrorCode::WrongSimulator),
        (r#"{"v":1,"type":"order","sim":"sim-b","order":{"qty":-1}}"#.to_owned(), ErrorCode::InvalidMessage),
    ];
    for (frame, code) in cases {
        client.send_raw(frame).await;
        let error = client.until(|m| matches!(m, ServerMessage::Error { .. })).await;
        assert!(matches!(error, ServerMessage::Error { code: c, .. } if c == code), "{error:?} for {code:?}");
    }
    assert_eq!(host.state_hash("sim-b").await, before, "a refused frame changes nothing");
}
