//! DROP INDEX: ACCESS EXCLUSIVE on the table; brief, but it queues behind long queries and
//! everything queues behind it. Safe path: DROP INDEX CONCURRENTLY (no transaction).
//! MySQL/MariaDB: dropping a secondary index is in place and metadata-only; safe as written.

use super::create_index::mysql_add_index;
use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, ConstraintKind};

pub const RULE: Rule = Rule {
    id: "non-concurrent-index-drop",
    severity: Some(Severity::Warning),
    summary: "DROP INDEX without CONCURRENTLY",
    why: "DROP INDEX takes ACCESS EXCLUSIVE on the index's table. Dropping is quick, but the lock waits behind every running query on the table, and all reads and writes queue behind it meanwhile.",
    safe: "DROP INDEX CONCURRENTLY, outside a transaction block: it waits for queries using the index without blocking anyone.",
    example: "DROP INDEX users_email_idx;",
    mysql: "Not a problem on InnoDB: dropping a secondary index is in place and metadata-only (ALGORITHM=INPLACE, LOCK=NONE), after a brief exclusive metadata lock. Queries that relied on the index get slower, as on any engine.",
};

#[derive(Clone, Debug)]
pub struct DropIndex {
    pub name: QName,
    /// MySQL: `DROP INDEX i ON t` or `ALTER TABLE t DROP INDEX i` name the table.
    pub table: Option<QName>,
    pub if_exists: bool,
    pub cascade: bool,
    /// Written as `DROP INDEX CONCURRENTLY` already.
    pub concurrently: bool,
}

impl DropIndex {
    fn expand_mysql(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let known = match &self.table {
            Some(t) => ctx.catalog.table_index(t, &self.name.name),
            None => ctx.catalog.index(&self.name),
        };
        let Some(table) = self
            .table
            .clone()
            .or_else(|| known.map(|i| i.table.clone()))
        else {
            return Err(ctx
                .error(format!("which table is index `{}` on?", self.name.display()))
                .help("MySQL index names are per table: write `DROP INDEX name ON table` (or pass --schema)"));
        };
        // MySQL: a `UNIQUE KEY name (…)` is an index too; the catalog keeps it as a constraint.
        let unique_key = self
            .table
            .as_ref()
            .filter(|_| known.is_none())
            .and_then(|t| unique_key_body(ctx, t, &self.name.name));
        if ctx.schema_known && known.is_none() && unique_key.is_none() && !self.if_exists {
            return Err(ctx.error(format!(
                "index `{}` does not exist on `{}` in the schema",
                self.name.name,
                table.display()
            )));
        }
        let algorithm = my::target(ctx).index_change();
        let title = format!("drop index {} of {}", self.name.name, table.display());
        let slug = format!("drop-index-{}", self.name.name);
        let step = Step::database(Phase::Contract, slug.clone(), title.clone()).sql(
            my::alter(
                ctx,
                &table,
                &[format!(
                    "DROP INDEX {}{}",
                    my::if_exists(ctx),
                    ctx.quote(&self.name.name)
                )],
                algorithm,
            ),
            algorithm.describe(),
        );
        let step = match known {
            Some(index) if index.special.is_some() => {
                // Dropping is in place; building a FULLTEXT or SPATIAL key again takes a shared
                // lock (InnoDB builds neither with LOCK=NONE): writes wait while the undo runs.
                let kind = index.special.unwrap_or_default();
                let mut step = step;
                step.down = Some(vec![crate::plan::Sql {
                    text: format!(
                        "ALTER TABLE {} ADD {kind} INDEX {}{} {}, ALGORITHM=INPLACE, LOCK=SHARED",
                        ctx.qname(&table),
                        my::if_not_exists(ctx),
                        ctx.quote(&self.name.name),
                        index.body
                    ),
                    why: Some(format!(
                        "rebuilds the {kind} index: InnoDB builds it only with LOCK=SHARED, so writes to {} wait until it is built",
                        table.display()
                    )),
                }]);
                step
            }
            Some(index) => {
                // The undo is the add; its own undo (the drop) is this step's up.
                let add = mysql_add_index(
                    ctx,
                    Step::database(Phase::Contract, slug, title),
                    &table,
                    &self.name.name,
                    index.unique,
                    &index.body,
                );
                let mut step = step;
                step.down = Some(add.up);
                step
            }
            None => match unique_key {
                Some(body) => {
                    let add = mysql_add_index(
                        ctx,
                        Step::database(Phase::Contract, slug, title),
                        &table,
                        &self.name.name,
                        true,
                        &body,
                    );
                    let mut step = step;
                    step.down = Some(add.up);
                    step
                }
                None => step.irreversible(
                    "safeshift does not know the index definition to rebuild it (no --schema)",
                ),
            },
        };
        Ok(Expansion::single(my::alter_locks(step, &table, algorithm)))
    }
}

/// What follows the name in `ADD UNIQUE INDEX name …` for the table's UNIQUE key `name`, as the
/// schema declares it (key parts with their prefix lengths and order, index type).
fn unique_key_body(ctx: &Context, table: &QName, name: &str) -> Option<String> {
    let key = ctx
        .catalog
        .table(table)?
        .constraints
        .iter()
        .find(|c| c.kind == ConstraintKind::Unique && c.name == name)?;
    super::create_index::mysql_unique_body(key.definition.as_ref()?)
}

impl Op for DropIndex {
    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        !self.concurrently
    }

    fn tables(&self) -> Vec<QName> {
        // The index's table when the statement names it; the index name keys ordering otherwise.
        vec![self.table.clone().unwrap_or_else(|| self.name.clone())]
    }

    fn existing_tables(&self) -> Vec<QName> {
        Vec::new() // an index name, not a table; checked against the catalog in `expand`
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).index_change();
            return Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe());
        }
        if self.concurrently {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "dropped concurrently: reads and writes continue",
            );
        }
        if let Some(index) = ctx.catalog.index(&self.name)
            && ctx.is_new_table(&index.table)
        {
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
            false,
            "DROP INDEX takes ACCESS EXCLUSIVE on the table; use CONCURRENTLY",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx);
        }
        let known = ctx.catalog.index(&self.name);
        if ctx.schema_known && known.is_none() && !self.if_exists {
            return Err(ctx.error(format!(
                "index `{}` does not exist in the schema",
                self.name.display()
            )));
        }
        let table = known
            .map(|i| i.table.display())
            .unwrap_or_else(|| format!("the table of {}", self.name.display()));
        let mut step = Step::database(
            Phase::Contract,
            format!("drop-index-{}", self.name.name),
            format!("drop index {}", self.name.display()),
        );
        if self.cascade {
            // CONCURRENTLY cannot CASCADE: keep the user's statement, bounded by lock_timeout.
            // Outside a transaction all the same: its undo rebuilds the index CONCURRENTLY.
            step = step
                .non_transactional()
                .sql(
                    format!("DROP INDEX IF EXISTS {} CASCADE", qname(&self.name)),
                    "CASCADE cannot be combined with CONCURRENTLY",
                )
                .lock(table, LockMode::AccessExclusive, "brief");
        } else {
            step = step
                .non_transactional()
                .sql(
                    format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&self.name)),
                    "CONCURRENTLY: waits for running queries instead of blocking new ones",
                )
                .lock(table, LockMode::ShareUpdateExclusive, "brief");
        }
        step = match known {
            Some(index) => {
                let mut step = step.down_sql(
                    index
                        .definition()
                        .replacen("INDEX ", "INDEX CONCURRENTLY IF NOT EXISTS ", 1),
                    "rebuilds the index (reads and writes continue)",
                );
                // CASCADE also dropped the foreign keys that referenced the unique index: they
                // come back NOT VALID, then validated (reads and writes go on).
                if self.cascade {
                    for (table, name, definition) in referencing_keys(ctx.catalog, index) {
                        let t = qname(&table);
                        let n = crate::dialect::postgres::quote(&name);
                        step = step
                            .down_sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}"), "")
                            .down_sql(
                                format!(
                                    "ALTER TABLE {t} ADD CONSTRAINT {n} {definition} NOT VALID"
                                ),
                                "dropped by CASCADE with the index",
                            )
                            .down_sql(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {n}"), "");
                    }
                }
                step
            }
            None => step.irreversible(
                "safeshift does not know the index definition to rebuild it (no --schema)",
            ),
        };
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if self.cascade
            && let Some(index) = catalog.index(&self.name).cloned()
        {
            for (table, name, _) in referencing_keys(catalog, &index) {
                if let Some(t) = catalog.table_mut(&table) {
                    t.constraints.retain(|c| c.name != name);
                }
            }
        }
        if catalog.remove_index(&self.name).is_none()
            && let Some(table) = &self.table
            && let Some(t) = catalog.table_mut(table)
        {
            // MySQL: the index of a UNIQUE key is the key.
            t.constraints
                .retain(|c| !(c.kind == ConstraintKind::Unique && c.name == self.name.name));
        }
    }
}

/// The foreign keys (table, name, definition) whose referenced columns are exactly a unique
/// index's: PostgreSQL makes them depend on it, and `DROP INDEX … CASCADE` drops them.
fn referencing_keys(
    catalog: &Catalog,
    index: &crate::schema::Index,
) -> Vec<(QName, String, String)> {
    if !index.unique || index.columns.is_empty() {
        return Vec::new();
    }
    let mut wanted = index.columns.clone();
    wanted.sort();
    // A primary key on the same columns is what PostgreSQL ties the foreign keys to: then the
    // index's CASCADE leaves them alone.
    let same = |columns: &[String]| {
        let mut c = columns.to_vec();
        c.sort();
        c == wanted
    };
    if catalog
        .table(&index.table)
        .and_then(|t| t.primary_key())
        .is_some_and(same)
    {
        return Vec::new();
    }
    let mut keys = Vec::new();
    for name in catalog.table_names().cloned().collect::<Vec<_>>() {
        let Some(table) = catalog.table(&name) else {
            continue;
        };
        for c in &table.constraints {
            if let ConstraintKind::ForeignKey { table: to, columns } = &c.kind {
                let mut refs = columns.clone();
                refs.sort();
                if to.same(&index.table)
                    && refs == wanted
                    && let Some(definition) = c.definition_sql()
                {
                    keys.push((name.clone(), c.name.clone(), definition));
                }
            }
        }
    }
    keys
}
