//! The pusher against moto's API Gateway Management API: PostToConnection and DeleteConnection as AWS shapes them
//! (SigV4, the `@connections/{id}` paths). moto accepts any connection id (it makes one up on first use, so it
//! never answers 410 Gone; tests/gateway.rs covers Gone) and forgets a deleted one.

use tradesim_aws::moto::{Moto, REGION};
use tradesim_host::transport::{ApiGatewayPusher, Pusher};

#[tokio::test]
async fn frames_are_posted_and_a_connection_given_up_is_deleted() {
    let moto = Moto::start();
    let pusher = ApiGatewayPusher::with_static_credentials(&moto.endpoint(), REGION, "testing", "testing");
    pusher.push("d9ZOKdU7oAMCJ-g=", r#"{"v":1,"type":"ping"}"#.to_owned()).await.unwrap();

    let management = aws_sdk_apigatewaymanagement::Client::new(&moto.sdk_config().await);
    let connected = |answer: aws_sdk_apigatewaymanagement::operation::get_connection::GetConnectionOutput| {
        *answer.connected_at().expect("connectedAt")
    };
    let before = connected(management.get_connection().connection_id("d9ZOKdU7oAMCJ-g=").send().await.unwrap());
    pusher.close("d9ZOKdU7oAMCJ-g=").await.unwrap();
    // Deleted: asking again makes moto a new connection, connected later.
    let after = connected(management.get_connection().connection_id("d9ZOKdU7oAMCJ-g=").send().await.unwrap());
    assert!(after > before, "{before:?} then {after:?}");
}
