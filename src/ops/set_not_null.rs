//! ALTER COLUMN … SET NOT NULL: ACCESS EXCLUSIVE for a full-table scan. Safe path: CHECK (col IS
//! NOT NULL) NOT VALID → VALIDATE (reads and writes continue) → SET NOT NULL, which PG12+ does
//! without scanning. With a backfill expression, existing NULLs are filled first, and a trigger
//! (or the app) keeps new NULLs out meanwhile.

use super::recipes::{fill_and_constrain, known_column, not_null_step};
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::schema::Catalog;

pub const RULE: &str = "setting-not-null";

#[derive(Clone, Debug)]
pub struct SetNotNull {
    pub table: QName,
    pub column: String,
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
                RULE,
                Some(LockMode::AccessExclusive),
                "the table was created in this change and is empty",
            );
        }
        Assessment::staged(
            RULE,
            LockMode::AccessExclusive,
            true,
            false,
            "SET NOT NULL scans the whole table while holding ACCESS EXCLUSIVE: every read and write waits",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let column = known_column(ctx, &self.table, &self.column)?;
        if ctx.is_new_table(&self.table) || column.is_some_and(|c| c.not_null) {
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
                    "the table is new or the column is already NOT NULL: nothing to scan",
                )
                .lock(self.table.display(), LockMode::AccessExclusive, "brief"),
            ));
        }
        match ctx.backfill(&self.table, &self.column)? {
            Some(expr) => fill_and_constrain(ctx, &self.table, &self.column, &expr, None),
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
