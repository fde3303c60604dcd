//! DROP INDEX: ACCESS EXCLUSIVE on the table; brief, but it queues behind long queries and
//! everything queues behind it. Safe path: DROP INDEX CONCURRENTLY (no transaction).

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "non-concurrent-index-drop",
    severity: Some(Severity::Warning),
    summary: "DROP INDEX without CONCURRENTLY",
    why: "DROP INDEX takes ACCESS EXCLUSIVE on the index's table. Dropping is quick, but the lock waits behind every running query on the table, and all reads and writes queue behind it meanwhile.",
    safe: "DROP INDEX CONCURRENTLY, outside a transaction block: it waits for queries using the index without blocking anyone.",
    example: "DROP INDEX users_email_idx;",
};

#[derive(Clone, Debug)]
pub struct DropIndex {
    pub name: QName,
    pub if_exists: bool,
    pub cascade: bool,
    /// Written as `DROP INDEX CONCURRENTLY` already.
    pub concurrently: bool,
}

impl Op for DropIndex {
    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        !self.concurrently
    }

    fn tables(&self) -> Vec<QName> {
        // The index's table, when the schema tells; the index name itself keys ordering otherwise.
        vec![self.name.clone()]
    }

    fn existing_tables(&self) -> Vec<QName> {
        Vec::new() // an index name, not a table; checked against the catalog in `expand`
    }

    fn assess(&self, ctx: &Context) -> Assessment {
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
            step = step
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
            Some(index) => step.down_sql(
                index
                    .definition
                    .replacen("INDEX ", "INDEX CONCURRENTLY IF NOT EXISTS ", 1),
                "rebuilds the index (reads and writes continue)",
            ),
            None => step.irreversible(
                "safeshift does not know the index definition to rebuild it (no --schema)",
            ),
        };
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.remove_index(&self.name);
    }
}
