SET lock_timeout = '5s';
-- A stored generated column is computed for every row: rewrite (but it is not a "default").
-- unsure: adding-column-with-volatile-default
ALTER TABLE order_items ADD COLUMN line_total_cents bigint GENERATED ALWAYS AS (quantity * price_cents) STORED;
