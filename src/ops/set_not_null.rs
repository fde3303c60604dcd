//! ALTER COLUMN … SET NOT NULL: ACCESS EXCLUSIVE for a full-table scan. Safe path: CHECK (col IS
//! NOT NULL) NOT VALID → VALIDATE (reads and writes continue) → SET NOT NULL, which PG12+ does
//! without scanning. With a backfill expression, existing NULLs are filled first, and a trigger
//! (or the app) keeps new NULLs out meanwhile.
//! MySQL/MariaDB (`MODIFY c … NOT NULL`): an in-place rebuild while reads and writes continue, run
//! under a strict sql_mode so a NULL fails the ALTER instead of silently becoming 0 or ''.

use super::recipes::mysql as my;
use super::recipes::{fill_and_constrain, known_column, needs_definition, not_null_step};
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "setting-not-null",
    severity: Some(Severity::Error),
    summary: "ALTER COLUMN … SET NOT NULL on an existing table",
    why: "PostgreSQL scans the whole table for NULLs while holding ACCESS EXCLUSIVE: every read and write waits for the scan. On 12+ the scan is skipped when a validated CHECK (col IS NOT NULL) already proves it, and then the statement is fine.",
    safe: "ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID (brief), VALIDATE CONSTRAINT (scans under SHARE UPDATE EXCLUSIVE: traffic goes on), SET NOT NULL (no scan on 12+), then drop the CHECK. On 18+, SET NOT NULL … NOT VALID and VALIDATE. Backfill NULLs first if there are any.",
    example: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
    mysql: "MODIFY … NOT NULL rebuilds the table in place (ALGORITHM=INPLACE, LOCK=NONE: reads and writes continue, replicas lag by its duration). Without a strict sql_mode existing NULLs silently become 0 or ''; with one the ALTER fails after copying everything. Check for NULLs first (backfill them, with a fill trigger for the running app), and run the MODIFY in a strict sql_mode with the algorithm pinned.",
};

#[derive(Clone, Debug)]
pub struct SetNotNull {
    pub table: QName,
    pub column: String,
}

impl SetNotNull {
    /// The column is NOT NULL already, or (on 12+, which then skips the scan) a validated
    /// `CHECK (col IS NOT NULL)` proves it.
    fn proven(&self, ctx: &Context) -> bool {
        let Some(table) = ctx.catalog.table(&self.table) else {
            return false;
        };
        table.column(&self.column).is_some_and(|c| c.not_null)
            || (!ctx.dialect.is_mysql()
                && ctx.pg().set_not_null_skips_scan_with_check()
                && table.constraints.iter().any(|c| {
                    !c.not_valid && c.not_null_of.as_deref() == Some(self.column.as_str())
                }))
    }
}

impl SetNotNull {
    /// MySQL restates the column in a MODIFY: the definition must be known.
    fn expand_mysql(
        &self,
        ctx: &Context,
        known: Option<crate::schema::Column>,
    ) -> Result<Expansion, PlanError> {
        let Some(column) = known else {
            return Err(needs_definition(ctx, &self.table, &self.column));
        };
        let column = crate::schema::Column {
            not_null: true,
            ..column
        };
        if let Some(expr) = ctx.backfill(&self.table, &self.column)? {
            return fill_and_constrain(
                ctx,
                &self.table,
                &self.column,
                Some(&column),
                &expr,
                None,
                false,
                true,
            );
        }
        let step = my::not_null_step(ctx, &self.table, &column, Phase::Expand);
        Ok(Expansion::single(
            if ctx.is_new_table(&self.table) || self.proven(ctx) {
                step
            } else {
                step.note(format!("The running application must never write NULL into {}.{}: once the ALTER has finished, such writes fail.", self.table.display(), self.column))
                .note(format!("If NULLs exist, give a value for them: `-- safeshift: backfill = <expression>` or `--backfill {}.{}=<expression>`.", self.table.display(), self.column))
            },
        ))
    }
}

impl Op for SetNotNull {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table was created in this change and is empty",
            );
        }
        if self.proven(ctx) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "a validated CHECK (or NOT NULL) already proves there are no NULLs: no scan",
            );
        }
        if ctx.dialect.is_mysql() {
            return Assessment::staged(
                RULE.id,
                LockMode::MetadataUpgradable,
                true,
                false,
                format!(
                    "MODIFY … NOT NULL rebuilds {} in place; existing NULLs in {} fail it (strict sql_mode) or silently become 0 or '' (otherwise)",
                    self.table.display(),
                    self.column
                ),
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "SET NOT NULL scans the whole table while holding ACCESS EXCLUSIVE: every read and write waits",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let known = known_column(ctx, &self.table, &self.column)?; // an unknown column is an input error
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx, known.cloned());
        }
        if ctx.is_new_table(&self.table) || self.proven(ctx) {
            return Ok(Expansion::single(
                Step::database(
                    Phase::Expand,
                    format!("set-not-null-{}-{}", self.table.name, self.column),
                    format!("set {}.{} NOT NULL", self.table.display(), self.column),
                )
                .sql(
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL",
                        qname(&self.table),
                        quote(&self.column)
                    ),
                    "the table is new, or the column is already proven NOT NULL: nothing to scan",
                )
                .lock(self.table.display(), LockMode::AccessExclusive, "brief"),
            ));
        }
        match ctx.backfill(&self.table, &self.column)? {
            Some(expr) => {
                fill_and_constrain(ctx, &self.table, &self.column, None, &expr, None, false, true)
            }
            None => Ok(Expansion::single(
                not_null_step(ctx, &self.table, &self.column, Phase::Expand)
                    .note(format!("The running application must never write NULL into {}.{}: from the first statement on, such writes fail.", self.table.display(), self.column))
                    .note(format!("If NULLs exist, give a value for them: `-- safeshift: backfill = <expression>` or `--backfill {}.{}=<expression>`.", self.table.display(), self.column)),
            )),
        }
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && let Some(c) = t.columns.iter_mut().find(|c| c.name == self.column)
        {
            c.not_null = true;
        }
    }
}
