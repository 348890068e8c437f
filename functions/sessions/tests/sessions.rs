//! The sessions Lambda's handler fed captured API Gateway HTTP API events, against real PostgreSQL.

use tradesim_lambda::http::handle;
use tradesim_lambda::testing::{http_event, http_router, json_of};

const LOGIN: &str = include_str!("fixtures/login.json");

/// The captured event as another route: a bodiless request with the caller's bearer token.
fn request(method: &str, path: &str, token: Option<&str>) -> String {
    let mut event: serde_json::Value = serde_json::from_str(LOGIN).unwrap();
    event["routeKey"] = format!("{method} {path}").into();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event.as_object_mut().unwrap().remove("body");
    if let Some(token) = token {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
    }
    event.to_string()
}

#[tokio::test]
async fn sessions_are_created_kept_alive_and_listed_for_the_caller_only() {
    let (router, _database) = http_router().await;
    let (status, _) =
        json_of(handle(router.clone(), http_event(&request("POST", "/v1/sessions", None))).await.unwrap()).await;
    assert_eq!(status, 401);
    let register = LOGIN.replace("/v1/auth/login", "/v1/auth/register");
    assert_eq!(handle(router.clone(), http_event(&register)).await.unwrap().status().as_u16(), 201);
    let (_, tokens) = json_of(handle(router.clone(), http_event(LOGIN)).await.unwrap()).await;
    let token = tokens["access_token"].as_str().unwrap();

    let created = handle(router.clone(), http_event(&request("POST", "/v1/sessions", Some(token)))).await.unwrap();
    let (status, session) = json_of(created).await;
    assert_eq!((status, session["state"].as_str()), (201, Some("active")), "{session}");
    let id = session["id"].as_str().unwrap();
    let keep_alive = request("POST", &format!("/v1/sessions/{id}/keep-alive"), Some(token));
    assert_eq!(handle(router.clone(), http_event(&keep_alive)).await.unwrap().status().as_u16(), 200);
    let (status, list) =
        json_of(handle(router.clone(), http_event(&request("GET", "/v1/sessions", Some(token)))).await.unwrap()).await;
    assert_eq!((status, list["sessions"][0]["id"].as_str()), (200, Some(id)));
    let other = request("POST", "/v1/sessions/ses_someone_else/keep-alive", Some(token));
    let (status, body) = json_of(handle(router, http_event(&other)).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}
