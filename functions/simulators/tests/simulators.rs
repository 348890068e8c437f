//! The simulators Lambda's handler fed captured API Gateway HTTP API events, against real PostgreSQL.

use tradesim_lambda::http::handle;
use tradesim_lambda::testing::{http_event, http_router, json_of};

const LOGIN: &str = include_str!("fixtures/login.json");

/// The captured event as another route, with a JSON body and the caller's bearer token.
fn request(method: &str, path: &str, token: &str, body: Option<serde_json::Value>) -> String {
    let mut event: serde_json::Value = serde_json::from_str(LOGIN).unwrap();
    event["routeKey"] = format!("{method} {path}").into();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["headers"]["authorization"] = format!("Bearer {token}").into();
    match body {
        Some(body) => event["body"] = body.to_string().into(),
        None => drop(event.as_object_mut().unwrap().remove("body")),
    }
    event.to_string()
}

#[tokio::test]
async fn simulator_routes_check_the_caller_and_the_input() {
    let (router, _database) = http_router().await;
    let register = LOGIN.replace("/v1/auth/login", "/v1/auth/register");
    assert_eq!(handle(router.clone(), http_event(&register)).await.unwrap().status().as_u16(), 201);
    let (_, tokens) = json_of(handle(router.clone(), http_event(LOGIN)).await.unwrap()).await;
    let token = tokens["access_token"].as_str().unwrap();

    let (status, list) =
        json_of(handle(router.clone(), http_event(&request("GET", "/v1/simulators", token, None))).await.unwrap())
            .await;
    assert_eq!((status, list["simulators"].as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) =
        json_of(handle(router.clone(), http_event(&request("GET", "/v1/simulators", "forged", None))).await.unwrap())
            .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("invalid_token")));
    // A session that is not the caller's: nothing starts.
    let start = serde_json::json!({ "session_id": "ses_nobody" });
    let (status, body) = json_of(
        handle(router.clone(), http_event(&request("POST", "/v1/simulators", token, Some(start)))).await.unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let unknown = serde_json::json!({ "session_id": "ses_x", "colour": "red" });
    let (status, body) = json_of(
        handle(router.clone(), http_event(&request("POST", "/v1/simulators", token, Some(unknown)))).await.unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")), "{body}");
    let ticket = serde_json::json!({ "sim": "sim_nobody" });
    let (status, _) =
        json_of(handle(router, http_event(&request("POST", "/v1/tickets", token, Some(ticket)))).await.unwrap()).await;
    assert_eq!(status, 404);
}
