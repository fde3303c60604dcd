SET lock_timeout = '5s';
-- A volatile default is evaluated per row: the whole table is rewritten.
-- expect: adding-column-with-volatile-default
ALTER TABLE events ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
