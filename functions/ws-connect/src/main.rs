//! The `ws-connect` Lambda: API Gateway's WebSocket `$connect` route. Configuration: see `tradesim_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tradesim_lambda::ws::run(ws_connect::handle).await
}
