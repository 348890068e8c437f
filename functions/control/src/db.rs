//! The connection pool, and migrations (run through the journal crate, which embeds the workspace's
//! `migrations/` directory, so every component applies the same schema the same way).

use crate::error::ControlError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// Connecting to an unreachable server fails after this instead of the OS's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for a pooled connection when all are busy.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the pool without connecting, so the database may be down now; requests then fail with `unavailable`
/// until it is back. A `connect_timeout` in the URL wins over the default.
pub fn pool(database_url: &str, size: usize) -> Result<Pool, ControlError> {
    let mut config: tokio_postgres::Config =
        database_url.parse().map_err(|e| ControlError::Internal(format!("invalid database url: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("tradesim-control");
    }
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| ControlError::Internal(format!("cannot build the connection pool: {e}")))
}

/// Applies the workspace's migrations (the host's and the control plane's) that are not applied yet.
pub async fn migrate(database_url: &str) -> Result<(), ControlError> {
    let journal = tradesim_journal::Journal::connect(database_url, 1).await?;
    Ok(journal.migrate().await?)
}

/// Whether `error` is a unique-constraint violation of `constraint`.
pub(crate) fn is_unique_violation(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
        && error.as_db_error().and_then(|db| db.constraint()) == Some(constraint)
}

/// A value read back from the database that does not parse is corruption, not bad input.
pub(crate) fn stored<T, E: std::fmt::Display>(value: Result<T, E>) -> Result<T, ControlError> {
    value.map_err(|e| ControlError::Internal(format!("a stored value does not parse: {e}")))
}
