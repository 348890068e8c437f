//! The `ws-message` Lambda: API Gateway's WebSocket `$default` route. Configuration: see `tradesim_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tradesim_lambda::ws::run(ws_message::handle).await
}
