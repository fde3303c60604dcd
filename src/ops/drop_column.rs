//! DROP COLUMN: brief, but the running app version still reads and writes the column and fails
//! once it is gone. Safe path: relax NOT NULL (the new code stops writing it), deploy code that no
//! longer uses it, then drop it: the point of no return.
//! MySQL/MariaDB: the same sequence; relaxing NOT NULL is an in-place rebuild there, and the drop
//! is INSTANT from MySQL 8.0.29 / MariaDB 10.4 (in place when the column is indexed).

use super::recipes::known_column;
use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "dropping-column",
    severity: Some(Severity::Error),
    summary: "DROP COLUMN that the running app may still use",
    why: "Queries of the running app version that name the column fail at once, and its data is gone: there is no undo.",
    safe: "Deploy an app version that no longer reads or writes the column first (mark it ignored in the ORM), then drop it in a later release. `safeshift plan` puts the drop after that deploy.",
    example: "ALTER TABLE users DROP COLUMN legacy_flags;",
    mysql: "The same hazard. The drop itself is INSTANT from MySQL 8.0.29 and MariaDB 10.4 (in place when the column is indexed; a rebuild before). Relaxing NOT NULL first, so the new code's INSERTs work without the column, is an in-place rebuild (MODIFY … NULL, reads and writes continue).",
};

#[derive(Clone, Debug)]
pub struct DropColumn {
    pub table: QName,
    pub column: String,
    pub if_exists: bool,
    pub cascade: bool,
}

impl Op for DropColumn {
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
                "the table was created in this change",
            );
        }
        Assessment {
            rule: RULE.id,
            risk: super::Risk::Destructive,
            lock: Some(LockMode::AccessExclusive),
            scans_table: false,
            breaks_old_app: true,
            why: format!(
                "the running app still reads and writes {}; its data is lost",
                self.column
            ),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let t = ctx.qname(&self.table);
        let c = ctx.quote(&self.column);
        let mysql_drop = ctx.dialect.is_mysql().then(|| {
            let algorithm = if ctx.catalog.indexes_on(&self.table, &self.column).is_empty() {
                my::target(ctx).drop_column()
            } else {
                crate::dialect::Algorithm::Inplace.max(my::target(ctx).drop_column())
            };
            let action = format!(
                "DROP COLUMN {}{c}",
                if self.if_exists { "IF EXISTS " } else { "" }
            );
            // A column of a FULLTEXT or SPATIAL key: InnoDB rebuilds that index, which it does
            // only with LOCK=SHARED (as the naive statement does): writes wait meanwhile.
            let sql = match ctx.catalog.special_index_on(&self.table, &self.column) {
                Some(_) => format!("ALTER TABLE {t} {action}, ALGORITHM=INPLACE, LOCK=SHARED"),
                None => my::alter(ctx, &self.table, &[action], algorithm),
            };
            (sql, algorithm)
        });
        let drop = match &mysql_drop {
            Some((sql, _)) => sql.clone(),
            None => format!(
                "ALTER TABLE {t} DROP COLUMN {}{c}{}",
                if self.if_exists { "IF EXISTS " } else { "" },
                if self.cascade { " CASCADE" } else { "" }
            ),
        };
        let brief = if ctx.dialect.is_mysql() {
            LockMode::MetadataExclusive
        } else {
            LockMode::AccessExclusive
        };
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.column);
        let drop_step = Step::database(
            Phase::Contract,
            slug("drop-column"),
            format!("drop {}.{}", self.table.display(), self.column),
        )
        .sql(
            drop,
            mysql_drop.map(|(_, a)| a.describe()).unwrap_or_default(),
        )
        .lock(self.table.display(), brief, "brief")
        .irreversible(format!("the values of {} are gone", self.column));
        let drop_step = match ctx
            .dialect
            .is_mysql()
            .then(|| ctx.catalog.special_index_on(&self.table, &self.column))
            .flatten()
        {
            Some((kind, index)) => drop_step
                .lock(
                    self.table.display(),
                    LockMode::MetadataNoWrite,
                    "while the index is rebuilt",
                )
                .note(format!(
                    "{} is in the {kind} index {index}: InnoDB rebuilds it without the column and only with LOCK=SHARED, so writes to {} wait until it is done (as they would for the statement as written). Run it in a quiet period.",
                    self.column,
                    self.table.display()
                )),
            None => drop_step,
        };
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(drop_step));
        }
        let views = ctx.catalog.dependent_views(&self.table, Some(&self.column));
        if !ctx.dialect.is_mysql() && !self.cascade && !views.is_empty() {
            return Err(ctx
                .error(format!(
                    "PostgreSQL refuses to drop `{}.{}` while views read it: {}",
                    self.table.display(),
                    self.column,
                    views
                        .iter()
                        .map(|v| v.name.display())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .help("redefine or drop those views earlier in the same change, or write DROP COLUMN … CASCADE to drop them with it"));
        }
        let column = if self.if_exists {
            None
        } else {
            known_column(ctx, &self.table, &self.column)?
        };
        let mut steps = Vec::new();
        // New code stops writing the column: if it is NOT NULL without a default, its INSERTs
        // would fail. Relax it first (brief, no scan).
        let needs_relax = match column {
            Some(c) => c.not_null && c.default.is_none() && c.generated.is_none(),
            None => !ctx.schema_known,
        };
        if needs_relax && ctx.dialect.is_mysql() {
            // MySQL restates the column to relax it: only possible with its definition.
            if let Some(known) = column {
                let algorithm = my::target(ctx).change_nullability();
                let modify = |not_null: bool| {
                    my::alter(
                        ctx,
                        &self.table,
                        &[format!(
                            "MODIFY COLUMN {}",
                            my::column_def(ctx, known, not_null, true)
                        )],
                        algorithm,
                    )
                };
                let relax = Step::database(
                    Phase::Expand,
                    slug("relax"),
                    format!("let {}.{} be NULL", self.table.display(), self.column),
                )
                .sql(
                    modify(false),
                    "the new code stops writing it; its INSERTs must not fail",
                )
                .down_sql(modify(true), "");
                steps.push(my::alter_locks(relax, &self.table, algorithm));
            } else {
                steps.push(Step::database(Phase::Expand, slug("relax"), format!("check that {}.{} may be NULL", self.table.display(), self.column))
                    .sql("SELECT 'no --schema: if the column is NOT NULL without a default, make it nullable (MODIFY … NULL) before the deploy' AS note", "")
                    .down_sql("SELECT 'nothing to undo' AS note", "")
                    .note("Assumed the column may be NOT NULL without a default (no --schema): MySQL needs its definition to relax it, so this is left to you."));
            }
        } else if needs_relax {
            let mut relax = Step::database(
                Phase::Expand,
                slug("relax"),
                format!("let {}.{} be NULL", self.table.display(), self.column),
            )
            .sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"),
                "the new code stops writing it; its INSERTs must not fail",
            )
            .lock(self.table.display(), LockMode::AccessExclusive, "brief");
            relax = if column.is_some() {
                relax.down_sql(
                    format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
                    "scans the table under ACCESS EXCLUSIVE",
                )
            } else {
                relax
                    .down_sql("SELECT 'NOT NULL not restored: without --schema safeshift did not know whether the column had it' AS note", "")
                    .note("Assumed the column may be NOT NULL without a default (no --schema): relaxing it is harmless if not.")
            };
            steps.push(relax);
        }
        let before: Vec<usize> = (0..steps.len()).collect();
        steps.push(
            Step::application(Release::NewVersion, Phase::Migrate, slug("deploy-without"), format!("deploy code that no longer uses {}.{}", self.table.display(), self.column))
                .after(&before)
                .app(format!("No query reads or writes {}.{}: remove it from models, SELECT lists, INSERTs and UPDATEs.", self.table.display(), self.column))
                .app("ORMs that cache the column list (Rails, Django, Hibernate) must be told to ignore it, or they will still name it."),
        );
        let deploy = steps.len() - 1;
        steps.push(drop_step.after(&[deploy]).before(
            format!("no process runs code that uses {}", self.column),
            "-- check your deploy tool: every instance runs the new version",
            "yes",
        ));
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }

    fn apply(&self, catalog: &mut Catalog) {
        if self.cascade {
            let views: Vec<QName> = catalog
                .dependent_views(&self.table, Some(&self.column))
                .iter()
                .map(|v| v.name.clone())
                .collect();
            for view in views {
                catalog.remove_view(&view);
            }
        }
        catalog.drop_column(&self.table, &self.column);
    }
}
