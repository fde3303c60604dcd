BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE posts ADD COLUMN slug text;
COMMIT;
-- Outside the transaction block again.
CREATE INDEX CONCURRENTLY posts_slug_idx ON posts (slug);
