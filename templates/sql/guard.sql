DO {{ tag }}
BEGIN
{%- if prelude %}
  -- safeshift: re-run check (changes nothing the stage makes)
{%- endif %}
{%- for conflict in conflicts %}
  -- Not what this statement would have made: stop rather than skip over it.
  IF {{ conflict.when }} THEN
    RAISE EXCEPTION '%', {{ conflict.message }};
  END IF;
{%- endfor %}
{%- if let Some(statement) = statement %}
  IF {{ run_when }} THEN
    {{ statement }};
{%- if let Some(skipped) = skipped %}
  ELSE
    RAISE NOTICE '%', {{ skipped }};
{%- endif %}
  END IF;
{%- endif %}
END
{{ tag }}