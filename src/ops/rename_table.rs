//! RENAME TABLE: a brief lock, but every query of the running app that names the old table fails.
//! Safe path: rename it and, in the same transaction, create a view with the old name. A plain
//! `SELECT *` view is automatically updatable, so old code keeps reading and writing through it
//! until the new code is deployed; then the view is dropped.
//! MySQL/MariaDB cannot rename and create the view in one transaction, so the order turns around:
//! first a view with the *new* name over the table, then, once the new code runs, one atomic
//! `RENAME TABLE` swaps the table in under the new name (and the view out).

use super::recipes::mysql as my;
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
    mysql: "RENAME TABLE is atomic and instant, and the running app breaks at once. DDL commits implicitly, so rename + view cannot be one transaction; instead create a view with the new name over the table (simple views are updatable), deploy the code that uses the new name, then swap in one atomic statement: `RENAME TABLE new TO old_view, old TO new`, and drop the view.",
};

#[derive(Clone, Debug)]
pub struct RenameTable {
    pub from: QName,
    /// In the same schema as `from` (PostgreSQL's RENAME TO cannot move a table).
    pub to: QName,
}

impl RenameTable {
    fn expand_mysql(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.schema_known && ctx.catalog.table(&self.to).is_some() {
            return Err(ctx.error(format!("table `{}` already exists", self.to.display())));
        }
        let (old, new) = (ctx.qname(&self.from), ctx.qname(&self.to));
        let slug = |what: &str| format!("{what}-{}", self.from.name);
        let rename = Step::database(
            Phase::Expand,
            slug("rename-table"),
            format!("rename {} to {}", self.from.display(), self.to.name),
        )
        .lock(self.from.display(), LockMode::MetadataExclusive, "brief");
        if ctx.is_new_table(&self.from) {
            return Ok(Expansion::single(
                rename
                    .sql(format!("RENAME TABLE {old} TO {new}"), "")
                    .down_sql(format!("RENAME TABLE {new} TO {old}"), ""),
            ));
        }
        let parked = ctx.qname(
            &self
                .from
                .sibling(my::helper_name(ctx, &self.to, "view", "old")),
        );
        let view = format!("CREATE VIEW {new} AS SELECT * FROM {old}");
        let steps = vec![
            Step::database(Phase::Expand, slug("add-view"), format!("add the view {} over {}", self.to.display(), self.from.display()))
                .sql(format!("DROP VIEW IF EXISTS {new}"), "re-runnable")
                .sql(view.clone(), "new code can use the new name now: a simple view is updatable and insertable")
                .down_sql(format!("DROP VIEW IF EXISTS {new}"), "")
                .lock(self.from.display(), LockMode::MetadataExclusive, "brief")
                .note(format!("The view's column list is fixed now: columns added to {} later are not visible through {} until the swap.", self.from.display(), self.to.display())),
            Step::application(Release::NewVersion, Phase::Migrate, slug("deploy-renamed-table"), format!("deploy code that uses {}", self.to.display()))
                .after(&[0])
                .app(format!("Every query names {} instead of {}.", self.to.display(), self.from.display()))
                .app(format!("Old and new versions can run side by side: the view {} forwards to {}.", self.to.display(), self.from.display())),
            Step::database(Phase::Contract, slug("swap-table"), format!("swap {} in under the new name and drop the view", self.from.display()))
                .after(&[1])
                .sql(format!("RENAME TABLE {new} TO {parked}, {old} TO {new}"), "one atomic statement: no moment without either name's target for the new code")
                .sql(format!("DROP VIEW IF EXISTS {parked}"), "")
                .down_sql(format!("DROP VIEW IF EXISTS {parked}"), "the parked view, if the stage stopped before it dropped it")
                .down_sql(format!("RENAME TABLE {new} TO {old}"), "")
                .down_sql(view, "")
                .lock(self.from.display(), LockMode::MetadataExclusive, "brief")
                .before(format!("no process runs code that names {}", self.from.display()), "-- check your deploy tool: every instance runs the new version", "yes"),
        ];
        // Later changes of the table wait until it stands under its new name alone (no view
        // over it to recreate, nothing the old code still reads through).
        Ok(Expansion { steps, anchor: 2 })
    }
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
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx);
        }
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
        // Later changes of the table wait until it stands under its new name alone (no view
        // over it to recreate, nothing the old code still reads through).
        Ok(Expansion { steps, anchor: 2 })
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.rename_table(&self.from, &self.to);
    }
}
