SET lock_timeout = '5s';
-- Renaming a constraint or an index does not rename a column or a table.
ALTER TABLE orders RENAME CONSTRAINT orders_user_fk TO orders_user_id_fkey;
ALTER INDEX orders_user_idx RENAME TO orders_user_id_idx;
