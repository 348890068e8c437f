//! AWS failures in two kinds: worth another try (throttled, timed out, unreachable, a 5xx) or refused for good (a
//! missing table, a denied permission, a bad parameter), with a message that says which call failed and why.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// Throttled, timed out, unreachable or failing on AWS's side: trying again later may work.
    #[error("{operation}: AWS is throttling or unavailable; try again later ({detail})")]
    Transient { operation: &'static str, detail: String },
    /// AWS refused the request; sending it again cannot help. `code` is AWS's error code, e.g.
    /// `ResourceNotFoundException` or `AccessDeniedException`.
    #[error("{operation} was refused: {code}: {message}")]
    Refused { operation: &'static str, code: String, message: String },
}

impl AwsError {
    /// Sorts an SDK error of `operation` (e.g. `"DynamoDB PutItem"`) into its kind.
    pub fn from_sdk<E>(operation: &'static str, error: SdkError<E, Response>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let refused = |code: &str, message: String| Self::Refused { operation, code: code.to_owned(), message };
        match &error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("Unknown");
                let status = service.raw().status().as_u16();
                let retryable = THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code);
                if retryable || status == 429 || status >= 500 {
                    Self::Transient { operation, detail: DisplayErrorContext(&error).to_string() }
                } else {
                    let message = service.err().message().map_or_else(|| format!("HTTP {status}"), str::to_owned);
                    refused(code, message)
                }
            }
            // The request could not be built: a bug or a bad setting, the same on every try.
            SdkError::ConstructionFailure(_) => refused("ConstructionFailure", DisplayErrorContext(&error).to_string()),
            // Timeouts, connection failures and garbled answers.
            _ => Self::Transient { operation, detail: DisplayErrorContext(&error).to_string() },
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// AWS's error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            Self::Transient { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<ErrorMetadata, Response> {
        let metadata = ErrorMetadata::builder().code(code).message("it said no").build();
        let response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(metadata, response)
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("LimitExceededException", 429),
            ("RequestTimeout", 400),
            ("InternalServerError", 500),
            ("ServerException", 503),
        ] {
            let error = AwsError::from_sdk("DynamoDB PutItem", service_error(code, status));
            assert!(error.is_transient(), "{code} {status}: {error}");
        }
        let timeout = SdkError::<ErrorMetadata, Response>::timeout_error("no answer");
        assert!(AwsError::from_sdk("ECS RunTask", timeout).is_transient());
    }

    #[test]
    fn refusals_name_the_call_and_the_code() {
        let error = AwsError::from_sdk("DynamoDB PutItem", service_error("ResourceNotFoundException", 400));
        assert_eq!(error.code(), Some("ResourceNotFoundException"));
        assert_eq!(error.to_string(), "DynamoDB PutItem was refused: ResourceNotFoundException: it said no");
        let bug = SdkError::<ErrorMetadata, Response>::construction_failure("no region");
        assert_eq!(AwsError::from_sdk("ECS RunTask", bug).code(), Some("ConstructionFailure"));
    }
}
