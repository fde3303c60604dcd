SET lock_timeout = '2s';

ALTER TABLE users ADD COLUMN email_lower text NOT NULL;
CREATE INDEX users_email_lower_idx ON users (email_lower);
