SET SESSION lock_timeout TO '2s';
ALTER TABLE comments ADD COLUMN edited_at timestamptz;
