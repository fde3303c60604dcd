CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Old code writes the old column, new code the new one: keep both equal in both directions.
  IF TG_OP = 'INSERT' THEN
    IF NEW.{{ old }} IS NULL AND NEW.{{ new }} IS NULL THEN
{%- if let Some(default) = default %}
      NEW.{{ new }} := {{ default }};
      NEW.{{ old }} := NEW.{{ new }};
{%- else %}
      NULL;
{%- endif %}
    ELSIF NEW.{{ new }} IS NULL THEN
      NEW.{{ new }} := NEW.{{ old }};
    ELSIF NEW.{{ old }} IS NULL THEN
      NEW.{{ old }} := NEW.{{ new }};
    END IF;
  ELSIF NEW.{{ old }} IS DISTINCT FROM OLD.{{ old }} THEN
    NEW.{{ new }} := NEW.{{ old }};
  ELSIF NEW.{{ new }} IS DISTINCT FROM OLD.{{ new }} THEN
    NEW.{{ old }} := NEW.{{ new }};
  END IF;
  RETURN NEW;
END
{{ tag }}
