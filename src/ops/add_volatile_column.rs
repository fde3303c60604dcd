//! ADD COLUMN with a volatile default (`clock_timestamp()`, `gen_random_uuid()`, an unknown
//! function): PostgreSQL must compute a value per row, so it rewrites the whole table under ACCESS
//! EXCLUSIVE. Safe path: add it without the default, set the default (new rows only), backfill
//! existing rows in batches, then NOT NULL through a validated check if asked for.
//! MySQL/MariaDB: a default computed per row (`DEFAULT (uuid())`) copies the table; the same path
//! applies, with INSTANT steps and an in-place NOT NULL rebuild.

use super::add_column::{add_column_step, add_column_step_mysql};
use super::recipes::mysql as my;
use super::recipes::{backfill_for, not_null_step};
use super::{Assessment, ColumnPosition, Context, Op};
use crate::dialect::LockMode;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column};

pub const RULE: Rule = Rule {
    id: "adding-column-with-volatile-default",
    severity: Some(Severity::Error),
    summary: "ADD COLUMN with a volatile default (clock_timestamp(), random(), gen_random_uuid(), …), or an identity, serial or stored generated column",
    why: "A volatile default is computed for every existing row, so PostgreSQL rewrites the table and all its indexes under ACCESS EXCLUSIVE: every read and write waits for the rewrite. (Constant and stable defaults such as now() are catalog-only since PostgreSQL 11.)",
    safe: "Add the column without a default, set the default so new rows get it, backfill existing rows in batches, then add NOT NULL the safe way if wanted.",
    example: "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
    mysql: "A default computed per row (`DEFAULT (uuid())`, `(rand())`) makes MySQL and MariaDB copy the table while writes wait; the current time (`DEFAULT CURRENT_TIMESTAMP`) and constant expressions stay INSTANT. Add the column without the default (INSTANT), SET DEFAULT (INSTANT; new rows only), backfill in batches, then MODIFY it NOT NULL in place if wanted.",
};

#[derive(Clone, Debug)]
pub struct AddVolatileColumn {
    pub table: QName,
    pub column: Column,
    /// MySQL: `FIRST` or `AFTER col`.
    pub position: Option<ColumnPosition>,
}

impl Op for AddVolatileColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.name.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
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
                LockMode::MetadataNoWrite,
                true,
                false,
                "a default computed per row makes the server copy the table while writes wait",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "a volatile default is computed for every existing row: the table and its indexes are rewritten under ACCESS EXCLUSIVE",
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
        let Some(default) = &self.column.default else {
            return Err(ctx.error("internal error: volatile column without a default"));
        };
        let bare = Column {
            not_null: false,
            default: None,
            ..self.column.clone()
        };
        let (t, c) = (ctx.qname(&self.table), ctx.quote(&self.column.name));
        let why = "new rows get a value from now on; existing rows are filled by the backfill";
        let mut add = if ctx.dialect.is_mysql() {
            let set = my::alter(
                ctx,
                &self.table,
                &[format!("ALTER COLUMN {c} SET DEFAULT {default}")],
                my::target(ctx).metadata_change(),
            );
            add_column_step_mysql(ctx, &self.table, &bare, self.position.as_ref()).sql(set, why)
        } else {
            add_column_step(&self.table, &bare, false).sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"),
                why,
            )
        };
        add.title = format!(
            "add column {}.{} (no rewrite) with its default for new rows",
            self.table.display(),
            self.column.name
        );
        let mut steps = vec![add];
        steps.push(
            backfill_for(
                ctx,
                &self.table,
                &self.column.name,
                &default.to_string(),
                &format!("{c} IS NULL"),
            )?
            .after(&[0]),
        );
        if self.column.not_null {
            let step = if ctx.dialect.is_mysql() {
                my::not_null_step(ctx, &self.table, &self.column, Phase::Migrate)
            } else {
                not_null_step(ctx, &self.table, &self.column.name, Phase::Migrate)
            };
            steps.push(step.after(&[1]));
        }
        Ok(Expansion { steps, anchor: 0 })
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && t.column(&self.column.name).is_none()
        {
            t.columns.push(self.column.clone());
        }
    }
}
