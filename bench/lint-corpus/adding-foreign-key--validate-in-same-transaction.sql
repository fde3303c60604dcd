BEGIN;
SET LOCAL lock_timeout = '5s';
-- unsure: adding-foreign-key
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;
-- Still inside the transaction that holds the SHARE ROW EXCLUSIVE locks from above.
-- expect: adding-foreign-key
ALTER TABLE order_items VALIDATE CONSTRAINT order_items_order_id_fkey;
COMMIT;
