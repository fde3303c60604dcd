-- Orders get a currency and lose the legacy note.
-- expect: adding-required-column, dropping-column, missing-lock-timeout
ALTER TABLE orders
    ADD COLUMN currency char(3) NOT NULL,
    ADD COLUMN discount_cents bigint,
    DROP COLUMN legacy_note;
