//! The `ws-disconnect` Lambda: API Gateway's WebSocket `$disconnect` route. Configuration: see `tradesim_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tradesim_lambda::ws::run(ws_disconnect::handle).await
}
