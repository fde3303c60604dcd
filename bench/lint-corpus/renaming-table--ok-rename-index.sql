SET lock_timeout = '5s';
-- An index name is not part of any client's queries.
ALTER INDEX IF EXISTS orders_created_idx RENAME TO orders_placed_at_idx;
