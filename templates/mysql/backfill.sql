DROP PROCEDURE IF EXISTS {{ procedure }};
DELIMITER {{ delimiter }}
CREATE PROCEDURE {{ procedure }}()
BEGIN
  -- Prefixed: MySQL reads a name that is both a local variable and a column as the variable,
  -- and the batch statement names the table's columns.
  DECLARE safeshift_last_key {{ key_type }} DEFAULT NULL;
  DECLARE safeshift_batch_end {{ key_type }} DEFAULT NULL;
  -- Walk the table in batch-key order, one short transaction per batch. Rows already done are
  -- skipped, so this can be stopped at any time and run again.
  batches: LOOP
{% include "mysql/pause.sql" %}
    SET safeshift_batch_end = NULL;
    IF safeshift_last_key IS NULL THEN
      SELECT MAX(k) INTO safeshift_batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} ORDER BY {{ key }} LIMIT {{ batch_size }}) AS batch;
    ELSE
      SELECT MAX(k) INTO safeshift_batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} WHERE {{ key }} > safeshift_last_key ORDER BY {{ key }} LIMIT {{ batch_size }}) AS batch;
    END IF;
    IF safeshift_batch_end IS NULL THEN
      LEAVE batches;
    END IF;
    {{ batch }};
    COMMIT;
    SET safeshift_last_key = safeshift_batch_end;
  END LOOP batches;
END{{ delimiter }}
DELIMITER ;
CALL {{ procedure }}();
DROP PROCEDURE IF EXISTS {{ procedure }}
