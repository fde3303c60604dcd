SET statement_timeout = '30s';
-- expect: missing-lock-timeout
ALTER TABLE tags ADD COLUMN description text;
