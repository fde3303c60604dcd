SET lock_timeout = '5s';
-- Binary-coercible if the column is varchar today (no rewrite); a linter without the
-- catalog cannot know the current type.
-- unsure: changing-column-type
ALTER TABLE products ALTER COLUMN name TYPE text;
