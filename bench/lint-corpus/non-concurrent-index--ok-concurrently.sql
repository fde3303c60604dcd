CREATE INDEX CONCURRENTLY IF NOT EXISTS events_user_id_occurred_at_idx
    ON events (user_id, occurred_at DESC);
CREATE UNIQUE INDEX CONCURRENTLY products_sku_key ON products (sku);
