-- One change at a time per instance: a start and a stop of the same instance
-- from two people do not both go out. The row belongs to the request that holds
-- it; it is renewed while that request is followed and lapses if nobody does.
CREATE TABLE IF NOT EXISTS instance_locks (
    alias       TEXT    PRIMARY KEY,
    request_id  TEXT    NOT NULL,
    principal   TEXT    NOT NULL,
    verb        TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- `history ALIAS`: the last actions on one instance, in one indexed query.
CREATE INDEX IF NOT EXISTS audit_instance_at ON audit (instance, id);
