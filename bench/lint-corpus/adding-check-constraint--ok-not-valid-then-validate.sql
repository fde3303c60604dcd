SET lock_timeout = '5s';
ALTER TABLE payments ADD CONSTRAINT payments_amount_positive CHECK (amount_cents > 0) NOT VALID;
ALTER TABLE payments VALIDATE CONSTRAINT payments_amount_positive;
