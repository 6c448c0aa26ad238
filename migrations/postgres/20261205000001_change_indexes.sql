-- Starts and stops are a few in a hundred audit rows (status reads are the
-- rest): `history` and `costs` read them through these, never the trail.
-- The condition is the text src/store/sql.rs queries with (`CHANGE`).
CREATE INDEX IF NOT EXISTS audit_changes_by_id ON audit (instance, id)
    WHERE (command LIKE 'start %' OR command LIKE 'stop %');
CREATE INDEX IF NOT EXISTS audit_changes_by_time ON audit (instance, at)
    WHERE (command LIKE 'start %' OR command LIKE 'stop %');
