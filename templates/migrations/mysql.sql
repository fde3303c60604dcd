{% if no_transaction_marker %}-- no-transaction
{% endif -%}
-- safeshift · {{ tool }} · {{ engine }} · {{ direction }} · stage {{ stage }} of {{ total }}: {{ name }}
-- {{ how }}
{%- if let Some(message) = refuse %}

-- Point of no return: this stage destroys data, so going down refuses instead of pretending.
SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{{ message }}';
{%- else %}

-- Give up after {{ lock_seconds }}s instead of queueing all traffic behind a waiting metadata lock; run it again.
-- Per session: it holds for the rest of what {{ tool }} sends on its connection.
SET SESSION lock_wait_timeout = {{ lock_seconds }};
{%- if strict %}
-- Fail instead of silently truncating values or turning NULL into 0 or ''.
SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'));
{%- else %}
-- The session's own sql_mode: a statement of the change runs here as written.
{%- endif %}
{%- for sql in statements %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{%- endif %}
