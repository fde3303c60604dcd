SET lock_timeout = '5s';
-- expect: adding-primary-key, adding-column-with-volatile-default
ALTER TABLE comments ADD COLUMN id bigserial PRIMARY KEY;
