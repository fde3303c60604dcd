    -- Before the batch takes any lock: wait while the app suffers, as `safeshift apply` does for
    -- the backfills it walks itself. The limits are the plan's, unless the session sets
    -- safeshift.max_app_lock_wait, safeshift.vacuum_pause, safeshift.max_replica_lag or
    -- safeshift.max_pause (`off`: no limit); `safeshift apply` sets them from its options.
    DECLARE
      safeshift_lock_text constant text := coalesce(nullif(current_setting('safeshift.max_app_lock_wait', true), ''), {{ pause.max_app_lock_wait }});
      safeshift_lag_text constant text := coalesce(nullif(current_setting('safeshift.max_replica_lag', true), ''), {{ pause.max_replica_lag }});
      safeshift_max_text constant text := coalesce(nullif(current_setting('safeshift.max_pause', true), ''), {{ pause.max_pause }});
      safeshift_lock_limit constant interval := nullif(CASE lower(safeshift_lock_text) WHEN 'off' THEN NULL ELSE safeshift_lock_text::interval END, interval '0');
      safeshift_lag_limit constant interval := nullif(CASE lower(safeshift_lag_text) WHEN 'off' THEN NULL ELSE safeshift_lag_text::interval END, interval '0');
      safeshift_max_pause constant interval := nullif(CASE lower(safeshift_max_text) WHEN 'off' THEN NULL ELSE safeshift_max_text::interval END, interval '0');
      safeshift_vacuum constant boolean := coalesce(nullif(current_setting('safeshift.vacuum_pause', true), ''), {{ pause.vacuum_pause }})::boolean;
      safeshift_waits text;
      safeshift_vacuuming text;
      safeshift_lagging text;
      safeshift_why text;
      safeshift_paused_at timestamptz;
      safeshift_told timestamptz;
    BEGIN
      LOOP
        -- Statistics views are read once per transaction unless asked again.
        PERFORM pg_stat_clear_snapshot();
        safeshift_waits := NULL;
        safeshift_vacuuming := NULL;
        safeshift_lagging := NULL;
        IF safeshift_lock_limit IS NOT NULL THEN
          -- App sessions of this database waiting on a lock: not this session, nor safeshift's
          -- own (named `safeshift`). Waiting since {{ pause.since_what }}.
          SELECT format('%s waiting on locks (longest %ss, above the limit %s, safeshift.max_app_lock_wait)',
                        CASE count(DISTINCT a.pid) WHEN 1 THEN '1 app session' ELSE count(DISTINCT a.pid) || ' app sessions' END,
                        round(extract(epoch FROM max(clock_timestamp() - {{ pause.since }}))::numeric, 1), safeshift_lock_text)
            INTO safeshift_waits
            FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
           WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
             AND a.datname = current_database() AND a.application_name <> 'safeshift' AND a.wait_event_type = 'Lock'
             AND clock_timestamp() - {{ pause.since }} > safeshift_lock_limit
          HAVING count(*) > 0;
        END IF;
        IF safeshift_vacuum THEN
          -- The walk's dead rows would only grow the vacuum's work.
          SELECT format('%s is working on the table (%s, pid %s)',
                        CASE WHEN a.backend_type = 'autovacuum worker' THEN 'autovacuum' ELSE 'a VACUUM' END, p.phase, p.pid)
            INTO safeshift_vacuuming
            FROM pg_stat_progress_vacuum p JOIN pg_stat_activity a ON a.pid = p.pid
           WHERE p.relid = ANY (ARRAY[{{ pause.tables }}]::regclass[])
           LIMIT 1;
        END IF;
        IF safeshift_lag_limit IS NOT NULL THEN
          -- NULL where the role may not see the lag (pg_read_all_stats): no pause for that.
          SELECT format('replica replay lag %ss is above the limit %s (safeshift.max_replica_lag)',
                        round(extract(epoch FROM max(replay_lag))::numeric, 1), safeshift_lag_text)
            INTO safeshift_lagging
            FROM pg_stat_replication
          HAVING max(replay_lag) > safeshift_lag_limit;
        END IF;
        safeshift_why := nullif(concat_ws('; ', safeshift_waits, safeshift_vacuuming, safeshift_lagging), '');
        EXIT WHEN safeshift_why IS NULL;
        IF safeshift_paused_at IS NULL THEN
          safeshift_paused_at := clock_timestamp();
          safeshift_told := safeshift_paused_at;
          RAISE NOTICE 'paused: %', safeshift_why;
        ELSIF clock_timestamp() - safeshift_told >= interval '10 seconds' THEN
          safeshift_told := clock_timestamp();
          RAISE NOTICE 'paused: % (paused %s so far)', safeshift_why, round(extract(epoch FROM clock_timestamp() - safeshift_paused_at));
        END IF;
        IF clock_timestamp() - safeshift_paused_at > safeshift_max_pause THEN
          RAISE EXCEPTION 'stopped: the walk paused longer than safeshift.max_pause (%): %', safeshift_max_text, safeshift_why
            USING HINT = 'Every batch done so far is kept. Run the stage again (the same file, or safeshift apply) when the app is calm: it goes on where it stopped. SET safeshift.max_pause = ''off'' waits without a limit.';
        END IF;
        -- No transaction lasts the pause: each sleep and the look after it are one short
        -- transaction, which holds no lock the app could wait on.
        COMMIT;
        PERFORM pg_sleep(0.25);
      END LOOP;
      IF safeshift_paused_at IS NOT NULL THEN
        RAISE NOTICE 'resumed after pausing %s', round(extract(epoch FROM clock_timestamp() - safeshift_paused_at)::numeric, 1);
      END IF;
    END;
