//! ADD COLUMN, nullable or with a constant default: catalog-only since PostgreSQL 11 (the default
//! is stored once, not written into every row). One brief ACCESS EXCLUSIVE lock: one stage.
//! MySQL/MariaDB: INSTANT where the version allows the column's position, else an in-place
//! rebuild; the ALTER names the algorithm it expects.

use super::recipes::column_sql;
use super::recipes::mysql as my;
use super::{Assessment, ColumnPosition, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::{Catalog, Column, Constraint, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "add-column",
    severity: None,
    summary: "ADD COLUMN that is nullable or has a constant default",
    why: "Since PostgreSQL 11 a constant default is stored in the catalog, so nothing is rewritten. The ACCESS EXCLUSIVE lock is held for milliseconds, but it queues behind long transactions and all traffic queues behind it: set lock_timeout (see missing-lock-timeout).",
    safe: "Run it as written, after SET lock_timeout.",
    example: "ALTER TABLE users ADD COLUMN nickname text;",
    mysql: "INSTANT (metadata only) as the last column from MySQL 8.0.12 and MariaDB 10.3, anywhere in the row from MySQL 8.0.29 and MariaDB 10.4; before that an in-place rebuild (reads and writes continue). Every ALTER still needs an exclusive metadata lock at its start and end: set lock_wait_timeout. `safeshift plan` pins ALGORITHM=INSTANT so the server refuses rather than copies.",
};

#[derive(Clone, Debug)]
pub struct AddColumn {
    pub table: QName,
    pub column: Column,
    pub if_not_exists: bool,
    /// MySQL: `FIRST` or `AFTER col`.
    pub position: Option<ColumnPosition>,
    /// PostgreSQL: foreign keys written on the column itself. The column is new and all NULL, so
    /// added in the same statement they need no validation scan (a separate ADD CONSTRAINT would
    /// scan the table under its lock).
    pub references: Vec<Constraint>,
}

/// ` CONSTRAINT name REFERENCES …` for each foreign key written on the column.
fn references_sql(references: &[Constraint]) -> String {
    references
        .iter()
        .filter_map(|fk| {
            let definition = fk.definition_sql()?;
            let at = definition.find("REFERENCES ")?;
            Some(format!(
                " CONSTRAINT {} {}",
                quote(&fk.name),
                &definition[at..]
            ))
        })
        .collect()
}

/// The MySQL step for a plain column add: INSTANT where the version allows its position.
pub fn add_column_step_mysql(
    ctx: &Context,
    table: &QName,
    column: &Column,
    position: Option<&ColumnPosition>,
) -> Step {
    let (sql, algorithm) = my::add_column(ctx, table, column, position, column.not_null, true);
    let step = Step::database(
        Phase::Expand,
        format!("add-column-{}-{}", table.name, column.name),
        format!("add column {}.{}", table.display(), column.name),
    )
    .sql(sql, algorithm.describe())
    .down_sql(my::drop_column(ctx, table, &column.name), "");
    my::alter_locks(step, table, algorithm)
}

/// The single step every "plain" column add uses (also on tables created in the same file).
pub fn add_column_step(table: &QName, column: &Column, if_not_exists: bool) -> Step {
    Step::database(
        Phase::Expand,
        format!("add-column-{}-{}", table.name, column.name),
        format!("add column {}.{}", table.display(), column.name),
    )
    .sql(
        format!(
            "ALTER TABLE {} ADD COLUMN {}{}",
            qname(table),
            if if_not_exists { "IF NOT EXISTS " } else { "" },
            column_sql(column, true, true)
        ),
        if column.default.is_some() {
            "catalog-only since PostgreSQL 11: the constant default is stored once, existing rows are not rewritten"
        } else {
            "catalog-only: existing rows are not touched"
        },
    )
    .down_sql(
        format!(
            "ALTER TABLE {} DROP COLUMN IF EXISTS {}",
            qname(table),
            quote(&column.name)
        ),
        "",
    )
    .lock(table.display(), LockMode::AccessExclusive, "brief")
}

impl Op for AddColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.name.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).add_column(self.position.is_none());
            return Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe());
        }
        Assessment::safe(
            RULE.id,
            Some(LockMode::AccessExclusive),
            "catalog-only change under a brief lock",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            return Ok(Expansion::single(add_column_step_mysql(
                ctx,
                &self.table,
                &self.column,
                self.position.as_ref(),
            )));
        }
        let mut step = add_column_step(&self.table, &self.column, self.if_not_exists);
        if self.if_not_exists && ctx.catalog.column(&self.table, &self.column.name).is_some() {
            return Ok(Expansion::single(step.nothing_to_undo(format!(
                "{}.{} already exists: IF NOT EXISTS makes this a no-op, and the down leaves the column and its data alone.",
                self.table.display(),
                self.column.name
            ))));
        }
        if !self.references.is_empty() {
            if let Some(add) = step.up.first_mut() {
                add.text.push_str(&references_sql(&self.references));
                add.why = Some("catalog-only: a new all-NULL column's foreign key needs no validation scan in the same statement".into());
            }
            for fk in &self.references {
                if let ConstraintKind::ForeignKey { table, .. } = &fk.kind {
                    step = step.lock(table.display(), LockMode::ShareRowExclusive, "brief");
                }
            }
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && t.column(&self.column.name).is_none()
        {
            t.columns.push(self.column.clone());
            for reference in &self.references {
                catalog.add_constraint(&self.table, reference.clone());
            }
        }
    }
}
