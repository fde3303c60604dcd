SET lock_timeout = '5s';
-- The new column is empty, but the unique index is still built over every row.
-- expect: adding-unique-constraint
ALTER TABLE accounts ADD COLUMN external_ref text UNIQUE;
