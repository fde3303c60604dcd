SET lock_timeout = '5s';
-- serial means DEFAULT nextval(...): volatile, so every row is rewritten.
-- expect: adding-column-with-volatile-default
ALTER TABLE comments ADD COLUMN position bigserial;
