//! CREATE TABLE: safe as written. Nothing reads or writes a table that does not exist yet, and
//! later changes in the same file on this table need no staging either.

use super::{Assessment, Context, Op};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::{Catalog, Column, Constraint, Index, Sequence, Table};

pub const RULE: Rule = Rule {
    id: "create-table",
    severity: None,
    summary: "CREATE TABLE",
    why: "A new table: no running code reads or writes it yet, and nobody else waits for its lock.",
    safe: "Run it as written. Indexes, constraints and NOT NULL columns on a table created in the same migration are fine too: the table is empty.",
    example: "CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric NOT NULL);",
    mysql: "",
};

#[derive(Clone, Debug)]
pub struct CreateTable {
    pub table: QName,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    /// MySQL: `KEY`/`INDEX` written inside the CREATE TABLE.
    pub indexes: Vec<Index>,
    /// The sequences its `serial` columns own.
    pub sequences: Vec<Sequence>,
    /// `CREATE TEMPORARY TABLE`: it lives only in the session that creates it.
    pub temporary: bool,
    /// `PARTITION BY …`.
    pub partitioned: bool,
    /// `PARTITION OF parent`.
    pub partition_of: Option<QName>,
    /// What the query of `CREATE TABLE … AS` reads: the table is made after those are in place.
    pub query_reads: Vec<QName>,
    /// The statement as written: passed through unchanged.
    pub sql: String,
}

impl Op for CreateTable {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn reads(&self, _catalog: &Catalog) -> Vec<QName> {
        self.query_reads.clone()
    }

    fn existing_tables(&self) -> Vec<QName> {
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment::safe(RULE.id, None, "a new table: no running code uses it yet")
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        Ok(Expansion::single(
            Step::database(
                Phase::Expand,
                format!("create-table-{}", self.table.name),
                format!("create table {}", self.table.display()),
            )
            .sql(self.sql.clone(), "a new table: nothing uses it yet")
            .down_sql(
                format!("DROP TABLE IF EXISTS {}", ctx.qname(&self.table)),
                "",
            ),
        ))
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.insert_table(Table {
            name: self.table.clone(),
            columns: self.columns.clone(),
            constraints: self.constraints.clone(),
            indexes: Vec::new(),
            partitioned: self.partitioned,
            partition_of: self.partition_of.clone(),
            first_name: None,
        });
        for index in &self.indexes {
            catalog.insert_index(index.clone());
        }
        for sequence in &self.sequences {
            catalog.set_sequence(sequence.clone());
        }
    }
}
