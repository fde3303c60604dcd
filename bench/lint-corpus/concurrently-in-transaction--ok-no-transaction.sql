CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);
DROP INDEX CONCURRENTLY IF EXISTS sessions_expires_idx;
