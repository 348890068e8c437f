//! `$disconnect`: the client or API Gateway closed the connection; the host and the registry forget it. API
//! Gateway ignores the answer, so a failure is only logged (and the answer says what it was).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use std::sync::Arc;
use tradesim_control::Gateway;
use tradesim_lambda::ws;

pub async fn handle(gateway: Arc<Gateway>, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let result = gateway.disconnect(ws::connection_id(&event)).await;
    if let Err(error) = &result {
        tracing::warn!(%error, connection = ws::connection_id(&event), "$disconnect failed");
    }
    ws::respond(result).await
}
