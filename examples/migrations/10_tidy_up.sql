ALTER TABLE users ALTER COLUMN name SET DEFAULT '';
-- safeshift: ignore non-concurrent-index-drop  replaced by users_email_lower_idx; the table is small
DROP INDEX users_email_idx;
