DO {{ tag }}
DECLARE
  -- Prefixed: the backfill's expression and condition name the table's columns, and a variable
  -- of the same name (a column `n`, `filled`, `last_key`) would make them ambiguous.
  safeshift_batch_size constant integer := {{ batch_size }};
{%- for k in walk.keys %}
  safeshift_last_key{{ k.suffix }} {{ table }}.{{ k.column }}%TYPE;
  safeshift_batch_end{{ k.suffix }} {{ table }}.{{ k.column }}%TYPE;
{%- endfor %}
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
  -- The batch's last key by ORDER BY, not max(): uuid and other key types have no max().
  -- Walk the table in batch-key order, one short transaction per batch. Rows already filled are
  -- skipped, so this can be stopped at any time and run again.
{%- if walk.is_composite() %}
  -- The key has several columns: batches follow the whole key by row value, which its primary
  -- key index serves.
{%- endif %}
  LOOP
{% include "sql/pause.sql" %}
    IF safeshift_last_key{{ walk.first_suffix }} IS NULL THEN
      SELECT {{ walk.batch_list }} INTO {{ walk.end_list }} FROM (SELECT {{ walk.select_list }} FROM {{ table }} ORDER BY {{ walk.key_list }} LIMIT safeshift_batch_size) AS batch ORDER BY {{ walk.desc_list }} LIMIT 1;
    ELSE
      SELECT {{ walk.batch_list }} INTO {{ walk.end_list }} FROM (SELECT {{ walk.select_list }} FROM {{ table }} WHERE {{ walk.key_row }} > {{ walk.last_row }} ORDER BY {{ walk.key_list }} LIMIT safeshift_batch_size) AS batch ORDER BY {{ walk.desc_list }} LIMIT 1;
    END IF;
    EXIT WHEN safeshift_batch_end{{ walk.first_suffix }} IS NULL;
    UPDATE {{ table }} SET {{ column }} = {{ value }}
     WHERE (safeshift_last_key{{ walk.first_suffix }} IS NULL OR {{ walk.key_row }} > {{ walk.last_row }}) AND {{ walk.key_row }} <= {{ walk.end_row }}
       AND {{ pending }};
    GET DIAGNOSTICS safeshift_rows = ROW_COUNT;
    safeshift_filled := safeshift_filled + safeshift_rows;
{%- for k in walk.keys %}
    safeshift_last_key{{ k.suffix }} := safeshift_batch_end{{ k.suffix }};
{%- endfor %}
    COMMIT;
    RAISE NOTICE '%', format({{ progress }});
  END LOOP;
  -- The session as it was: the end of the walk is flushed like any other commit.
  PERFORM set_config('synchronous_commit', safeshift_synchronous_commit, false);
  PERFORM set_config('application_name', safeshift_application_name, false);
END
{{ tag }}
