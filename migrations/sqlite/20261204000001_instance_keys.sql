-- Timer state is keyed by the instance's resource path, never by its alias:
-- an alias can be renamed or pointed at another instance, and a replica whose
-- config lacks an alias must still see that the state belongs to something.
-- Rows written by older versions hold the alias; the bot rewrites each to its
-- path at start-up when its config knows the alias, and leaves the rest alone.
ALTER TABLE leases RENAME COLUMN alias TO instance;
ALTER TABLE instance_locks RENAME COLUMN alias TO instance;
ALTER TABLE timer_claims RENAME COLUMN alias TO instance;
ALTER TABLE approvals ADD COLUMN instance TEXT;

-- An approval is now a grant its start consumes ('approved' until the start
-- reaches Google, then 'started'); older versions started at once, so every
-- approval they left is used already.
UPDATE approvals SET state = 'started' WHERE state = 'approved';
