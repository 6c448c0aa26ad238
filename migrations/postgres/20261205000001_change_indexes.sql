-- Starts and stops are a few in a hundred audit rows (status reads are the
-- rest): `history` and `costs` read them from this index alone, never from
-- the trail. It holds every column, so a read touches only its own compact
-- pages, in time order per instance. The condition is the text
-- src/store/sql.rs queries with (`CHANGE`).
CREATE INDEX IF NOT EXISTS audit_changes ON audit
    (instance, at, id, request_id, team, principal, entry_point, command,
     decision, reason, backend, outcome, approved_by)
    WHERE (command LIKE 'start %' OR command LIKE 'stop %');
