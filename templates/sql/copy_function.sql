CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Every write copies the old column, converted, into the new one.
  NEW.{{ target }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
  RETURN NEW;
END
{{ tag }}
