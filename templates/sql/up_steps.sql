{% for step in steps %}
-- ── {{ step.title }} [{{ step.rule }}]
{%- for sql in step.up %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{% endfor %}