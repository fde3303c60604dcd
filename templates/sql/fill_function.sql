CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Rows written by code that does not set this column yet get the value the backfill gives.
  IF NEW.{{ column }} IS NULL THEN
    NEW.{{ column }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
  END IF;
  RETURN NEW;
END
{{ tag }}
