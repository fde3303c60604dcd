-- Every user belongs to a tenant from now on.
SET lock_timeout = '5s';
-- expect: adding-required-column
ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;
