//! The one retry loop of the AWS adapters: transient failures are tried again after an exponentially growing,
//! jittered pause; anything else is returned at once. The SDK clients are built with their own retries off
//! ([`RetryConfig::disabled`](aws_smithy_types::retry::RetryConfig::disabled)), so this is the only place that
//! decides.

use crate::AwsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::time::Duration;

/// A failure that may go away on its own.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for AwsError {
    fn is_transient(&self) -> bool {
        AwsError::is_transient(self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included; at least 1.
    pub attempts: u32,
    /// The pause before the first retry; it doubles on every retry.
    pub base: Duration,
    /// The longest pause.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// Four calls over about a second at most: enough to ride out a throttling burst without holding a Lambda
    /// request or a frame for long.
    fn default() -> Self {
        Self { attempts: 4, base: Duration::from_millis(50), cap: Duration::from_millis(800) }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first): `base * 2^retry` capped, of which a random
    /// upper half is taken, so that many callers throttled at once do not come back in step.
    fn pause(&self, retry: u32, rng: &mut StdRng) -> Duration {
        let full = self.base.saturating_mul(1 << retry.min(16)).min(self.cap);
        let half = full / 2;
        half + Duration::from_nanos(rng.random_range(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX)))
    }
}

/// Calls `call` until it succeeds, fails for good, or `policy.attempts` calls have failed; answers the last result.
/// `operation` names the call in the log line of each retry.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, operation: &str, mut call: F) -> Result<T, E>
where
    E: Transient + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut rng: Option<StdRng> = None;
    let mut retry = 0;
    loop {
        match call().await {
            Err(error) if error.is_transient() && retry + 1 < policy.attempts => {
                let pause = policy.pause(retry, rng.get_or_insert_with(StdRng::from_os_rng));
                tracing::warn!(operation, %error, retry = retry + 1, ?pause, "transient AWS failure; retrying");
                tokio::time::sleep(pause).await;
                retry += 1;
            }
            result => return result,
        }
    }
}

/// [`retry()`] for an SDK call: `send` sends the request (`|| request.clone().send()`, a fluent builder is
/// `Clone`) and its errors are sorted by [`AwsError::from_sdk`].
pub async fn call<T, E, F, Fut>(policy: &RetryPolicy, operation: &'static str, mut send: F) -> Result<T, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, Response>>>,
{
    retry(policy, operation, || {
        let sent = send();
        async move { sent.await.map_err(|error| AwsError::from_sdk(operation, error)) }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn throttled() -> AwsError {
        AwsError::Transient { operation: "ECS RunTask", detail: "ThrottlingException: Rate exceeded".into() }
    }

    /// Answers `failures` in order, then `Ok` with the number of calls.
    async fn run(policy: RetryPolicy, failures: Vec<AwsError>) -> (Result<usize, AwsError>, usize) {
        let calls = Cell::new(0);
        let result = retry(&policy, "test", || {
            calls.set(calls.get() + 1);
            let outcome = failures.get(calls.get() - 1).cloned().map_or(Ok(calls.get()), Err);
            async move { outcome }
        })
        .await;
        (result, calls.get())
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_retried_until_it_succeeds() {
        let started = tokio::time::Instant::now();
        let (result, calls) = run(RetryPolicy::default(), vec![throttled(), throttled()]).await;
        assert_eq!((result, calls), (Ok(3), 3));
        // Two pauses: at least half of 50 ms and of 100 ms, at most all of them.
        let waited = started.elapsed();
        assert!((Duration::from_millis(75)..=Duration::from_millis(150)).contains(&waited), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_last_attempt_with_the_last_error() {
        let policy = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
        let (result, calls) = run(policy, vec![throttled(); 5]).await;
        assert_eq!((result, calls), (Err(throttled()), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let denied = AwsError::Refused {
            operation: "DynamoDB PutItem",
            code: "AccessDeniedException".into(),
            message: "not allowed".into(),
        };
        let (result, calls) = run(RetryPolicy::default(), vec![denied.clone()]).await;
        assert_eq!((result, calls), (Err(denied), 1));
    }

    #[test]
    fn pauses_double_up_to_the_cap_and_keep_the_upper_half() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for (retry, full) in [(0, 50), (1, 100), (2, 200), (5, 800), (40, 800)] {
            let pause = policy.pause(retry, &mut rng);
            let full = Duration::from_millis(full);
            assert!(pause >= full / 2 && pause <= full, "retry {retry}: {pause:?}");
        }
    }
}
