-- Make posts.author_id mandatory and index it.
-- expect: missing-lock-timeout, setting-not-null
ALTER TABLE posts
    ALTER COLUMN author_id SET NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_author_id_idx ON posts (author_id);
