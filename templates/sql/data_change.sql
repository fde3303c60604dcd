-- Where the walk got, per step: written in the same transaction as each batch, so a batch is
-- never applied twice (also `SET n = n + 1`) and a re-run resumes after the last batch done.
DO {{ tag }}
BEGIN
  CREATE TABLE IF NOT EXISTS {{ progress }} (
    step text PRIMARY KEY,
    last_key text,
    rows bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
  );
EXCEPTION WHEN unique_violation OR duplicate_table OR duplicate_object THEN
  -- IF NOT EXISTS is not safe from a race: another run of this stage made it at the same moment.
  NULL;
END
{{ tag }};
DO {{ tag }}
DECLARE
  -- Prefixed: the statement names the table's columns, and a variable of the same name would
  -- make them ambiguous.
  safeshift_batch_size constant integer := {{ batch_size }};
  safeshift_step constant text := {{ step }};
  safeshift_done text;
{%- for k in walk.keys %}
  safeshift_last_key{{ k.suffix }} {{ table }}.{{ k.column }}%TYPE;
  safeshift_batch_end{{ k.suffix }} {{ table }}.{{ k.column }}%TYPE;
{%- endfor %}
  safeshift_changed bigint;
  safeshift_rows bigint;
  safeshift_synchronous_commit constant text := current_setting('synchronous_commit');
  safeshift_application_name constant text := current_setting('application_name');
BEGIN
  -- Named like `safeshift apply`'s sessions while it walks: the pause look of another run of a
  -- walk (templates/sql/pause.sql) then does not take this session, waiting for a progress row or
  -- a batch's rows, for an app session (before 14 a wait's age is its statement's, the whole walk's).
  PERFORM set_config('application_name', 'safeshift', false);
  INSERT INTO {{ progress }} (step) VALUES (safeshift_step) ON CONFLICT (step) DO NOTHING;
  COMMIT;
  -- The batches' commits need not wait for their WAL flush: a crash loses at most the last
  -- batches together with their progress (one transaction), and the re-run does them again. The
  -- app's own commits then do not queue behind the walk's flushes (scripts/bench-stall).
  PERFORM set_config('synchronous_commit', 'off', false);
  LOOP
{% include "sql/pause.sql" %}
    -- The progress row is locked for the batch's transaction: a second run of this stage waits
    -- here, then reads where this one got, instead of doing the same batch again.
    BEGIN
      SELECT last_key, rows INTO safeshift_done, safeshift_changed FROM {{ progress }} WHERE step = safeshift_step FOR UPDATE;
    EXCEPTION WHEN undefined_table THEN
      -- Gone: another run of this stage finished the walk and dropped the table meanwhile.
      EXIT;
    END;
    -- Gone: another run of this stage finished the walk while this one waited.
    EXIT WHEN NOT FOUND;
{%- if walk.is_composite() %}
{%- for k in walk.keys %}
    safeshift_last_key{{ k.suffix }} := (safeshift_done::jsonb) ->> {{ loop.index0 }};
{%- endfor %}
{%- else %}
    safeshift_last_key := safeshift_done;
{%- endif %}
    -- The batch's last key by ORDER BY, not max(): uuid and other key types have no max().
    IF safeshift_done IS NULL THEN
      SELECT {{ walk.batch_list }} INTO {{ walk.end_list }} FROM (SELECT {{ walk.select_list }} FROM {{ table }} ORDER BY {{ walk.key_list }} LIMIT safeshift_batch_size) AS batch ORDER BY {{ walk.desc_list }} LIMIT 1;
    ELSE
      SELECT {{ walk.batch_list }} INTO {{ walk.end_list }} FROM (SELECT {{ walk.select_list }} FROM {{ table }} WHERE {{ walk.key_row }} > {{ walk.last_row }} ORDER BY {{ walk.key_list }} LIMIT safeshift_batch_size) AS batch ORDER BY {{ walk.desc_list }} LIMIT 1;
    END IF;
    EXIT WHEN safeshift_batch_end{{ walk.first_suffix }} IS NULL;
    -- Two spellings, so each batch's plan is a range scan of the key's index.
    IF safeshift_done IS NULL THEN
      {{ head }}
       WHERE {{ walk.key_row }} <= {{ walk.end_row }}
         AND ({{ condition }}){{ tail }};
    ELSE
      {{ head }}
       WHERE {{ walk.key_row }} > {{ walk.last_row }} AND {{ walk.key_row }} <= {{ walk.end_row }}
         AND ({{ condition }}){{ tail }};
    END IF;
    GET DIAGNOSTICS safeshift_rows = ROW_COUNT;
    safeshift_changed := safeshift_changed + safeshift_rows;
    UPDATE {{ progress }} SET last_key = {{ end_text }}, rows = safeshift_changed, updated_at = now() WHERE step = safeshift_step;
    COMMIT;
    RAISE NOTICE '%', format({{ notice }});
  END LOOP;
  -- The end of the walk is flushed like any other commit.
  PERFORM set_config('synchronous_commit', safeshift_synchronous_commit, false);
  -- Done: nothing of the walk is left behind (the table goes with the last step that used it).
  -- A run of this stage after this point starts over, like running the statement again.
  BEGIN
    DELETE FROM {{ progress }} WHERE step = safeshift_step;
  EXCEPTION WHEN undefined_table THEN
    -- Another run of this stage finished too and dropped the table.
    NULL;
  END;
  -- Committed before the table is dropped: another run of this stage waiting for the row waits
  -- for this transaction, so dropping in it would deadlock with that run.
  COMMIT;
  BEGIN
    IF to_regclass({{ progress_literal }}) IS NOT NULL THEN
      -- Locked before it is read: two runs ending at once then queue here instead of each
      -- reading it and then deadlocking on the drop. The lock waits for any other run still in
      -- a transaction on the table; none waits for this one, which holds nothing now.
      LOCK TABLE {{ progress }} IN ACCESS EXCLUSIVE MODE;
      IF NOT EXISTS (SELECT FROM {{ progress }}) THEN
        DROP TABLE {{ progress }};
      END IF;
    END IF;
  EXCEPTION WHEN undefined_table THEN
    -- Another run ending at the same moment dropped it first.
    NULL;
  END;
  COMMIT;
  -- Only now: while it waited for the lock above, this session was still a walk, not the app.
  PERFORM set_config('application_name', safeshift_application_name, false);
END
{{ tag }}