SET lock_timeout = '5s';
-- Backfilled in the previous release.
-- expect: setting-not-null
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
