BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE invoices ADD COLUMN pdf_url text;
ALTER TABLE invoices ADD COLUMN sent_at timestamptz;
COMMIT;
