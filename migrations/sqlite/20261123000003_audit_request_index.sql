-- A request's row is settled by request id (written as `running`, completed
-- when the work ends): find it without scanning the whole trail.
CREATE INDEX IF NOT EXISTS audit_request_id ON audit (request_id);
