CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Rows written by code that does not set this column yet get the value the backfill gives.
  IF NEW.{{ column }} IS NULL THEN
    NEW.{{ column }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
{%- if !sources.is_empty() %}
  -- An UPDATE that changes what the value is computed from, without setting the value itself
  -- (the old application version), gets it recomputed: it never keeps a stale value.
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.{{ column }} IS NOT DISTINCT FROM OLD.{{ column }} AND ({% for s in sources %}{% if !loop.first %} OR {% endif %}NEW.{{ s }} IS DISTINCT FROM OLD.{{ s }}{% endfor %}) THEN
      NEW.{{ column }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
    END IF;
{%- endif %}
  END IF;
  RETURN NEW;
END
{{ tag }}
