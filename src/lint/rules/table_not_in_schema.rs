//! With `--schema`: a statement on a table that neither the schema nor an earlier migration has.

use crate::rules::{Rule, Severity};

pub const RULE: Rule = Rule {
    id: "table-not-in-schema",
    severity: Some(Severity::Warning),
    summary: "with --schema: a statement on a table that neither the schema nor an earlier migration creates",
    why: "On a database with that schema the migration fails at this statement: the name is misspelt, lives in another schema (search_path), or the schema file is older than the migrations. safeshift cannot check the statement's locks against a table it does not know either.",
    safe: "Fix or qualify the table name, or refresh the schema file (`pg_dump --schema-only`, `mysqldump --no-data`). Statements with IF EXISTS are not reported.",
    example: "ALTER TABLE user ADD COLUMN nickname text;  -- the table is `users`",
    mysql: "",
};
