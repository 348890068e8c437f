//! `$default`: a client frame, forwarded as it is to the connection's host; the host answers through
//! PostToConnection. A connection the host no longer knows is deleted at API Gateway (the client reconnects).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use std::sync::Arc;
use tradesim_control::Gateway;
use tradesim_lambda::ws;

pub async fn handle(gateway: Arc<Gateway>, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    ws::respond(gateway.message(ws::connection_id(&event), ws::frame(&event)).await).await
}
