//! RENAME COLUMN: a brief lock, but every query of the running application version that names
//! the old column fails at once. Safe path: add the new column, keep both in sync (trigger both
//! ways, or the app writing both), backfill, copy NOT NULL and indexes, deploy the code that uses
//! the new name, then drop the old column.

use super::recipes::{backfill_step, copy_indexes, not_null_step, required_column, sync_trigger};
use super::{Assessment, Context, DualWrite, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "renaming-column",
    severity: Some(Severity::Error),
    summary: "RENAME COLUMN on a table the running app uses",
    why: "The rename itself is instant, but every query of the running app version that names the old column fails the moment it commits: during a rolling deploy old and new versions run side by side and one of them is always broken.",
    safe: "Expand: add the new column, kept in sync with the old one by a trigger (or by the app writing both), and backfill. Deploy the app that reads and writes the new name. Contract: drop the old column.",
    example: "ALTER TABLE users RENAME COLUMN name TO display_name;",
};

#[derive(Clone, Debug)]
pub struct RenameColumn {
    pub table: QName,
    pub from: String,
    pub to: String,
}

impl Op for RenameColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.from.clone(), self.to.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.is_new_table(&self.table) {
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
                self.from
            ),
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let t = qname(&self.table);
        let (old, new) = (quote(&self.from), quote(&self.to));
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(
                Step::database(
                    Phase::Expand,
                    format!("rename-column-{}-{}", self.table.name, self.from),
                    format!(
                        "rename {}.{} to {}",
                        self.table.display(),
                        self.from,
                        self.to
                    ),
                )
                .sql(
                    format!("ALTER TABLE {t} RENAME COLUMN {old} TO {new}"),
                    "the table is new: nothing uses it yet",
                )
                .down_sql(format!("ALTER TABLE {t} RENAME COLUMN {new} TO {old}"), ""),
            ));
        }
        let column = required_column(ctx, &self.table, &self.from, "renaming a column")?.clone();
        if ctx.catalog.column(&self.table, &self.to).is_some() {
            return Err(ctx.error(format!(
                "column `{}` already exists in `{}`",
                self.to,
                self.table.display()
            )));
        }
        let table = ctx
            .catalog
            .table(&self.table)
            .ok_or_else(|| ctx.error("internal error: table vanished"))?;
        let constraints = table.constraints_on(&self.from);
        if column.generated || !constraints.is_empty() {
            let names: Vec<&str> = constraints.iter().map(|c| c.name.as_str()).collect();
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet rename `{}.{}` online: it is {}",
                    self.table.display(),
                    self.from,
                    if column.generated {
                        "an identity/generated column".to_string()
                    } else {
                        format!("used by constraint(s) {}", names.join(", "))
                    }
                ))
                .help("plan this one by hand, or rename the table instead behind a view"));
        }
        let mode = ctx.options.dual_write;
        let default = column.default.as_ref().map(|d| d.to_string());
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.to);

        // 0: the new column, nullable and without default, so that a row written by either
        // version shows which column the writer set (the trigger applies the default itself).
        let mut expand = Step::database(
            Phase::Expand,
            slug("add-renamed"),
            format!(
                "add {}.{} next to {}",
                self.table.display(),
                self.to,
                self.from
            ),
        )
        .sql(
            format!("ALTER TABLE {t} ADD COLUMN {new} {}", column.data_type),
            "nullable, no default: catalog-only",
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief");
        let sync = sync_trigger(&self.table, &self.from, &self.to, default.as_deref())?;
        match mode {
            DualWrite::Trigger => {
                if default.is_some() {
                    expand = expand.sql(
                        format!("ALTER TABLE {t} ALTER COLUMN {old} DROP DEFAULT"),
                        "the sync trigger applies the default to both columns",
                    );
                }
                for sql in &sync.create {
                    expand = expand.sql(sql.clone(), "");
                }
                for sql in &sync.drop {
                    expand = expand.down_sql(sql.clone(), "");
                }
                if let Some(d) = &default {
                    expand = expand.down_sql(
                        format!("ALTER TABLE {t} ALTER COLUMN {old} SET DEFAULT {d}"),
                        "",
                    );
                }
                expand.title = format!("{} and a trigger that keeps both in sync", expand.title);
                expand = expand.lock(self.table.display(), LockMode::ShareRowExclusive, "brief");
            }
            DualWrite::App => {
                if let Some(d) = &default {
                    expand = expand.sql(
                        format!("ALTER TABLE {t} ALTER COLUMN {new} SET DEFAULT {d}"),
                        "",
                    );
                }
            }
        }
        expand = expand.down_sql(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {new}"), "");
        let mut steps = vec![expand];

        let backfill_after = if mode == DualWrite::App {
            steps.push(
                Step::application(
                    Release::DualWrite,
                    Phase::Expand,
                    slug("deploy-dual-write"),
                    format!("deploy code that writes both {} and {}", self.from, self.to),
                )
                .after(&[0])
                .app(format!(
                    "Every INSERT and UPDATE of {} writes the same value to {} and {}.",
                    self.table.display(),
                    self.from,
                    self.to
                ))
                .app(format!("Reads still use {}.", self.from)),
            );
            steps.len() - 1
        } else {
            0
        };
        steps.push(
            backfill_step(
                ctx,
                &self.table,
                &self.to,
                &old,
                &format!("{new} IS NULL AND {old} IS NOT NULL"),
            )?
            .after(&[backfill_after]),
        );
        let backfill = steps.len() - 1;
        let mut ready = vec![backfill];
        if column.not_null {
            steps
                .push(not_null_step(ctx, &self.table, &self.to, Phase::Migrate).after(&[backfill]));
            ready.push(steps.len() - 1);
        }
        let copies = copy_indexes(ctx, &self.table, &self.from, &self.to, slug("copy-indexes"));
        if let Some(step) = copies.step {
            steps.push(step.after(&[backfill]));
            ready.push(steps.len() - 1);
        }

        let mut last_deploy_after = ready.clone();
        if mode == DualWrite::App {
            steps.push(
                Step::application(
                    Release::ReadNew,
                    Phase::Migrate,
                    slug("deploy-read-new"),
                    format!("deploy code that reads {}", self.to),
                )
                .after(&ready)
                .app(format!(
                    "Reads use {}; writes still set both {} and {}.",
                    self.to, self.from, self.to
                )),
            );
            last_deploy_after = vec![steps.len() - 1];
            if column.not_null {
                steps.push(
                    Step::database(
                        Phase::Migrate,
                        slug("relax-old"),
                        format!("let {}.{} be NULL", self.table.display(), self.from),
                    )
                    .after(&last_deploy_after)
                    .sql(
                        format!("ALTER TABLE {t} ALTER COLUMN {old} DROP NOT NULL"),
                        "the next deploy stops writing it",
                    )
                    .down_sql(
                        format!("ALTER TABLE {t} ALTER COLUMN {old} SET NOT NULL"),
                        "scans the table under ACCESS EXCLUSIVE",
                    )
                    .lock(
                        self.table.display(),
                        LockMode::AccessExclusive,
                        "brief",
                    ),
                );
                last_deploy_after.push(steps.len() - 1);
            }
        }
        steps.push(
            Step::application(
                Release::NewVersion,
                Phase::Migrate,
                slug("deploy-renamed"),
                format!("deploy code that uses {} instead of {}", self.to, self.from),
            )
            .after(&last_deploy_after)
            .app(format!(
                "Read and write {}.{}; never name {} again.",
                self.table.display(),
                self.to,
                self.from
            ))
            .app(if mode == DualWrite::Trigger {
                format!(
                    "Old and new versions can run side by side: the trigger copies {} ⇄ {}.",
                    self.from, self.to
                )
            } else {
                format!("Stop writing {}.", self.from)
            }),
        );
        let deploy = steps.len() - 1;

        let mut contract = Step::database(
            Phase::Contract,
            slug("drop-old-column"),
            format!("drop {}.{}", self.table.display(), self.from),
        )
        .after(&[deploy])
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .before(
            format!("no process runs code that names {}", self.from),
            "-- check your deploy tool: every instance runs the new version",
            "yes",
        );
        if mode == DualWrite::Trigger {
            for sql in &sync.drop {
                contract = contract.sql(sql.clone(), "");
            }
        }
        contract = contract.sql(format!("ALTER TABLE {t} DROP COLUMN {old}"), "");
        if let (Some(d), DualWrite::Trigger) = (&default, mode) {
            contract = contract.sql(
                format!("ALTER TABLE {t} ALTER COLUMN {new} SET DEFAULT {d}"),
                "the default the trigger applied until now",
            );
        }
        for rename in &copies.renames {
            contract = contract.sql(rename.clone(), "the copies take the original names");
        }
        contract = contract
            .irreversible(format!("{} and its values are dropped", self.from))
            .note(format!("{} is now at the end of the column list.", self.to));
        steps.push(contract);
        Ok(Expansion { steps, anchor: 0 })
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.rename_column(&self.table, &self.from, &self.to);
    }
}
