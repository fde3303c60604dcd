//! A new table keyed by a 4-byte (or smaller) integer: the key runs out, and widening it later
//! is the hardest change there is on a busy table.

use crate::ops::create_table::CreateTable;
use crate::rules::{Rule, Severity};
use crate::schema::ConstraintKind;

pub const RULE: Rule = Rule {
    id: "int-primary-key",
    severity: Some(Severity::Warning),
    summary: "a new table whose primary key is a 4-byte or smaller integer (serial, integer, smallint; INT AUTO_INCREMENT)",
    why: "The key runs out at 2,147,483,647 (4,294,967,295 unsigned), and then every insert fails. Widening it to bigint later rewrites the table and all its indexes under ACCESS EXCLUSIVE, and every foreign key column that references it has to change type too: the hardest schema change there is on a table that is, by then, large and busy. On a new table it costs nothing to get right.",
    safe: "Give a new table a bigint key: `bigint GENERATED ALWAYS AS IDENTITY`, `bigserial`, or `bigint` filled by the application.",
    example: "CREATE TABLE events (id serial PRIMARY KEY, payload jsonb);",
    mysql: "Give a new table a `BIGINT UNSIGNED AUTO_INCREMENT` key: widening an INT key later copies the table (ALGORITHM=COPY) while writes wait, and every referencing column has to change too.",
};

/// Integer types narrower than 8 bytes, by the first word of their name.
const NARROW: &[&str] = &[
    "int",
    "integer",
    "int4",
    "int2",
    "smallint",
    "tinyint",
    "mediumint",
    "serial",
    "serial4",
    "serial2",
    "smallserial",
];

/// The column of `create`'s one-column primary key when it is a narrow integer that the table
/// owns (not a foreign key to another table's key, whose width that table decides).
pub fn narrow_key(create: &CreateTable) -> Option<(&str, String)> {
    let key = create
        .constraints
        .iter()
        .find(|c| c.kind == ConstraintKind::PrimaryKey)?;
    let [column] = key.columns.as_slice() else {
        return None;
    };
    let referenced = create
        .constraints
        .iter()
        .any(|c| matches!(c.kind, ConstraintKind::ForeignKey { .. }) && c.columns.contains(column));
    if referenced {
        return None;
    }
    let def = create.columns.iter().find(|c| &c.name == column)?;
    let type_name = def.data_type.to_string().to_ascii_lowercase();
    let base = type_name
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    NARROW
        .contains(&base)
        .then(|| (column.as_str(), type_name.clone()))
}
