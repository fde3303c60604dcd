DO {{ tag }}
DECLARE
  -- The table has no primary key: walk its heap blocks instead (a TID range scan reads only the
  -- blocks of a batch, PostgreSQL 14+), about {{ batch_size }} rows per transaction.
  safeshift_pages constant bigint := pg_relation_size({{ table_literal }}) / current_setting('block_size')::bigint;
  safeshift_step bigint;
  safeshift_last_key bigint := 0;
  safeshift_filled bigint := 0;
  safeshift_rows bigint;
  safeshift_synchronous_commit constant text := current_setting('synchronous_commit');
  safeshift_application_name constant text := current_setting('application_name');
BEGIN
  -- Named like `safeshift apply`'s sessions while it walks: the pause look of another run of a
  -- walk (templates/sql/pause.sql) then does not take this session, waiting for a progress row or
  -- a batch's rows, for an app session (before 14 a wait's age is its statement's, the whole walk's).
  PERFORM set_config('application_name', 'safeshift', false);
  -- Commits need not wait for their WAL flush: a crash loses at most the last batches, and a
  -- re-run fills them again. The app's own commits then do not queue behind the backfill's.
  PERFORM set_config('synchronous_commit', 'off', false);
  SELECT greatest(1, {{ batch_size }} / greatest(1, (reltuples / greatest(relpages, 1))::bigint))
    INTO safeshift_step FROM pg_class WHERE oid = {{ table_literal }}::regclass;
  safeshift_step := coalesce(safeshift_step, 1);
  -- Blocks as they were when the walk began: a block the table grows by holds rows written or
  -- moved since, which the sweep below finds. Rows already filled are skipped, so this can be
  -- stopped at any time and run again.
  WHILE safeshift_last_key <= safeshift_pages LOOP
{% include "sql/pause.sql" %}
    UPDATE {{ table }} SET {{ column }} = {{ value }}
     WHERE ctid > format('(%s,0)', safeshift_last_key)::tid
       AND ctid <= format('(%s,0)', safeshift_last_key + safeshift_step)::tid
       AND {{ pending }};
    GET DIAGNOSTICS safeshift_rows = ROW_COUNT;
    safeshift_filled := safeshift_filled + safeshift_rows;
    safeshift_last_key := safeshift_last_key + safeshift_step;
    COMMIT;
    RAISE NOTICE '%', format({{ progress }});
  END LOOP;
  -- The sweep: rows an update moved past the walk while it ran, a batch at a time.
  LOOP
{% include "sql/pause.sql" %}
    UPDATE {{ table }} SET {{ column }} = {{ value }}
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM {{ table }} WHERE {{ pending }} LIMIT {{ batch_size }}))
       AND {{ pending }};
    GET DIAGNOSTICS safeshift_rows = ROW_COUNT;
    EXIT WHEN safeshift_rows = 0;
    safeshift_filled := safeshift_filled + safeshift_rows;
    COMMIT;
  END LOOP;
  -- The session as it was: the end of the walk is flushed like any other commit.
  PERFORM set_config('synchronous_commit', safeshift_synchronous_commit, false);
  PERFORM set_config('application_name', safeshift_application_name, false);
END
{{ tag }}
