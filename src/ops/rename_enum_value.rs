//! ALTER TYPE … RENAME VALUE: the label changes in every row the moment it commits. The running
//! app still writes and compares the old label: its writes with it fail and its filters on it
//! find nothing. There is no staged plan that ends with the same type (PostgreSQL cannot drop an
//! enum value), so `plan` refuses and says the way; `gate` treats it as destructive.

use super::{Assessment, Context, Op, Risk};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::Expansion;
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "renaming-enum-value",
    severity: Some(Severity::Error),
    summary: "ALTER TYPE … RENAME VALUE on an enum the running app uses",
    why: "Every row's label changes the moment the statement commits. The running app version still writes the old label, and those inserts and updates fail (`invalid input value for enum`); its queries that filter on the old label find nothing.",
    safe: "Add the new label instead (ALTER TYPE … ADD VALUE), deploy code that reads both labels and writes the new one, move the rows to it in batches, then stop using the old label. PostgreSQL cannot drop an enum value, so the old label stays in the type; safeshift has no plan that ends with the type renamed in place, and refuses to write one.",
    example: "ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled';",
    mysql: "PostgreSQL only: MySQL and MariaDB enums belong to their column; renaming a member is a MODIFY COLUMN that copies the table (see changing-column-type).",
};

#[derive(Clone, Debug)]
pub struct RenameEnumValue {
    pub type_name: QName,
    pub from: String,
    pub to: String,
}

impl Op for RenameEnumValue {
    fn tables(&self) -> Vec<QName> {
        Vec::new()
    }

    fn assess(&self, _ctx: &Context) -> Assessment {
        Assessment {
            rule: RULE.id,
            risk: Risk::Destructive,
            lock: None,
            scans_table: false,
            breaks_old_app: true,
            why: format!(
                "the running app's writes of '{}' fail once the rename of {} commits",
                self.from,
                self.type_name.display()
            ),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        Err(ctx
            .error(format!(
                "renaming the value '{}' of {} breaks the running app at once, and no staged plan ends with the type renamed in place",
                self.from,
                self.type_name.display()
            ))
            .help(format!(
                "add '{}' with ALTER TYPE … ADD VALUE, deploy code that reads both and writes '{}', move the rows in batches, then stop using '{}' (or rename in a maintenance window)",
                self.to, self.to, self.from
            )))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(labels) = catalog.enum_labels(&self.type_name).cloned() {
            let labels = labels
                .into_iter()
                .map(|l| if l == self.from { self.to.clone() } else { l })
                .collect();
            catalog.set_enum(&self.type_name, labels);
        }
    }
}
