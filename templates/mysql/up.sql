-- safeshift · stage {{ stage.index }} of {{ total }}: {{ stage.name }}
-- {{ stage.phase }} · {{ stage.kind }} · {{ engine }} commits every DDL statement on its own (no transactional DDL): not one transaction
{%- if if_exists %}
-- Each statement is safe to re-run: if the stage stopped half way, run it again.
{%- else %}
-- MySQL has no IF [NOT] EXISTS for columns and indexes: if the stage stopped half way, run the statements after the last one that succeeded.
{%- endif %}
-- Run: {{ client }} --batch "$DATABASE" < {{ stage.dir }}/up.sql

-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting metadata lock; {% if if_exists %}re-run the stage.{% else %}then run the statements from the one that gave up.{% endif %}
SET SESSION lock_wait_timeout = {{ lock_seconds }};
{%- if stage.strict %}
-- Fail instead of silently truncating values or turning NULL into 0 or ''.
SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'));
{%- else %}
-- The session's own sql_mode: a statement of the change runs here as written.
{%- if !stage.session.is_empty() %}
-- The settings the change file opens with, as it does:
{%- for set in stage.session %}
{{ set }};
{%- endfor %}
{%- endif %}
{%- endif %}
{% let steps = stage.all_steps() -%}
{% include "sql/up_steps.sql" %}
