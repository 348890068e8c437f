//! [`Control`]: every control-plane operation. Handlers (the axum router here, Lambda handlers later) parse, call
//! one of these and map the result. Each operation takes the caller's verified claims and touches only the caller's
//! rows: every query is keyed by the user id as well as the object id, so another user's id answers `not_found`.

use crate::audit::{self, AuditEvent};
use crate::clock::Clock;
use crate::connections::SocketCloser;
use crate::db::{is_unique_violation, stored};
use crate::domain::{FamilyId, Password, SessionId, SimId, UserId, Username, new_sim_id, new_user_id, random_bytes};
use crate::error::ControlError;
use crate::hosts::{CreateSimulator, HostClient, HostTarget, Placement, SimulatorInfo, stop_and_record};
use crate::limits::{Limiter, Rate};
use crate::password::{HashCost, PasswordHashing};
use crate::tokens::{AccessClaims, AccessTokens, new_refresh_token, refresh_token_hash};
use deadpool_postgres::{GenericClient, Pool};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_postgres::Row;
use tradesim_protocol::SimConfig;
use tradesim_protocol::stream::Speed;
use utoipa::ToSchema;

/// At most this many sessions or simulators are listed, newest first.
const LIST_LIMIT: i64 = 100;
/// The lifetime of connect tickets, as the host mints them.
const TICKET_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Config {
    pub issuer: String,
    pub audience: String,
    /// The Ed25519 private key that signs access tokens.
    pub signing_seed: [u8; 32],
    /// Capped at 15 minutes.
    pub access_lifetime: Duration,
    /// How long an unused refresh token stays exchangeable.
    pub refresh_lifetime: Duration,
    /// A session expires this long after its last keep-alive...
    pub session_idle: Duration,
    /// ...and this long after it was created, whatever the keep-alives.
    pub session_lifetime: Duration,
    pub hash_cost: HashCost,
    pub login_rate: Rate,
    pub refresh_rate: Rate,
    pub ticket_rate: Rate,
}

impl Config {
    pub fn new(signing_seed: [u8; 32]) -> Self {
        Self {
            issuer: "tradesim".into(),
            audience: "tradesim-api".into(),
            signing_seed,
            access_lifetime: Duration::from_secs(10 * 60),
            refresh_lifetime: Duration::from_secs(7 * 24 * 3600),
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            hash_cost: HashCost::default(),
            login_rate: Rate::new(10, 5),
            refresh_rate: Rate::new(60, 20),
            ticket_rate: Rate::new(60, 20),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_lifetime", &self.access_lifetime)
            .field("session_idle", &self.session_idle)
            .field("session_lifetime", &self.session_lifetime)
            .finish_non_exhaustive()
    }
}

/// What the control plane talks to besides PostgreSQL.
#[derive(Clone, Debug)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub hosts: Arc<dyn HostClient>,
    pub placement: Arc<dyn Placement>,
    pub closer: Arc<dyn SocketCloser>,
}

#[derive(Debug)]
pub struct Control {
    pool: Pool,
    services: Services,
    hashing: Arc<PasswordHashing>,
    tokens: AccessTokens,
    config: Config,
    login_limit: Limiter,
    refresh_limit: Limiter,
    ticket_limit: Limiter,
}

// ---- request and answer types (JSON) ----

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    #[schema(value_type = String)]
    pub id: UserId,
    pub username: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Tokens {
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single use: exchange it at /v1/auth/refresh for a new pair.
    pub refresh_token: String,
    #[schema(value_type = String)]
    pub user_id: UserId,
    /// The sign-in these tokens belong to (the access token's `sid`).
    pub sign_in: FamilyId,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Active,
    /// Past its idle deadline or its absolute lifetime.
    Expired,
    Ended,
}

/// Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Session {
    pub id: SessionId,
    pub state: SessionState,
    pub created_at_ms: u64,
    pub idle_deadline_ms: u64,
    pub absolute_deadline_ms: u64,
    pub ended_at_ms: Option<u64>,
    /// ended, logout, revoked.
    pub end_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct StartSimulator {
    pub session_id: SessionId,
    /// The exchange's configuration (docs/engine.md); the default when absent.
    #[schema(value_type = Option<Object>)]
    pub config: Option<SimConfig>,
    /// The market's seed; random when absent.
    pub seed: Option<u64>,
    /// paused, 1x (default), 2x, 5x, 10x or 100x.
    #[schema(value_type = Option<String>)]
    pub speed: Option<Speed>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Simulator {
    #[schema(value_type = String)]
    pub id: SimId,
    pub session_id: SessionId,
    pub host_id: String,
    /// starting, running, failed or stopped, as the control plane last knew it.
    pub state: String,
    pub created_at_ms: u64,
    pub stopped_at_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SimulatorList {
    pub simulators: Vec<Simulator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SimulatorStatus {
    pub simulator: Simulator,
    /// What the host reports now; absent once stopped.
    pub live: Option<SimulatorInfo>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    #[schema(value_type = String)]
    pub sim: SimId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Ticket {
    /// Single use; pass it as `?ticket=` when opening the simulator's stream.
    pub ticket: String,
    #[schema(value_type = String)]
    pub sim: SimId,
    pub expires_in: u64,
}

// ---- rows ----

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

const SESSION_COLUMNS: &str = "id, created_at, idle_deadline, absolute_deadline, ended_at, end_reason";

#[derive(Debug)]
struct SessionRow {
    id: SessionId,
    created_at: SystemTime,
    idle_deadline: SystemTime,
    absolute_deadline: SystemTime,
    ended_at: Option<SystemTime>,
    end_reason: Option<String>,
}

impl SessionRow {
    /// Reads [`SESSION_COLUMNS`] starting at column `at`.
    fn read(row: &Row, at: usize) -> Result<Self, ControlError> {
        Ok(Self {
            id: stored(SessionId::parse(row.get::<_, String>(at)))?,
            created_at: row.get(at + 1),
            idle_deadline: row.get(at + 2),
            absolute_deadline: row.get(at + 3),
            ended_at: row.get(at + 4),
            end_reason: row.get(at + 5),
        })
    }

    fn state(&self, now: SystemTime) -> SessionState {
        if self.ended_at.is_some() {
            SessionState::Ended
        } else if now >= self.idle_deadline || now >= self.absolute_deadline {
            SessionState::Expired
        } else {
            SessionState::Active
        }
    }

    fn require_live(&self, now: SystemTime) -> Result<(), ControlError> {
        match self.state(now) {
            SessionState::Active => Ok(()),
            SessionState::Expired => Err(ControlError::SessionExpired),
            SessionState::Ended => Err(ControlError::SessionEnded),
        }
    }

    fn view(&self, now: SystemTime) -> Session {
        Session {
            id: self.id.clone(),
            state: self.state(now),
            created_at_ms: unix_ms(self.created_at),
            idle_deadline_ms: unix_ms(self.idle_deadline),
            absolute_deadline_ms: unix_ms(self.absolute_deadline),
            ended_at_ms: self.ended_at.map(unix_ms),
            end_reason: self.end_reason.clone(),
        }
    }
}

const SIMULATOR_COLUMNS: &str = "s.id, s.session_id, s.host_id, s.state, s.created_at, s.stopped_at, h.address";

/// A simulator row with its host's address.
fn read_simulator(row: &Row) -> Result<(Simulator, HostTarget), ControlError> {
    let simulator = Simulator {
        id: stored(SimId::parse(row.get::<_, String>(0)))?,
        session_id: stored(SessionId::parse(row.get::<_, String>(1)))?,
        host_id: row.get(2),
        state: row.get(3),
        created_at_ms: unix_ms(row.get(4)),
        stopped_at_ms: row.get::<_, Option<SystemTime>>(5).map(unix_ms),
    };
    let host = HostTarget { id: simulator.host_id.clone(), address: row.get(6) };
    Ok((simulator, host))
}

/// Refuses an access token whose sign-in (refresh family) was revoked: logout and a reused refresh token end a
/// sign-in at once, before its access tokens expire.
async fn require_live_sign_in(db: &impl GenericClient, claims: &AccessClaims) -> Result<(), ControlError> {
    // Nearly every authenticated call asks this: prepared once per pooled connection, it is one round trip.
    let live = db
        .prepare_cached("SELECT 1 FROM refresh_families WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
        .await?;
    db.query_opt(&live, &[&claims.sid.as_str(), &claims.sub.as_str()]).await?.ok_or(ControlError::InvalidToken)?;
    Ok(())
}

impl Control {
    pub fn new(config: Config, pool: Pool, services: Services) -> Result<Self, ControlError> {
        let tokens = AccessTokens::new(&config.signing_seed, &config.issuer, &config.audience, config.access_lifetime)?;
        Ok(Self {
            hashing: Arc::new(PasswordHashing::new(config.hash_cost)?),
            tokens,
            login_limit: Limiter::new(config.login_rate),
            refresh_limit: Limiter::new(config.refresh_rate),
            ticket_limit: Limiter::new(config.ticket_rate),
            pool,
            services,
            config,
        })
    }

    fn now(&self) -> SystemTime {
        self.services.clock.now()
    }

    /// Hashing is CPU-bound for tens of milliseconds: it runs off the async workers.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHashing) -> T + Send + 'static,
    ) -> Result<T, ControlError> {
        let hashing = Arc::clone(&self.hashing);
        tokio::task::spawn_blocking(move || work(&hashing))
            .await
            .map_err(|e| ControlError::Internal(format!("password hashing task failed: {e}")))
    }

    // ---- users and tokens ----

    pub async fn register(&self, credentials: &Credentials) -> Result<User, ControlError> {
        let username = Username::parse(&credentials.username)?;
        let password = Password::parse(&credentials.password)?;
        let hash = self.hashing(move |hashing| hashing.hash(&password)).await??;
        let user = new_user_id();
        let now = self.now();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            &[&user.as_str(), &username.as_str(), &hash, &now],
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e, "users_username_key") { ControlError::UsernameTaken } else { e.into() }
        })?;
        audit::record(&tx, now, &AuditEvent::UserRegistered { user: user.clone() }).await?;
        tx.commit().await?;
        Ok(User { id: user, username: username.as_str().to_owned() })
    }

    /// `client` identifies the caller's network origin (an IP address, or "unknown") for rate limiting.
    pub async fn login(&self, credentials: &Credentials, client: &str) -> Result<Tokens, ControlError> {
        let username = Username::parse(&credentials.username).map_err(|_| ControlError::InvalidCredentials)?;
        self.login_limit.check(&format!("{client}/{username}"))?;
        let password = Password::parse(&credentials.password).map_err(|_| ControlError::InvalidCredentials)?;
        let row = self
            .pool
            .get()
            .await?
            .query_opt("SELECT id, password_hash FROM users WHERE username = $1", &[&username.as_str()])
            .await?;
        let (user, hash) = match row {
            Some(row) => (Some(stored(UserId::parse(row.get::<_, String>(0)))?), Some(row.get::<_, String>(1))),
            None => (None, None),
        };
        // Verified whether or not the user exists, so both cases answer alike after the same work.
        let verified = self.hashing(move |hashing| hashing.verify(&password, hash.as_deref())).await?;
        let now = self.now();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let user = match user {
            Some(user) if verified => user,
            user => {
                audit::record(&tx, now, &AuditEvent::LoginFailed { username, user }).await?;
                tx.commit().await?;
                return Err(ControlError::InvalidCredentials);
            }
        };
        let family = FamilyId::generate();
        tx.execute(
            "INSERT INTO refresh_families (id, user_id, created_at) VALUES ($1, $2, $3)",
            &[&family.as_str(), &user.as_str(), &now],
        )
        .await?;
        let refresh_token = self.store_refresh_token(&tx, &family, now).await?;
        audit::record(&tx, now, &AuditEvent::LoginSucceeded { user: user.clone() }).await?;
        tx.commit().await?;
        self.tokens_for(user, family, refresh_token, now)
    }

    async fn store_refresh_token(
        &self,
        tx: &impl GenericClient,
        family: &FamilyId,
        now: SystemTime,
    ) -> Result<String, ControlError> {
        let token = new_refresh_token();
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&refresh_token_hash(&token), &family.as_str(), &now, &(now + self.config.refresh_lifetime)],
        )
        .await?;
        Ok(token)
    }

    fn tokens_for(
        &self,
        user: UserId,
        family: FamilyId,
        refresh_token: String,
        now: SystemTime,
    ) -> Result<Tokens, ControlError> {
        Ok(Tokens {
            access_token: self.tokens.issue(&user, &family, now)?,
            token_type: "Bearer".into(),
            expires_in: self.tokens.lifetime().as_secs(),
            refresh_token,
            user_id: user,
            sign_in: family,
        })
    }

    /// Exchanges a refresh token for a new pair. A token already exchanged is a theft signal: its whole family is
    /// revoked (sessions ended, sockets closed) and the caller must log in again.
    pub async fn refresh(&self, request: &RefreshRequest, client: &str) -> Result<Tokens, ControlError> {
        self.refresh_limit.check(client)?;
        let now = self.now();
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT t.family_id, t.expires_at, t.rotated_at, f.user_id, f.revoked_at
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
                 WHERE t.token_hash = $1 FOR UPDATE OF t, f",
                &[&refresh_token_hash(&request.refresh_token)],
            )
            .await?
            .ok_or(ControlError::InvalidRefreshToken)?;
        let family = stored(FamilyId::parse(row.get::<_, String>(0)))?;
        let expires_at: SystemTime = row.get(1);
        let rotated_at: Option<SystemTime> = row.get(2);
        let user = stored(UserId::parse(row.get::<_, String>(3)))?;
        let revoked_at: Option<SystemTime> = row.get(4);
        if revoked_at.is_some() || expires_at <= now {
            return Err(ControlError::InvalidRefreshToken);
        }
        if rotated_at.is_some() {
            self.revoke_family(&tx, &user, &family, "reuse", "revoked", now).await?;
            audit::record(&tx, now, &AuditEvent::RefreshReused { user }).await?;
            tx.commit().await?;
            self.services.closer.family_revoked(&family).await;
            return Err(ControlError::RefreshTokenReused);
        }
        tx.execute(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1",
            &[&refresh_token_hash(&request.refresh_token), &now],
        )
        .await?;
        let refresh_token = self.store_refresh_token(&tx, &family, now).await?;
        tx.commit().await?;
        self.tokens_for(user, family, refresh_token, now)
    }

    /// Revokes the sign-in and ends its sessions.
    async fn revoke_family(
        &self,
        tx: &impl GenericClient,
        user: &UserId,
        family: &FamilyId,
        reason: &str,
        session_reason: &'static str,
        now: SystemTime,
    ) -> Result<(), ControlError> {
        tx.execute(
            "UPDATE refresh_families SET revoked_at = $3, revoke_reason = $4
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            &[&family.as_str(), &user.as_str(), &now, &reason],
        )
        .await?;
        let ended = tx
            .query(
                "UPDATE sessions SET ended_at = $3, end_reason = $4
                 WHERE family_id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING id",
                &[&family.as_str(), &user.as_str(), &now, &session_reason],
            )
            .await?;
        for row in ended {
            let session = stored(SessionId::parse(row.get::<_, String>(0)))?;
            let event = AuditEvent::SessionEnded { user: user.clone(), session, reason: session_reason };
            audit::record(tx, now, &event).await?;
        }
        Ok(())
    }

    /// Checks an access token and that its sign-in has not been revoked since it was issued.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, ControlError> {
        let claims = self.tokens.verify(access_token, self.now())?;
        require_live_sign_in(&self.pool.get().await?, &claims).await?;
        Ok(claims)
    }

    /// Revokes the caller's sign-in and ends its sessions.
    pub async fn logout(&self, claims: &AccessClaims) -> Result<(), ControlError> {
        let now = self.now();
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        self.revoke_family(&tx, &claims.sub, &claims.sid, "logout", "logout", now).await?;
        audit::record(&tx, now, &AuditEvent::Logout { user: claims.sub.clone() }).await?;
        tx.commit().await?;
        self.services.closer.family_revoked(&claims.sid).await;
        Ok(())
    }

    // ---- sessions ----

    pub async fn create_session(&self, claims: &AccessClaims) -> Result<Session, ControlError> {
        let now = self.now();
        let session = SessionId::generate();
        let absolute = now + self.config.session_lifetime;
        let idle = (now + self.config.session_idle).min(absolute);
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO sessions (id, user_id, family_id, created_at, idle_deadline, absolute_deadline)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SESSION_COLUMNS}"
                ),
                &[&session.as_str(), &claims.sub.as_str(), &claims.sid.as_str(), &now, &idle, &absolute],
            )
            .await?;
        let event = AuditEvent::SessionCreated { user: claims.sub.clone(), session };
        audit::record(&tx, now, &event).await?;
        tx.commit().await?;
        Ok(SessionRow::read(&row, 0)?.view(now))
    }

    pub async fn list_sessions(&self, claims: &AccessClaims) -> Result<SessionList, ControlError> {
        let now = self.now();
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1
                     ORDER BY created_at DESC, id LIMIT {LIST_LIMIT}"
                ),
                &[&claims.sub.as_str()],
            )
            .await?;
        let sessions =
            rows.iter().map(|row| Ok(SessionRow::read(row, 0)?.view(now))).collect::<Result<_, ControlError>>()?;
        Ok(SessionList { sessions })
    }

    async fn session_row(
        &self,
        db: &impl GenericClient,
        claims: &AccessClaims,
        session: &SessionId,
    ) -> Result<SessionRow, ControlError> {
        let row = db
            .query_opt(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 AND user_id = $2"),
                &[&session.as_str(), &claims.sub.as_str()],
            )
            .await?
            .ok_or(ControlError::NotFound("session"))?;
        SessionRow::read(&row, 0)
    }

    /// Moves the idle deadline to now plus the idle timeout, never past the absolute deadline. The most frequent
    /// authenticated call, so it authenticates the caller itself ([`Control::authenticate`]'s checks, the sign-in's
    /// revocation inside the update): one round trip instead of two. `session` is checked after the token, as the
    /// other authenticated calls check their ids.
    pub async fn keep_alive(&self, access_token: &str, session: &str) -> Result<Session, ControlError> {
        let now = self.now();
        let claims = self.tokens.verify(access_token, now)?;
        let session = &SessionId::parse(session)?;
        let db = self.pool.get().await?;
        // Prepared once per pooled connection (not parsed and planned per call); only a refusal pays for more
        // queries to say why. Its commit does not wait for the WAL flush (`relaxed`, this transaction only): the
        // flush was most of a keep-alive's cost, and a crash of the database can lose at most the last fraction of a
        // second of keep-alives, which puts those sessions' idle deadlines back by one keep-alive interval; nothing
        // else is at stake in this statement.
        let extend = db
            .prepare_cached(&format!(
                "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
                 UPDATE sessions SET idle_deadline = LEAST($3, absolute_deadline)
                 FROM relaxed
                 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL
                   AND idle_deadline > $4 AND absolute_deadline > $4
                   AND EXISTS (SELECT 1 FROM refresh_families WHERE id = $5 AND user_id = $2 AND revoked_at IS NULL)
                 RETURNING {SESSION_COLUMNS}"
            ))
            .await?;
        let updated = db
            .query_opt(
                &extend,
                &[
                    &session.as_str(),
                    &claims.sub.as_str(),
                    &(now + self.config.session_idle),
                    &now,
                    &claims.sid.as_str(),
                ],
            )
            .await?;
        match updated {
            Some(row) => Ok(SessionRow::read(&row, 0)?.view(now)),
            None => {
                require_live_sign_in(&db, &claims).await?;
                let row = self.session_row(&db, &claims, session).await?;
                Err(row.require_live(now).err().unwrap_or(ControlError::SessionExpired))
            }
        }
    }

    /// Ends a session; ending one that already ended answers it as it is.
    pub async fn end_session(&self, claims: &AccessClaims, session: &SessionId) -> Result<Session, ControlError> {
        let now = self.now();
        let mut db = self.pool.get().await?;
        let tx = db.transaction().await?;
        let ended = tx
            .query_opt(
                &format!(
                    "UPDATE sessions SET ended_at = $3, end_reason = 'ended'
                     WHERE id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING {SESSION_COLUMNS}"
                ),
                &[&session.as_str(), &claims.sub.as_str(), &now],
            )
            .await?;
        let row = match ended {
            Some(row) => {
                let event =
                    AuditEvent::SessionEnded { user: claims.sub.clone(), session: session.clone(), reason: "ended" };
                audit::record(&tx, now, &event).await?;
                SessionRow::read(&row, 0)?
            }
            None => self.session_row(&tx, claims, session).await?,
        };
        tx.commit().await?;
        Ok(row.view(now))
    }

    // ---- simulators ----

    /// Places a simulator on a host and creates it there, in a live session of the caller's.
    pub async fn start_simulator(
        &self,
        claims: &AccessClaims,
        request: StartSimulator,
    ) -> Result<Simulator, ControlError> {
        let config = request.config.unwrap_or_default();
        config.validate().map_err(|e| ControlError::InvalidInput(format!("invalid simulator config: {e}")))?;
        let now = self.now();
        let db = self.pool.get().await?;
        self.session_row(&db, claims, &request.session_id).await?.require_live(now)?;
        let host = self.services.placement.place(now).await?;
        let sim = new_sim_id();
        let row = db
            .query_one(
                &format!(
                    "WITH s AS (
                         INSERT INTO user_simulators (id, user_id, session_id, host_id, state, created_at)
                         VALUES ($1, $2, $3, $4, 'starting', $5) RETURNING *)
                     SELECT {SIMULATOR_COLUMNS} FROM s JOIN hosts h ON h.id = s.host_id"
                ),
                &[&sim.as_str(), &claims.sub.as_str(), &request.session_id.as_str(), &host.id, &now],
            )
            .await?;
        let (mut simulator, _) = read_simulator(&row)?;
        // Not held across the host's create call, which takes seconds on a loaded host: a burst of starts would hold
        // the whole pool and refuse every other call (seen in the 1,000-user load run).
        drop(db);
        let create = CreateSimulator {
            id: sim.clone(),
            owner: claims.sub.clone(),
            config,
            seed: request.seed.unwrap_or_else(|| u64::from_le_bytes(random_bytes())),
            speed: request.speed.unwrap_or_default(),
        };
        match self.services.hosts.create(&host, &create).await {
            Ok(_) => {
                // One commit for both: the start is on the user's critical path to the first quote.
                let mut db = self.pool.get().await?;
                let started = db.transaction().await?;
                started.execute("UPDATE user_simulators SET state = 'running' WHERE id = $1", &[&sim.as_str()]).await?;
                let event = AuditEvent::SimulatorStarted { user: claims.sub.clone(), session: request.session_id, sim };
                audit::record(&started, now, &event).await?;
                started.commit().await?;
                simulator.state = "running".into();
                Ok(simulator)
            }
            // The host may or may not have created it; kept as failed for the manager to reconcile.
            Err(error @ ControlError::HostUnavailable(_)) => {
                let db = self.pool.get().await?;
                db.execute("UPDATE user_simulators SET state = 'failed' WHERE id = $1", &[&sim.as_str()]).await?;
                Err(error)
            }
            // Refused: nothing exists on the host, so nothing is kept.
            Err(error) => {
                let db = self.pool.get().await?;
                db.execute("DELETE FROM user_simulators WHERE id = $1", &[&sim.as_str()]).await?;
                Err(error)
            }
        }
    }

    pub async fn list_simulators(&self, claims: &AccessClaims) -> Result<SimulatorList, ControlError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {SIMULATOR_COLUMNS} FROM user_simulators s JOIN hosts h ON h.id = s.host_id
                     WHERE s.user_id = $1 ORDER BY s.created_at DESC, s.id LIMIT {LIST_LIMIT}"
                ),
                &[&claims.sub.as_str()],
            )
            .await?;
        let simulators = rows.iter().map(|row| Ok(read_simulator(row)?.0)).collect::<Result<_, ControlError>>()?;
        Ok(SimulatorList { simulators })
    }

    async fn simulator_row(
        &self,
        db: &impl GenericClient,
        claims: &AccessClaims,
        sim: &SimId,
    ) -> Result<(Simulator, HostTarget), ControlError> {
        let row = db
            .query_opt(
                &format!(
                    "SELECT {SIMULATOR_COLUMNS} FROM user_simulators s JOIN hosts h ON h.id = s.host_id
                     WHERE s.id = $1 AND s.user_id = $2"
                ),
                &[&sim.as_str(), &claims.sub.as_str()],
            )
            .await?
            .ok_or(ControlError::NotFound("simulator"))?;
        read_simulator(&row)
    }

    pub async fn simulator_status(&self, claims: &AccessClaims, sim: &SimId) -> Result<SimulatorStatus, ControlError> {
        let (simulator, host) = self.simulator_row(&self.pool.get().await?, claims, sim).await?;
        let live = match simulator.state.as_str() {
            "stopped" => None,
            _ => Some(self.services.hosts.status(&host, sim).await?),
        };
        Ok(SimulatorStatus { simulator, live })
    }

    /// Stops a simulator for good; stopping a stopped one answers it as it is.
    pub async fn stop_simulator(&self, claims: &AccessClaims, sim: &SimId) -> Result<Simulator, ControlError> {
        let db = self.pool.get().await?;
        let (mut simulator, host) = self.simulator_row(&db, claims, sim).await?;
        if simulator.state == "stopped" {
            return Ok(simulator);
        }
        let now = self.now();
        stop_and_record(&db, self.services.hosts.as_ref(), &host, &claims.sub, sim, now).await?;
        simulator.state = "stopped".into();
        simulator.stopped_at_ms = Some(unix_ms(now));
        Ok(simulator)
    }

    // ---- tickets and audit ----

    /// A single-use connect ticket for one of the caller's simulators, in a live session.
    pub async fn issue_ticket(&self, claims: &AccessClaims, request: &TicketRequest) -> Result<Ticket, ControlError> {
        self.ticket_limit.check(claims.sub.as_str())?;
        let now = self.now();
        let db = self.pool.get().await?;
        let (simulator, host) = self.simulator_row(&db, claims, &request.sim).await?;
        if simulator.state == "stopped" {
            return Err(ControlError::SimulatorStopped);
        }
        self.session_row(&db, claims, &simulator.session_id).await?.require_live(now)?;
        let ticket = self.services.hosts.mint_ticket(&host, &claims.sub, &request.sim).await?;
        let event = AuditEvent::TicketIssued { user: claims.sub.clone(), sim: request.sim.clone() };
        audit::record(&db, now, &event).await?;
        Ok(Ticket { ticket, sim: request.sim.clone(), expires_in: TICKET_LIFETIME.as_secs() })
    }

    /// Records an order entry attempt (accepted or not) in the audit trail.
    pub async fn record_order_attempt(
        &self,
        user: &UserId,
        sim: &SimId,
        client_order_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), ControlError> {
        let event = AuditEvent::OrderAttempt {
            user: user.clone(),
            sim: sim.clone(),
            client_order_id: client_order_id.to_owned(),
            detail,
        };
        audit::record(&self.pool.get().await?, self.now(), &event).await
    }
}
