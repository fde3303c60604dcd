SET lock_timeout = '5s';
-- Not a type change: only the default and the statistics target.
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending';
ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500;
