SET lock_timeout = '5s';
-- expect: non-concurrent-index
CREATE INDEX invoices_unpaid_due_on_idx
    ON invoices USING btree (due_on)
    WHERE paid_at IS NULL;
