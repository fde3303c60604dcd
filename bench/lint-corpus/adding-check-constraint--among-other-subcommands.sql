SET lock_timeout = '5s';
-- expect: adding-check-constraint
ALTER TABLE invoices
    ADD COLUMN voided_at timestamptz,
    ADD CONSTRAINT invoices_amount_nonnegative CHECK (amount_cents >= 0);
