-- Approval requests for guarded instances (`approvers` in the config): one row
-- per request, decided once (`state` leaves 'waiting' in one conditional
-- UPDATE). `asked` is JSON: who asked, why, for how long, where they wait.
CREATE TABLE IF NOT EXISTS approvals (
    id          TEXT    PRIMARY KEY,
    alias       TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    decided_by  TEXT,
    note        TEXT,
    messages    TEXT    NOT NULL,
    asked       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_waiting ON approvals (state, expires_at);

-- Who approved the request a row records (an approved start names both).
ALTER TABLE audit ADD COLUMN approved_by TEXT;
