-- expect: changing-column-type, missing-lock-timeout
ALTER TABLE events ALTER COLUMN occurred_at SET DATA TYPE timestamptz USING occurred_at AT TIME ZONE 'UTC';
