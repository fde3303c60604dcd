SET lock_timeout = '5s';
-- Dropping a constraint or a default is not dropping a column.
ALTER TABLE invoices DROP CONSTRAINT IF EXISTS invoices_amount_check;
ALTER TABLE invoices ALTER COLUMN due_on DROP DEFAULT;
