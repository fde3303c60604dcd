SET lock_timeout = '5s';
-- expect: syntax-error
ALTER TABEL users ADD COLUMN nickname text;
