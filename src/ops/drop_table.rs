//! DROP TABLE: the running app version fails on its next query to the table, and the data is gone.
//! Safe path: deploy code that no longer uses it, then drop it: the point of no return.

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "dropping-table",
    severity: Some(Severity::Error),
    summary: "DROP TABLE that the running app may still use",
    why: "Queries of the running app version that use the table fail at once, and its data is gone: there is no undo.",
    safe: "Deploy an app version that no longer uses the table first, then drop it in a later release (or rename it aside and drop it after a grace period).",
    example: "DROP TABLE legacy_sessions;",
    mysql: "",
};

#[derive(Clone, Debug)]
pub struct DropTable {
    pub table: QName,
    pub if_exists: bool,
    pub cascade: bool,
}

impl Op for DropTable {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn existing_tables(&self) -> Vec<QName> {
        if self.if_exists {
            Vec::new()
        } else {
            self.tables()
        }
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
                "the running app still uses {}; its data is lost",
                self.table.display()
            ),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let drop = format!(
            "DROP TABLE {}{}{}",
            if self.if_exists { "IF EXISTS " } else { "" },
            ctx.qname(&self.table),
            if self.cascade { " CASCADE" } else { "" }
        );
        let lock = if ctx.dialect.is_mysql() {
            LockMode::MetadataExclusive
        } else {
            LockMode::AccessExclusive
        };
        let slug = |what: &str| format!("{what}-{}", self.table.name);
        let mut drop_step = Step::database(
            Phase::Contract,
            slug("drop-table"),
            format!("drop table {}", self.table.display()),
        )
        .sql(drop, "")
        .lock(self.table.display(), lock, "brief")
        .irreversible(format!("{} and its rows are gone", self.table.display()));
        let referencing: Vec<String> = ctx
            .catalog
            .table_names()
            .filter_map(|name| ctx.catalog.table(name))
            .flat_map(|t| t.constraints.iter().map(move |c| (t, c)))
            .filter(|(t, c)| !t.name.same(&self.table) && matches!(&c.kind, ConstraintKind::ForeignKey { table, .. } if table.same(&self.table)))
            .map(|(t, c)| format!("{} ({})", c.name, t.name.display()))
            .collect();
        if !referencing.is_empty() {
            drop_step = drop_step.note(format!(
                "Referenced by foreign key(s) {}: {}.",
                referencing.join(", "),
                if self.cascade {
                    "CASCADE drops them too"
                } else {
                    "the DROP fails until they are dropped (or use CASCADE)"
                }
            ));
        }
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(drop_step));
        }
        Ok(Expansion {
            steps: vec![
                Step::application(
                    Release::NewVersion,
                    Phase::Migrate,
                    slug("deploy-without"),
                    format!("deploy code that no longer uses {}", self.table.display()),
                )
                .app(format!(
                    "No query reads or writes {}.",
                    self.table.display()
                ))
                .app("Take a backup of the table first if its data might be needed again."),
                drop_step.after(&[0]).before(
                    format!("no process runs code that uses {}", self.table.display()),
                    "-- check your deploy tool: every instance runs the new version",
                    "yes",
                ),
            ],
            anchor: 1,
        })
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.remove_table(&self.table);
    }
}
