-- One row per request that reached the core, refused or not.
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    team        TEXT,
    principal   TEXT    NOT NULL,
    entry_point TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    instance    TEXT,
    decision    TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    backend     TEXT,
    outcome     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);

-- Slack event ids already handled, so a retried delivery acts once.
CREATE TABLE IF NOT EXISTS slack_events (
    event_id TEXT PRIMARY KEY,
    seen_at  TEXT NOT NULL
);
