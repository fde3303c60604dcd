//! ADD COLUMN … NOT NULL without a default. As written it fails on any non-empty table, and even
//! with a one-shot UPDATE the old application version keeps inserting rows without the column.
//! Safe path: add it nullable, fill it (trigger or app), backfill in batches, then NOT NULL
//! through a validated check. Needs to know how to fill existing rows: a backfill expression.
//! MySQL/MariaDB fill existing rows with the type's implicit default ('' or 0) instead of failing,
//! which is worse: the same path, with an in-place NOT NULL rebuild at the end.

use super::add_column::{add_column_step, add_column_step_mysql};
use super::recipes::fill_and_constrain;
use super::{Assessment, ColumnPosition, Context, Op};
use crate::dialect::LockMode;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::Expansion;
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column};

pub const RULE: Rule = Rule {
    id: "adding-required-column",
    severity: Some(Severity::Error),
    summary: "ADD COLUMN … NOT NULL without a default, on a table that has rows",
    why: "It fails at once on a table with rows (they would hold NULL). Once it exists, every INSERT from the running app version, which does not know the column, fails with a not-null violation.",
    safe: "Expand: add the column nullable, with a trigger (or the app) filling it for new rows. Migrate: backfill existing rows in primary-key batches. Contract: CHECK (col IS NOT NULL) NOT VALID, VALIDATE it (reads and writes go on), then SET NOT NULL, which PostgreSQL 12+ does without a scan. Tell safeshift the value with `-- safeshift: backfill = EXPR` above the statement or `--backfill table.column=EXPR`.",
    example: "ALTER TABLE users ADD COLUMN email_lower text NOT NULL;",
    mysql: "MySQL and MariaDB do not fail: existing rows silently get the type's implicit default ('' or 0), and the running app's INSERTs that do not set the column fail in strict mode. Add it nullable (INSTANT) with BEFORE INSERT/UPDATE triggers that fill it, backfill in primary-key batches (a temporary stored procedure), then MODIFY it NOT NULL in place (ALGORITHM=INPLACE, LOCK=NONE: a rebuild, reads and writes continue) under a strict sql_mode.",
};

#[derive(Clone, Debug)]
pub struct AddRequiredColumn {
    pub table: QName,
    pub column: Column,
    /// MySQL: `FIRST` or `AFTER col`.
    pub position: Option<ColumnPosition>,
}

impl Op for AddRequiredColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.name.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if !self.column.not_null && !ctx.is_new_table(&self.table) {
            // ADD COLUMN + UPDATE every row + a constraint on it, read as one intent.
            return Assessment::staged(
                RULE.id,
                if ctx.dialect.is_mysql() {
                    LockMode::MetadataExclusive
                } else {
                    LockMode::AccessExclusive
                },
                false,
                true,
                format!(
                    "one UPDATE of every row of {} holds their row locks until it commits, and rows the running app inserts afterwards lack {} when the constraint comes",
                    self.table.display(),
                    self.column.name
                ),
            );
        }
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table was created in this change and is empty",
            );
        }
        if ctx.dialect.is_mysql() {
            return Assessment::staged(
                RULE.id,
                LockMode::MetadataExclusive,
                false,
                true,
                format!(
                    "existing rows silently get the type's implicit default instead of a real {}, and the running app's INSERTs into {} that do not set it fail in strict mode",
                    self.column.name,
                    self.table.display()
                ),
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            false,
            true,
            format!(
                "NOT NULL without a default fails on a table with rows, and the running app's INSERTs into {} do not set {}",
                self.table.display(),
                self.column.name
            ),
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(if ctx.dialect.is_mysql() {
                add_column_step_mysql(ctx, &self.table, &self.column, self.position.as_ref())
            } else {
                add_column_step(&self.table, &self.column, false)
            }));
        }
        let Some(expr) = ctx.backfill(&self.table, &self.column.name)? else {
            return Err(ctx
                .error(format!(
                    "adding NOT NULL column `{}.{}` without a default: safeshift needs a value for the existing rows",
                    self.table.display(),
                    self.column.name
                ))
                .help(format!(
                    "say how to fill them: put `-- safeshift: backfill = <expression>` on the line above the statement, \
                     or pass `--backfill {}.{}=<expression>` (for example `lower(email)`); or give the column a constant DEFAULT",
                    self.table.display(),
                    self.column.name
                )));
        };
        let nullable = Column {
            not_null: false,
            default: None,
            ..self.column.clone()
        };
        let first = if ctx.dialect.is_mysql() {
            add_column_step_mysql(ctx, &self.table, &nullable, self.position.as_ref())
        } else {
            add_column_step(&self.table, &nullable, false)
        };
        fill_and_constrain(
            ctx,
            &self.table,
            &self.column.name,
            Some(&self.column),
            &expr,
            Some(first),
            true,
            // A column filled for a constraint later in the file stays nullable, as written.
            self.column.not_null,
        )
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && t.column(&self.column.name).is_none()
        {
            t.columns.push(self.column.clone());
        }
    }
}
