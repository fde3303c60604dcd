//! ADD CONSTRAINT … UNIQUE: builds its index under a lock that blocks writes. Safe path: build the
//! unique index CONCURRENTLY, then attach it with `ADD CONSTRAINT … UNIQUE USING INDEX` (brief).
//! MySQL/MariaDB: a UNIQUE constraint is a unique index, built in place while traffic goes on.

use super::create_index::{duplicate_check, mysql_add_index, valid_index_check};
use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Constraint, ConstraintKind};
use sqlparser::ast::TableConstraint;

pub const RULE: Rule = Rule {
    id: "adding-unique-constraint",
    severity: Some(Severity::Error),
    summary: "ADD CONSTRAINT … UNIQUE that builds its index under the lock",
    why: "Adding a UNIQUE constraint builds its index while holding ACCESS EXCLUSIVE: every read and write on the table waits for the whole build.",
    safe: "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX (brief).",
    example: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
    mysql: "A UNIQUE constraint is a unique index on InnoDB, built in place while reads and writes continue (ALGORITHM=INPLACE, LOCK=NONE). It fails at the end if the table, or a write during the build, holds a duplicate: check for duplicates first.",
};

#[derive(Clone, Debug)]
pub struct AddUnique {
    pub table: QName,
    pub name: String,
    pub columns: Vec<String>,
    /// `… UNIQUE USING INDEX idx`: the index already exists; attaching it is brief.
    pub using_index: Option<String>,
    /// The constraint as written (INCLUDE, NULLS NOT DISTINCT, DEFERRABLE …).
    pub definition: Option<TableConstraint>,
}

/// What a UNIQUE or PRIMARY KEY constraint says beyond its columns, split by where PostgreSQL
/// takes it when the key is built as an index first: the index (`INCLUDE (…)`, `NULLS NOT
/// DISTINCT`) and `ADD CONSTRAINT … USING INDEX` (`DEFERRABLE INITIALLY DEFERRED`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyOptions {
    pub index: String,
    pub constraint: String,
}

impl KeyOptions {
    pub fn of(definition: Option<&TableConstraint>) -> KeyOptions {
        let (include, nulls, characteristics) = match definition {
            Some(TableConstraint::Unique(k)) => (
                k.include.as_slice(),
                k.nulls_distinct.to_string(),
                k.characteristics.as_ref(),
            ),
            Some(TableConstraint::PrimaryKey(k)) => (
                k.include.as_slice(),
                String::new(),
                k.characteristics.as_ref(),
            ),
            _ => return KeyOptions::default(),
        };
        let mut index = String::new();
        if !include.is_empty() {
            let cols: Vec<String> = include.iter().map(|i| i.to_string()).collect();
            index.push_str(&format!(" INCLUDE ({})", cols.join(", ")));
        }
        index.push_str(&nulls);
        let constraint = characteristics
            .map(|c| format!(" {c}"))
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_default();
        KeyOptions { index, constraint }
    }
}

/// Builds a unique index concurrently and attaches it as a UNIQUE or PRIMARY KEY constraint.
pub fn unique_via_index(
    ctx: &Context,
    table: &QName,
    name: &str,
    columns: &[String],
    options: &KeyOptions,
    primary: bool,
    phase: Phase,
) -> Step {
    let t = qname(table);
    let index = table.sibling(name.to_string());
    let cols = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let what = if primary { "PRIMARY KEY" } else { "UNIQUE" };
    let (v_what, v_query, v_expect) = valid_index_check(&index);
    let mut step = Step::database(phase, format!("add-{}-{}", if primary { "primary-key" } else { "unique" }, name), format!("add {what} {name} on {}", table.display()))
        .non_transactional()
        .sql(
            format!("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {t} ({cols}){}", quote(name), options.index),
            "builds the index while reads and writes continue",
        )
        .sql(format!("ALTER TABLE {t} ADD CONSTRAINT {} {what} USING INDEX {}{}", quote(name), quote(name), options.constraint), "brief: the index already exists")
        .down_sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}", quote(name)), "drops the constraint and its index")
        .down_sql(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&index)), "in case only the index had been built")
        .lock(table.display(), LockMode::ShareUpdateExclusive, "while the index builds")
        .lock(table.display(), LockMode::AccessExclusive, "brief, to attach the index")
        .verify(v_what, v_query, v_expect)
        .note(format!("If the index build is interrupted it leaves an INVALID index: `DROP INDEX CONCURRENTLY IF EXISTS {}`, then run the stage again.", qname(&index)));
    if let Some((what, query, expect)) = duplicate_check(ctx, table, columns) {
        step = step.before(what, query, expect);
    }
    step
}

impl Op for AddUnique {
    fn constrains(&self, table: &QName, column: &str) -> bool {
        self.table.same(table) && self.columns.iter().any(|c| c == column)
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).index_change();
            return Assessment::safe(
                RULE.id,
                Some(algorithm.lock()),
                format!("{}; fails at the end on a duplicate", algorithm.describe()),
            );
        }
        if self.using_index.is_some() {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "attaches an existing index: brief",
            );
        }
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table was created in this change and is empty",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            "adding a UNIQUE constraint builds its index under ACCESS EXCLUSIVE: every read and write waits",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            let cols: Vec<String> = self.columns.iter().map(|c| ctx.quote(c)).collect();
            // As written (DESC, prefix lengths, USING BTREE), else the plain columns.
            let body = self
                .definition
                .as_ref()
                .and_then(super::create_index::mysql_unique_body)
                .unwrap_or_else(|| format!("({})", cols.join(", ")));
            let mut step = mysql_add_index(
                ctx,
                Step::database(
                    Phase::Expand,
                    format!("add-unique-{}", self.name),
                    format!("add UNIQUE {} on {}", self.name, self.table.display()),
                ),
                &self.table,
                &self.name,
                true,
                &body,
            );
            if let Some((what, query, expect)) = duplicate_check(ctx, &self.table, &self.columns) {
                step = step.before(what, query, expect);
            }
            return Ok(Expansion::single(step));
        }
        super::refuse_key_on_partitioned(ctx, &self.table, "UNIQUE constraint")?;
        let t = qname(&self.table);
        if let Some(index) = &self.using_index {
            let step = Step::database(
                Phase::Expand,
                format!("add-unique-{}", self.name),
                format!("attach index {index} as UNIQUE {}", self.name),
            )
            .sql(
                format!(
                    "ALTER TABLE {t} ADD CONSTRAINT {} UNIQUE USING INDEX {}",
                    quote(&self.name),
                    quote(index)
                ),
                "brief: the index already exists",
            )
            .lock(self.table.display(), LockMode::AccessExclusive, "brief");
            return Ok(Expansion::single(super::using_index_undo(
                ctx,
                &self.table,
                &self.name,
                index,
                step,
            )));
        }
        if ctx.is_new_table(&self.table) {
            let cols = self
                .columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ");
            return Ok(Expansion::single(
                Step::database(
                    Phase::Expand,
                    format!("add-unique-{}", self.name),
                    format!("add UNIQUE {} on {}", self.name, self.table.display()),
                )
                .sql(
                    format!(
                        "ALTER TABLE {t} ADD CONSTRAINT {} {}",
                        quote(&self.name),
                        self.definition
                            .as_ref()
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| format!("UNIQUE ({cols})"))
                    ),
                    "the table is new and empty",
                )
                .down_sql(
                    format!(
                        "ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {}",
                        quote(&self.name)
                    ),
                    "",
                ),
            ));
        }
        Ok(Expansion::single(unique_via_index(
            ctx,
            &self.table,
            &self.name,
            &self.columns,
            &KeyOptions::of(self.definition.as_ref()),
            false,
            Phase::Expand,
        )))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table) {
            t.constraints.push(Constraint {
                name: self.name.clone(),
                kind: ConstraintKind::Unique,
                columns: self.columns.clone(),
                not_valid: false,
                not_null_of: None,
                definition: self.definition.clone(),
            });
        }
    }
}
