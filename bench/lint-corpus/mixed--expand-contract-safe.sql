-- Expand step of renaming users.name to users.display_name, done safely.
SET lock_timeout = '5s';
SET statement_timeout = '5min';
ALTER TABLE users ADD COLUMN IF NOT EXISTS display_name text;
UPDATE users SET display_name = name WHERE display_name IS NULL AND id BETWEEN 1 AND 50000;
ALTER TABLE users ADD CONSTRAINT users_display_name_not_null CHECK (display_name IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_display_name_not_null;
ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_display_name_not_null;
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_display_name_idx ON users (display_name);
