//! ALTER TYPE … ADD VALUE: no table rewrite, but it cannot be undone (PostgreSQL has no DROP
//! VALUE), before PG12 it cannot run in a transaction block, and the new value cannot be used in
//! the transaction that adds it.

use super::{Assessment, Context, Op};
use crate::dialect::postgres::{literal, qname};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "adding-enum-value",
    severity: None,
    summary: "ALTER TYPE … ADD VALUE",
    why: "No table is rewritten and the lock is brief. Two things to know: the value cannot be removed again, and before PostgreSQL 12 the statement cannot run inside a transaction block (see concurrently-in-transaction).",
    safe: "Run it as written; deploy code that writes the new value only after the migration.",
    example: "ALTER TYPE order_status ADD VALUE 'refunded';",
    mysql: "PostgreSQL only: MySQL and MariaDB have no enum types; appending a member to an ENUM column is INSTANT, anything else copies the table (see changing-column-type).",
};

#[derive(Clone, Debug)]
pub struct AddEnumValue {
    pub type_name: QName,
    pub value: String,
    pub if_not_exists: bool,
    /// (before?, neighbour): `BEFORE 'x'` is (true, "x").
    pub position: Option<(bool, String)>,
}

impl Op for AddEnumValue {
    fn runs_in_transaction(&self, pg: crate::dialect::Postgres) -> bool {
        pg.enum_add_value_in_transaction()
    }

    fn tables(&self) -> Vec<QName> {
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment::safe(
            RULE.id,
            None,
            "no table is rewritten; the value cannot be removed again",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if let Some(labels) = ctx.catalog.enum_labels(&self.type_name)
            && let Some((_, neighbour)) = &self.position
            && !labels.contains(neighbour)
        {
            return Err(ctx.error(format!(
                "enum `{}` has no value '{neighbour}'",
                self.type_name.display()
            )));
        }
        let position = match &self.position {
            Some((true, v)) => format!(" BEFORE {}", literal(v)),
            Some((false, v)) => format!(" AFTER {}", literal(v)),
            None => String::new(),
        };
        let mut step = Step::database(Phase::Expand, format!("add-enum-value-{}", self.type_name.name), format!("add value '{}' to enum {}", self.value, self.type_name.display()))
            .sql(
                format!("ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{position}", qname(&self.type_name), literal(&self.value)),
                "re-runnable; the value becomes usable once this commits",
            )
            .irreversible("PostgreSQL cannot remove an enum value (the type would have to be recreated)")
            .note("Deploy code that writes the new value only after this stage: the running version may not know it.");
        if !ctx.pg().enum_add_value_in_transaction() {
            step = step
                .non_transactional()
                .note("PostgreSQL 11: ADD VALUE cannot run inside a transaction block.");
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        let mut labels = catalog
            .enum_labels(&self.type_name)
            .cloned()
            .unwrap_or_default();
        if !labels.contains(&self.value) {
            let at = match &self.position {
                Some((before, n)) => labels
                    .iter()
                    .position(|l| l == n)
                    .map(|i| if *before { i } else { i + 1 }),
                None => None,
            };
            labels.insert(at.unwrap_or(labels.len()), self.value.clone());
        }
        catalog.set_enum(&self.type_name, labels);
    }
}
