-- One row per request that reached the pipeline, refused or not. The words
-- each column holds are written down in src/store/audit.rs.
CREATE TABLE IF NOT EXISTS audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TEXT      NOT NULL,
    request_id  TEXT      NOT NULL,
    team        TEXT,
    principal   TEXT      NOT NULL,
    entry_point TEXT      NOT NULL,
    command     TEXT      NOT NULL,
    instance    TEXT,
    decision    TEXT      NOT NULL,
    reason      TEXT      NOT NULL,
    backend     TEXT,
    outcome     TEXT      NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_request_id ON audit (request_id);
CREATE INDEX IF NOT EXISTS audit_instance_at ON audit (instance, id);

-- Slack event ids already handled, shared by every replica, so a retry
-- delivered to another replica acts once.
CREATE TABLE IF NOT EXISTS slack_events (
    event_id TEXT PRIMARY KEY,
    seen_at  TEXT NOT NULL
);

-- Operations being followed to their end. A replica holds a row while it polls
-- (claimed_until, renewed); a row whose lease ran out, or that a stopping
-- replica released, is claimed by exactly one other replica.
CREATE TABLE IF NOT EXISTS pending_operations (
    request_id    TEXT   PRIMARY KEY,
    payload       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT NOT NULL
);

-- One change at a time per instance, across replicas.
CREATE TABLE IF NOT EXISTS instance_locks (
    alias       TEXT   PRIMARY KEY,
    request_id  TEXT   NOT NULL,
    principal   TEXT   NOT NULL,
    verb        TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL
);
