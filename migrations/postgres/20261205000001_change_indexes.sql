-- Starts and stops are a few in a hundred audit rows (status reads are the
-- rest): `history` and `costs` read them from this index alone, never from
-- the trail. It holds every column, so a read touches only its own compact
-- pages, in time order per instance. The condition is the text
-- src/store/sql.rs queries with (`CHANGE`): rows naming an instance store
-- the short form of their command, well within an index entry's size.
-- Not CONCURRENTLY: replicas starting together migrate under sqlx's advisory
-- lock, which a concurrent build would wait on forever. The build holds the
-- audit's writes (they wait, and are not lost) for the seconds it takes.
CREATE INDEX IF NOT EXISTS audit_changes ON audit
    (instance, at, id, request_id, team, principal, entry_point, command,
     decision, reason, backend, outcome, approved_by)
    WHERE (instance IS NOT NULL AND (command LIKE 'start %' OR command LIKE 'stop %'));
