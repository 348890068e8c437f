//! `$disconnect` fed captured API Gateway events, against real PostgreSQL and a fake host.

use tradesim_control::limits::Rate;
use tradesim_lambda::testing::{fixture, ws_event};

const CONNECT: &str = include_str!("fixtures/connect.json");
const DISCONNECT: &str = include_str!("fixtures/disconnect.json");

#[tokio::test]
async fn a_disconnect_closes_at_the_host_and_unregisters_once() {
    let f = fixture(Rate::new(60, 20)).await;
    f.gateway.connect(&tradesim_lambda::ws::connect_request(&ws_event(CONNECT))).await.unwrap();
    assert_eq!(ws_disconnect::handle(f.gateway.clone(), ws_event(DISCONNECT)).await.status_code, 200);
    // API Gateway may deliver it twice; the second changes nothing.
    assert_eq!(ws_disconnect::handle(f.gateway.clone(), ws_event(DISCONNECT)).await.status_code, 200);
    assert_eq!(f.host.calls(), ["open d9ZOKdU7oAMCJ-g=", "close d9ZOKdU7oAMCJ-g="]);
    let client = f.pool.get().await.unwrap();
    let closed: i64 = client
        .query_one("SELECT count(*) FROM audit_events WHERE kind = 'connection_closed'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(closed, 1);
}
