SET lock_timeout = '5s';
-- Scans the table under ACCESS EXCLUSIVE.
-- expect: adding-check-constraint
ALTER TABLE order_items ADD CONSTRAINT order_items_quantity_positive CHECK (quantity > 0);
