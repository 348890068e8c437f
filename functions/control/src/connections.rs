//! The connection registry (which live stream connections belong to which sign-in) and the notification that a
//! sign-in was revoked, so that its sockets can be closed.

use crate::audit::{self, AuditEvent};
use crate::db::stored;
use crate::domain::{ConnectionId, FamilyId, SessionId, SimId, UserId};
use crate::error::ControlError;
use crate::hosts::BoxFuture;
use deadpool_postgres::Pool;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub user: UserId,
    pub session: SessionId,
    pub sim: SimId,
    pub family: FamilyId,
    pub connected_at: SystemTime,
}

impl Connection {
    /// The audit event of its opening, which every registry records with it.
    pub fn opened(&self) -> AuditEvent {
        AuditEvent::ConnectionOpened {
            user: self.user.clone(),
            session: self.session.clone(),
            sim: self.sim.clone(),
            connection: self.id.clone(),
        }
    }

    /// The audit event of its closing.
    pub fn closed(&self) -> AuditEvent {
        AuditEvent::ConnectionClosed {
            user: self.user.clone(),
            session: self.session.clone(),
            sim: self.sim.clone(),
            connection: self.id.clone(),
        }
    }
}

pub trait ConnectionRegistry: Send + Sync + fmt::Debug {
    /// Records `connection`; registering an id again replaces the old record.
    fn register<'a>(&'a self, connection: &'a Connection) -> BoxFuture<'a, Result<(), ControlError>>;
    /// Forgets `id` at `now`, answering what was registered, if anything.
    fn unregister<'a>(
        &'a self,
        id: &'a ConnectionId,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Connection>, ControlError>>;
    fn by_family<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, Result<Vec<Connection>, ControlError>>;
    /// The connection registered as `id`, if any (routing a frame to its simulator's host).
    fn get<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<Option<Connection>, ControlError>>;
}

/// The registry in PostgreSQL; opening and closing are audited in the same transaction.
#[derive(Clone, Debug)]
pub struct PgConnections {
    pool: Pool,
}

impl PgConnections {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "id, user_id, session_id, sim_id, family_id, connected_at";

fn from_row(row: &tokio_postgres::Row) -> Result<Connection, ControlError> {
    Ok(Connection {
        id: stored(ConnectionId::parse(row.get::<_, String>(0)))?,
        user: stored(UserId::parse(row.get::<_, String>(1)))?,
        session: stored(SessionId::parse(row.get::<_, String>(2)))?,
        sim: stored(SimId::parse(row.get::<_, String>(3)))?,
        family: stored(FamilyId::parse(row.get::<_, String>(4)))?,
        connected_at: row.get(5),
    })
}

impl ConnectionRegistry for PgConnections {
    fn register<'a>(&'a self, connection: &'a Connection) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                &format!(
                    "INSERT INTO connections ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET user_id = $2, session_id = $3, sim_id = $4, family_id = $5,
                     connected_at = $6"
                ),
                &[
                    &connection.id.as_str(),
                    &connection.user.as_str(),
                    &connection.session.as_str(),
                    &connection.sim.as_str(),
                    &connection.family.as_str(),
                    &connection.connected_at,
                ],
            )
            .await?;
            let event = connection.opened();
            audit::record(&tx, connection.connected_at, &event).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn unregister<'a>(
        &'a self,
        id: &'a ConnectionId,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Connection>, ControlError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let row = tx
                .query_opt(&format!("DELETE FROM connections WHERE id = $1 RETURNING {COLUMNS}"), &[&id.as_str()])
                .await?;
            let connection = row.as_ref().map(from_row).transpose()?;
            if let Some(c) = &connection {
                let event = c.closed();
                audit::record(&tx, now, &event).await?;
            }
            tx.commit().await?;
            Ok(connection)
        })
    }

    fn by_family<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, Result<Vec<Connection>, ControlError>> {
        Box::pin(async move {
            let rows = self
                .pool
                .get()
                .await?
                .query(
                    &format!("SELECT {COLUMNS} FROM connections WHERE family_id = $1 ORDER BY connected_at, id"),
                    &[&family.as_str()],
                )
                .await?;
            rows.iter().map(from_row).collect()
        })
    }

    fn get<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<Option<Connection>, ControlError>> {
        Box::pin(async move {
            let row = self
                .pool
                .get()
                .await?
                .query_opt(&format!("SELECT {COLUMNS} FROM connections WHERE id = $1"), &[&id.as_str()])
                .await?;
            row.as_ref().map(from_row).transpose()
        })
    }
}

/// Told when a sign-in is revoked (logout or refresh-token reuse), so that its live sockets get closed. The
/// implementation that closes them (through the hosts or API Gateway) looks them up with
/// [`ConnectionRegistry::by_family`].
pub trait SocketCloser: Send + Sync + fmt::Debug {
    fn family_revoked<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, ()>;
}

/// Remembers the revoked families, for tests and for wiring that closes sockets elsewhere.
#[derive(Debug, Default)]
pub struct RecordingCloser(Mutex<Vec<FamilyId>>);

impl RecordingCloser {
    pub fn revoked(&self) -> Vec<FamilyId> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl SocketCloser for RecordingCloser {
    fn family_revoked<'a>(&'a self, family: &'a FamilyId) -> BoxFuture<'a, ()> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(family.clone());
        Box::pin(std::future::ready(()))
    }
}

/// What every [`ConnectionRegistry`] does, checked against each of them (PostgreSQL here, DynamoDB in `aws`).
#[cfg(test)]
pub(crate) mod contract {
    use super::*;
    use std::time::Duration;

    pub fn connection(id: &str, family: &str, at: SystemTime) -> Connection {
        Connection {
            id: ConnectionId::parse(id).unwrap(),
            user: UserId::parse("u_1").unwrap(),
            session: SessionId::parse("ses_1").unwrap(),
            sim: SimId::parse("sim_1").unwrap(),
            family: FamilyId::parse(family).unwrap(),
            connected_at: at,
        }
    }

    /// Registers, gets, lists by family (oldest first), unregisters (once), and audits opening and closing in
    /// `trail`. `at` is a time with whole microseconds, which every registry keeps exactly.
    pub async fn keeps_connections(registry: &dyn ConnectionRegistry, trail: &Pool, at: SystemTime) {
        let (a, b, c) = (
            connection("d9ZOKdU7oAMCJ-g=", "fam_1", at),
            connection("con_b", "fam_1", at - Duration::from_secs(1)),
            connection("con_c", "fam_2", at),
        );
        for each in [&a, &b, &c] {
            registry.register(each).await.unwrap();
        }
        let family = FamilyId::parse("fam_1").unwrap();
        assert_eq!(registry.by_family(&family).await.unwrap(), vec![b.clone(), a.clone()]);
        assert_eq!(registry.get(&a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(registry.unregister(&a.id, at).await.unwrap(), Some(a.clone()));
        assert_eq!(registry.unregister(&a.id, at).await.unwrap(), None);
        assert_eq!(registry.get(&a.id).await.unwrap(), None);
        assert_eq!(registry.by_family(&family).await.unwrap(), vec![b]);
        let kinds = audit::kinds(&trail.get().await.unwrap()).await.unwrap();
        assert_eq!(kinds, ["connection_opened", "connection_opened", "connection_opened", "connection_closed"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;
    use tradesim_journal::testing::TestDatabase;

    #[tokio::test]
    async fn connections_are_registered_listed_by_family_and_audited() {
        let database = TestDatabase::create().await;
        let pool = db::pool(database.url(), 2).unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
        contract::keeps_connections(&PgConnections::new(pool.clone()), &pool, at).await;
    }

    #[tokio::test]
    async fn the_recording_closer_remembers_revoked_families() {
        let closer = RecordingCloser::default();
        closer.family_revoked(&FamilyId::parse("fam_9").unwrap()).await;
        assert_eq!(closer.revoked(), vec![FamilyId::parse("fam_9").unwrap()]);
    }
}
