BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN gift_message text;
COMMIT;
-- SET LOCAL ended with the transaction: this runs without a lock_timeout.
-- expect: missing-lock-timeout
ALTER TABLE orders ADD COLUMN gift_wrap boolean;
