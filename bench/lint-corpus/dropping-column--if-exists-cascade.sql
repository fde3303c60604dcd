-- expect: dropping-column, missing-lock-timeout
ALTER TABLE products DROP COLUMN IF EXISTS legacy_category CASCADE;
