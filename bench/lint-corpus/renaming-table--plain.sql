SET lock_timeout = '5s';
-- expect: renaming-table
ALTER TABLE comments RENAME TO post_comments;
