//! ADD CHECK: ACCESS EXCLUSIVE while every row is checked. Safe path: NOT VALID (brief; new
//! writes are checked from then on), then VALIDATE CONSTRAINT under SHARE UPDATE EXCLUSIVE.
//! MySQL/MariaDB have no NOT VALID and no in-place path for CHECK: the server copies the table
//! while writes wait. The plan copies it the online way instead (`recipes::mysql::copy_table`:
//! an empty copy with the check, mirroring triggers, batched row copy, atomic swap), or with
//! `--online-tool` hands the copy to gh-ost or pt-online-schema-change. Without the schema's
//! columns and primary key it can only pin the copy (`ALGORITHM=COPY`) and say so.

use sqlparser::ast::Expr;

use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::postgres::{literal, qname, quote};
use crate::dialect::{Algorithm, LockMode};
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
    mysql: "There is no NOT VALID: MySQL 8.0.16+ and MariaDB copy the whole table to check every row while writes wait (INPLACE is refused); MySQL's NOT ENFORCED only postpones the same copy. Copy the table the online way instead: an empty copy with the check, triggers that mirror every write into it, the rows copied in primary-key batches, then one atomic RENAME TABLE (what `safeshift plan` writes, given the schema), or gh-ost / pt-online-schema-change (`--online-tool`).",
};

#[derive(Clone, Debug)]
pub struct AddCheck {
    pub table: QName,
    pub name: String,
    pub expr: Expr,
    /// PostgreSQL's `NO INHERIT`: partitions and child tables do not get the check.
    pub no_inherit: bool,
    pub not_valid: bool,
}

impl AddCheck {
    /// `CHECK (…)` with its attributes, as written.
    fn constraint(&self) -> sqlparser::ast::TableConstraint {
        sqlparser::ast::TableConstraint::Check(sqlparser::ast::CheckConstraint {
            name: None,
            expr: Box::new(self.expr.clone()),
            no_inherit: self.no_inherit,
            enforced: None,
        })
    }
}

impl AddCheck {
    fn expand_mysql(&self, ctx: &Context, definition: &str) -> Result<Expansion, PlanError> {
        let algorithm = my::target(ctx).add_check();
        let n = ctx.quote(&self.name);
        let add = format!("ADD CONSTRAINT {n} {definition}");
        let slug = format!("add-check-{}", self.name);
        let title = format!("add CHECK {} on {}", self.name, self.table.display());
        let (before_what, before_query) = (
            format!(
                "every existing row of {} satisfies {}",
                self.table.display(),
                self.expr
            ),
            format!(
                "SELECT COUNT(*) FROM {} WHERE NOT ({})",
                ctx.qname(&self.table),
                self.expr
            ),
        );
        let (exists_what, exists_query) = (
            format!("{} exists", self.name),
            format!(
                "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = {} AND TABLE_NAME = {} AND CONSTRAINT_NAME = {} AND CONSTRAINT_TYPE = 'CHECK'",
                my::schema_expr(ctx, &self.table),
                ctx.dialect.literal(&self.table.name),
                ctx.dialect.literal(&self.name)
            ),
        );
        let existing = !ctx.is_new_table(&self.table);
        if let Some(tool) = ctx.options.online_tool.filter(|_| existing) {
            return Ok(Expansion::single(
                my::online_tool_step(ctx, tool, &self.table, &add, slug, title)
                    .before(before_what, before_query, "0")
                    .verify(exists_what, exists_query, "1"),
            ));
        }
        if existing
            && let Some(mut copy) = my::copy_table(
                ctx,
                &self.table,
                std::slice::from_ref(&add),
                &format!("has CHECK {}", self.name),
            )?
        {
            if let Some(first) = copy.steps.first_mut() {
                first.before.push(crate::plan::Check {
                    what: before_what,
                    query: before_query,
                    expect: "0".into(),
                });
            }
            if let Some(last) = copy.steps.last_mut() {
                last.verify.push(crate::plan::Check {
                    what: exists_what,
                    query: exists_query,
                    expect: "1".into(),
                });
            }
            return Ok(copy);
        }
        let mut step = Step::database(Phase::Expand, slug, title)
            .before(before_what, before_query, "0")
            .sql(
                my::alter(ctx, &self.table, &[add], algorithm),
                algorithm.describe(),
            )
            .down_sql(
                my::alter(
                    ctx,
                    &self.table,
                    &[format!("DROP CONSTRAINT {}{n}", my::if_exists(ctx))],
                    Algorithm::Instant,
                ),
                "",
            )
            .verify(exists_what, exists_query, "1");
        if existing {
            step = step.note(format!(
                "Writes to {} wait for the whole copy: run this in a quiet period, or plan it with `--online-tool gh-ost` or `--online-tool pt-osc`. (A copy with triggers needs the schema: the columns and a primary key, and no foreign key on or to the table.)",
                self.table.display()
            ));
        }
        Ok(Expansion::single(my::alter_locks(
            step,
            &self.table,
            algorithm,
        )))
    }
}

impl Op for AddCheck {
    fn constrains(&self, table: &QName, column: &str) -> bool {
        let mut found = false;
        let _ = sqlparser::ast::visit_expressions(&self.expr, |e| {
            if let Expr::Identifier(i) = e
                && i.value.eq_ignore_ascii_case(column)
            {
                found = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        self.table.same(table) && found
    }

    fn adds_not_valid(&self) -> Option<(&str, &'static Rule, LockMode)> {
        self.not_valid
            .then_some((self.name.as_str(), &RULE, LockMode::AccessExclusive))
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).add_check();
            if ctx.is_new_table(&self.table) {
                return Assessment::safe(
                    RULE.id,
                    Some(algorithm.lock()),
                    "the table was created in this change and is empty",
                );
            }
            return Assessment::staged(
                RULE.id,
                algorithm.lock(),
                true,
                false,
                format!(
                    "there is no NOT VALID: the server copies {} to check every row while writes wait",
                    self.table.display()
                ),
            );
        }
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
        let definition = self.constraint().to_string();
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx, &definition);
        }
        let t = qname(&self.table);
        let n = quote(&self.name);
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
                definition: Some(self.constraint()),
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
