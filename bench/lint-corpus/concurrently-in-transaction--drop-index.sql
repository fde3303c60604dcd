START TRANSACTION;
-- expect: concurrently-in-transaction
DROP INDEX CONCURRENTLY IF EXISTS users_name_idx;
COMMIT;
