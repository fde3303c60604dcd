SET lock_timeout = '5s';
-- Changing the default of an existing column only affects future inserts.
ALTER TABLE events ALTER COLUMN kind SET DEFAULT 'unknown';
ALTER TABLE invoices ALTER COLUMN number SET DEFAULT gen_random_uuid()::text;
