SET lock_timeout = '5s';
ALTER TABLE orders ADD CONSTRAINT orders_user_id_not_null CHECK (user_id IS NOT NULL) NOT VALID;
-- The CHECK was never validated, so SET NOT NULL still scans the table.
-- expect: setting-not-null
ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL;
