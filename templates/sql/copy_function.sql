CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Every insert, and every update that sets what it is computed from, copies the old column,
  -- converted, into the new one.
  NEW.{{ target }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
  RETURN NEW;
END
{{ tag }}
