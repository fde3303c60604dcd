SET lock_timeout = '5s';
-- Builds the unique index under ACCESS EXCLUSIVE.
-- expect: adding-unique-constraint
ALTER TABLE products ADD CONSTRAINT products_slug_key UNIQUE (slug);
