SET lock_timeout = '5s';
-- Rewrites the table and its indexes under ACCESS EXCLUSIVE.
-- expect: changing-column-type
ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint;
