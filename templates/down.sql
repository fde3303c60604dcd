-- safeshift · undo stage {{ stage.index }} of {{ total }}: {{ stage.name }}
-- Restores the schema as it was before this stage's up.sql.
-- Run: psql -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f {{ stage.dir }}/down.sql
{%- if stage.per_table() %}
{%- for group in stage.transactions.iter().rev() %}

BEGIN;
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{% let steps = stage.steps_of(group) -%}
{% include "sql/down_steps.sql" %}
COMMIT;
{%- endfor %}
{% else %}
{%- if stage.transactional %}

BEGIN;
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- else %}

SET lock_timeout = '{{ lock_timeout }}';
{%- endif %}
{% let steps = stage.all_steps() -%}
{% include "sql/down_steps.sql" %}
{%- if stage.transactional %}
COMMIT;
{% endif -%}
{% endif -%}
