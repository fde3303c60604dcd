-- A view holds no data.
-- unsure: missing-lock-timeout
DROP VIEW IF EXISTS active_users_v;
