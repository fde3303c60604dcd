-- safeshift · undo stage {{ stage.index }} of {{ total }}: {{ stage.name }}
-- Restores the schema as it was before this stage's up.sql.
-- Run: {{ client }} --batch "$DATABASE" < {{ stage.dir }}/down.sql

SET SESSION lock_wait_timeout = {{ lock_seconds }};
{%- if stage.strict %}
SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'));
{%- else %}
{%- for set in stage.session %}
{{ set }};
{%- endfor %}
{%- endif %}
{% let steps = stage.all_steps() -%}
{% include "sql/down_steps.sql" %}
