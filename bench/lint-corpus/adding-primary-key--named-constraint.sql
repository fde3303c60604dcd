-- expect: adding-primary-key, missing-lock-timeout
ALTER TABLE tags ADD CONSTRAINT tags_pkey PRIMARY KEY (id);
