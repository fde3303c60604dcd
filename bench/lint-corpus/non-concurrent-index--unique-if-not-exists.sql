-- expect: non-concurrent-index, missing-lock-timeout
CREATE UNIQUE INDEX IF NOT EXISTS users_lower_email_key ON users (lower(email));
