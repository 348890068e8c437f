//! tradesim's control plane: users, sign-ins and tokens, sessions, simulators on hosts, connect tickets, the
//! connection registry and the audit trail, on PostgreSQL, with an axum router over it all ([`router`]), and the
//! simulator manager that launches hosts and sweeps ([`manager`]). No Lambda or gateway types: the Lambda binaries
//! and the local gateway serve [`router`] or call [`Control`] directly.
//!
//! # Invariants
//! 1. **Owner-scoped.** Every query on a session or simulator is keyed by the caller's user id too, so another
//!    user's id answers `not_found` and changes nothing.
//! 2. **Time is an input.** Deadlines and token expiry come from the [`Clock`], never from `now()` in SQL or the JWT
//!    library's own clock.
//! 3. **Refresh tokens are single use.** Exchanging one marks it rotated in the same transaction that issues its
//!    successor; presenting a rotated one revokes its whole family, ends the family's sessions and tells the
//!    [`SocketCloser`].
//! 4. **A revoked sign-in is dead at once**: [`Control::authenticate`] refuses access tokens of a revoked family
//!    even before they expire ([`Control::keep_alive`] makes the same check inside its update).
//! 5. **Commits are durable**, except a keep-alive's: it alone does not wait for the WAL flush, since losing one to
//!    a database crash only moves a session's idle deadline back by one keep-alive interval.
//! 6. **Errors are typed.** Every failure is a [`ControlError`] with a stable code, a status and a message a person
//!    can act on; internal detail is logged, not sent.

pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod connections;
mod control;
pub mod db;
pub mod domain;
mod error;
pub mod gateway;
#[cfg(any(test, feature = "testing"))]
pub mod gateway_testing;
pub mod hosts;
mod http;
pub mod limits;
pub mod manager;
pub mod password;
pub mod tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connections::{Connection, ConnectionRegistry, PgConnections, RecordingCloser, SocketCloser};
pub use control::{
    Config, Control, Credentials, RefreshRequest, Services, Session, SessionList, SessionState, Simulator,
    SimulatorList, SimulatorStatus, StartSimulator, Ticket, TicketRequest, Tokens, User,
};
pub use error::{ControlError, ErrorBody};
pub use gateway::{
    ConnectRequest, ControlPlane, Gateway, GatewayConfig, GatewayConnections, GatewayError, GatewayServices,
    HostGateway,
};
pub use hosts::{HostClient, HostTable, HostTarget, HttpHostClient, Placement};
pub use http::{Auth, BODY_LIMIT, ClientAddr, JsonBody, router};
pub use manager::{Launcher, LocalLauncher, LocalLauncherConfig, Manager, ManagerConfig};
