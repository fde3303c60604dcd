-- lock_timeout = 0 disables the timeout.
SET lock_timeout = 0;
-- unsure: missing-lock-timeout
ALTER TABLE events ADD COLUMN source text;
