SET lock_timeout = '5s';
-- Breaks every running client that still reads the old name.
-- expect: renaming-column
ALTER TABLE users RENAME COLUMN name TO full_name;
