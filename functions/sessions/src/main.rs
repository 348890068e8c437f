//! The `sessions` Lambda (lambda_http behind API Gateway's HTTP API): start, list, keep alive and end sessions (`/v1/sessions*`). It serves the control plane's
//! router through `tradesim_lambda::http::handle`, like the other HTTP Lambdas and the local gateway; API Gateway
//! routes only its paths here. Configuration: see `tradesim_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tradesim_lambda::http::run().await
}
