-- safeshift · undo stage {{ stage.index }} of {{ total }}: {{ stage.name }}
-- Restores the schema as it was before this stage's up.sql.
-- Run: psql -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f {{ stage.dir }}/down.sql
{%- if stage.transactional %}

BEGIN;
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- else %}

SET lock_timeout = '{{ lock_timeout }}';
{%- endif %}
{% for step in stage.steps.iter().rev() %}
-- ── undo: {{ step.title }}
{%- for sql in step.down %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{% endfor %}
{%- if stage.transactional %}
COMMIT;
{% endif -%}
