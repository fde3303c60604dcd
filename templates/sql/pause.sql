    -- Before the batch takes any lock: wait while the app suffers, as `safeshift apply` does for
    -- the backfills it walks itself. The limits are the plan's, unless the session sets
    -- safeshift.max_app_lock_wait, safeshift.vacuum_pause, safeshift.max_replica_lag,
    -- safeshift.max_wal_rate or safeshift.max_pause (`off`: no limit); `safeshift apply` sets
    -- them from its options.
    DECLARE
      safeshift_lock_text constant text := coalesce(nullif(current_setting('safeshift.max_app_lock_wait', true), ''), {{ pause.max_app_lock_wait }});
      safeshift_lag_text constant text := coalesce(nullif(current_setting('safeshift.max_replica_lag', true), ''), {{ pause.max_replica_lag }});
      -- Bytes a second, written as `safeshift apply --max-wal-rate` takes it: 20MB, 512kB/s, 1GB,
      -- a plain number of bytes (units are powers of 1024).
      safeshift_wal_text constant text := coalesce(nullif(current_setting('safeshift.max_wal_rate', true), ''), {{ pause.max_wal_rate }});
      safeshift_wal_parts constant text[] := regexp_match(lower(btrim(safeshift_wal_text)), '^([0-9]+[.]?[0-9]*|[.][0-9]+) *(b|kb?|mb?|gb?)? *(/s)?$');
      safeshift_max_text constant text := coalesce(nullif(current_setting('safeshift.max_pause', true), ''), {{ pause.max_pause }});
      safeshift_lock_limit constant interval := nullif(CASE lower(safeshift_lock_text) WHEN 'off' THEN NULL ELSE safeshift_lock_text::interval END, interval '0');
      safeshift_lag_limit constant interval := nullif(CASE lower(safeshift_lag_text) WHEN 'off' THEN NULL ELSE safeshift_lag_text::interval END, interval '0');
      safeshift_max_pause constant interval := nullif(CASE lower(safeshift_max_text) WHEN 'off' THEN NULL ELSE safeshift_max_text::interval END, interval '0');
      safeshift_wal_limit constant numeric := nullif(safeshift_wal_parts[1]::numeric
        * CASE left(coalesce(safeshift_wal_parts[2], 'b'), 1) WHEN 'k' THEN 1024 WHEN 'm' THEN 1048576 WHEN 'g' THEN 1073741824 ELSE 1 END, 0);
      safeshift_vacuum constant boolean := coalesce(nullif(current_setting('safeshift.vacuum_pause', true), ''), {{ pause.vacuum_pause }})::boolean;
      -- pg_locks.waitstart is PostgreSQL 14+; before, the waiting statement's start bounds the
      -- wait. Chosen here, not when the plan was made, so the file runs on any major.
      safeshift_waitstart constant boolean := current_setting('server_version_num')::integer >= 140000;
      safeshift_waits text;
      safeshift_vacuuming text;
      safeshift_lagging text;
      safeshift_walling text;
      safeshift_wal_sample text;
      safeshift_wal_now pg_lsn;
      safeshift_wal_at numeric;
      safeshift_wal_rate numeric;
      safeshift_wal_bytes numeric;
      safeshift_wal_took numeric;
      safeshift_sleep numeric;
      safeshift_why text;
      safeshift_paused_at timestamptz;
      safeshift_told timestamptz;
    BEGIN
      IF safeshift_wal_parts IS NULL AND lower(btrim(safeshift_wal_text)) <> 'off' THEN
        RAISE EXCEPTION 'safeshift.max_wal_rate: % is not a rate', quote_literal(safeshift_wal_text)
          USING HINT = 'Write it like 20MB, 512kB or 1GB (bytes a second, powers of 1024), or off.';
      END IF;
      LOOP
        -- Statistics views are read once per transaction unless asked again.
        PERFORM pg_stat_clear_snapshot();
        safeshift_waits := NULL;
        safeshift_vacuuming := NULL;
        safeshift_lagging := NULL;
        safeshift_walling := NULL;
        IF safeshift_lock_limit IS NOT NULL THEN
          -- App sessions of this database waiting on a lock: not this session, nor safeshift's
          -- own (named `safeshift`). Waiting since pg_locks.waitstart (14+, read through to_jsonb:
          -- the column does not exist before) or the start of the waiting statement.
          SELECT format('%s waiting on locks (longest %ss, above the limit %s, safeshift.max_app_lock_wait)',
                        CASE count(DISTINCT a.pid) WHEN 1 THEN '1 app session' ELSE count(DISTINCT a.pid) || ' app sessions' END,
                        round(extract(epoch FROM max(clock_timestamp() - coalesce(CASE WHEN safeshift_waitstart THEN (to_jsonb(l) ->> 'waitstart')::timestamptz ELSE a.query_start END, clock_timestamp())))::numeric, 1), safeshift_lock_text)
            INTO safeshift_waits
            FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
           WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
             AND a.datname = current_database() AND a.application_name <> 'safeshift' AND a.wait_event_type = 'Lock'
             AND clock_timestamp() - coalesce(CASE WHEN safeshift_waitstart THEN (to_jsonb(l) ->> 'waitstart')::timestamptz ELSE a.query_start END, clock_timestamp()) > safeshift_lock_limit
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
        IF safeshift_wal_limit IS NOT NULL THEN
          -- WAL written per second since the sample: the position and time of the look that
          -- last let the walk go (safeshift.wal_sample, kept in the session from one batch, and
          -- one walk, to the next), so over the last batch (the walk's own WAL counts too) and
          -- the pause after it. The sample stays put while the walk is paused: after a batch that
          -- wrote B bytes in t seconds the walk waits until B / (t + pause) is under the limit
          -- L, about B / L - t, and so holds its average rate to the limit as `safeshift apply`'s
          -- own walks do. The first look has nothing to measure from and never pauses. The
          -- insert position, not pg_current_wal_lsn()'s write position: the walk commits without
          -- waiting for its WAL to be written (synchronous_commit off), so the write position
          -- lags its batches by up to the WAL writer's delay. No position on a replica, or for a
          -- role that may not call the function: no pause for that. (An IF, not a CASE: a
          -- statement that names a function the role may not execute fails when it starts,
          -- whichever branch it would take.)
          safeshift_wal_now := NULL;
          IF NOT pg_is_in_recovery() AND has_function_privilege('pg_catalog.pg_current_wal_insert_lsn()', 'EXECUTE') THEN
            safeshift_wal_now := pg_current_wal_insert_lsn();
          END IF;
          safeshift_wal_at := extract(epoch FROM clock_timestamp());
          safeshift_wal_sample := current_setting('safeshift.wal_sample', true);
          IF safeshift_wal_now IS NOT NULL AND safeshift_wal_sample ~ '^[0-9A-Fa-f]+/[0-9A-Fa-f]+ [0-9]+[.]?[0-9]*$' THEN
            safeshift_wal_bytes := greatest(pg_wal_lsn_diff(safeshift_wal_now, split_part(safeshift_wal_sample, ' ', 1)::pg_lsn), 0);
            safeshift_wal_took := greatest(safeshift_wal_at - split_part(safeshift_wal_sample, ' ', 2)::numeric, 0.001);
            safeshift_wal_rate := safeshift_wal_bytes / safeshift_wal_took;
            IF safeshift_wal_rate > safeshift_wal_limit THEN
              safeshift_walling := format('WAL written at %s is above the limit %s (safeshift.max_wal_rate)',
                CASE WHEN safeshift_wal_rate >= 1073741824 THEN round(safeshift_wal_rate / 1073741824, 1) || ' GB/s'
                     WHEN safeshift_wal_rate >= 1048576 THEN round(safeshift_wal_rate / 1048576, 1) || ' MB/s'
                     WHEN safeshift_wal_rate >= 1024 THEN round(safeshift_wal_rate / 1024, 1) || ' kB/s'
                     ELSE round(safeshift_wal_rate, 1) || ' B/s' END,
                safeshift_wal_text);
            END IF;
          ELSIF safeshift_wal_now IS NOT NULL THEN
            PERFORM set_config('safeshift.wal_sample', safeshift_wal_now || ' ' || safeshift_wal_at, false);
          END IF;
        END IF;
        safeshift_why := nullif(concat_ws('; ', safeshift_waits, safeshift_vacuuming, safeshift_lagging, safeshift_walling), '');
        IF safeshift_why IS NULL THEN
          -- The walk goes on: the next rate is measured from here (what was written while it
          -- paused was counted against the batch before).
          IF safeshift_wal_now IS NOT NULL THEN
            PERFORM set_config('safeshift.wal_sample', safeshift_wal_now || ' ' || safeshift_wal_at, false);
          END IF;
          EXIT;
        END IF;
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
        -- A quarter of a second, or less where the WAL rate is the only cause and falls under the
        -- limit sooner (at B / L - t after the sample), so the walk does not wait longer than it must.
        safeshift_sleep := 0.25;
        IF safeshift_walling IS NOT NULL AND safeshift_why = safeshift_walling THEN
          safeshift_sleep := least(0.25, greatest(safeshift_wal_bytes / safeshift_wal_limit - safeshift_wal_took, 0.01));
        END IF;
        -- No transaction lasts the pause: each sleep and the look after it are one short
        -- transaction, which holds no lock the app could wait on.
        COMMIT;
        PERFORM pg_sleep(safeshift_sleep);
      END LOOP;
      IF safeshift_paused_at IS NOT NULL THEN
        RAISE NOTICE 'resumed after pausing %s', round(extract(epoch FROM clock_timestamp() - safeshift_paused_at)::numeric, 1);
      END IF;
    END;
