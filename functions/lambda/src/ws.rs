//! The WebSocket Lambdas' side of API Gateway's events: what `$connect` carries, and how an answer maps back.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use axum::response::IntoResponse;
use lambda_runtime::LambdaEvent;
use std::future::Future;
use std::sync::Arc;
use tradesim_control::{ConnectRequest, Gateway, GatewayError};

/// The most of an error answer's body read back (they are small JSON objects).
const ERROR_BODY_LIMIT: usize = 16 * 1024;

pub fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> &str {
    event.request_context.connection_id.as_deref().unwrap_or("")
}

/// `$connect`: the query `?sim=&ticket=`, the `Origin` header and the caller's address.
pub fn connect_request(event: &ApiGatewayWebsocketProxyRequest) -> ConnectRequest {
    let query = |name: &str| event.query_string_parameters.first(name).map(str::to_owned);
    ConnectRequest {
        connection: connection_id(event).to_owned(),
        sim: query("sim"),
        ticket: query("ticket"),
        origin: event.headers.get("origin").and_then(|o| o.to_str().ok()).map(str::to_owned),
        client: event.request_context.identity.source_ip.clone().unwrap_or_else(|| "unknown".into()),
    }
}

/// 200 when it worked; otherwise the gateway's error answer (status, headers such as Retry-After, JSON body), which
/// on `$connect` makes API Gateway refuse the upgrade with that status.
pub async fn respond(result: Result<(), GatewayError>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 200;
    let Err(error) = result else { return response };
    let (parts, body) = error.into_response().into_parts();
    let body = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await.unwrap_or_default();
    response.status_code = i64::from(parts.status.as_u16());
    response.headers = parts.headers;
    response.body = Some(Body::Text(String::from_utf8_lossy(&body).into_owned()));
    response
}

/// The main of a WebSocket Lambda: configuration from the environment, then `handler` for every event.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<Gateway>, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: Future<Output = ApiGatewayProxyResponse>,
{
    crate::init_logging();
    let gateway = crate::plane(&crate::Settings::from_env()?).await?.gateway;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let gateway = Arc::clone(&gateway);
        async move { Ok::<_, std::convert::Infallible>(handler(gateway, event.payload).await) }
    }))
    .await
}

/// `$default`'s frame: the body, decoded when API Gateway marks it base64 (a binary frame).
pub fn frame(event: &ApiGatewayWebsocketProxyRequest) -> String {
    let body = event.body.clone().unwrap_or_default();
    if !event.is_base64_encoded {
        return body;
    }
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // Not what API Gateway sends; passed on, so that the host answers it as a bad frame.
        Err(_) => body,
    }
}
