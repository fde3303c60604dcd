//! REINDEX: rebuilds an index (or every index of a table, schema or database) while it holds
//! SHARE on the table, so writes wait for the whole rebuild, and ACCESS EXCLUSIVE on each index
//! it rebuilds, so reads that use the index wait too. Safe path (PostgreSQL 12+): REINDEX …
//! CONCURRENTLY, outside a transaction block, which builds a new copy and swaps it in while
//! reads and writes continue. PostgreSQL only (MySQL has no REINDEX).

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "non-concurrent-reindex",
    severity: Some(Severity::Error),
    summary: "REINDEX without CONCURRENTLY on an existing table",
    why: "REINDEX holds SHARE on the table for the whole rebuild, so every write waits, and ACCESS EXCLUSIVE on the index being rebuilt, so reads that would use it wait too. REINDEX TABLE, SCHEMA or DATABASE does that to every index in turn.",
    safe: "REINDEX … CONCURRENTLY (PostgreSQL 12+), outside a transaction block: it builds a new copy of the index and swaps it in while reads and writes continue. If it is interrupted, drop the invalid `*_ccnew` index it leaves and run it again. Before 12: CREATE INDEX CONCURRENTLY a copy, DROP INDEX CONCURRENTLY the old one, rename the copy.",
    example: "REINDEX INDEX users_email_idx;",
    mysql: "PostgreSQL only: MySQL and MariaDB have no REINDEX (OPTIMIZE TABLE rebuilds a table in place).",
};

#[derive(Clone, Debug)]
pub struct Reindex {
    /// INDEX, TABLE, SCHEMA, DATABASE or SYSTEM.
    pub target: String,
    pub name: Option<QName>,
    pub concurrently: bool,
    /// The statement as written.
    pub sql: String,
}

impl Reindex {
    /// The table whose traffic waits, when safeshift knows it.
    fn table(&self, ctx: &Context) -> Option<QName> {
        let name = self.name.as_ref()?;
        match self.target.as_str() {
            "TABLE" => Some(name.clone()),
            "INDEX" => ctx.catalog.index(name).map(|i| i.table.clone()),
            _ => None,
        }
    }

    fn what(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {}", self.target.to_lowercase(), name.display()),
            None => self.target.to_lowercase(),
        }
    }
}

impl Op for Reindex {
    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        !self.concurrently && !matches!(self.target.as_str(), "SCHEMA" | "DATABASE" | "SYSTEM")
    }

    fn tables(&self) -> Vec<QName> {
        // A table by name; an index name keys ordering otherwise (as for DROP INDEX).
        self.name.iter().cloned().collect()
    }

    fn existing_tables(&self) -> Vec<QName> {
        match (&self.name, self.target.as_str()) {
            (Some(name), "TABLE") => vec![name.clone()],
            _ => Vec::new(),
        }
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if self.concurrently {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "rebuilt concurrently: reads and writes continue",
            );
        }
        let table = self.table(ctx);
        if table.as_ref().is_some_and(|t| ctx.is_new_table(t)) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::Share),
                "the table was created in this change",
            );
        }
        let on = table
            .map(|t| t.display())
            .unwrap_or_else(|| "its table".to_string());
        Assessment::staged(
            RULE.id,
            LockMode::Share,
            true,
            false,
            format!(
                "REINDEX rebuilds {} while writes to {on} wait, and reads that use the index wait too; use CONCURRENTLY",
                self.what()
            ),
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let slug = format!(
            "reindex-{}",
            self.name
                .as_ref()
                .map_or(self.target.to_lowercase(), |n| n.name.clone())
        );
        let title = format!("rebuild {}", self.what());
        let table = self
            .table(ctx)
            .map(|t| t.display())
            .unwrap_or_else(|| self.what());
        // Nothing to undo: a rebuilt index is the same index.
        let step = Step::database(Phase::Expand, slug, title);
        let concurrent = match &self.name {
            _ if self.concurrently => Some(self.sql.clone()),
            Some(name)
                if ctx.pg().major >= 12
                    && matches!(
                        self.target.as_str(),
                        "INDEX" | "TABLE" | "SCHEMA" | "DATABASE"
                    )
                    && !self.sql.contains('(') =>
            {
                Some(format!(
                    "REINDEX {} CONCURRENTLY {}",
                    self.target,
                    qname(name)
                ))
            }
            _ => None,
        };
        let step = match concurrent {
            Some(sql) => step
                .non_transactional()
                .sql(sql, "CONCURRENTLY: a new copy is built and swapped in while reads and writes continue")
                .lock(table, LockMode::ShareUpdateExclusive, "while it rebuilds")
                .note("If the rebuild is interrupted it leaves an invalid index named `…_ccnew`: drop it (DROP INDEX CONCURRENTLY) and run the stage again."),
            None => step
                .sql(self.sql.clone(), "as written: no concurrent form here")
                .lock(table, LockMode::Share, "while it rebuilds")
                .note(format!(
                    "Warning: writes wait for the whole rebuild. REINDEX CONCURRENTLY needs PostgreSQL 12 (planned for {}) and does not take options or SYSTEM; otherwise build a copy with CREATE INDEX CONCURRENTLY, drop the old index concurrently and rename the copy.",
                    ctx.pg().version()
                )),
        };
        let step = if self.runs_in_transaction(ctx.pg()) {
            step
        } else {
            step.non_transactional()
        };
        Ok(Expansion::single(step))
    }

    fn apply(&self, _catalog: &mut Catalog) {}
}
