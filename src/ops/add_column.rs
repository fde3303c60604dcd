//! ADD COLUMN, nullable or with a constant default: catalog-only since PostgreSQL 11 (the default
//! is stored once, not written into every row). One brief ACCESS EXCLUSIVE lock: one stage.

use super::recipes::column_sql;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::schema::{Catalog, Column};

pub const RULE: &str = "add-column";

#[derive(Clone, Debug)]
pub struct AddColumn {
    pub table: QName,
    pub column: Column,
    pub if_not_exists: bool,
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

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment::safe(
            RULE,
            Some(LockMode::AccessExclusive),
            "catalog-only change under a brief lock",
        )
    }

    fn expand(&self, _ctx: &Context) -> Result<Expansion, PlanError> {
        Ok(Expansion::single(add_column_step(
            &self.table,
            &self.column,
            self.if_not_exists,
        )))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && t.column(&self.column.name).is_none()
        {
            t.columns.push(self.column.clone());
        }
    }
}
