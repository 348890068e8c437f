//! `$default` fed captured API Gateway events, against real PostgreSQL and a fake host.

use std::sync::atomic::Ordering;
use tradesim_control::limits::Rate;
use tradesim_lambda::testing::{fixture, ws_event};

const CONNECT: &str = include_str!("fixtures/connect.json");
const MESSAGE: &str = include_str!("fixtures/message.json");

#[tokio::test]
async fn a_frame_goes_to_the_host_as_it_is() {
    let f = fixture(Rate::new(60, 20)).await;
    assert_eq!(f.gateway.connect(&tradesim_lambda::ws::connect_request(&ws_event(CONNECT))).await.map(drop), Ok(()));
    let response = ws_message::handle(f.gateway.clone(), ws_event(MESSAGE)).await;
    assert_eq!(response.status_code, 200, "{:?}", response.body);
    assert_eq!(f.host.calls()[1], r#"forward d9ZOKdU7oAMCJ-g= {"v":1,"type":"ping","sim":"sim_1","nonce":1}"#);
}

#[tokio::test]
async fn a_binary_frame_is_decoded_and_forwarded() {
    let f = fixture(Rate::new(60, 20)).await;
    f.gateway.connect(&tradesim_lambda::ws::connect_request(&ws_event(CONNECT))).await.unwrap();
    let binary = MESSAGE
        .replace(r#""isBase64Encoded": false"#, r#""isBase64Encoded": true"#)
        .replace(r#""{\"v\":1,\"type\":\"ping\",\"sim\":\"sim_1\",\"nonce\":1}""#, r#""aGk=""#);
    assert_eq!(ws_message::handle(f.gateway.clone(), ws_event(&binary)).await.status_code, 200);
    assert_eq!(f.host.calls()[1], "forward d9ZOKdU7oAMCJ-g= hi");
}

#[tokio::test]
async fn a_connection_the_host_forgot_is_deleted_at_the_gateway() {
    let f = fixture(Rate::new(60, 20)).await;
    // Never connected: unknown to the registry.
    let response = ws_message::handle(f.gateway.clone(), ws_event(MESSAGE)).await;
    assert_eq!(response.status_code, 410);
    f.gateway.connect(&tradesim_lambda::ws::connect_request(&ws_event(CONNECT))).await.unwrap();
    f.host.forgot.store(true, Ordering::SeqCst);
    assert_eq!(ws_message::handle(f.gateway.clone(), ws_event(MESSAGE)).await.status_code, 410);
    assert_eq!(*f.closed.0.lock().unwrap(), ["d9ZOKdU7oAMCJ-g=", "d9ZOKdU7oAMCJ-g="]);
}
