SET lock_timeout = '5s';
-- expect: non-concurrent-index-drop
DROP INDEX orders_status_idx;
