-- The recipe: NOT NULL via a validated CHECK, unique index built concurrently, then a
-- quick catalog-only ADD PRIMARY KEY USING INDEX.
SET lock_timeout = '5s';
ALTER TABLE audit_log ADD CONSTRAINT audit_log_id_not_null CHECK (id IS NOT NULL) NOT VALID;
ALTER TABLE audit_log VALIDATE CONSTRAINT audit_log_id_not_null;
ALTER TABLE audit_log ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX CONCURRENTLY audit_log_pkey_idx ON audit_log (id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_pkey_idx;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_not_null;
