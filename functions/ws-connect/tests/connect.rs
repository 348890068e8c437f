//! `$connect` fed captured API Gateway events, against real PostgreSQL and a fake host.

use tradesim_control::limits::Rate;
use tradesim_lambda::testing::{fixture, ws_event};

const CONNECT: &str = include_str!("fixtures/connect.json");

#[tokio::test]
async fn a_captured_connect_is_admitted_and_registered() {
    let f = fixture(Rate::new(60, 20)).await;
    let response = ws_connect::handle(f.gateway.clone(), ws_event(CONNECT)).await;
    assert_eq!(response.status_code, 200, "{:?}", response.body);
    assert_eq!(f.host.calls(), ["open d9ZOKdU7oAMCJ-g="]);
    let client = f.pool.get().await.unwrap();
    let row = client.query_one("SELECT user_id, sim_id, family_id FROM connections", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("u_alice".into(), "sim_1".into()));
}

#[tokio::test]
async fn refusals_answer_their_status_and_code() {
    let f = fixture(Rate::new(60, 20)).await;
    let foreign = CONNECT.replace("https://app.test", "https://evil.test");
    let response = ws_connect::handle(f.gateway.clone(), ws_event(&foreign)).await;
    assert_eq!(response.status_code, 403);
    assert!(format!("{:?}", response.body).contains("origin_not_allowed"), "{:?}", response.body);

    let forged = CONNECT.replace("\"good\"", "\"forged\"");
    let response = ws_connect::handle(f.gateway.clone(), ws_event(&forged)).await;
    assert_eq!(response.status_code, 401);
    assert_eq!(response.headers["content-type"], "application/json");

    let no_query = serde_json::to_string(&{
        let mut event: serde_json::Value = serde_json::from_str(CONNECT).unwrap();
        event.as_object_mut().unwrap().remove("queryStringParameters");
        event.as_object_mut().unwrap().remove("multiValueQueryStringParameters");
        event
    })
    .unwrap();
    assert_eq!(ws_connect::handle(f.gateway.clone(), ws_event(&no_query)).await.status_code, 400);
}

#[tokio::test]
async fn connects_past_the_rate_limit_get_429_with_retry_after() {
    let f = fixture(Rate::new(1, 1)).await;
    assert_eq!(ws_connect::handle(f.gateway.clone(), ws_event(CONNECT)).await.status_code, 200);
    let limited = ws_connect::handle(f.gateway.clone(), ws_event(CONNECT)).await;
    assert_eq!(limited.status_code, 429);
    assert!(limited.headers.contains_key("retry-after"));
}
