-- Operations the bot is following to their end. A process holds a row while it
-- polls (claimed_until, renewed); a row whose lease ran out, or that a stopping
-- process released, is picked up by the next process that starts.
CREATE TABLE IF NOT EXISTS pending_operations (
    request_id    TEXT    PRIMARY KEY,
    payload       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    claimed_by    TEXT,
    claimed_until INTEGER NOT NULL
);
