//! The control plane's ports on AWS (feature `aws`): the connection registry in DynamoDB ([`DynamoConnections`])
//! and the simulator manager's [`Launcher`](crate::Launcher) on ECS ([`EcsLauncher`]). Both retry throttling and
//! transient failures through [`tradesim_aws::retry()`]; what is left becomes a [`ControlError`] whose detail (which
//! call, AWS's code and message) is logged.

mod dynamodb;
mod ecs;

pub use dynamodb::{CONNECTION_LIFETIME, DynamoConnections, EXPIRES_AT, FAMILY_INDEX, TableName};
pub use ecs::{EcsLauncher, EcsLauncherConfig};

use crate::error::ControlError;
use tradesim_aws::AwsError;

impl From<AwsError> for ControlError {
    fn from(error: AwsError) -> Self {
        match error {
            AwsError::Transient { .. } => Self::Unavailable(error.to_string()),
            AwsError::Refused { .. } => Self::Internal(error.to_string()),
        }
    }
}
