//! A foreign key no index starts with: deletes on the referenced table scan the referencing one.

use crate::name::QName;
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "foreign-key-without-index",
    severity: Some(Severity::Warning),
    summary: "a foreign key whose columns no index starts with (PostgreSQL), at the end of the migration file",
    why: "PostgreSQL indexes the referenced key, not the referencing columns. Every DELETE of a referenced row, and every UPDATE of its key, then scans the whole referencing table for rows that still point at it (to reject, cascade or set null), holding its row locks all the while: deletes on the referenced table slow down as the referencing table grows, and lock waits pile up behind them.",
    safe: "Create an index that starts with the referencing columns, CONCURRENTLY, in a migration that runs outside a transaction: `CREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);`. An index created later in the same file counts.",
    example: "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
    mysql: "",
};

/// Whether an index, primary key or unique constraint of `table` starts with `columns` (in any
/// order): lookups by the key columns can use it.
pub fn indexed(catalog: &Catalog, table: &QName, columns: &[String]) -> bool {
    let Some(t) = catalog.table(table) else {
        return true; // unknown table: nothing to say
    };
    let covers = |key: &[String]| {
        key.len() >= columns.len() && columns.iter().all(|c| key[..columns.len()].contains(c))
    };
    t.indexes.iter().any(|i| covers(&i.columns))
        || t.constraints.iter().any(|c| {
            matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
                && covers(&c.columns)
        })
}
