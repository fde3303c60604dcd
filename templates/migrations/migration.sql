{% if no_transaction_marker %}-- no-transaction
{% endif -%}
-- safeshift · {{ tool }} · {{ direction }} · stage {{ stage }} of {{ total }}{% if let Some((k, n)) = part %}, part {{ k }} of {{ n }}{% endif %}: {{ name }}
-- {{ how }}
{%- if let Some(message) = refuse %}

-- Point of no return: this stage destroys data, so going down refuses instead of pretending.
DO $safeshift$ BEGIN RAISE EXCEPTION '{{ message }}'; END $safeshift$;
{%- else %}
{%- if explicit_transaction %}

BEGIN;
{%- endif %}
{%- match lock %}
{%- when LockTimeout::Local %}
-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting lock; run it again.
SET LOCAL lock_timeout = '{{ lock_timeout }}';
{%- when LockTimeout::Session %}
-- Give up after {{ lock_timeout }} instead of queueing all traffic behind a waiting lock; run it again.
SET lock_timeout = '{{ lock_timeout }}';
{%- when LockTimeout::None %}
-- No lock_timeout in this file: nothing may precede the statement in what the tool sends. To bound
-- its lock waits, set one on the tool's connection (for example `options=-c lock_timeout=2s`).
{%- endmatch %}
{% if statements.is_empty() %}
{%- if direction == "up" %}
-- Nothing to do: this migration exists so that its down can undo part of the stage.
{%- else %}
-- Nothing to undo here: the stage's earlier migration(s) undo this step when you go down past them.
{%- endif %}
{%- endif %}
{%- for sql in statements %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{%- if explicit_transaction %}
COMMIT;
{%- endif %}
{%- endif %}
