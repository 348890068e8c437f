//! `$connect`: admits the connection through the gateway (origin, rate limit, the host redeems the ticket, then it
//! is registered); any refusal answers its status, so API Gateway refuses the upgrade.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use std::sync::Arc;
use tradesim_control::Gateway;
use tradesim_lambda::ws;

pub async fn handle(gateway: Arc<Gateway>, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    ws::respond(gateway.connect(&ws::connect_request(&event)).await.map(drop)).await
}
