//! The pusher against moto's API Gateway Management API: PostToConnection and DeleteConnection as AWS shapes them
//! (SigV4, the `@connections/{id}` paths). moto accepts any connection id (it makes one up on first use, so it
//! never answers 410 Gone; tests/gateway.rs covers Gone) and forgets a deleted one. One server checks signatures
//! with botocore's own signer, an implementation independent of ours.

use tradesim_aws::Transient;
use tradesim_aws::moto::{Moto, REGION};
use tradesim_host::apigateway::ApiGatewayPusher;
use tradesim_host::transport::Pusher;

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

#[tokio::test]
async fn pushes_are_signed_as_aws_checks_signatures() {
    let moto = Moto::start_verifying_signatures();
    let (key, secret) = moto.iam_credentials();
    // moto checks the signature against the decoded path and never against an empty body, so an id with an escaped
    // character (`=` is `%3D` on the wire) and a DeleteConnection fail its check even from the AWS SDK: the push here
    // has an id that needs no escaping, and DeleteConnection is covered above without the check.
    let pusher = ApiGatewayPusher::with_static_credentials(&moto.endpoint(), REGION, &key, &secret);
    pusher.push("d9ZOKdU7oAMCJ-g", r#"{"v":1,"type":"ping","nonce":1}"#.to_owned()).await.unwrap();

    let forger = ApiGatewayPusher::with_static_credentials(&moto.endpoint(), REGION, &key, "not-the-secret");
    let refused = forger.push("d9ZOKdU7oAMCJ-g", "{}".to_owned()).await.unwrap_err();
    assert!(!refused.is_transient(), "a bad signature is refused for good: {refused}");
    assert!(refused.to_string().contains("SignatureDoesNotMatch"), "{refused}");
}
