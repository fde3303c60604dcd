DO {{ tag }}
BEGIN
{%- for conflict in conflicts %}
  -- Not what this statement would have made: stop rather than skip over it.
  IF {{ conflict.when }} THEN
    RAISE EXCEPTION '%', {{ conflict.message }};
  END IF;
{%- endfor %}
{%- if let Some(statement) = statement %}
  IF {{ run_when }} THEN
    {{ statement }};
  ELSE
    RAISE NOTICE '%', {{ skipped }};
  END IF;
{%- endif %}
END
{{ tag }}