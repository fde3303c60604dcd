-- expect: dropping-table, missing-lock-timeout
DROP TABLE IF EXISTS old_events, old_event_types CASCADE;
