//! The audit trail: an append-only table of logins, session events, connection events and order attempts.

use crate::domain::{ConnectionId, SessionId, SimId, UserId, Username};
use crate::error::ControlError;
use deadpool_postgres::GenericClient;
use serde_json::{Value, json};
use std::time::SystemTime;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    UserRegistered {
        user: UserId,
    },
    LoginSucceeded {
        user: UserId,
    },
    /// `user` is known when the username exists and the password was wrong.
    LoginFailed {
        username: Username,
        user: Option<UserId>,
    },
    RefreshReused {
        user: UserId,
    },
    Logout {
        user: UserId,
    },
    SessionCreated {
        user: UserId,
        session: SessionId,
    },
    /// `reason` is one of the `sessions.end_reason` values.
    SessionEnded {
        user: UserId,
        session: SessionId,
        reason: &'static str,
    },
    SimulatorStarted {
        user: UserId,
        session: SessionId,
        sim: SimId,
    },
    SimulatorStopped {
        user: UserId,
        sim: SimId,
    },
    /// The simulator manager rebuilt a dead host's simulator on another host.
    SimulatorRehomed {
        user: UserId,
        sim: SimId,
        from_host: String,
        to_host: String,
    },
    /// The simulator manager rebuilt a simulator whose engine had failed, on its own host.
    SimulatorRecovered {
        user: UserId,
        sim: SimId,
        host: String,
    },
    TicketIssued {
        user: UserId,
        sim: SimId,
    },
    ConnectionOpened {
        user: UserId,
        session: SessionId,
        sim: SimId,
        connection: ConnectionId,
    },
    ConnectionClosed {
        user: UserId,
        session: SessionId,
        sim: SimId,
        connection: ConnectionId,
    },
    /// Every order entry attempt, accepted or not; `detail` is the command and its outcome as the caller has them.
    OrderAttempt {
        user: UserId,
        sim: SimId,
        client_order_id: String,
        detail: Value,
    },
}

impl AuditEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "user_registered",
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed { .. } => "login_failed",
            Self::RefreshReused { .. } => "refresh_reused",
            Self::Logout { .. } => "logout",
            Self::SessionCreated { .. } => "session_created",
            Self::SessionEnded { .. } => "session_ended",
            Self::SimulatorStarted { .. } => "simulator_started",
            Self::SimulatorStopped { .. } => "simulator_stopped",
            Self::SimulatorRehomed { .. } => "simulator_rehomed",
            Self::SimulatorRecovered { .. } => "simulator_recovered",
            Self::TicketIssued { .. } => "ticket_issued",
            Self::ConnectionOpened { .. } => "connection_opened",
            Self::ConnectionClosed { .. } => "connection_closed",
            Self::OrderAttempt { .. } => "order_attempt",
        }
    }

    /// (user, session, simulator, detail) as stored.
    fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>, Value) {
        match self {
            Self::UserRegistered { user }
            | Self::LoginSucceeded { user }
            | Self::RefreshReused { user }
            | Self::Logout { user } => (Some(user.as_str()), None, None, json!({})),
            Self::LoginFailed { username, user } => {
                (user.as_ref().map(UserId::as_str), None, None, json!({ "username": username.as_str() }))
            }
            Self::SessionCreated { user, session } => (Some(user.as_str()), Some(session.as_str()), None, json!({})),
            Self::SessionEnded { user, session, reason } => {
                (Some(user.as_str()), Some(session.as_str()), None, json!({ "reason": reason }))
            }
            Self::SimulatorStarted { user, session, sim } => {
                (Some(user.as_str()), Some(session.as_str()), Some(sim.as_str()), json!({}))
            }
            Self::SimulatorStopped { user, sim } | Self::TicketIssued { user, sim } => {
                (Some(user.as_str()), None, Some(sim.as_str()), json!({}))
            }
            Self::SimulatorRehomed { user, sim, from_host, to_host } => {
                (Some(user.as_str()), None, Some(sim.as_str()), json!({ "from_host": from_host, "to_host": to_host }))
            }
            Self::SimulatorRecovered { user, sim, host } => {
                (Some(user.as_str()), None, Some(sim.as_str()), json!({ "host": host }))
            }
            Self::ConnectionOpened { user, session, sim, connection }
            | Self::ConnectionClosed { user, session, sim, connection } => (
                Some(user.as_str()),
                Some(session.as_str()),
                Some(sim.as_str()),
                json!({ "connection": connection.as_str() }),
            ),
            Self::OrderAttempt { user, sim, client_order_id, detail } => (
                Some(user.as_str()),
                None,
                Some(sim.as_str()),
                json!({ "client_order_id": client_order_id, "detail": detail }),
            ),
        }
    }
}

/// Appends `event`, inside the caller's transaction when `client` is one.
pub async fn record(client: &impl GenericClient, at: SystemTime, event: &AuditEvent) -> Result<(), ControlError> {
    let (user, session, sim, detail) = event.columns();
    client
        .execute(
            "INSERT INTO audit_events (at, kind, user_id, session_id, sim_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
            &[&at, &event.kind(), &user, &session, &sim, &detail.to_string()],
        )
        .await?;
    Ok(())
}

/// The kind of every audit event, oldest first: what an operator's spot check or a test reads of the trail.
pub async fn kinds(client: &impl GenericClient) -> Result<Vec<String>, ControlError> {
    let rows = client.query("SELECT kind FROM audit_events ORDER BY id", &[]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
