SET lock_timeout = '3s';
SET statement_timeout = '60s';
ALTER TABLE products ADD COLUMN archived_at timestamptz;
ALTER TABLE products ALTER COLUMN description SET DEFAULT '';
