-- Row locks only: no lock_timeout needed.
UPDATE orders SET status = 'cancelled' WHERE status = 'abandoned' AND placed_at < now() - interval '1 year';
INSERT INTO tags (name, color) VALUES ('urgent', 'red');
DELETE FROM sessions WHERE expires_at < now() - interval '30 days';
