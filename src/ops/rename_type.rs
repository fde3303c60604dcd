//! ALTER TYPE … RENAME TO: a catalog-only rename, over in a moment, and every column, default and
//! cast keeps working because PostgreSQL binds them to the type, not to its name. What breaks is
//! the running app where it names the type: casts in its SQL (`'Hot'::sort_type`) and ORMs that
//! look the type up by name (Diesel's `postgres_type(name = …)`, asyncpg and sqlx codecs). There
//! is no way to keep both names alive, so the plan is one short step, sequenced with the deploy of
//! the code that names the new type.

use super::{Assessment, Context, Op, Risk};
use crate::dialect::LockMode;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "renaming-type",
    severity: Some(Severity::Warning),
    summary: "ALTER TYPE … RENAME TO on a type the running app may name",
    why: "The rename itself is catalog-only and brief, and columns, defaults and constraints follow the type. But the running app version's SQL that names the type (casts such as 'x'::old_name) fails from the moment it commits, and ORMs that look custom types up by name (Diesel, asyncpg and sqlx codecs) stop finding it.",
    safe: "If no code names the type, run it as written. Otherwise deploy the code that names the new type right after the rename (there is no way to keep both names alive), or keep the old name.",
    example: "ALTER TYPE sort_type RENAME TO post_sort_type;",
    mysql: "PostgreSQL only: MySQL and MariaDB have no named types.",
};

#[derive(Clone, Debug)]
pub struct RenameType {
    pub from: QName,
    /// The new name, in the same schema.
    pub to: String,
}

impl Op for RenameType {
    fn tables(&self) -> Vec<QName> {
        // Every column of the type follows it: ordered with everything around it in the file.
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment {
            rule: RULE.id,
            risk: Risk::Destructive,
            lock: Some(LockMode::AccessExclusive),
            scans_table: false,
            breaks_old_app: true,
            why: format!(
                "the running app's SQL that names {} fails once the rename commits",
                self.from.display()
            ),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let to = self.from.sibling(self.to.clone());
        if ctx.schema_known && ctx.catalog.enum_labels(&to).is_some() {
            return Err(ctx.error(format!("type `{}` already exists", to.display())));
        }
        let step = Step::database(
            Phase::Expand,
            format!("rename-type-{}", self.to),
            format!("rename type {} to {}", self.from.display(), self.to),
        )
        .sql(
            format!("ALTER TYPE {} RENAME TO {}", qname(&self.from), quote(&self.to)),
            "catalog-only: columns, defaults and constraints follow the type",
        )
        .down_sql(
            format!("ALTER TYPE {} RENAME TO {}", qname(&to), quote(&self.from.name)),
            "",
        )
        .lock(self.from.display(), LockMode::AccessExclusive, "brief")
        .note(format!(
            "Code that names {} (casts like '…'::{}, ORM type mappings) fails from this stage on: deploy the code that names {} right after it.",
            self.from.display(),
            self.from.name,
            self.to
        ));
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        catalog.rename_type(&self.from, &self.from.sibling(self.to.clone()));
    }
}
