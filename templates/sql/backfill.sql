DO {{ tag }}
DECLARE
  -- Prefixed: the backfill's expression and condition name the table's columns, and a variable
  -- of the same name (a column `n`, `filled`, `last_key`) would make them ambiguous.
  safeshift_batch_size constant integer := {{ batch_size }};
  safeshift_last_key {{ table }}.{{ key }}%TYPE;
  safeshift_batch_end {{ table }}.{{ key }}%TYPE;
  safeshift_filled bigint := 0;
  safeshift_rows bigint;
BEGIN
  -- Commits need not wait for their WAL flush: a crash loses at most the last batches, and a
  -- re-run fills them again. The app's own commits then do not queue behind the backfill's.
  PERFORM set_config('synchronous_commit', 'off', false);
  -- The batch's last key by ORDER BY, not max(): uuid and other key types have no max().
  -- Walk the table in batch-key order, one short transaction per batch. Rows already filled are
  -- skipped, so this can be stopped at any time and run again.
  LOOP
    IF safeshift_last_key IS NULL THEN
      SELECT batch.k INTO safeshift_batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} ORDER BY {{ key }} LIMIT safeshift_batch_size) AS batch ORDER BY batch.k DESC LIMIT 1;
    ELSE
      SELECT batch.k INTO safeshift_batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} WHERE {{ key }} > safeshift_last_key ORDER BY {{ key }} LIMIT safeshift_batch_size) AS batch ORDER BY batch.k DESC LIMIT 1;
    END IF;
    EXIT WHEN safeshift_batch_end IS NULL;
    UPDATE {{ table }} SET {{ column }} = {{ value }}
     WHERE (safeshift_last_key IS NULL OR {{ key }} > safeshift_last_key) AND {{ key }} <= safeshift_batch_end
       AND {{ pending }};
    GET DIAGNOSTICS safeshift_rows = ROW_COUNT;
    safeshift_filled := safeshift_filled + safeshift_rows;
    safeshift_last_key := safeshift_batch_end;
    COMMIT;
    RAISE NOTICE '%', format({{ progress }});
  END LOOP;
END
{{ tag }}
