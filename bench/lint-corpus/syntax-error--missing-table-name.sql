SET lock_timeout = '5s';
-- expect: syntax-error
CREATE INDEX CONCURRENTLY orders_total_idx ON (total_cents);
