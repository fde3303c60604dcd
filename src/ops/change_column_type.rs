//! ALTER COLUMN … TYPE: ACCESS EXCLUSIVE plus a rewrite of the table and its indexes — unless the
//! change is binary-coercible (varchar widening, varchar → text, numeric precision up), which is
//! catalog-only. Otherwise: a new column kept in sync by a trigger, a batched backfill, NOT NULL
//! and index copies on the new column, then one brief swap that drops the old column.

use sqlparser::ast::{DataType, Expr};

use super::recipes::{
    backfill_step, copy_indexes, copy_trigger, helper_name, not_null_step, required_column,
};
use super::{Assessment, Context, Op};
use crate::change::canonical_type;
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "changing-column-type",
    severity: Some(Severity::Error),
    summary: "ALTER COLUMN … TYPE that rewrites the table",
    why: "Unless the new type is binary-coercible (varchar(n) to text or a wider varchar, for example), PostgreSQL rewrites the table and its indexes under ACCESS EXCLUSIVE: every read and write waits. The running app may also break on the new type.",
    safe: "Expand: add a new column of the new type, kept in sync by a trigger. Migrate: backfill in batches. Contract: swap the columns in one brief transaction and drop the old one.",
    example: "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;",
};

#[derive(Clone, Debug)]
pub struct ChangeColumnType {
    pub table: QName,
    pub column: String,
    pub data_type: DataType,
    pub using: Option<Expr>,
}

/// `base(args)` → (`base`, args).
fn split_type(text: &str) -> (String, Vec<u32>) {
    match text.split_once('(') {
        Some((base, args)) => {
            let args = args
                .trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (base.trim().to_string(), args)
        }
        None => (text.trim().to_string(), Vec::new()),
    }
}

/// Type changes PostgreSQL makes without rewriting the table (ALTER TABLE docs, "Notes").
pub fn binary_coercible(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let (fb, fa) = split_type(from);
    let (tb, ta) = split_type(to);
    match (fb.as_str(), tb.as_str()) {
        ("varchar", "varchar") | ("varbit", "varbit") | ("bit varying", "bit varying") => {
            ta.is_empty() || (fa.len() == 1 && ta.len() == 1 && ta[0] >= fa[0])
        }
        ("varchar", "text") => true,
        ("text", "varchar") => ta.is_empty(),
        ("numeric", "numeric") => {
            ta.is_empty() || (fa.len() == 2 && ta.len() == 2 && ta[1] == fa[1] && ta[0] >= fa[0])
        }
        ("cidr", "inet") => true,
        _ => false,
    }
}

impl ChangeColumnType {
    fn coercible(&self, ctx: &Context) -> Option<bool> {
        let column = ctx.catalog.column(&self.table, &self.column)?;
        Some(
            self.using.is_none()
                && binary_coercible(
                    &canonical_type(&column.data_type),
                    &canonical_type(&self.data_type),
                ),
        )
    }

    fn in_place(&self, why: &str) -> Step {
        let using = self
            .using
            .as_ref()
            .map(|u| format!(" USING {u}"))
            .unwrap_or_default();
        Step::database(
            Phase::Expand,
            format!("alter-type-{}-{}", self.table.name, self.column),
            format!(
                "change type of {}.{} to {}",
                self.table.display(),
                self.column,
                self.data_type
            ),
        )
        .sql(
            format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {}{using}",
                qname(&self.table),
                quote(&self.column),
                self.data_type
            ),
            why.to_string(),
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
    }
}

impl Op for ChangeColumnType {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.is_new_table(&self.table) || self.coercible(ctx) == Some(true) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "binary-coercible (or a new table): no rewrite",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "changing a column's type rewrites the table and its indexes under ACCESS EXCLUSIVE",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(
                self.in_place("the table is new and empty"),
            ));
        }
        let column =
            required_column(ctx, &self.table, &self.column, "changing a column's type")?.clone();
        if self.coercible(ctx) == Some(true) {
            let old = column.data_type.to_string();
            let step = self
                .in_place("binary-coercible: catalog-only, no rewrite")
                .down_sql(
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} TYPE {old}",
                        qname(&self.table),
                        quote(&self.column)
                    ),
                    "narrowing back re-checks every row under ACCESS EXCLUSIVE",
                );
            return Ok(Expansion::single(step));
        }
        let table = ctx
            .catalog
            .table(&self.table)
            .ok_or_else(|| ctx.error("internal error: table vanished"))?;
        let constraints = table.constraints_on(&self.column);
        if column.generated || !constraints.is_empty() {
            let names: Vec<&str> = constraints.iter().map(|c| c.name.as_str()).collect();
            return Err(ctx
                .error(format!("safeshift cannot yet change the type of `{}.{}` online: it is {}", self.table.display(), self.column, if column.generated { "an identity/generated column".to_string() } else { format!("used by constraint(s) {}", names.join(", ")) }))
                .help("plan this one by hand (new column, sync trigger, backfill, then move the constraints), or run it in a maintenance window"));
        }
        let t = qname(&self.table);
        let c = quote(&self.column);
        let new = helper_name(&self.table, &self.column, "new");
        let n = quote(&new);
        let conversion = self
            .using
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("CAST({c} AS {})", self.data_type));
        let copy = copy_trigger(&self.table, &self.column, &new, &conversion)?;

        let mut expand = Step::database(
            Phase::Expand,
            format!("add-shadow-{}-{}", self.table.name, self.column),
            format!(
                "add {}.{new} ({}) and a trigger that copies {} into it",
                self.table.display(),
                self.data_type,
                self.column
            ),
        )
        .sql(
            format!("ALTER TABLE {t} ADD COLUMN {n} {}", self.data_type),
            "a nullable column without default: catalog-only",
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief");
        for sql in &copy.create {
            expand = expand.sql(sql.clone(), "");
        }
        for sql in &copy.drop {
            expand = expand.down_sql(sql.clone(), "");
        }
        expand = expand.down_sql(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {n}"), "");
        let mut steps = vec![expand];
        steps.push(
            backfill_step(
                ctx,
                &self.table,
                &new,
                &conversion,
                &format!("{n} IS NULL AND {c} IS NOT NULL"),
            )?
            .after(&[0]),
        );
        let mut ready = vec![1];
        if column.not_null {
            steps.push(not_null_step(ctx, &self.table, &new, Phase::Migrate).after(&[1]));
            ready.push(steps.len() - 1);
        }
        let copies = copy_indexes(
            ctx,
            &self.table,
            &self.column,
            &new,
            format!("copy-indexes-{}-{}", self.table.name, self.column),
        );
        if let Some(step) = copies.step {
            steps.push(step.after(&[1]));
            ready.push(steps.len() - 1);
        }
        let mut swap = Step::database(
            Phase::Contract,
            format!("swap-{}-{}", self.table.name, self.column),
            format!(
                "swap {}.{new} in for {} and drop the old column",
                self.table.display(),
                self.column
            ),
        )
        .after(&ready)
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .before(
            format!("every row has {new} filled"),
            format!("SELECT count(*) FROM {t} WHERE {n} IS NULL AND {c} IS NOT NULL"),
            "0",
        );
        for sql in &copy.drop {
            swap = swap.sql(sql.clone(), "");
        }
        swap = swap
            .sql(
                format!("ALTER TABLE {t} DROP COLUMN {c}"),
                "the old values are gone from here on",
            )
            .sql(format!("ALTER TABLE {t} RENAME COLUMN {n} TO {c}"), "");
        if let Some(default) = &column.default {
            swap = swap.sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"),
                "the old column's default moves over",
            );
        }
        for rename in &copies.renames {
            swap = swap.sql(rename.clone(), "the copies take the original names");
        }
        swap = swap
            .irreversible(format!("the old {} column and its values are dropped", self.column))
            .note(format!("{} moves to the end of the column list: code that relies on column order (SELECT * into positional structs) must not.", self.column))
            .note("Views or functions that depend on the old column make the DROP fail (nothing changes then); recreate them afterwards.")
            // Measured by scripts/bench-stall with pgbench -M prepared: every app connection's
            // cached statement that reads the column fails once after the swap.
            .note(format!("Server-side prepared statements that read {} (PgJDBC, pgx, asyncpg, Rails' statement cache) fail once per connection after the swap with `cached plan must not change result type` (SQLSTATE 0A000): recycle connection pools right after this stage, or make sure the driver retries.", self.column));
        steps.push(swap);
        Ok(Expansion { steps, anchor: 0 })
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && let Some(c) = t.columns.iter_mut().find(|c| c.name == self.column)
        {
            c.data_type = self.data_type.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::binary_coercible;

    #[test]
    fn coercible_types() {
        assert!(binary_coercible("varchar(10)", "varchar(20)"));
        assert!(!binary_coercible("varchar(20)", "varchar(10)"));
        assert!(binary_coercible("varchar(20)", "text"));
        assert!(binary_coercible("varchar(20)", "varchar"));
        assert!(binary_coercible("numeric(10,2)", "numeric(12,2)"));
        assert!(!binary_coercible("numeric(10,2)", "numeric(12,3)"));
        assert!(!binary_coercible("integer", "bigint"));
        assert!(!binary_coercible("text", "varchar(10)"));
    }
}
