CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS invoices_number_key ON invoices (number);
SET lock_timeout = '5s';
ALTER TABLE invoices ADD CONSTRAINT invoices_number_key UNIQUE USING INDEX invoices_number_key;
