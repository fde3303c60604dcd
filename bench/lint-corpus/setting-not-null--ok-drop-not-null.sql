SET lock_timeout = '5s';
-- Relaxing a constraint: catalog-only, no scan.
ALTER TABLE addresses ALTER COLUMN line1 DROP NOT NULL;
