    -- Before the batch takes any lock: wait while the app suffers, as `safeshift apply` does for
    -- the backfills it walks itself. The limits (seconds) are the plan's, unless the session sets
    -- @safeshift_max_app_lock_wait or @safeshift_max_pause ('off': no limit); `safeshift apply`
    -- sets them from its options. Also wait while another session holds the server-wide named
    -- lock {{ pause.throttle_lock }} (or the one @safeshift_throttle_lock names; 'off': none):
    -- a primary does not know its replicas' lag, so `safeshift apply --replica-url …
    -- --max-replica-lag …` holds it while a replica lags, and a person may hold it
    -- (SELECT GET_LOCK({{ pause.throttle_lock }}, 0)) to pause every walk on the server.
    safeshift_pause: BEGIN
      DECLARE safeshift_lock_text VARCHAR(64) DEFAULT IFNULL(NULLIF(CAST(@safeshift_max_app_lock_wait AS CHAR), ''), {{ pause.max_app_lock_wait }});
      DECLARE safeshift_max_text VARCHAR(64) DEFAULT IFNULL(NULLIF(CAST(@safeshift_max_pause AS CHAR), ''), {{ pause.max_pause }});
      DECLARE safeshift_throttle_lock VARCHAR(255) DEFAULT IFNULL(NULLIF(CAST(@safeshift_throttle_lock AS CHAR), ''), {{ pause.throttle_lock }});
      DECLARE safeshift_holder BIGINT DEFAULT NULL;
      DECLARE safeshift_slept INT DEFAULT 0;
      DECLARE safeshift_lock_limit DECIMAL(20,6) DEFAULT NULL;
      DECLARE safeshift_max_pause DECIMAL(20,6) DEFAULT NULL;
      DECLARE safeshift_row_waits BIGINT DEFAULT 0;
      DECLARE safeshift_row_longest DECIMAL(20,6) DEFAULT 0;
      DECLARE safeshift_mdl_waits BIGINT DEFAULT 0;
      DECLARE safeshift_mdl_longest BIGINT DEFAULT 0;
      DECLARE safeshift_why TEXT DEFAULT NULL;
      DECLARE safeshift_paused_at DATETIME(6) DEFAULT NULL;
      DECLARE safeshift_told DATETIME(6) DEFAULT NULL;
      IF LOWER(safeshift_lock_text) <> 'off' THEN
        SET safeshift_lock_limit = NULLIF(CAST(safeshift_lock_text AS DECIMAL(20,6)), 0);
      END IF;
      IF LOWER(safeshift_max_text) <> 'off' THEN
        SET safeshift_max_pause = NULLIF(CAST(safeshift_max_text AS DECIMAL(20,6)), 0);
      END IF;
      safeshift_look: LOOP
        SET safeshift_why = NULL;
        IF LOWER(safeshift_throttle_lock) <> 'off' THEN
          -- One lookup in the server's table of named locks: cheap enough for every batch.
          SET safeshift_holder = IS_USED_LOCK(safeshift_throttle_lock);
          IF safeshift_holder <> CONNECTION_ID() THEN
            SET safeshift_why = CONCAT('connection ', safeshift_holder, ' holds the lock ', safeshift_throttle_lock,
                                       ' (safeshift apply holds it while a replica is behind more than --max-replica-lag;',
                                       ' a person may hold it to pause the walks)');
          END IF;
        END IF;
        IF safeshift_lock_limit IS NOT NULL THEN
          -- App sessions of this database waiting on a row lock, or on a metadata lock (whole
          -- seconds); not this session. SYSDATE: NOW() inside a routine is the CALL's start.
          -- Other users' sessions show only with the PROCESS privilege.
          SELECT COUNT(*), COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, trx_wait_started, SYSDATE(6))), 0) / 1000000
            INTO safeshift_row_waits, safeshift_row_longest
            FROM information_schema.INNODB_TRX JOIN information_schema.PROCESSLIST ON ID = trx_mysql_thread_id
           WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id <> CONNECTION_ID() AND DB <=> DATABASE()
             AND TIMESTAMPDIFF(MICROSECOND, trx_wait_started, SYSDATE(6)) > safeshift_lock_limit * 1000000;
          SELECT COUNT(*), COALESCE(MAX(TIME), 0) INTO safeshift_mdl_waits, safeshift_mdl_longest
            FROM information_schema.PROCESSLIST
           WHERE ID <> CONNECTION_ID() AND DB <=> DATABASE() AND STATE LIKE 'Waiting for%lock'
             AND TIME > safeshift_lock_limit;
          IF safeshift_row_waits + safeshift_mdl_waits > 0 THEN
            SET safeshift_why = CONCAT_WS('; ', safeshift_why,
                                          CONCAT(IF(safeshift_row_waits + safeshift_mdl_waits = 1, '1 app session', CONCAT(safeshift_row_waits + safeshift_mdl_waits, ' app sessions')),
                                                 ' waiting on locks (longest ', ROUND(GREATEST(safeshift_row_longest, safeshift_mdl_longest), 1),
                                                 's, above the limit ', safeshift_lock_text, 's, @safeshift_max_app_lock_wait)'));
          END IF;
        END IF;
        IF safeshift_why IS NULL THEN
          LEAVE safeshift_look;
        END IF;
        IF safeshift_paused_at IS NULL THEN
          SET safeshift_paused_at = SYSDATE(6), safeshift_told = SYSDATE(6);
          SELECT CONCAT('paused: ', safeshift_why) AS progress;
        ELSEIF TIMESTAMPDIFF(SECOND, safeshift_told, SYSDATE(6)) >= 10 THEN
          SET safeshift_told = SYSDATE(6);
          SELECT CONCAT('paused: ', safeshift_why, ' (paused ', TIMESTAMPDIFF(SECOND, safeshift_paused_at, SYSDATE(6)), 's so far)') AS progress;
        END IF;
        IF TIMESTAMPDIFF(MICROSECOND, safeshift_paused_at, SYSDATE(6)) > safeshift_max_pause * 1000000 THEN
          SELECT CONCAT('stopped: the walk paused longer than @safeshift_max_pause (', safeshift_max_text, 's): ', safeshift_why,
                        '. Every batch done so far is kept: run the stage again when the app is calm, and it goes on where it stopped') AS progress;
          SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'safeshift: the walk paused longer than @safeshift_max_pause; run the stage again to go on';
        END IF;
        -- No transaction is open here: the sleep holds nothing the app could wait on. Not
        -- `DO SLEEP()`: a statement that is only a SLEEP which KILL QUERY (the client's Ctrl-C,
        -- `safeshift apply`'s) interrupts returns 1 without an error, and the walk would go on
        -- pausing; as part of a statement the KILL fails it, and a 1 fails the walk here.
        SELECT SLEEP(0.25) INTO safeshift_slept;
        IF safeshift_slept = 1 THEN
          SIGNAL SQLSTATE '70100' SET MYSQL_ERRNO = 1317, MESSAGE_TEXT = 'safeshift: the walk was interrupted while it paused; run the stage again to go on';
        END IF;
      END LOOP safeshift_look;
      IF safeshift_paused_at IS NOT NULL THEN
        SELECT CONCAT('resumed after pausing ', ROUND(TIMESTAMPDIFF(MICROSECOND, safeshift_paused_at, SYSDATE(6)) / 1000000, 1), 's') AS progress;
      END IF;
    END safeshift_pause;
