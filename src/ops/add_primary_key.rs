//! ADD PRIMARY KEY: builds a unique index under ACCESS EXCLUSIVE and, for nullable columns, scans
//! for NULLs too. Safe path: make the columns NOT NULL through validated checks, build the unique
//! index CONCURRENTLY, then `ADD CONSTRAINT … PRIMARY KEY USING INDEX` (brief).
//! MySQL/MariaDB: the clustered index is rebuilt in place while reads and writes continue; the
//! plan pins the algorithm and checks for NULLs and duplicates first.

use super::add_unique::unique_via_index;
use super::create_index::duplicate_check;
use super::recipes::mysql as my;
use super::recipes::{known_column, not_null_step};
use super::{Assessment, Context, Op};
use crate::dialect::postgres::{qname, quote};
use crate::dialect::{Algorithm, LockMode};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Constraint, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "adding-primary-key",
    severity: Some(Severity::Error),
    summary: "ADD PRIMARY KEY that builds its index under the lock",
    why: "Adding a primary key builds a unique index and checks every row for NULLs while holding ACCESS EXCLUSIVE: every read and write waits.",
    safe: "Make the columns NOT NULL the safe way, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX (brief).",
    example: "ALTER TABLE events ADD PRIMARY KEY (id);",
    mysql: "InnoDB rebuilds the table around the new clustered index in place (ALGORITHM=INPLACE, LOCK=NONE, which needs a strict sql_mode when columns become NOT NULL): reads and writes continue, the rebuild costs time, I/O and replica lag. It fails on NULLs or duplicates: check first.",
};

#[derive(Clone, Debug)]
pub struct AddPrimaryKey {
    pub table: QName,
    pub name: String,
    pub columns: Vec<String>,
    pub using_index: Option<String>,
    /// The constraint as written (INCLUDE, DEFERRABLE …).
    pub definition: Option<sqlparser::ast::TableConstraint>,
}

impl Op for AddPrimaryKey {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        // A table has one primary key: the new one waits for every earlier change of the table
        // (the old key's DROP CONSTRAINT frees its name and its index's name).
        Vec::new()
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).add_primary_key();
            return Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe());
        }
        if ctx.is_new_table(&self.table) || self.using_index.is_some() {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table is new, or the index already exists",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "adding a primary key builds a unique index (and checks NULLs) under ACCESS EXCLUSIVE",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).add_primary_key();
            let cols: Vec<String> = self.columns.iter().map(|c| ctx.quote(c)).collect();
            let mut step = Step::database(
                Phase::Expand,
                format!("add-primary-key-{}", self.table.name),
                format!("add PRIMARY KEY on {}", self.table.display()),
            )
            .sql(
                my::alter(
                    ctx,
                    &self.table,
                    &[format!("ADD PRIMARY KEY ({})", cols.join(", "))],
                    algorithm,
                ),
                algorithm.describe(),
            );
            // The undo also makes columns nullable again that the key made NOT NULL.
            let mut undo = vec!["DROP PRIMARY KEY".to_string()];
            for column in &self.columns {
                if let Some(known) = known_column(ctx, &self.table, column)?.filter(|k| !k.not_null)
                {
                    undo.push(format!(
                        "MODIFY COLUMN {}",
                        my::column_def(ctx, known, false, true)
                    ));
                }
            }
            step = step.down_sql(
                my::alter(ctx, &self.table, &undo, Algorithm::Copy),
                "dropping a primary key copies the table",
            );
            for column in &self.columns {
                let c = ctx.quote(column);
                step = step.before(
                    format!("no NULLs in {}.{column}", self.table.display()),
                    format!(
                        "SELECT COUNT(*) FROM {} WHERE {c} IS NULL",
                        ctx.qname(&self.table)
                    ),
                    "0",
                );
            }
            if let Some((what, query, expect)) = duplicate_check(ctx, &self.table, &self.columns) {
                step = step.before(what, query, expect);
            }
            return Ok(Expansion::single(my::alter_locks(
                step,
                &self.table,
                algorithm,
            )));
        }
        super::refuse_key_on_partitioned(ctx, &self.table, "PRIMARY KEY")?;
        let t = qname(&self.table);
        if ctx.is_new_table(&self.table) || self.using_index.is_some() {
            let spec = match &self.using_index {
                Some(index) => format!("PRIMARY KEY USING INDEX {}", quote(index)),
                None => match &self.definition {
                    Some(definition) => definition.to_string(),
                    None => format!(
                        "PRIMARY KEY ({})",
                        self.columns
                            .iter()
                            .map(|c| quote(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            };
            let step = Step::database(
                Phase::Expand,
                format!("add-primary-key-{}", self.name),
                format!("add PRIMARY KEY {} on {}", self.name, self.table.display()),
            )
            .sql(
                format!(
                    "ALTER TABLE {t} ADD CONSTRAINT {} {spec}",
                    quote(&self.name)
                ),
                "the table is new, or the index already exists",
            )
            .lock(self.table.display(), LockMode::AccessExclusive, "brief");
            let step = match &self.using_index {
                Some(index) => super::using_index_undo(ctx, &self.table, &self.name, index, step),
                None => step.down_sql(
                    format!(
                        "ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}",
                        quote(&self.name)
                    ),
                    "",
                ),
            };
            return Ok(Expansion::single(step));
        }
        if ctx
            .catalog
            .table(&self.table)
            .and_then(|t| t.primary_key())
            .is_some()
        {
            return Err(ctx.error(format!(
                "table `{}` already has a primary key",
                self.table.display()
            )));
        }
        let mut steps = Vec::new();
        for column in &self.columns {
            let known = known_column(ctx, &self.table, column)?;
            if known.is_some_and(|c| c.not_null) {
                continue;
            }
            let mut step = not_null_step(ctx, &self.table, column, Phase::Expand);
            if known.is_none() {
                step = step.note(format!("Assumed {column} may be NULL (no --schema): if it was NOT NULL already this step is a no-op, and its down.sql would wrongly drop NOT NULL."));
            }
            steps.push(step);
        }
        let before: Vec<usize> = (0..steps.len()).collect();
        steps.push(
            unique_via_index(
                ctx,
                &self.table,
                &self.name,
                &self.columns,
                &super::add_unique::KeyOptions::of(self.definition.as_ref()),
                true,
                Phase::Expand,
            )
            .after(&before),
        );
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table) {
            for c in t
                .columns
                .iter_mut()
                .filter(|c| self.columns.contains(&c.name))
            {
                c.not_null = true;
            }
            t.constraints.push(Constraint {
                name: self.name.clone(),
                kind: ConstraintKind::PrimaryKey,
                columns: self.columns.clone(),
                not_valid: false,
                not_null_of: None,
                definition: self.definition.clone(),
            });
        }
    }
}
