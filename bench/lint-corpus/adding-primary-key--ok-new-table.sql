CREATE TABLE audit_entries (
    id bigint NOT NULL,
    actor_id bigint,
    action text NOT NULL
);
ALTER TABLE audit_entries ADD PRIMARY KEY (id);
