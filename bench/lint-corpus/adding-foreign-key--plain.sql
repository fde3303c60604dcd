SET lock_timeout = '5s';
-- Validates every row while holding SHARE ROW EXCLUSIVE on both tables.
-- expect: adding-foreign-key
ALTER TABLE comments
    ADD CONSTRAINT comments_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE;
