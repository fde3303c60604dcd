DROP PROCEDURE IF EXISTS {{ procedure }};
DELIMITER {{ delimiter }}
CREATE PROCEDURE {{ procedure }}()
BEGIN
  DECLARE last_key {{ key_type }} DEFAULT NULL;
  DECLARE batch_end {{ key_type }} DEFAULT NULL;
  -- Walk the table in batch-key order, one short transaction per batch. Rows already done are
  -- skipped, so this can be stopped at any time and run again.
  batches: LOOP
    SET batch_end = NULL;
    IF last_key IS NULL THEN
      SELECT MAX(k) INTO batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} ORDER BY {{ key }} LIMIT {{ batch_size }}) AS batch;
    ELSE
      SELECT MAX(k) INTO batch_end FROM (SELECT {{ key }} AS k FROM {{ table }} WHERE {{ key }} > last_key ORDER BY {{ key }} LIMIT {{ batch_size }}) AS batch;
    END IF;
    IF batch_end IS NULL THEN
      LEAVE batches;
    END IF;
    {{ batch }};
    COMMIT;
    SET last_key = batch_end;
  END LOOP batches;
END{{ delimiter }}
DELIMITER ;
CALL {{ procedure }}();
DROP PROCEDURE IF EXISTS {{ procedure }}
