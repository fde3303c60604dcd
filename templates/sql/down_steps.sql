{% for step in steps.iter().rev() %}
-- ── undo: {{ step.title }}
{%- for sql in step.down %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{% endfor %}