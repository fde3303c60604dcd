SET lock_timeout = '5s';
CREATE TABLE regions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);
ALTER TABLE accounts ADD COLUMN region_id bigint;
-- The referenced table is new, but accounts is not: every accounts row is checked.
-- expect: adding-foreign-key
ALTER TABLE accounts ADD CONSTRAINT accounts_region_id_fkey FOREIGN KEY (region_id) REFERENCES regions (id);
