-- safeshift · dbmate · stage {{ stage }} of {{ total }}{% if let Some((k, n)) = part %}, part {{ k }} of {{ n }}{% endif %}: {{ name }}
-- migrate:up{% if up_alone %} transaction:false{% endif %}
{%- if up_alone %}
-- Outside a transaction, alone: PostgreSQL refuses this statement in a transaction block, and
-- dbmate sends the section as one query string. No lock_timeout here: nothing may precede it.
{%- else %}
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- endif %}
{%- if up.is_empty() %}
-- Nothing to do: this migration exists so that its down can undo part of the stage.
{%- endif %}
{%- for sql in up %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}

-- migrate:down{% if down_alone %} transaction:false{% endif %}
{%- if let Some(message) = refuse %}
-- Point of no return: this stage destroys data, so rolling back refuses instead of pretending.
DO $safeshift$ BEGIN RAISE EXCEPTION '{{ message }}'; END $safeshift$;
{%- else %}
{%- if !down_alone %}
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- endif %}
{%- if down.is_empty() %}
-- Nothing to undo here: the stage's earlier migration(s) undo this step when you roll back past them.
{%- endif %}
{%- for sql in down %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{%- endif %}
