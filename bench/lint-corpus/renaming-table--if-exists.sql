-- expect: renaming-table, missing-lock-timeout
ALTER TABLE IF EXISTS sessions RENAME TO user_sessions;
