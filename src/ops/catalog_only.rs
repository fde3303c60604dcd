//! Brief catalog-only ALTER TABLE actions: SET/DROP DEFAULT, DROP NOT NULL, DROP CONSTRAINT,
//! VALIDATE CONSTRAINT. None rewrites or scans the table under a strong lock (VALIDATE scans under
//! SHARE UPDATE EXCLUSIVE, which lets reads and writes go on). One stage, with lock_timeout.
//! MySQL/MariaDB: SET/DROP DEFAULT and DROP CONSTRAINT / FOREIGN KEY are INSTANT; making a column
//! nullable restates it (MODIFY … NULL) and rebuilds the table in place.

use sqlparser::ast::Expr;

use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "catalog-only-change",
    severity: None,
    summary: "brief catalog-only ALTERs: SET/DROP DEFAULT, DROP NOT NULL, DROP/VALIDATE CONSTRAINT",
    why: "These change only the catalog (VALIDATE scans, but under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on). The lock is brief but queues: set lock_timeout.",
    safe: "Run as written, after SET lock_timeout. After DROP NOT NULL, code that reads the column must be ready for NULLs.",
    example: "ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'free';",
    mysql: "SET/DROP DEFAULT and dropping a CHECK or FOREIGN KEY are INSTANT on MySQL and MariaDB; making a column nullable (MODIFY … NULL) rebuilds the table in place while reads and writes continue. Each still needs the exclusive metadata lock briefly: set lock_wait_timeout.",
};

#[derive(Clone, Debug)]
pub enum Action {
    SetDefault {
        column: String,
        expr: Box<Expr>,
    },
    DropDefault {
        column: String,
    },
    DropNotNull {
        column: String,
    },
    DropConstraint {
        name: String,
        if_exists: bool,
    },
    ValidateConstraint {
        name: String,
    },
    /// MySQL's `DROP FOREIGN KEY name`.
    DropForeignKey {
        name: String,
    },
    /// PostgreSQL's `COMMENT ON COLUMN t.c IS …` (`None`: `IS NULL`, removing it).
    Comment {
        column: String,
        text: Option<String>,
    },
}

/// `COMMENT ON COLUMN t.c IS 'text'` (or `IS NULL`).
pub fn comment_sql(table: &QName, column: &str, text: Option<&str>) -> String {
    format!(
        "COMMENT ON COLUMN {}.{} IS {}",
        qname(table),
        quote(column),
        text.map(crate::dialect::postgres::literal)
            .unwrap_or_else(|| "NULL".to_string())
    )
}

#[derive(Clone, Debug)]
pub struct CatalogOnly {
    pub table: QName,
    pub action: Action,
}

impl CatalogOnly {
    fn mysql_algorithm(&self, ctx: &Context) -> crate::dialect::Algorithm {
        let target = my::target(ctx);
        match &self.action {
            Action::DropNotNull { .. } => target.change_nullability(),
            _ => target.metadata_change(),
        }
    }

    fn expand_mysql(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let algorithm = self.mysql_algorithm(ctx);
        let table = self.table.display();
        let alter = |action: String| my::alter(ctx, &self.table, &[action], algorithm);
        let known = |column: &str| ctx.catalog.column(&self.table, column);
        let default_sql = |column: &str, d: Option<&Expr>| match d {
            Some(d) => alter(format!(
                "ALTER COLUMN {} SET DEFAULT {d}",
                ctx.quote(column)
            )),
            None => alter(format!("ALTER COLUMN {} DROP DEFAULT", ctx.quote(column))),
        };
        let step = match &self.action {
            Action::Comment { .. } => {
                return Err(ctx.error("COMMENT ON COLUMN is PostgreSQL's: MySQL restates COMMENT in the column's definition"));
            }
            Action::SetDefault { column, .. } | Action::DropDefault { column } => {
                let new = match &self.action {
                    Action::SetDefault { expr, .. } => Some(expr.as_ref()),
                    _ => None,
                };
                let step = Step::database(
                    Phase::Expand,
                    format!("set-default-{}-{column}", self.table.name),
                    format!("change the default of {table}.{column}"),
                )
                .sql(
                    default_sql(column, new),
                    "applies to new rows only: metadata only",
                );
                match known(column) {
                    Some(c) => step.down_sql(default_sql(column, c.default.as_ref()), ""),
                    None => step.irreversible("the previous default is unknown without --schema"),
                }
            }
            Action::DropNotNull { column } => {
                let Some(c) = known(column) else {
                    return Err(super::recipes::needs_definition(ctx, &self.table, column));
                };
                let modify = |not_null: bool| {
                    alter(format!(
                        "MODIFY COLUMN {}",
                        my::column_def(ctx, c, not_null, true)
                    ))
                };
                Step::database(
                    Phase::Expand,
                    format!("drop-not-null-{}-{column}", self.table.name),
                    format!("let {table}.{column} be NULL"),
                )
                .sql(modify(false), algorithm.describe())
                .down_sql(modify(true), "")
                .note(format!(
                    "Code that reads {column} must handle NULL before anything writes one."
                ))
            }
            Action::DropConstraint { name, if_exists } => Step::database(
                Phase::Contract,
                format!("drop-constraint-{name}"),
                format!("drop constraint {name} of {table}"),
            )
            .sql(
                alter(format!(
                    "DROP CONSTRAINT {}{}",
                    if *if_exists { "IF EXISTS " } else { "" },
                    ctx.quote(name)
                )),
                "",
            )
            .irreversible("safeshift does not keep constraint definitions to recreate them"),
            Action::DropForeignKey { name } => Step::database(
                Phase::Contract,
                format!("drop-constraint-{name}"),
                format!("drop foreign key {name} of {table}"),
            )
            .sql(alter(format!("DROP FOREIGN KEY {}", ctx.quote(name))), "")
            .irreversible("safeshift does not keep constraint definitions to recreate them"),
            Action::ValidateConstraint { name } => {
                return Err(ctx.error(format!(
                    "{} has no VALIDATE CONSTRAINT (constraint `{name}`)",
                    ctx.dialect.engine_name()
                )));
            }
        };
        Ok(Expansion::single(my::alter_locks(
            step,
            &self.table,
            algorithm,
        )))
    }
}

impl Op for CatalogOnly {
    fn validates(&self) -> Option<&str> {
        match &self.action {
            Action::ValidateConstraint { name } => Some(name),
            _ => None,
        }
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        match &self.action {
            Action::SetDefault { column, .. }
            | Action::DropDefault { column }
            | Action::DropNotNull { column }
            | Action::Comment { column, .. } => {
                vec![column.clone()]
            }
            Action::DropConstraint { .. }
            | Action::ValidateConstraint { .. }
            | Action::DropForeignKey { .. } => Vec::new(),
        }
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = self.mysql_algorithm(ctx);
            return Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe());
        }
        match &self.action {
            Action::ValidateConstraint { .. } => Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "VALIDATE scans under SHARE UPDATE EXCLUSIVE: reads and writes continue",
            ),
            Action::DropNotNull { column } => Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                format!("brief; but code that reads {column} must be ready for NULLs"),
            ),
            Action::Comment { .. } => Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "catalog only",
            ),
            _ => Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "catalog-only change under a brief lock",
            ),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx);
        }
        let t = qname(&self.table);
        let table = self.table.display();
        let known = |column: &str| ctx.catalog.column(&self.table, column);
        let step = match &self.action {
            Action::SetDefault { column, expr } => {
                let step = Step::database(
                    Phase::Expand,
                    format!("set-default-{}-{column}", self.table.name),
                    format!("set the default of {table}.{column}"),
                )
                .sql(
                    format!(
                        "ALTER TABLE {t} ALTER COLUMN {} SET DEFAULT {expr}",
                        quote(column)
                    ),
                    "applies to new rows only: no rewrite",
                );
                match known(column) {
                    Some(c) => step.down_sql(
                        match &c.default {
                            Some(d) => format!(
                                "ALTER TABLE {t} ALTER COLUMN {} SET DEFAULT {d}",
                                quote(column)
                            ),
                            None => format!(
                                "ALTER TABLE {t} ALTER COLUMN {} DROP DEFAULT",
                                quote(column)
                            ),
                        },
                        "",
                    ),
                    None => step.irreversible("the previous default is unknown without --schema"),
                }
            }
            Action::DropDefault { column } => {
                let step = Step::database(
                    Phase::Expand,
                    format!("drop-default-{}-{column}", self.table.name),
                    format!("drop the default of {table}.{column}"),
                )
                .sql(
                    format!(
                        "ALTER TABLE {t} ALTER COLUMN {} DROP DEFAULT",
                        quote(column)
                    ),
                    "",
                );
                match known(column).and_then(|c| c.default.as_ref()) {
                    Some(d) => step.down_sql(
                        format!(
                            "ALTER TABLE {t} ALTER COLUMN {} SET DEFAULT {d}",
                            quote(column)
                        ),
                        "",
                    ),
                    None => step.irreversible("the previous default is unknown without --schema"),
                }
            }
            Action::DropNotNull { column } => {
                let step = Step::database(
                    Phase::Expand,
                    format!("drop-not-null-{}-{column}", self.table.name),
                    format!("let {table}.{column} be NULL"),
                )
                .sql(
                    format!(
                        "ALTER TABLE {t} ALTER COLUMN {} DROP NOT NULL",
                        quote(column)
                    ),
                    "",
                )
                .note(format!(
                    "Code that reads {column} must handle NULL before anything writes one."
                ));
                // Already nullable: the statement changes nothing, and its undo must not make the
                // column NOT NULL.
                if ctx.schema_known
                    && ctx
                        .catalog
                        .column(&self.table, column)
                        .is_some_and(|c| !c.not_null)
                {
                    step.nothing_to_undo(format!(
                        "{table}.{column} is already nullable: nothing changes, nothing to undo."
                    ))
                } else {
                    step.down_sql(
                        format!(
                            "ALTER TABLE {t} ALTER COLUMN {} SET NOT NULL",
                            quote(column)
                        ),
                        "scans the table under ACCESS EXCLUSIVE",
                    )
                }
            }
            Action::DropConstraint { name, if_exists } => Step::database(
                Phase::Contract,
                format!("drop-constraint-{name}"),
                format!("drop constraint {name} of {table}"),
            )
            .sql(
                format!(
                    "ALTER TABLE {t} DROP CONSTRAINT {}{}",
                    if *if_exists { "IF EXISTS " } else { "" },
                    quote(name)
                ),
                "",
            )
            .irreversible("safeshift does not keep constraint definitions to recreate them"),
            Action::DropForeignKey { name } => Step::database(
                Phase::Contract,
                format!("drop-constraint-{name}"),
                format!("drop foreign key {name} of {table}"),
            )
            .sql(
                format!("ALTER TABLE {t} DROP FOREIGN KEY {}", quote(name)),
                "",
            )
            .irreversible("safeshift does not keep constraint definitions to recreate them"),
            Action::Comment { column, text } => {
                let step = Step::database(
                    Phase::Expand,
                    format!("comment-{}-{column}", self.table.name),
                    format!("comment on {table}.{column}"),
                )
                .sql(
                    comment_sql(&self.table, column, text.as_deref()),
                    "catalog only",
                )
                .lock(table, LockMode::ShareUpdateExclusive, "brief");
                let step = match known(column) {
                    Some(c) => {
                        step.down_sql(comment_sql(&self.table, column, c.comment.as_deref()), "")
                    }
                    None => step.irreversible("the previous comment is unknown without --schema"),
                };
                return Ok(Expansion::single(step));
            }
            Action::ValidateConstraint { name } => {
                return Ok(Expansion::single(
                    Step::database(
                        Phase::Migrate,
                        format!("validate-{name}"),
                        format!("validate constraint {name} of {table}"),
                    )
                    .sql(
                        format!("ALTER TABLE {t} VALIDATE CONSTRAINT {}", quote(name)),
                        "scans under SHARE UPDATE EXCLUSIVE: reads and writes go on",
                    )
                    .down_sql(
                        "SELECT 'nothing to undo: validating changes no data' AS note",
                        "",
                    )
                    .lock(
                        table,
                        LockMode::ShareUpdateExclusive,
                        "while it validates",
                    ),
                ));
            }
        };
        Ok(Expansion::single(step.lock(
            table,
            LockMode::AccessExclusive,
            "brief",
        )))
    }

    fn apply(&self, catalog: &mut Catalog) {
        let Some(t) = catalog.table_mut(&self.table) else {
            return;
        };
        match &self.action {
            Action::SetDefault { column, expr } => {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name == *column) {
                    c.default = Some((**expr).clone());
                }
            }
            Action::DropDefault { column } => {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name == *column) {
                    c.default = None;
                }
            }
            Action::DropNotNull { column } => {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name == *column) {
                    c.not_null = false;
                }
            }
            Action::DropConstraint { name, .. } | Action::DropForeignKey { name } => {
                t.constraints.retain(|c| c.name != *name)
            }
            Action::ValidateConstraint { name } => {
                for c in t.constraints.iter_mut().filter(|c| c.name == *name) {
                    c.not_valid = false;
                }
            }
            Action::Comment { column, text } => {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name == *column) {
                    c.comment = text.clone();
                }
            }
        }
    }
}
