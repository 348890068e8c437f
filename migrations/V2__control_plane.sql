-- The control plane's state: users, sign-ins (refresh-token families), sessions, the simulators users own, the hosts
-- that run them, live stream connections and the audit trail. Every time here comes from the control plane's clock
-- (a query parameter), never from now(), so that expiry is decided in one place.

CREATE TABLE users (
    id            text        PRIMARY KEY,
    -- Stored lower-case: usernames are unique regardless of case.
    username      text        NOT NULL CONSTRAINT users_username_key UNIQUE,
    -- An argon2id PHC string.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL
);

-- One sign-in: the refresh tokens issued by one login and all their rotations. Access tokens carry its id as `sid`.
CREATE TABLE refresh_families (
    id            text        PRIMARY KEY,
    user_id       text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz NULL,
    -- 'logout' or 'reuse'.
    revoke_reason text        NULL
);

CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- Refresh tokens are stored only as their SHA-256. A token with `rotated_at` set was exchanged once; presenting it
-- again is reuse and revokes its family.
CREATE TABLE refresh_tokens (
    token_hash  bytea       PRIMARY KEY,
    family_id   text        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz NULL
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- A user's trading session, opened under a sign-in. Alive while `ended_at` is null and both deadlines are ahead;
-- keep-alive moves `idle_deadline`, never past `absolute_deadline`.
CREATE TABLE sessions (
    id                text        PRIMARY KEY,
    user_id           text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id         text        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL,
    idle_deadline     timestamptz NOT NULL,
    absolute_deadline timestamptz NOT NULL,
    ended_at          timestamptz NULL,
    -- 'ended', 'logout', 'revoked', 'idle' or 'lifetime'.
    end_reason        text        NULL,
    CONSTRAINT sessions_deadlines_check CHECK (idle_deadline <= absolute_deadline)
);

CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_family_idx ON sessions (family_id);
-- The sweeper looks for live sessions past a deadline.
CREATE INDEX sessions_live_idx ON sessions (idle_deadline) WHERE ended_at IS NULL;

-- Hosts that can run simulators, registered and heart-beaten by the simulator manager.
CREATE TABLE hosts (
    id           text        PRIMARY KEY,
    -- Base URL of the host's internal API, e.g. http://127.0.0.1:8090.
    address      text        NOT NULL,
    capacity     integer     NOT NULL CONSTRAINT hosts_capacity_check CHECK (capacity >= 0),
    heartbeat_at timestamptz NOT NULL
);

-- Which user and session own a simulator, and where the control plane placed it. The host's own record of the
-- simulator (engine config, clock, journal) is the `simulators` table of V1, keyed by the same id.
CREATE TABLE user_simulators (
    id          text        PRIMARY KEY,
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    host_id     text        NOT NULL REFERENCES hosts (id),
    -- 'starting', 'running', 'failed' or 'stopped', as far as the control plane knows.
    state       text        NOT NULL CONSTRAINT user_simulators_state_check
        CHECK (state IN ('starting', 'running', 'failed', 'stopped')),
    created_at  timestamptz NOT NULL,
    stopped_at  timestamptz NULL
);

CREATE INDEX user_simulators_user_idx ON user_simulators (user_id);
CREATE INDEX user_simulators_session_idx ON user_simulators (session_id);
-- Placement counts the simulators each host holds.
CREATE INDEX user_simulators_host_idx ON user_simulators (host_id) WHERE state <> 'stopped';

-- Live stream connections (API Gateway connection ids or the host's own), so that a revoked sign-in's sockets can
-- be found and closed.
CREATE TABLE connections (
    id           text        PRIMARY KEY,
    user_id      text        NOT NULL,
    session_id   text        NOT NULL,
    sim_id       text        NOT NULL,
    family_id    text        NOT NULL,
    connected_at timestamptz NOT NULL
);

CREATE INDEX connections_family_idx ON connections (family_id);

-- Append-only record of logins, session events, connection events and order attempts. Ids are kept as text, without
-- foreign keys, so that the trail outlives what it names.
CREATE TABLE audit_events (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    user_id    text        NULL,
    session_id text        NULL,
    sim_id     text        NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_user_idx ON audit_events (user_id, at);
