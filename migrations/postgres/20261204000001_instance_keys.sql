-- Timer state is keyed by the instance's resource path, never by its alias:
-- an alias can be renamed or pointed at another instance, and a replica whose
-- config lacks an alias must still see that the state belongs to something.
-- New tables, so the replicas of the previous version keep working on theirs
-- during a rolling deploy; each process of this version moves the rows of the
-- aliases its config knows from the old tables into these (at start-up and at
-- every tick) and leaves every other row alone. The old tables (leases,
-- instance_locks, timer_claims) are dropped by a later version.
CREATE TABLE IF NOT EXISTS sessions (
    instance TEXT    PRIMARY KEY,
    ends_at  BIGINT,
    payload  TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS instance_claims (
    instance    TEXT    PRIMARY KEY,
    request_id  TEXT    NOT NULL,
    principal   TEXT    NOT NULL,
    verb        TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS timer_work (
    instance   TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    due_at     BIGINT  NOT NULL,
    owner      TEXT    NOT NULL,
    held_until BIGINT  NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (instance, kind, due_at)
);

-- Approval requests name their instance too (old replicas ignore the column).
ALTER TABLE approvals ADD COLUMN instance TEXT;

-- An approval is now a grant its start consumes ('approved' until the start
-- reaches Google, then 'started'); older versions started at once, so every
-- approval they left is used already.
UPDATE approvals SET state = 'started' WHERE state = 'approved';
