//! What every tradesim AWS adapter shares (the DynamoDB connection registry and the ECS launcher in
//! tradesim-control, API Gateway's management API in tradesim-lambda and the host): AWS failures sorted into
//! transient and refused ([`AwsError`]), and the one retry loop ([`retry()`]) that tries transient ones again with
//! backoff. With the `testing` feature, [`moto::Moto`] runs a moto_server for contract tests.

mod error;
#[cfg(feature = "testing")]
pub mod moto;
pub mod retry;

pub use error::AwsError;
pub use retry::{RetryPolicy, Transient, call, retry};
