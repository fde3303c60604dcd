SET lock_timeout = '5s';
-- expect: adding-column-with-volatile-default
ALTER TABLE sessions ADD COLUMN refreshed_at timestamptz DEFAULT clock_timestamp();
