SET lock_timeout = '5s';
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TYPE invoice_state AS ENUM ('draft', 'open', 'paid', 'void');
ALTER TYPE invoice_state ADD VALUE IF NOT EXISTS 'uncollectible' AFTER 'paid';
ALTER TABLE invoices ADD COLUMN state invoice_state;
