-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;
ALTER TABLE users MODIFY COLUMN score bigint NOT NULL DEFAULT 0;
CREATE INDEX users_email_lower_idx ON users (email_lower);
