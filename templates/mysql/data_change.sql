-- Where the walk got, per step: written in the same transaction as each batch, so a batch is
-- never applied twice (also `SET n = n + 1`) and a re-run resumes after the last batch done.
CREATE TABLE IF NOT EXISTS {{ progress }} (
  step VARCHAR(255) NOT NULL PRIMARY KEY,
  last_key TEXT NULL,
  `rows` BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
-- A batch waiting on a row the app holds gives up as soon as a metadata-lock wait would, so the
-- stage fails fast and can be run again (it resumes) instead of queueing behind the app.
SET SESSION innodb_lock_wait_timeout = @@SESSION.lock_wait_timeout;
DROP PROCEDURE IF EXISTS {{ procedure }};
DELIMITER {{ delimiter }}
CREATE PROCEDURE {{ procedure }}()
BEGIN
  -- Prefixed: MySQL reads a name that is both a local variable and a column as the variable,
  -- and the statement names the table's columns.
  DECLARE safeshift_done TEXT DEFAULT NULL;
  DECLARE safeshift_found INT DEFAULT 0;
  DECLARE safeshift_changed BIGINT DEFAULT 0;
{%- for k in keys %}
  DECLARE safeshift_last_key{{ k.suffix }} {{ k.declared }} DEFAULT NULL;
  DECLARE safeshift_batch_end{{ k.suffix }} {{ k.declared }} DEFAULT NULL;
{%- endfor %}
  -- A statement that fails ends the procedure with its batch's transaction still open: roll it
  -- back, so that a client that keeps the session (a retry) cannot commit half a batch later.
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    RESIGNAL;
  END;
  START TRANSACTION;
  INSERT INTO {{ progress }} (step) VALUES ({{ step }}) ON DUPLICATE KEY UPDATE step = step;
  COMMIT;
  batches: LOOP
{% include "mysql/pause.sql" %}
    START TRANSACTION;
    -- The progress row is locked for the batch's transaction: a second run of this stage waits
    -- here (up to the lock timeout), then reads where this one got, never doing a batch again.
    SET safeshift_found = 0, safeshift_done = NULL;
    SELECT 1, last_key, `rows` INTO safeshift_found, safeshift_done, safeshift_changed FROM {{ progress }} WHERE step = {{ step }} FOR UPDATE;
    -- Gone: another run of this stage finished the walk while this one waited.
    IF safeshift_found = 0 THEN
      COMMIT;
      LEAVE batches;
    END IF;
{%- for k in keys %}
    SET safeshift_last_key{{ k.suffix }} = {{ k.decode }};
{%- endfor %}
{%- for k in keys %}
    SET safeshift_batch_end{{ k.suffix }} = NULL;
{%- endfor %}
    -- The batch's last key by ORDER BY, in the key's own order and collation.
    IF safeshift_done IS NULL THEN
      SELECT {{ batch_list }} INTO {{ end_list }} FROM (SELECT {{ select_list }} FROM {{ table }} ORDER BY {{ key_list }} LIMIT {{ batch_size }}) AS batch ORDER BY {{ desc_list }} LIMIT 1;
    ELSE
      SELECT {{ batch_list }} INTO {{ end_list }} FROM (SELECT {{ select_list }} FROM {{ table }} WHERE {{ after_last }} ORDER BY {{ key_list }} LIMIT {{ batch_size }}) AS batch ORDER BY {{ desc_list }} LIMIT 1;
    END IF;
    IF safeshift_batch_end{{ first_suffix }} IS NULL THEN
      COMMIT;
      LEAVE batches;
    END IF;
    -- Two spellings, so each batch is a range scan of the primary key.
    IF safeshift_done IS NULL THEN
      {{ head }}
       WHERE {{ up_to_end }}
         AND ({{ condition }}){{ tail }};
    ELSE
      {{ head }}
       WHERE {{ after_last }} AND {{ up_to_end }}
         AND ({{ condition }}){{ tail }};
    END IF;
    SET safeshift_changed = safeshift_changed + GREATEST(ROW_COUNT(), 0);
    UPDATE {{ progress }} SET last_key = {{ end_text }}, `rows` = safeshift_changed, updated_at = CURRENT_TIMESTAMP(6) WHERE step = {{ step }};
    COMMIT;
    SELECT CONCAT({{ label }}, ': ', safeshift_changed, ' rows so far, up to ', {{ key_names }}, ' ', {{ end_shown }}) AS progress;
  END LOOP batches;
  IF safeshift_found = 1 THEN
    -- Done: nothing of the walk is left behind (the table goes with the last step that used
    -- it). A run of this stage after this point starts over, like running the statement again.
    START TRANSACTION;
    DELETE FROM {{ progress }} WHERE step = {{ step }};
    COMMIT;
    IF NOT EXISTS (SELECT 1 FROM {{ progress }}) THEN
      DROP TABLE IF EXISTS {{ progress }};
    END IF;
  END IF;
END{{ delimiter }}
DELIMITER ;
CALL {{ procedure }}();
DROP PROCEDURE IF EXISTS {{ procedure }}
