SET lock_timeout = '5s';
-- expect: dropping-column
ALTER TABLE users DROP COLUMN last_login_ip;
