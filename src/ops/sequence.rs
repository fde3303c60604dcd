//! CREATE SEQUENCE and ALTER SEQUENCE (PostgreSQL): catalog only. `ALTER SEQUENCE … AS bigint`
//! — the companion of an int → bigint key change, so the key's default can go past 2³¹ — and
//! `OWNED BY` take the sequence's lock for a moment (inserts drawing from it wait that long), and
//! never touch a table's rows.

use super::{Assessment, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::Rule;
use crate::schema::{Catalog, Sequence};

pub const RULE: Rule = Rule {
    id: "sequence-change",
    severity: None,
    summary: "CREATE SEQUENCE, ALTER SEQUENCE … AS / OWNED BY",
    why: "Sequences are catalog objects: creating one, changing its type (`AS bigint`) or its owning column rewrites no table. ALTER SEQUENCE holds the sequence's lock for a moment, so inserts that draw from it wait that long.",
    safe: "Run as written, after SET lock_timeout. After an int → bigint key change, `ALTER SEQUENCE … AS bigint` lets the key's default go past 2,147,483,647.",
    example: "ALTER SEQUENCE users_id_seq AS bigint;",
    mysql: "PostgreSQL only (MariaDB's sequences are not planned by safeshift).",
};

#[derive(Clone, Debug)]
pub struct SequenceChange {
    pub name: QName,
    pub create: bool,
    /// `IF NOT EXISTS` (create) or `IF EXISTS` (alter).
    pub if_exists: bool,
    pub data_type: Option<String>,
    /// `OWNED BY table.column` (`Some(Some(…))`) or `OWNED BY NONE` (`Some(None)`).
    pub owned_by: Option<Option<(QName, String)>>,
    /// Options safeshift does not model (INCREMENT, RESTART …): passed through, not undone.
    pub other_options: bool,
    pub sql: String,
}

fn owner_sql(owner: Option<&(QName, String)>) -> String {
    match owner {
        Some((table, column)) => format!("{}.{}", qname(table), quote(column)),
        None => "NONE".to_string(),
    }
}

impl SequenceChange {
    /// The ALTER SEQUENCE that puts back what this one changes, when the catalog knows it.
    fn undo(&self, ctx: &Context) -> Result<String, String> {
        if self.other_options {
            return Err("it changes options safeshift does not keep (INCREMENT, RESTART …)".into());
        }
        let Some(before) = ctx.catalog.sequence(&self.name) else {
            return Err(format!(
                "the schema does not say how {} was before",
                self.name.display()
            ));
        };
        let mut parts = Vec::new();
        if self.data_type.is_some() {
            parts.push(format!("AS {}", before.data_type));
        }
        if self.owned_by.is_some() {
            parts.push(format!("OWNED BY {}", owner_sql(before.owned_by.as_ref())));
        }
        Ok(format!(
            "ALTER SEQUENCE {} {}",
            qname(&self.name),
            parts.join(" ")
        ))
    }
}

impl Op for SequenceChange {
    fn tables(&self) -> Vec<QName> {
        // Not a table; a column default may name it: ordered like a type, before what follows.
        Vec::new()
    }

    fn existing_tables(&self) -> Vec<QName> {
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        let why = if self.create {
            "a new sequence: nothing uses it yet"
        } else {
            "catalog only: the sequence's lock is held for a moment"
        };
        let lock = (!self.create).then_some(LockMode::ShareRowExclusive);
        Assessment::safe(RULE.id, lock, why)
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let slug = format!(
            "{}-sequence-{}",
            if self.create { "create" } else { "alter" },
            self.name.name
        );
        if self.create {
            let mut step = Step::database(
                Phase::Expand,
                slug,
                format!("create sequence {}", self.name.display()),
            )
            .sql(self.sql.clone(), "");
            step = if self.if_exists && ctx.catalog.sequence(&self.name).is_some() {
                step.down_sql(
                    format!(
                        "SELECT {} AS note",
                        crate::dialect::postgres::literal(&format!(
                            "nothing to undo: {} existed before",
                            self.name.display()
                        ))
                    ),
                    "IF NOT EXISTS on a sequence that was already there changes nothing",
                )
            } else {
                step.down_sql(format!("DROP SEQUENCE IF EXISTS {}", qname(&self.name)), "")
            };
            return Ok(Expansion::single(step));
        }
        let step = Step::database(
            Phase::Expand,
            slug,
            format!("alter sequence {}", self.name.display()),
        )
        .sql(self.sql.clone(), "catalog only")
        .lock(self.name.display(), LockMode::ShareRowExclusive, "brief");
        let step = match self.undo(ctx) {
            Ok(undo) => step.down_sql(undo, ""),
            Err(why) => step.irreversible(why),
        };
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        let mut sequence = match catalog.sequence(&self.name) {
            Some(existing) if !self.create => existing.clone(),
            Some(_) if self.if_exists => return,
            _ => Sequence {
                name: self.name.clone(),
                data_type: "bigint".to_string(),
                owned_by: None,
            },
        };
        if !self.create && catalog.sequence(&self.name).is_none() {
            return;
        }
        if let Some(data_type) = &self.data_type {
            sequence.data_type = data_type.clone();
        }
        if let Some(owner) = &self.owned_by {
            sequence.owned_by = owner.clone();
        }
        catalog.set_sequence(sequence);
    }
}
