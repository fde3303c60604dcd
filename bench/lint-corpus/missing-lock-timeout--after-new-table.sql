CREATE TABLE saved_searches (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query text NOT NULL
);
CREATE INDEX saved_searches_query_idx ON saved_searches (query);
-- The first lock on a table that already has traffic.
-- expect: missing-lock-timeout
ALTER TABLE users ADD COLUMN default_search_id bigint;
