//! RENAME TABLE: a brief lock, but every query of the running app that names the old table fails.
//! Safe path: rename it and, in the same transaction, create a view with the old name. A plain
//! `SELECT *` view is automatically updatable, so old code keeps reading and writing through it
//! until the new code is deployed; then the view is dropped.

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "renaming-table",
    severity: Some(Severity::Error),
    summary: "RENAME TABLE (ALTER TABLE … RENAME TO) on a table the running app uses",
    why: "Every query of the running app version that names the old table fails the moment the rename commits.",
    safe: "Rename the table and leave an updatable view with the old name in the same transaction; deploy the app that uses the new name; then drop the view.",
    example: "ALTER TABLE users RENAME TO accounts;",
};

#[derive(Clone, Debug)]
pub struct RenameTable {
    pub from: QName,
    /// In the same schema as `from` (PostgreSQL's RENAME TO cannot move a table).
    pub to: QName,
}

impl Op for RenameTable {
    fn tables(&self) -> Vec<QName> {
        vec![self.from.clone(), self.to.clone()]
    }

    fn existing_tables(&self) -> Vec<QName> {
        vec![self.from.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.is_new_table(&self.from) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table was created in this change",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            false,
            true,
            format!(
                "every query of the running app that names {} fails as soon as the rename commits",
                self.from.display()
            ),
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let (old, new) = (qname(&self.from), qname(&self.to));
        let rename = format!("ALTER TABLE {old} RENAME TO {}", quote(&self.to.name));
        let back = format!("ALTER TABLE {new} RENAME TO {}", quote(&self.from.name));
        let slug = |what: &str| format!("{what}-{}", self.from.name);
        if ctx.schema_known && ctx.catalog.table(&self.to).is_some() {
            return Err(ctx.error(format!("table `{}` already exists", self.to.display())));
        }
        let step = Step::database(
            Phase::Expand,
            slug("rename-table"),
            format!("rename {} to {}", self.from.display(), self.to.name),
        )
        .lock(self.from.display(), LockMode::AccessExclusive, "brief")
        .sql(rename, "");
        if ctx.is_new_table(&self.from) {
            return Ok(Expansion::single(step.down_sql(back, "")));
        }
        let view = format!("CREATE VIEW {old} AS SELECT * FROM {new}");
        let steps = vec![
            step.sql(view.clone(), "old code keeps reading and writing through the old name (a simple view is updatable)")
                .down_sql(format!("DROP VIEW IF EXISTS {old}"), "")
                .down_sql(back, "")
                .note(format!("The view's column list is fixed now: columns added to {} later are not visible through {}.", self.to.display(), self.from.display())),
            Step::application(Release::NewVersion, Phase::Migrate, slug("deploy-renamed-table"), format!("deploy code that uses {}", self.to.display()))
                .after(&[0])
                .app(format!("Every query names {} instead of {}.", self.to.display(), self.from.display()))
                .app(format!("Old and new versions can run side by side: the view {} forwards to {}.", self.from.display(), self.to.display())),
            Step::database(Phase::Contract, slug("drop-compat-view"), format!("drop the compatibility view {}", self.from.display()))
                .after(&[1])
                .sql(format!("DROP VIEW IF EXISTS {old}"), "")
                .down_sql(view, "")
                .lock(self.from.display(), LockMode::AccessExclusive, "brief (the view)")
                .before(format!("no process runs code that names {}", self.from.display()), "-- check your deploy tool: every instance runs the new version", "yes"),
        ];
        Ok(Expansion { steps, anchor: 0 })
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.rename_table(&self.from, &self.to);
    }
}
