-- safeshift · dbmate · {{ engine }} · stage {{ stage }} of {{ total }}: {{ name }}
-- migrate:up transaction:false
-- {{ engine }} commits every DDL statement on its own, so no transaction: dbmate sends the section as
-- one multi-statement string, which the server parses statement by statement.
SET SESSION lock_wait_timeout = {{ lock_seconds }};
{%- if strict %}
SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'));
{%- endif %}
{%- for sql in up %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}

-- migrate:down transaction:false
{%- if let Some(message) = refuse %}
-- Point of no return: this stage destroys data, so rolling back refuses instead of pretending.
SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{{ message }}';
{%- else %}
SET SESSION lock_wait_timeout = {{ lock_seconds }};
{%- if strict %}
SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'));
{%- endif %}
{%- for sql in down %}
{%- if let Some(why) = sql.why %}
-- {{ why }}
{%- endif %}
{{ sql.text }};
{%- endfor %}
{%- endif %}
