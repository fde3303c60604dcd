SET lock_timeout = '5s';
-- Builds the index (and checks NOT NULL) under ACCESS EXCLUSIVE.
-- expect: adding-primary-key
ALTER TABLE sessions ADD PRIMARY KEY (id);
