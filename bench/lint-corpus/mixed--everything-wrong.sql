-- One rushed migration.
-- expect: missing-lock-timeout, adding-required-column
ALTER TABLE invoices ADD COLUMN customer_id bigint NOT NULL;
-- expect: adding-foreign-key
ALTER TABLE invoices ADD CONSTRAINT invoices_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES accounts (id);
-- expect: non-concurrent-index
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
-- expect: changing-column-type
ALTER TABLE invoices ALTER COLUMN amount_cents TYPE numeric(12, 2);
-- expect: renaming-column
ALTER TABLE invoices RENAME COLUMN amount_cents TO amount;
-- expect: dropping-column
ALTER TABLE invoices DROP COLUMN due_on;
