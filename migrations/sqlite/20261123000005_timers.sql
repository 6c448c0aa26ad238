-- Instances the bot started, while they run: since when and by whom (for the
-- cost so far), and the lease: the bot stops the instance at `ends_at` (ms
-- since the epoch, NULL for none) unless someone extends it. JSON payload.
CREATE TABLE IF NOT EXISTS leases (
    alias    TEXT    PRIMARY KEY,
    ends_at  INTEGER,
    payload  TEXT    NOT NULL
);

-- Due timer work (a warning, a lease's stop, a scheduled stop), one row per
-- occurrence: whoever inserts or takes over a lapsed claim acts, and `done`
-- keeps it from ever being done twice.
CREATE TABLE IF NOT EXISTS timer_claims (
    alias    TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    due_at   INTEGER NOT NULL,
    owner      TEXT    NOT NULL,
    held_until INTEGER NOT NULL,
    done     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (alias, kind, due_at)
);
