-- The simulator host's durable state: simulator records, the command journal and engine snapshots.
-- Recovery restores the latest snapshot of a simulator and replays its journal entries after the snapshot's step.

CREATE TABLE simulators (
    id          text        PRIMARY KEY,
    owner       text        NOT NULL,
    -- A tradesim_protocol::SimConfig in its serde JSON form.
    config      jsonb       NOT NULL,
    -- u64 stored as its i64 bit pattern.
    seed        bigint      NOT NULL,
    status      text        NOT NULL CONSTRAINT simulators_status_check
        CHECK (status IN ('starting', 'running', 'stopping', 'stopped', 'failed', 'recovering')),
    -- The host running the simulator, if any.
    host        text        NULL,
    -- Clock anchor: simulated step `clock_step` was current at real time `clock_at`, and time runs at `speed` times
    -- real time from there (0 = paused). The host recomputes the current step from it after recovery.
    speed       integer     NOT NULL CONSTRAINT simulators_speed_check CHECK (speed >= 0),
    clock_step  bigint      NOT NULL CONSTRAINT simulators_clock_step_check CHECK (clock_step >= 0),
    clock_at    timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A host lists its simulators when it starts and when it takes over a dead host's.
CREATE INDEX simulators_host_idx ON simulators (host) WHERE host IS NOT NULL;

-- Every user command, with the step at which it applies. Rows are never deleted while the simulator exists: they are
-- what makes client order ids unique for ever.
CREATE TABLE journal (
    sim_id          text        NOT NULL REFERENCES simulators (id) ON DELETE CASCADE,
    step            bigint      NOT NULL CONSTRAINT journal_step_check CHECK (step >= 0),
    -- Order within the step.
    idx             integer     NOT NULL CONSTRAINT journal_idx_check CHECK (idx >= 0),
    user_id         text        NOT NULL,
    client_order_id text        NULL,
    -- A tradesim_protocol::Command in its serde JSON form.
    command         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sim_id, step, idx)
);

-- Client order ids are unique per user for ever, across simulators.
CREATE UNIQUE INDEX journal_client_order_id_key ON journal (user_id, client_order_id)
    WHERE client_order_id IS NOT NULL;

-- Engine snapshots (engine-serialized, versioned by the engine's codec). Only the latest two per simulator are kept.
CREATE TABLE snapshots (
    sim_id      text        NOT NULL REFERENCES simulators (id) ON DELETE CASCADE,
    step        bigint      NOT NULL CONSTRAINT snapshots_step_check CHECK (step >= 0),
    -- The stream seq the engine stood at.
    seq         bigint      NOT NULL CONSTRAINT snapshots_seq_check CHECK (seq >= 0),
    -- u64 stored as its i64 bit pattern.
    state_hash  bigint      NOT NULL,
    bytes       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sim_id, step)
);
