//! RENAME COLUMN: a brief lock, but every query of the running application version that names
//! the old column fails at once. Safe path (PostgreSQL): a stand-in column under the new name,
//! kept equal to the old one by a trigger both ways, backfilled, with copies of the old column's
//! indexes and keys for the new code; deploy the code that uses the new name; then drop the
//! stand-in and rename the original column in place — so its position, primary key, foreign keys
//! on either side, checks, indexes, sequence and the views that read it stay exactly as the naive
//! RENAME leaves them. With `--dual-write app` the app writes both columns and the old one is
//! dropped in the end (refused when constraints or views depend on it).
//! MySQL/MariaDB: the new column goes right after the old one, and the last ALTER drops the old
//! column, so the end state equals the naive rename, position included.

use super::ColumnPosition;
use super::recipes::mysql as my;
use super::recipes::{
    backfill_step, copy_indexes, default_not_null_constraint, not_null_constraint, not_null_step,
    replace, required_column, sync_trigger,
};
use super::{Assessment, Context, DualWrite, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column, Generated};

pub const RULE: Rule = Rule {
    id: "renaming-column",
    severity: Some(Severity::Error),
    summary: "RENAME COLUMN on a table the running app uses",
    why: "The rename itself is instant, but every query of the running app version that names the old column fails the moment it commits: during a rolling deploy old and new versions run side by side and one of them is always broken.",
    safe: "Expand: add a stand-in column under the new name, kept equal to the old one by a trigger (or by the app writing both), backfill it and copy the old column's indexes onto it. Deploy the app that reads and writes the new name. Contract: drop the stand-in and rename the original column in place, which keeps its keys, foreign keys, checks, indexes and views.",
    example: "ALTER TABLE users RENAME COLUMN name TO display_name;",
    mysql: "The same on MySQL and MariaDB: RENAME COLUMN (or CHANGE COLUMN) is INSTANT, and the running app breaks at once. Same safe path: a new column right after the old one, BEFORE INSERT/UPDATE triggers that keep both equal (or the app writing both), a batched backfill, the new app, then drop the old column.",
};

#[derive(Clone, Debug)]
pub struct RenameColumn {
    pub table: QName,
    pub from: String,
    pub to: String,
}

impl RenameColumn {
    fn expand_mysql(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.to);
        let (old, new) = (ctx.quote(&self.from), ctx.quote(&self.to));
        if ctx.is_new_table(&self.table) {
            let algorithm = my::target(ctx).rename_column();
            let rename = |a: &str, b: &str| {
                my::alter(
                    ctx,
                    &self.table,
                    &[format!("RENAME COLUMN {a} TO {b}")],
                    algorithm,
                )
            };
            let step = Step::database(
                Phase::Expand,
                slug("rename-column"),
                format!(
                    "rename {}.{} to {}",
                    self.table.display(),
                    self.from,
                    self.to
                ),
            )
            .sql(rename(&old, &new), "the table is new: nothing uses it yet")
            .down_sql(rename(&new, &old), "");
            return Ok(Expansion::single(my::alter_locks(
                step,
                &self.table,
                algorithm,
            )));
        }
        let column = required_column(ctx, &self.table, &self.from, "renaming a column")?.clone();
        if ctx.catalog.column(&self.table, &self.to).is_some() {
            return Err(ctx.error(format!(
                "column `{}` already exists in `{}`",
                self.to,
                self.table.display()
            )));
        }
        let constraints = ctx
            .catalog
            .table(&self.table)
            .map(|t| t.constraints_on(&self.from))
            .unwrap_or_default();
        // InnoDB lets a foreign key reference any indexed column, not only a key: those of other
        // tables that reference this column hold it too.
        let referencing: Vec<String> = ctx
            .catalog
            .table_names()
            .filter_map(|name| ctx.catalog.table(name))
            .flat_map(|t| {
                t.constraints.iter().filter_map(|c| match &c.kind {
                    crate::schema::ConstraintKind::ForeignKey { table, columns }
                        if table.same(&self.table) && columns.contains(&self.from) =>
                    {
                        Some(format!("{} (on {})", c.name, t.name.display()))
                    }
                    _ => None,
                })
            })
            .collect();
        // MariaDB keeps a CHECK written on the column as part of it: a copy under the new name
        // would carry an expression that names the old column.
        if column
            .extra
            .iter()
            .any(|e| crate::ops::recipes::mysql::is_check(e))
        {
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet rename `{}.{}` online: it has a CHECK of its own, whose expression names the column",
                    self.table.display(),
                    self.from,
                ))
                .help("plan this one by hand, or rename the table instead behind a view"));
        }
        if let Some((kind, index)) = ctx.catalog.special_index_on(&self.table, &self.from) {
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet rename `{}.{}` online: it is in the {kind} index {index}, which the online rename would have to rebuild on the copy (InnoDB builds a {kind} index only with LOCK=SHARED, writes waiting)",
                    self.table.display(),
                    self.from,
                ))
                .help("plan this one by hand, or rename the table instead behind a view"));
        }
        if column.generated.is_some() || !constraints.is_empty() || !referencing.is_empty() {
            let foreign = constraints
                .iter()
                .any(|c| matches!(c.kind, crate::schema::ConstraintKind::ForeignKey { .. }))
                || !referencing.is_empty();
            let names: Vec<String> = constraints
                .iter()
                .map(|c| c.name.clone())
                .chain(referencing)
                .collect();
            let why = if column.generated.is_some() {
                "generated or AUTO_INCREMENT".to_string()
            } else if foreign {
                format!(
                    "in foreign key(s) {}: the online rename copies the column and drops the old one, and InnoDB keeps a foreign key on the column it names (moving it to the copy under the same name means dropping it first, unchecked meanwhile), which safeshift does not plan yet",
                    names.join(", ")
                )
            } else {
                format!("used by constraint(s) {}", names.join(", "))
            };
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet rename `{}.{}` online: it is {why}",
                    self.table.display(),
                    self.from,
                ))
                .help(if foreign {
                    "the naive RENAME COLUMN is in place on InnoDB and the foreign key follows the column (ALGORITHM=INSTANT on MariaDB 10.11), but it breaks the running app: plan it by hand (deploy code that reads both names, rename, deploy), or rename the table instead behind a view"
                } else {
                    "plan this one by hand, or rename the table instead behind a view"
                }));
        }
        let mode = ctx.options.dual_write;
        let default = column.default.as_ref().map(|d| d.to_string());
        // The new column gets the old one's default, and stays nullable until the last ALTER:
        // MariaDB checks an omitted NOT NULL column of INSERT … SELECT before BEFORE triggers run.
        let bare = Column {
            name: self.to.clone(),
            not_null: false,
            ..column.clone()
        };
        let (add, algorithm) = my::add_column(
            ctx,
            &self.table,
            &bare,
            Some(&ColumnPosition::After(self.from.clone())),
            false,
            true,
        );
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
        .sql(add, algorithm.describe());
        expand = my::alter_locks(expand, &self.table, algorithm);
        let sync = my::sync_triggers(ctx, &self.table, &self.from, &self.to, default.as_deref())?;
        if mode == DualWrite::Trigger {
            for sql in &sync.create {
                expand = expand.sql(sql.clone(), "");
            }
            for sql in &sync.drop {
                expand = expand.down_sql(sql.clone(), "");
            }
            expand.title = format!("{} and triggers that keep both in sync", expand.title);
        }
        expand = expand.down_sql(my::drop_column(ctx, &self.table, &self.to), "");
        let mut steps = vec![expand];
        let backfill_after = if mode == DualWrite::App {
            steps.push(dual_write_deploy(
                &self.table,
                &self.from,
                &self.to,
                slug("deploy-dual-write"),
            ));
            1
        } else {
            0
        };
        // Rows the ADD gave the default (or NULL) differ from the old column until filled.
        steps.push(
            my::backfill_step(
                ctx,
                &self.table,
                &self.to,
                &old,
                &format!("NOT ({new} <=> {old})"),
            )?
            .after(&[backfill_after]),
        );
        let backfill = steps.len() - 1;
        let mut ready = vec![backfill];
        let copies = my::copy_indexes(ctx, &self.table, &self.from, &self.to, slug("copy-indexes"));
        if let Some(step) = copies.step {
            steps.push(step.after(&[backfill]));
            ready.push(steps.len() - 1);
        }
        // The old column made nullable in place before the triggers that fill it go: from then
        // until the contract's ALTER finishes (a rebuild), writers that name only the new column
        // would otherwise fail on a NOT NULL column without a default.
        let relax_old = |after: &[usize], why: &str| {
            let relax = |not_null: bool| {
                my::alter(
                    ctx,
                    &self.table,
                    &[format!(
                        "MODIFY COLUMN {}",
                        my::column_def(ctx, &column, not_null, true)
                    )],
                    my::target(ctx).change_nullability(),
                )
            };
            let step = Step::database(
                Phase::Migrate,
                slug("relax-old"),
                format!("let {}.{} be NULL", self.table.display(), self.from),
            )
            .after(after)
            .sql(relax(false), why)
            .down_sql(relax(true), "");
            my::alter_locks(step, &self.table, my::target(ctx).change_nullability())
        };
        let mut last_deploy_after = ready.clone();
        if mode == DualWrite::App {
            steps.push(
                read_new_deploy(&self.table, &self.from, &self.to, slug("deploy-read-new"))
                    .after(&ready),
            );
            last_deploy_after = vec![steps.len() - 1];
            if column.not_null {
                steps.push(relax_old(
                    &last_deploy_after,
                    "the next deploy stops writing it",
                ));
                last_deploy_after.push(steps.len() - 1);
            }
        }
        steps.push(
            renamed_deploy(
                &self.table,
                &self.from,
                &self.to,
                mode,
                slug("deploy-renamed"),
            )
            .after(&last_deploy_after),
        );
        let mut deploy = steps.len() - 1;
        if mode == DualWrite::Trigger && column.not_null && column.default.is_none() {
            steps.push(relax_old(
                &[deploy],
                "the contract drops the triggers that fill it before the ALTER that drops it",
            ));
            deploy = steps.len() - 1;
        }
        let final_column = Column {
            name: self.to.clone(),
            ..column.clone()
        };
        let (swap, swap_algorithm) = my::swap_columns(
            ctx,
            &self.table,
            &self.from,
            &final_column,
            &self.to,
            &copies.renames,
        );
        let mut contract = Step::database(
            Phase::Contract,
            slug("drop-old-column"),
            format!("drop {}.{}", self.table.display(), self.from),
        )
        .after(&[deploy])
        .before(
            format!("no process runs code that names {}", self.from),
            "-- check your deploy tool: every instance runs the new version",
            "yes",
        )
        .before(
            format!("every row has {} filled", self.to),
            format!(
                "SELECT COUNT(*) FROM {} WHERE NOT ({new} <=> {old})",
                ctx.qname(&self.table)
            ),
            "0",
        );
        if mode == DualWrite::Trigger {
            for sql in &sync.drop {
                contract = contract.sql(sql.clone(), "");
            }
        }
        contract = contract
            .sql(swap, swap_algorithm.describe())
            .irreversible(format!("{} and its values are dropped", self.from));
        steps.push(my::alter_locks(contract, &self.table, swap_algorithm));
        Ok(Expansion { steps, anchor: 0 })
    }
}

impl RenameColumn {
    /// PostgreSQL, `--dual-write trigger`: a stand-in column under the new name, kept equal to
    /// the old one by a trigger while both app versions run; in the end the stand-in is dropped
    /// and the old column renamed in place. The renamed column is the one that was always there:
    /// its position, keys, foreign keys on either side, checks, indexes, sequence, and the views
    /// that read it all stay as they are, exactly as the naive RENAME leaves them.
    fn expand_pg_trigger(&self, ctx: &Context, column: &Column) -> Result<Expansion, PlanError> {
        let t = qname(&self.table);
        let (old, new) = (quote(&self.from), quote(&self.to));
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.to);
        let default = column.default.as_ref().map(|d| d.to_string());
        // An identity's default cannot be dropped: the database keeps filling the old column.
        let identity = matches!(column.generated, Some(Generated::Identity { .. }));
        let trigger_default = default.as_deref().filter(|_| !identity);
        ctx.row_trigger_allowed(&self.table, "keeping both names equal")?;
        let sync = sync_trigger(&self.table, &self.from, &self.to, trigger_default)?;

        // 0: the stand-in, nullable and without default, so a row shows which column its writer
        // set; the trigger applies the old column's default itself.
        let mut expand = Step::database(
            Phase::Expand,
            slug("add-renamed"),
            format!(
                "add {}.{} and a trigger that keeps it equal to {}",
                self.table.display(),
                self.to,
                self.from
            ),
        )
        .sql(
            format!("ALTER TABLE {t} ADD COLUMN {new} {}", column.data_type),
            "nullable, no default: catalog-only",
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .lock(self.table.display(), LockMode::ShareRowExclusive, "brief");
        if trigger_default.is_some() {
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
        if let Some(d) = trigger_default {
            expand = expand.down_sql(
                format!("ALTER TABLE {t} ALTER COLUMN {old} SET DEFAULT {d}"),
                "",
            );
        }
        expand = expand.down_sql(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {new}"), "");
        if identity {
            expand = expand.note(format!(
                "{} is an identity column: the database fills it, and the trigger copies it to {}. Code must not write {} itself while both versions run.",
                self.from, self.to, self.to
            ));
        }
        let mut steps = vec![expand];
        steps.push(
            backfill_step(
                ctx,
                &self.table,
                &self.to,
                &old,
                &format!("{new} IS DISTINCT FROM {old}"),
            )?
            .after(&[0]),
        );
        let mut ready = vec![1];
        // Copies of every index and key on the old column, so the new code's queries on the
        // new name (and its ON CONFLICT) find one. They go with the stand-in in the end.
        let mut copies = Step::database(
            Phase::Migrate,
            slug("copy-indexes"),
            format!(
                "build the indexes of {}.{} on {}",
                self.table.display(),
                self.from,
                self.to
            ),
        )
        .non_transactional()
        .after(&[1])
        .lock(
            self.table.display(),
            LockMode::ShareUpdateExclusive,
            "while each index builds",
        );
        let mut built = 0;
        let indexes = replace::indexes_involving(ctx, &self.table, &self.from);
        let keys = replace::keys_on(ctx, &self.table, &self.from);
        for (name, sql) in indexes
            .iter()
            .map(|i| {
                let name = replace::copy_name(&self.table, &i.name.name, "renamed");
                let sql = replace::index_copy(i, &self.from, &self.to, &name);
                (name, sql)
            })
            .chain(keys.iter().map(|k| {
                let name = replace::copy_name(&self.table, &k.name, "renamed");
                let sql = replace::key_index_copy(&self.table, k, &self.from, &self.to, &name);
                (name, Some(sql))
            }))
        {
            let Some(sql) = sql else {
                return Err(ctx.error(format!(
                    "safeshift could not read the definition of an index on `{}.{}`",
                    self.table.display(),
                    self.from
                )));
            };
            let copy = self.table.sibling(name);
            let (what, query, expect) = super::create_index::valid_index_check(&copy);
            copies = copies
                .sql(sql, "")
                .down_sql(
                    format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&copy)),
                    "",
                )
                .verify(what, query, expect);
            built += 1;
        }
        if built > 0 {
            steps.push(copies.note(format!(
                "These copies serve the new code's queries on {} until the last stage, which drops them with the stand-in column.",
                self.to
            )));
            ready = vec![steps.len() - 1];
        }
        steps.push(
            renamed_deploy(
                &self.table,
                &self.from,
                &self.to,
                DualWrite::Trigger,
                slug("deploy-renamed"),
            )
            .after(&ready),
        );
        let deploy = steps.len() - 1;
        let mut contract = Step::database(
            Phase::Contract,
            slug("rename-column"),
            format!(
                "rename {}.{} to {} in place of the stand-in",
                self.table.display(),
                self.from,
                self.to
            ),
        )
        .after(&[deploy])
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .before(
            format!("no process runs code that names {}", self.from),
            "-- check your deploy tool: every instance runs the new version",
            "yes",
        )
        .before(
            format!(
                "{} and {} hold the same value in every row",
                self.from, self.to
            ),
            format!("SELECT count(*) FROM {t} WHERE {new} IS DISTINCT FROM {old}"),
            "0",
        );
        for sql in &sync.drop {
            contract = contract.sql(sql.clone(), "");
        }
        contract = contract
            .sql(
                format!("ALTER TABLE {t} DROP COLUMN {new}"),
                "the stand-in (and its index copies): it holds the same values as the old column",
            )
            .sql(
                format!("ALTER TABLE {t} RENAME COLUMN {old} TO {new}"),
                "the original column takes the new name, with its keys, constraints, indexes and views",
            );
        if let Some(d) = trigger_default {
            contract = contract.sql(
                format!("ALTER TABLE {t} ALTER COLUMN {new} SET DEFAULT {d}"),
                "the default the trigger applied until now",
            );
        }
        contract = contract
            .irreversible(format!(
                "the stand-in column is gone and {} is renamed; to go back, rename {} to {} and run the stages before this one again (no data is lost)",
                self.from, self.to, self.from
            ))
            .note("Renaming in place keeps the column's position, constraints, indexes and the views that read it, as the naive RENAME does.");
        steps.push(contract);
        // Until the contract the new name is a stand-in, dropped then: a constraint or index a
        // later statement puts on it would go with it. Later changes of the column wait.
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }
}

/// `--dual-write app`: the deploy that writes both columns.
fn dual_write_deploy(table: &QName, from: &str, to: &str, slug: String) -> Step {
    Step::application(
        Release::DualWrite,
        Phase::Expand,
        slug,
        format!("deploy code that writes both {from} and {to}"),
    )
    .after(&[0])
    .app(format!(
        "Every INSERT and UPDATE of {} writes the same value to {from} and {to}.",
        table.display()
    ))
    .app(format!("Reads still use {from}."))
}

/// `--dual-write app`: the deploy that reads the new column.
fn read_new_deploy(_table: &QName, from: &str, to: &str, slug: String) -> Step {
    Step::application(
        Release::ReadNew,
        Phase::Migrate,
        slug,
        format!("deploy code that reads {to}"),
    )
    .app(format!(
        "Reads use {to}; writes still set both {from} and {to}."
    ))
}

/// The deploy of the version that uses only the new name.
fn renamed_deploy(table: &QName, from: &str, to: &str, mode: DualWrite, slug: String) -> Step {
    Step::application(
        Release::NewVersion,
        Phase::Migrate,
        slug,
        format!("deploy code that uses {to} instead of {from}"),
    )
    .app(format!(
        "Read and write {}.{to}; never name {from} again.",
        table.display()
    ))
    .app(if mode == DualWrite::Trigger {
        format!("Old and new versions can run side by side: the trigger copies {from} ⇄ {to}.")
    } else {
        format!("Stop writing {from}.")
    })
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
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx);
        }
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
        if let Some(Generated::Stored) = column.generated {
            return Err(ctx
                .error(format!(
                    "safeshift cannot rename `{}.{}` online: it is a stored generated column, and a stand-in column cannot be kept equal to it by a trigger",
                    self.table.display(),
                    self.from
                ))
                .help("rename it in a quiet moment (RENAME COLUMN is brief), deploying the app that uses the new name right after"));
        }
        if ctx.options.dual_write == DualWrite::Trigger {
            return self.expand_pg_trigger(ctx, &column);
        }
        // --dual-write app: the new version stops writing the old column, so the old column is
        // dropped in the end (its constraints and the views that read it would go with it).
        let table = ctx
            .catalog
            .table(&self.table)
            .ok_or_else(|| ctx.error("internal error: table vanished"))?;
        let constraints = table.constraints_on(&self.from);
        let views = ctx.catalog.dependent_views(&self.table, Some(&self.from));
        if column.generated.is_some() || !constraints.is_empty() || !views.is_empty() {
            let mut what: Vec<String> = constraints
                .iter()
                .map(|c| format!("constraint {}", c.name))
                .collect();
            what.extend(views.iter().map(|v| format!("view {}", v.name.display())));
            if column.generated.is_some() {
                what.push("its identity".into());
            }
            return Err(ctx
                .error(format!(
                    "with --dual-write app, renaming `{}.{}` drops the old column in the end, and with it {}",
                    self.table.display(),
                    self.from,
                    what.join(", ")
                ))
                .help("use --dual-write trigger (the default): the old column is then renamed in place and keeps them"));
        }
        let default = column.default.as_ref().map(|d| d.to_string());
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.to);

        // 0: the new column, nullable, with the old one's default: the app writes both.
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
        if let Some(d) = &default {
            expand = expand.sql(
                format!("ALTER TABLE {t} ALTER COLUMN {new} SET DEFAULT {d}"),
                "",
            );
        }
        expand = expand.down_sql(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {new}"), "");
        let mut steps = vec![
            expand,
            dual_write_deploy(&self.table, &self.from, &self.to, slug("deploy-dual-write")),
        ];
        steps.push(
            backfill_step(
                ctx,
                &self.table,
                &self.to,
                &old,
                &format!("{new} IS NULL AND {old} IS NOT NULL"),
            )?
            .after(&[1]),
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
        steps.push(
            read_new_deploy(&self.table, &self.from, &self.to, slug("deploy-read-new"))
                .after(&ready),
        );
        let mut last_deploy_after = vec![steps.len() - 1];
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
                .lock(self.table.display(), LockMode::AccessExclusive, "brief"),
            );
            last_deploy_after.push(steps.len() - 1);
        }
        steps.push(
            renamed_deploy(
                &self.table,
                &self.from,
                &self.to,
                DualWrite::App,
                slug("deploy-renamed"),
            )
            .after(&last_deploy_after),
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
        )
        .sql(format!("ALTER TABLE {t} DROP COLUMN {old}"), "");
        if column.not_null && ctx.pg().not_null_not_valid() {
            contract = contract.sql(
                format!(
                    "ALTER TABLE {t} RENAME CONSTRAINT {} TO {}",
                    quote(&not_null_constraint(&self.table, &self.to)),
                    quote(&default_not_null_constraint(&self.table, &self.from))
                ),
                "PostgreSQL 18 names NOT NULL constraints: a renamed column keeps its constraint's name",
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
