//! ADD FOREIGN KEY: SHARE ROW EXCLUSIVE on both tables (writes wait) while every row is checked.
//! Safe path: add it NOT VALID (brief; new writes are checked from then on), then VALIDATE
//! CONSTRAINT, which scans under SHARE UPDATE EXCLUSIVE while reads and writes continue.
//! MySQL/MariaDB: with foreign_key_checks on, the server copies the table to check every row;
//! with them off the key is added in place, metadata only. Safe path: check for orphans, add it
//! with checks off in the ALTER's own session, check again.

use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Constraint, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "adding-foreign-key",
    severity: Some(Severity::Error),
    summary: "ADD FOREIGN KEY without NOT VALID on an existing table",
    why: "PostgreSQL checks every row while holding SHARE ROW EXCLUSIVE on both tables: writes to the table and to the referenced table wait for the whole scan.",
    safe: "ADD CONSTRAINT … FOREIGN KEY … NOT VALID (brief; new rows are checked from then on), then VALIDATE CONSTRAINT, which scans under SHARE UPDATE EXCLUSIVE while traffic goes on.",
    example: "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
    mysql: "With foreign_key_checks on (the default) InnoDB copies the table to check every row, while writes wait. With `SET foreign_key_checks = 0` in the same session the key is added in place and metadata only (ALGORITHM=INPLACE, LOCK=NONE), but existing rows are not checked: count orphans before and after yourself. Never through a pooler that could hand the setting to another session.",
};

#[derive(Clone, Debug)]
pub struct AddForeignKey {
    pub table: QName,
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: QName,
    pub ref_columns: Vec<String>,
    /// `FOREIGN KEY (…) REFERENCES …` with its actions, as the user wrote it.
    pub definition: String,
    /// The same, parsed, for the catalog.
    pub constraint: Option<sqlparser::ast::TableConstraint>,
    /// The user already asked for NOT VALID: keep it that way.
    pub not_valid: bool,
    /// Written with a name (`ADD CONSTRAINT name FOREIGN KEY …`). MySQL names an unnamed one
    /// `<table>_ibfk_<N>` (one past the highest N the table has) and its index after the column.
    pub named: bool,
}

impl AddForeignKey {
    /// The name the server gives it: as written, or InnoDB's next `<table>_ibfk_<N>`.
    fn server_name(&self, catalog: &Catalog) -> String {
        if self.named {
            return self.name.clone();
        }
        let prefix = format!("{}_ibfk_", self.table.name);
        let highest = catalog
            .table(&self.table)
            .map(|t| {
                t.constraints
                    .iter()
                    .filter(|c| matches!(c.kind, ConstraintKind::ForeignKey { .. }))
                    .filter_map(|c| c.name.strip_prefix(&prefix)?.parse::<u32>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        format!("{prefix}{}", highest + 1)
    }

    /// Rows whose key has no match in the referenced table.
    fn orphans(&self, ctx: &Context) -> String {
        let join: Vec<String> = self
            .columns
            .iter()
            .zip(&self.ref_columns)
            .map(|(c, r)| format!("p.{} = c.{}", ctx.quote(r), ctx.quote(c)))
            .collect();
        let present: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", ctx.quote(c)))
            .collect();
        let missing = self
            .ref_columns
            .first()
            .map(|r| format!("p.{} IS NULL", ctx.quote(r)))
            .unwrap_or_else(|| "FALSE".into());
        format!(
            "SELECT COUNT(*) FROM {} AS c LEFT JOIN {} AS p ON {} WHERE {} AND {missing}",
            ctx.qname(&self.table),
            ctx.qname(&self.ref_table),
            join.join(" AND "),
            present.join(" AND ")
        )
    }

    fn expand_mysql(&self, ctx: &Context) -> Expansion {
        let algorithm = my::target(ctx).add_foreign_key(true);
        let name = self.server_name(ctx.catalog);
        let n = ctx.quote(&name);
        let mut undo = vec![format!("DROP FOREIGN KEY {}{n}", my::if_exists(ctx))];
        // InnoDB creates an index on the key columns when none starts with all of them, in
        // order (an index on `client_id` does not serve a key on `(client_id, nid)`); the undo
        // drops it too, so the schema is as before.
        let starts_with_key = |columns: &[String]| {
            !self.columns.is_empty()
                && columns.len() >= self.columns.len()
                && columns
                    .iter()
                    .zip(&self.columns)
                    .all(|(c, k)| c.eq_ignore_ascii_case(k))
        };
        let indexed = ctx.catalog.table(&self.table).is_some_and(|t| {
            t.indexes.iter().any(|i| starts_with_key(&i.columns))
                || t.constraints.iter().any(|k| {
                    !matches!(k.kind, crate::schema::ConstraintKind::Check)
                        && starts_with_key(&k.columns)
                })
        });
        if ctx.schema_known && !indexed {
            // InnoDB names the index after the constraint, or after the first column when the
            // statement names no constraint.
            let index = match (self.named, self.columns.first()) {
                (false, Some(first)) => ctx.quote(first),
                _ => n.clone(),
            };
            undo.push(format!("DROP INDEX {}{index}", my::if_exists(ctx)));
        }
        // MariaDB's in-place ADD FOREIGN KEY records a written RESTRICT as NO ACTION (the same
        // rule in InnoDB, but not the catalog the statement as written gives with checks on,
        // which copies); RESTRICT is the default, so it is left unsaid.
        let mut definition = self.definition.clone();
        // (With the file's own `SET foreign_key_checks = 0`, its statement is in place too.)
        if my::target(ctx).is_mariadb() && ctx.foreign_key_checks {
            for clause in [" ON DELETE RESTRICT", " ON UPDATE RESTRICT"] {
                definition = definition.replace(clause, "");
            }
        }
        // Unnamed as written, so the server names it (and its index) as it would have.
        let add = if self.named {
            format!("ADD CONSTRAINT {n} {definition}")
        } else {
            format!("ADD {definition}")
        };
        let step = Step::database(
            Phase::Expand,
            format!("add-foreign-key-{}", self.name),
            format!("add FOREIGN KEY {} on {}", self.name, self.table.display()),
        )
        .before(
            format!("no row of {} lacks its {} row", self.table.display(), self.ref_table.display()),
            self.orphans(ctx),
            "0",
        )
        .sql("SET SESSION foreign_key_checks = 0", "in place and metadata only, but only with checks off: existing rows are not checked (the before and verify queries do)")
        .sql(
            my::alter(ctx, &self.table, &[add], algorithm),
            algorithm.describe(),
        )
        .sql("SET SESSION foreign_key_checks = 1", "new and updated rows are checked from now on")
        .down_sql(my::alter(ctx, &self.table, &undo, algorithm), "")
        .verify(
            format!("still no orphans in {} (rows written between the check and the ALTER)", self.table.display()),
            self.orphans(ctx),
            "0",
        )
        .lock(self.ref_table.display(), LockMode::MetadataExclusive, "brief");
        Expansion::single(my::alter_locks(step, &self.table, algorithm))
    }
}

impl AddForeignKey {
    /// PostgreSQL before 18 refuses `NOT VALID` foreign keys on a partitioned table, and the
    /// naive ADD checks every partition's rows while writes wait. Instead each partition gets the
    /// key `NOT VALID` and validates it (reads and writes go on); then the parent's ADD takes over
    /// the partitions' validated keys (same name, same definition) without checking again.
    fn expand_partitioned(&self, ctx: &Context, step: Step) -> Result<Expansion, PlanError> {
        let partitions = ctx.catalog.partitions_of(&self.table);
        if !ctx.pg().partition_fk_attaches_existing() || partitions.iter().any(|p| p.partitioned) {
            return Err(PlanError::new(
                ctx.pos,
                format!(
                    "{} is partitioned{}: safeshift cannot add this foreign key without checking every row while writes wait",
                    self.table.display(),
                    if partitions.iter().any(|p| p.partitioned) {
                        " on more than one level"
                    } else {
                        " and PostgreSQL 11 checks each partition again when the parent gets the key"
                    }
                ),
            )
            .help("run it in a maintenance window, or add it to each leaf partition NOT VALID, VALIDATE, then to the parent by hand"));
        }
        let t = qname(&self.table);
        let n = quote(&self.name);
        let mut step = step.non_transactional();
        for partition in &partitions {
            let p = qname(&partition.name);
            step = step
                .sql(
                    format!(
                        "ALTER TABLE {p} ADD CONSTRAINT {n} {} NOT VALID",
                        self.definition
                    ),
                    "brief; the partition's new and updated rows are checked from now on",
                )
                .sql(
                    format!("ALTER TABLE {p} VALIDATE CONSTRAINT {n}"),
                    "scans the partition under SHARE UPDATE EXCLUSIVE: reads and writes go on",
                )
                .lock(
                    partition.name.display(),
                    LockMode::ShareUpdateExclusive,
                    "while it validates",
                );
        }
        step = step
            .sql(
                format!("ALTER TABLE {t} ADD CONSTRAINT {n} {}", self.definition),
                "brief: takes over the partitions' validated keys, nothing is checked again",
            )
            .verify(
                format!("{} is validated", self.name),
                format!(
                    "SELECT convalidated FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {}",
                    crate::dialect::postgres::literal(&t),
                    crate::dialect::postgres::literal(&self.name)
                ),
                "t",
            )
            .note(format!(
                "{} has {} partition(s) in the schema this plan was made for; the parent's ADD checks any other partition's rows while writes wait, so plan again if there are more.",
                self.table.display(),
                partitions.len()
            ));
        for partition in &partitions {
            step = step.down_sql(
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {n}",
                    qname(&partition.name)
                ),
                "",
            );
        }
        Ok(Expansion::single(step))
    }
}

impl Op for AddForeignKey {
    fn constrains(&self, table: &QName, column: &str) -> bool {
        self.table.same(table) && self.columns.iter().any(|c| c == column)
    }

    fn adds_not_valid(&self) -> Option<(&str, &'static Rule, LockMode)> {
        self.not_valid
            .then_some((self.name.as_str(), &RULE, LockMode::ShareRowExclusive))
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone(), self.ref_table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        // Referenced columns too: a key added earlier on them must exist first. Mixing both
        // tables' names in one list can only over-order, never under-order.
        let mut columns = self.columns.clone();
        columns.extend(self.ref_columns.iter().cloned());
        columns
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if let Some(target) = ctx.dialect.mysql() {
            let algorithm = target.add_foreign_key(!ctx.foreign_key_checks);
            if algorithm != crate::dialect::Algorithm::Copy || ctx.is_new_table(&self.table) {
                return Assessment::safe(
                    RULE.id,
                    Some(algorithm.lock()),
                    "foreign_key_checks = 0 (or a new table): added in place, metadata only; existing rows are not checked",
                );
            }
            return Assessment::staged(
                RULE.id,
                algorithm.lock(),
                true,
                false,
                format!(
                    "with foreign_key_checks on, the server copies {} to check every row while writes wait",
                    self.table.display()
                ),
            );
        }
        if self.not_valid || ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::ShareRowExclusive),
                "NOT VALID or a new table: no scan",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::ShareRowExclusive,
            true,
            false,
            "ADD FOREIGN KEY blocks writes to both tables while it checks every row",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            return Ok(self.expand_mysql(ctx));
        }
        let t = qname(&self.table);
        let n = quote(&self.name);
        let step = Step::database(
            Phase::Expand,
            format!("add-foreign-key-{}", self.name),
            format!("add FOREIGN KEY {} on {}", self.name, self.table.display()),
        )
        .lock(self.table.display(), LockMode::ShareRowExclusive, "brief")
        .lock(
            self.ref_table.display(),
            LockMode::ShareRowExclusive,
            "brief",
        )
        .down_sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}"), "");
        if self.not_valid || ctx.is_new_table(&self.table) {
            let suffix = if self.not_valid { " NOT VALID" } else { "" };
            return Ok(Expansion::single(step.sql(
                format!(
                    "ALTER TABLE {t} ADD CONSTRAINT {n} {}{suffix}",
                    self.definition
                ),
                "",
            )));
        }
        if ctx
            .catalog
            .table(&self.table)
            .is_some_and(|t| t.partitioned)
        {
            return self.expand_partitioned(ctx, step);
        }
        let mut step = step
            .non_transactional()
            .sql(format!("ALTER TABLE {t} ADD CONSTRAINT {n} {} NOT VALID", self.definition), "brief; new and updated rows are checked from now on")
            .sql(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {n}"), "scans existing rows under SHARE UPDATE EXCLUSIVE: reads and writes go on")
            .lock(self.table.display(), LockMode::ShareUpdateExclusive, "while it validates")
            .verify(
                format!("{} is validated", self.name),
                format!("SELECT convalidated FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {}", crate::dialect::postgres::literal(&t), crate::dialect::postgres::literal(&self.name)),
                "t",
            );
        if ctx.schema_known
            && !ctx
                .catalog
                .indexes_on(
                    &self.table,
                    self.columns.first().map(String::as_str).unwrap_or_default(),
                )
                .iter()
                .any(|i| i.columns.first() == self.columns.first())
        {
            step = step.note(format!(
                "{}({}) has no index: deletes and key updates on {} will scan {} to check references. Consider CREATE INDEX CONCURRENTLY on it.",
                self.table.display(),
                self.columns.join(", "),
                self.ref_table.display(),
                self.table.display()
            ));
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        let kind = ConstraintKind::ForeignKey {
            table: self.ref_table.clone(),
            columns: catalog.referenced_columns(&self.ref_table, &self.ref_columns),
        };
        let name = self.server_name(catalog);
        catalog.add_constraint(
            &self.table,
            Constraint {
                name,
                kind,
                columns: self.columns.clone(),
                not_valid: self.not_valid,
                not_null_of: None,
                definition: self.constraint.clone(),
            },
        );
    }
}
