SET lock_timeout = '5s';
-- An identity column is filled from its sequence for every existing row: rewrite.
-- expect: adding-column-with-volatile-default
ALTER TABLE tags ADD COLUMN legacy_id bigint GENERATED ALWAYS AS IDENTITY;
