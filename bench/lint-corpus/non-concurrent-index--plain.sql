SET lock_timeout = '5s';
-- Blocks writes to orders for the whole build.
-- expect: non-concurrent-index
CREATE INDEX orders_placed_at_idx ON orders (placed_at);
