BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE payments ADD COLUMN provider_ref text;
-- expect: concurrently-in-transaction
CREATE UNIQUE INDEX CONCURRENTLY payments_provider_ref_key ON payments (provider_ref);
COMMIT;
