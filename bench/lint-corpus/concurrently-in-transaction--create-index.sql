-- Fails at run time: CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
BEGIN;
-- expect: concurrently-in-transaction
CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
COMMIT;
