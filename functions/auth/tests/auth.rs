//! The auth Lambda's handler fed captured API Gateway HTTP API events, against real PostgreSQL.

use tradesim_lambda::http::{handle, source_ip};
use tradesim_lambda::testing::{http_event, http_router, json_of};

const LOGIN: &str = include_str!("fixtures/login.json");

fn register() -> String {
    LOGIN.replace("/v1/auth/login", "/v1/auth/register")
}

#[tokio::test]
async fn register_then_login_through_captured_events() {
    let (router, _database) = http_router().await;
    let (status, user) = json_of(handle(router.clone(), http_event(&register())).await.unwrap()).await;
    assert_eq!((status, user["username"].as_str()), (201, Some("alice")), "{user}");
    let (status, tokens) = json_of(handle(router.clone(), http_event(LOGIN)).await.unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let (status, again) = json_of(handle(router, http_event(&register())).await.unwrap()).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("username_taken")));
}

#[tokio::test]
async fn bad_bodies_get_a_code() {
    let (router, _database) = http_router().await;
    let malformed = LOGIN.replace(r#""body": "{\"username\""#, r#""body": "{username\""#);
    let (status, body) = json_of(handle(router, http_event(&malformed)).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("malformed_json")), "{body}");
}

#[tokio::test]
async fn the_login_limit_keys_on_the_source_ip_from_the_request_context() {
    let (router, _database) = http_router().await;
    assert_eq!(source_ip(&http_event(LOGIN)), Some("203.0.113.7".parse().unwrap()));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(handle(router.clone(), http_event(LOGIN)).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "the default burst is 5");
    let elsewhere = LOGIN.replace("\"sourceIp\": \"203.0.113.7\"", "\"sourceIp\": \"198.51.100.4\"");
    assert_eq!(handle(router, http_event(&elsewhere)).await.unwrap().status().as_u16(), 401);
}
