-- safeshift · stage {{ stage.index }} of {{ total }}: {{ stage.name }}
-- {{ stage.phase }} · {{ stage.kind }} · {% if stage.transactional %}one transaction: all or nothing{% else if stage.per_table() %}one transaction per table ({{ stage.transactions.len() }}): each commits on its own, so no table stays locked while another is changed{% else %}not one transaction: each statement commits on its own and is safe to re-run{% endif %}
-- Run: psql -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f {{ stage.dir }}/up.sql
{%- if stage.per_table() %}
{%- for group in stage.transactions %}

BEGIN;
-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting lock; re-run the stage.
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{% let steps = stage.steps_of(group) -%}
{% include "sql/up_steps.sql" %}
COMMIT;
{%- endfor %}
{% else %}
{%- if stage.transactional %}

BEGIN;
-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting lock; re-run the stage.
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- else %}

-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting lock; re-run the stage.
SET lock_timeout = '{{ lock_timeout }}';
{%- endif %}
{% let steps = stage.all_steps() -%}
{% include "sql/up_steps.sql" %}
{%- if stage.transactional %}
COMMIT;
{% endif -%}
{% endif -%}
