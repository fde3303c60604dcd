-- Release 42: tidy up customers and orders.
ALTER TABLE customers RENAME COLUMN full_name TO display_name;
ALTER TABLE customers DROP COLUMN fax;

-- Quantities outgrew integer.
ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;
ALTER TABLE orders ALTER COLUMN note TYPE text;
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);
