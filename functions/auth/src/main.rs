//! The `auth` Lambda (lambda_http behind API Gateway's HTTP API): register, log in, refresh and log out (`/v1/auth/*`). It serves the control plane's
//! router through `tradesim_lambda::http::handle`, like the other HTTP Lambdas and the local gateway; API Gateway
//! routes only its paths here. Configuration: see `tradesim_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tradesim_lambda::http::run().await
}
