SET lock_timeout = '5s';
CREATE OR REPLACE VIEW paid_invoices AS
    SELECT i.id, i.number, p.paid_at
    FROM invoices i
    JOIN payments p ON p.invoice_id = i.id
    WHERE p.paid_at IS NOT NULL;
GRANT SELECT ON paid_invoices TO reporting;
