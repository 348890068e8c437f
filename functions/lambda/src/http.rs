//! The HTTP Lambdas (auth, sessions, simulators) serve the control plane's router through lambda_http; this adds
//! the caller's source IP from API Gateway's request context, which the router's rate limits key on.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Response;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use tower::ServiceExt;

/// The caller's address as API Gateway saw it.
pub fn source_ip(request: &Request) -> Option<IpAddr> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref()?.parse().ok(),
        // Only the HTTP API (v2) is enabled; the enum is open to others.
        _ => None,
    }
}

/// One API Gateway HTTP API request through the control plane's router.
pub async fn handle(router: Router, mut request: Request) -> Result<Response<Body>, Infallible> {
    if let Some(ip) = source_ip(&request) {
        request.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    router.oneshot(request).await
}

/// The main of an HTTP Lambda: configuration from the environment, then requests until the runtime stops.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::init_logging();
    let plane = crate::plane(&crate::Settings::from_env()?).await?;
    let router = tradesim_control::router(plane.control);
    lambda_http::run(lambda_http::service_fn(move |request| handle(router.clone(), request))).await
}
