DO {{ tag }}
DECLARE
  batch_size constant integer := {{ batch_size }};
  last_key {{ table }}.{{ key }}%TYPE;
  batch_end {{ table }}.{{ key }}%TYPE;
  filled bigint := 0;
  n bigint;
BEGIN
  -- Commits need not wait for their WAL flush: a crash loses at most the last batches, and a
  -- re-run fills them again. The app's own commits then do not queue behind the backfill's.
  PERFORM set_config('synchronous_commit', 'off', false);
  -- Walk the table in batch-key order, one short transaction per batch. Rows already filled are
  -- skipped, so this can be stopped at any time and run again.
  LOOP
    IF last_key IS NULL THEN
      SELECT max(k) INTO batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} ORDER BY {{ key }} LIMIT batch_size) AS batch;
    ELSE
      SELECT max(k) INTO batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} WHERE {{ key }} > last_key ORDER BY {{ key }} LIMIT batch_size) AS batch;
    END IF;
    EXIT WHEN batch_end IS NULL;
    UPDATE {{ table }} SET {{ column }} = {{ value }}
     WHERE (last_key IS NULL OR {{ key }} > last_key) AND {{ key }} <= batch_end
       AND {{ pending }};
    GET DIAGNOSTICS n = ROW_COUNT;
    filled := filled + n;
    last_key := batch_end;
    COMMIT;
    RAISE NOTICE '%', format({{ progress }});
  END LOOP;
END
{{ tag }}
