//! CREATE TYPE … AS ENUM: a new type that nothing uses yet; safe as written.

use super::{Assessment, Context, Op};
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "create-type",
    severity: None,
    summary: "CREATE TYPE … AS ENUM",
    why: "A new type: nothing uses it yet.",
    safe: "Run it as written.",
    example: "CREATE TYPE order_status AS ENUM ('new', 'paid');",
    mysql: "PostgreSQL only: MySQL and MariaDB have no enum types; an ENUM is a column type there (see changing-column-type).",
};

#[derive(Clone, Debug)]
pub struct CreateEnum {
    pub name: QName,
    pub labels: Vec<String>,
    pub sql: String,
}

impl Op for CreateEnum {
    fn tables(&self) -> Vec<QName> {
        // Types are not tables, but columns of any table may use this one: order it before
        // everything that follows (an empty list makes a change a barrier).
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment::safe(RULE.id, None, "a new type: nothing uses it yet")
    }

    fn expand(&self, _ctx: &Context) -> Result<Expansion, PlanError> {
        Ok(Expansion::single(
            Step::database(
                Phase::Expand,
                format!("create-type-{}", self.name.name),
                format!("create enum type {}", self.name.display()),
            )
            .sql(self.sql.clone(), "")
            .down_sql(format!("DROP TYPE IF EXISTS {}", qname(&self.name)), ""),
        ))
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.set_enum(&self.name, self.labels.clone());
    }
}
