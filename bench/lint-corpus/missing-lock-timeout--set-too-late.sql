-- expect: missing-lock-timeout
ALTER TABLE users ADD COLUMN avatar_url text;
SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN bio text;
