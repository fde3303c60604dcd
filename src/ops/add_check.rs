//! ADD CHECK: ACCESS EXCLUSIVE while every row is checked. Safe path: NOT VALID (brief; new
//! writes are checked from then on), then VALIDATE CONSTRAINT under SHARE UPDATE EXCLUSIVE.

use sqlparser::ast::Expr;

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{literal, qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Constraint, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "adding-check-constraint",
    severity: Some(Severity::Error),
    summary: "ADD CHECK without NOT VALID on an existing table",
    why: "PostgreSQL checks every row while holding ACCESS EXCLUSIVE: every read and write waits for the scan.",
    safe: "ADD CONSTRAINT … CHECK (…) NOT VALID (brief; new rows are checked from then on), then VALIDATE CONSTRAINT, which scans under SHARE UPDATE EXCLUSIVE while traffic goes on.",
    example: "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);",
};

#[derive(Clone, Debug)]
pub struct AddCheck {
    pub table: QName,
    pub name: String,
    pub expr: Expr,
    pub not_valid: bool,
}

impl Op for AddCheck {
    fn adds_not_valid(&self) -> Option<(&str, &'static Rule, LockMode)> {
        self.not_valid
            .then_some((self.name.as_str(), &RULE, LockMode::AccessExclusive))
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if self.not_valid || ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "NOT VALID or a new table: no scan",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "ADD CHECK scans the whole table under ACCESS EXCLUSIVE",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let t = qname(&self.table);
        let n = quote(&self.name);
        let definition = format!("CHECK ({})", self.expr);
        let step = Step::database(
            Phase::Expand,
            format!("add-check-{}", self.name),
            format!("add CHECK {} on {}", self.name, self.table.display()),
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .down_sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}"), "");
        if self.not_valid || ctx.is_new_table(&self.table) {
            let suffix = if self.not_valid { " NOT VALID" } else { "" };
            return Ok(Expansion::single(step.sql(
                format!("ALTER TABLE {t} ADD CONSTRAINT {n} {definition}{suffix}"),
                "",
            )));
        }
        Ok(Expansion::single(
            step.non_transactional()
                .sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}"), "re-runnable: start from a clean slate")
                .sql(format!("ALTER TABLE {t} ADD CONSTRAINT {n} {definition} NOT VALID"), "brief; new and updated rows are checked from now on")
                .sql(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {n}"), "scans existing rows under SHARE UPDATE EXCLUSIVE: reads and writes go on")
                .lock(self.table.display(), LockMode::ShareUpdateExclusive, "while it validates")
                .before(
                    format!("every existing row of {} satisfies {}", self.table.display(), self.expr),
                    format!("SELECT count(*) FROM {t} WHERE NOT ({})", self.expr),
                    "0",
                )
                .verify(
                    format!("{} is validated", self.name),
                    format!("SELECT convalidated FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {}", literal(&t), literal(&self.name)),
                    "t",
                ),
        ))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table) {
            t.constraints.push(Constraint {
                name: self.name.clone(),
                kind: ConstraintKind::Check,
                columns: Vec::new(),
                not_valid: self.not_valid,
                not_null_of: not_null_of(&self.expr),
            });
        }
    }
}

/// The column a `CHECK (col IS NOT NULL)` proves has no NULLs: with it validated, PostgreSQL 12+
/// sets NOT NULL without scanning the table.
pub fn not_null_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(inner) => not_null_of(inner),
        Expr::IsNotNull(inner) => crate::change::plain_column(inner),
        _ => None,
    }
}
