-- Case-insensitive login: store the lower-cased email and look it up by index.
-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower text NOT NULL;

CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
