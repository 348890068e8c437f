//! Test fixtures of the Lambda crates: captured API Gateway events, and the gateway's fakes (see
//! `tradesim_control::gateway_testing`).

pub use tradesim_control::gateway_testing::{Fixture, fixture};

/// Parses a captured WebSocket event.
pub fn ws_event(json: &str) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(json).expect("a captured API Gateway WebSocket event")
}

/// The control plane's router over a fresh database, as the HTTP Lambdas serve it (cheap password hashing).
pub async fn http_router() -> (axum::Router, tradesim_journal::testing::TestDatabase) {
    let database = tradesim_journal::testing::TestDatabase::create().await;
    let pool = tradesim_control::db::pool(database.url(), 2).expect("pool");
    let mut config = tradesim_control::Config::new([9; 32]);
    config.hash_cost = tradesim_control::password::HashCost { memory_kib: 256, iterations: 1 };
    let connections = std::sync::Arc::new(tradesim_control::gateway_testing::Closed::default());
    let plane = tradesim_control::ControlPlane::new(pool, config, Default::default(), "token", connections)
        .expect("control plane");
    (tradesim_control::router(plane.control), database)
}

/// Parses a captured HTTP API (v2) event into a request, as lambda_http does.
pub fn http_event(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json).expect("a captured API Gateway HTTP API event")
}

/// A response's status and JSON body.
pub async fn json_of(response: axum::http::Response<axum::body::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}
