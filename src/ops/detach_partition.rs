//! ALTER TABLE … DETACH PARTITION: catalog-only, but without CONCURRENTLY it takes ACCESS
//! EXCLUSIVE on the partitioned table, so it waits behind every running query on any partition
//! and all reads and writes of the table queue behind it. Safe path (PostgreSQL 14+): DETACH
//! PARTITION … CONCURRENTLY, outside a transaction block, which takes SHARE UPDATE EXCLUSIVE on
//! the parent and waits for running queries instead of blocking new ones. PostgreSQL only.

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "non-concurrent-partition-detach",
    severity: Some(Severity::Warning),
    summary: "ALTER TABLE … DETACH PARTITION without CONCURRENTLY",
    why: "DETACH PARTITION takes ACCESS EXCLUSIVE on the partitioned table and the partition. It changes only the catalog, but the lock waits behind every running query on the table, and every read and write of the table queues behind it meanwhile.",
    safe: "DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+), outside a transaction block: it takes SHARE UPDATE EXCLUSIVE on the partitioned table and waits for running queries instead of blocking new ones. It is not allowed while the table has a default partition; if it is interrupted, finish it with DETACH PARTITION … FINALIZE.",
    example: "ALTER TABLE measurements DETACH PARTITION measurements_2020;",
    mysql: "PostgreSQL only here: MySQL's `ALTER TABLE … REMOVE PARTITIONING` and partition exchanges copy or lock the table (see forcing-table-copy).",
};

#[derive(Clone, Debug)]
pub struct DetachPartition {
    pub table: QName,
    pub partition: QName,
    pub concurrently: bool,
    /// `FINALIZE`: completes an interrupted concurrent detach.
    pub finalize: bool,
}

impl Op for DetachPartition {
    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        !self.concurrently
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone(), self.partition.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if self.concurrently || self.finalize {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "detached concurrently: reads and writes continue",
            );
        }
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
            false,
            format!(
                "DETACH PARTITION takes ACCESS EXCLUSIVE on {}: every query on it queues behind the detach; use CONCURRENTLY",
                self.table.display()
            ),
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let (t, p) = (qname(&self.table), qname(&self.partition));
        let step = Step::database(
            Phase::Contract,
            format!("detach-partition-{}", self.partition.name),
            format!(
                "detach partition {} from {}",
                self.partition.display(),
                self.table.display()
            ),
        )
        .irreversible("attaching the partition again needs its bounds (FOR VALUES …), which safeshift does not know");
        let concurrent = !self.finalize
            && (self.concurrently || (ctx.pg().major >= 14 && !ctx.is_new_table(&self.table)));
        let step = if self.finalize {
            step.sql(
                format!("ALTER TABLE {t} DETACH PARTITION {p} FINALIZE"),
                "completes an interrupted concurrent detach",
            )
            .lock(
                self.table.display(),
                LockMode::ShareUpdateExclusive,
                "brief",
            )
        } else if concurrent {
            step.non_transactional()
                .sql(
                    format!("ALTER TABLE {t} DETACH PARTITION {p} CONCURRENTLY"),
                    "CONCURRENTLY: waits for running queries instead of blocking new ones",
                )
                .lock(self.table.display(), LockMode::ShareUpdateExclusive, "while it waits")
                .note(format!(
                    "Not allowed while {} has a default partition. If it is interrupted, run `ALTER TABLE {t} DETACH PARTITION {p} FINALIZE`.",
                    self.table.display()
                ))
        } else {
            let step = step
                .sql(
                    format!("ALTER TABLE {t} DETACH PARTITION {p}"),
                    "brief ACCESS EXCLUSIVE, bounded by lock_timeout",
                )
                .lock(self.table.display(), LockMode::AccessExclusive, "brief");
            if ctx.is_new_table(&self.table) {
                step
            } else {
                step.note(format!(
                    "PostgreSQL {} has no DETACH PARTITION CONCURRENTLY (14+): the detach takes ACCESS EXCLUSIVE on {}, briefly once granted.",
                    ctx.pg().version(),
                    self.table.display()
                ))
            }
        };
        Ok(Expansion::single(step))
    }

    fn apply(&self, _catalog: &mut Catalog) {}
}
