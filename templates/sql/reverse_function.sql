CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Until the old column is dropped, every write copies the new value back into it, in the old
  -- type, so the type change can still be rolled back. A value the old type cannot hold leaves
  -- it NULL; the rollback refuses while such rows exist.
  BEGIN
    NEW.{{ target }} := CAST(NEW.{{ source }} AS {{ old_type }});
  EXCEPTION WHEN data_exception THEN
    NEW.{{ target }} := NULL;
  END;
  RETURN NEW;
END
{{ tag }}
