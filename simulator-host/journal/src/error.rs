//! Errors, and how database and pool errors map onto them.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The database cannot be reached: down, restarting, or the connection broke. Worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("already exists")]
    AlreadyExists,
    /// No such simulator (also when an entry or snapshot names a simulator that does not exist).
    #[error("not found")]
    NotFound,
    /// A stored value did not decode, or a value could not be encoded for storage.
    #[error("corrupt value: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl From<tokio_postgres::Error> for JournalError {
    fn from(error: tokio_postgres::Error) -> Self {
        classify(&error)
    }
}

/// The error with its sources: `tokio_postgres::Error` alone displays only "db error".
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Errors without a SQL state come from the connection (io, closed, connect timeout): decoding errors, the other
/// stateless kind, are mapped to `Corrupt` where rows are read.
pub(crate) fn classify(error: &tokio_postgres::Error) -> JournalError {
    let Some(state) = error.code() else {
        return JournalError::Unavailable(describe(error));
    };
    if *state == SqlState::FOREIGN_KEY_VIOLATION {
        // Every foreign key in this schema points at `simulators`.
        return JournalError::NotFound;
    }
    // Class 08 is "connection exception"; the others are what a shutting-down, crashed or starting server sends.
    let unavailable = state.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(state);
    if unavailable { JournalError::Unavailable(describe(error)) } else { JournalError::Database(describe(error)) }
}

impl From<PoolError> for JournalError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(error) => classify(&error),
            PoolError::Timeout(_) | PoolError::Closed => JournalError::Unavailable(error.to_string()),
            PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => JournalError::Database(error.to_string()),
        }
    }
}

pub(crate) fn from_refinery(error: &refinery::Error) -> JournalError {
    if let refinery::error::Kind::Connection(_, source) = error.kind()
        && let Some(error) = source.downcast_ref::<tokio_postgres::Error>()
        && let unavailable @ JournalError::Unavailable(_) = classify(error)
    {
        return unavailable;
    }
    JournalError::Database(format!("migration failed: {error}"))
}
