SET lock_timeout = '5s';
-- now() and CURRENT_TIMESTAMP are STABLE: evaluated once, stored in the catalog, no rewrite.
ALTER TABLE payments ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE payments ADD COLUMN imported_at timestamptz DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE payments ADD COLUMN review_after timestamptz DEFAULT now() + interval '30 days';
