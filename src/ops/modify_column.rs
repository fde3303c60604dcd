//! MySQL's `MODIFY [COLUMN] c <definition>` and `CHANGE [COLUMN] old new <definition>`: the whole
//! column restated. What that does depends on what differs from the current definition, so this
//! kind compares against the schema and hands the change to the kind that knows it: a type
//! change (`change_column_type`), NULL → NOT NULL (`set_not_null`), a pure rename
//! (`rename_column`); anything else that stays in place (defaults, widening a VARCHAR, appending
//! ENUM members, NOT NULL → NULL) is one ALTER with the algorithm it needs pinned. Without
//! `--schema` nothing can be told, and the rule below says so.

use super::change_column_type::{ChangeColumnType, mysql_in_place, mysql_type};
use super::recipes::mysql as my;
use super::rename_column::RenameColumn;
use super::set_not_null::SetNotNull;
use super::{Assessment, ColumnPosition, Context, Op};
use crate::dialect::{Algorithm, LockMode};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column};

pub const RULE: Rule = Rule {
    id: "modifying-column",
    severity: Some(Severity::Warning),
    summary: "MODIFY/CHANGE COLUMN that safeshift cannot compare with the schema (MySQL/MariaDB)",
    why: "A MODIFY restates the whole column. Whether it is metadata only, an in-place rebuild or a table copy that blocks writes depends on what differs from the current definition, which is unknown without the schema.",
    safe: "Give safeshift the schema (`--schema`, e.g. `mysqldump --no-data`): it then tells a type change (table copy) from a new default (INSTANT) or NOT NULL (in-place rebuild) and plans each.",
    example: "ALTER TABLE users MODIFY COLUMN name varchar(200) NOT NULL;",
    mysql: "",
};

#[derive(Clone, Debug)]
pub struct ModifyColumn {
    pub table: QName,
    /// The column as it is named now (`CHANGE old new` renames it to `column.name`).
    pub from: String,
    /// The new definition, as written.
    pub column: Column,
    pub position: Option<ColumnPosition>,
}

/// What the MODIFY amounts to, against the current column.
enum Delta {
    /// Only the name: a rename.
    Rename(RenameColumn),
    /// A type change that copies the table (or needs the column copy).
    Retype(Box<ChangeColumnType>),
    /// Only NULL → NOT NULL.
    NotNull(SetNotNull),
    /// Anything that stays in place: one ALTER with this algorithm.
    InPlace(Algorithm),
    /// Renaming and redefining at once.
    RenameAndMore,
}

/// Column attributes compared the way the server reads them: a dump writes `CHECK (`a` is null)`
/// for the `CHECK (a IS NULL)` a migration wrote (identifier quotes and the case of words outside
/// string literals do not matter).
fn same_extras(old: &[String], new: &[String]) -> bool {
    fn normal(text: &str) -> String {
        let mut out = String::new();
        let mut quoted = false;
        for c in text.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    out.push(c);
                }
                '`' if !quoted => {}
                _ if quoted => out.push(c),
                _ => out.extend(c.to_uppercase()),
            }
        }
        out
    }
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| normal(a) == normal(b))
}

impl ModifyColumn {
    fn delta(&self, ctx: &Context, old: &Column) -> Delta {
        let new = &self.column;
        let same_type = mysql_type(&old.data_type) == mysql_type(&new.data_type);
        let same_rest = old.not_null == new.not_null
            && old.default.as_ref().map(|d| d.to_string())
                == new.default.as_ref().map(|d| d.to_string())
            && same_extras(&old.extra, &new.extra)
            && self.position.is_none();
        if new.name != self.from {
            return if same_type && same_rest {
                Delta::Rename(RenameColumn {
                    table: self.table.clone(),
                    from: self.from.clone(),
                    to: new.name.clone(),
                })
            } else {
                Delta::RenameAndMore
            };
        }
        let target = my::target(ctx);
        let in_place = mysql_in_place(target, &old.data_type, &new.data_type);
        let retype = || {
            Delta::Retype(Box::new(ChangeColumnType {
                table: self.table.clone(),
                column: self.from.clone(),
                data_type: new.data_type.clone(),
                using: None,
                target: Some(Box::new(new.clone())),
            }))
        };
        // Changing CHARACTER SET / COLLATE and the like rewrites the values: a copy.
        if in_place.is_none() || !same_extras(&old.extra, &new.extra) {
            return retype();
        }
        let defaults_equal = old.default.as_ref().map(|d| d.to_string())
            == new.default.as_ref().map(|d| d.to_string());
        if same_type && !old.not_null && new.not_null && defaults_equal && self.position.is_none() {
            return Delta::NotNull(SetNotNull {
                table: self.table.clone(),
                column: self.from.clone(),
            });
        }
        let mut algorithm = in_place.unwrap_or(Algorithm::Instant);
        if old.not_null != new.not_null {
            algorithm = algorithm.max(target.change_nullability());
        }
        if self.position.is_some() {
            // Moving a column: INSTANT on MariaDB 10.4+, an in-place rebuild on MySQL.
            algorithm = algorithm.max(if target.is_mariadb() {
                target.add_column(false)
            } else {
                Algorithm::InplaceRebuild
            });
        }
        Delta::InPlace(algorithm)
    }

    fn old<'a>(&self, ctx: &'a Context) -> Option<&'a Column> {
        ctx.catalog.column(&self.table, &self.from)
    }

    fn restate(&self, ctx: &Context, column: &Column) -> String {
        let mut action = format!(
            "MODIFY COLUMN {}",
            my::column_def(ctx, column, column.not_null, true)
        );
        if let Some(p) = &self.position {
            action.push(' ');
            action.push_str(&p.sql(ctx.dialect));
        }
        action
    }
}

impl Op for ModifyColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.from.clone(), self.column.name.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        let unknown = || {
            Assessment::staged(
                RULE.id,
                LockMode::MetadataNoWrite,
                true,
                false,
                format!(
                    "MODIFY restates {}.{}: without the schema safeshift cannot tell a metadata change from a table copy that blocks writes",
                    self.table.display(),
                    self.from
                ),
            )
        };
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::MetadataExclusive),
                "the table was created in this change and is empty",
            );
        }
        let Some(old) = self.old(ctx) else {
            return unknown();
        };
        match self.delta(ctx, old) {
            Delta::Rename(op) => op.assess(ctx),
            Delta::Retype(op) => op.assess(ctx),
            Delta::NotNull(op) => op.assess(ctx),
            Delta::InPlace(algorithm) => {
                Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe())
            }
            Delta::RenameAndMore => unknown(),
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let title = format!("restate {}.{}", self.table.display(), self.from);
        let slug = format!("modify-{}-{}", self.table.name, self.from);
        if ctx.is_new_table(&self.table) {
            let step = Step::database(Phase::Expand, slug, title).sql(
                my::alter(
                    ctx,
                    &self.table,
                    &[self.restate(ctx, &self.column)],
                    Algorithm::Copy,
                ),
                "the table is new and empty",
            );
            return Ok(Expansion::single(step));
        }
        let Some(old) = self.old(ctx) else {
            return Err(ctx
                .error(format!(
                    "MODIFY/CHANGE COLUMN restates `{}.{}`: safeshift needs the current definition to tell what changes",
                    self.table.display(),
                    self.from
                ))
                .help("pass the current schema with --schema (for example the output of `mysqldump --no-data`)"));
        };
        match self.delta(ctx, old) {
            Delta::Rename(op) => op.expand(ctx),
            Delta::Retype(op) => op.expand(ctx),
            Delta::NotNull(op) => op.expand(ctx),
            Delta::RenameAndMore => Err(ctx
                .error(format!(
                    "CHANGE COLUMN renames `{}` and changes its definition at once",
                    self.from
                ))
                .help("split it: one CHANGE COLUMN that only renames, and a MODIFY COLUMN for the rest")),
            Delta::InPlace(algorithm) => {
                let step = Step::database(Phase::Expand, slug, title)
                    .sql(
                        my::alter(
                            ctx,
                            &self.table,
                            &[self.restate(ctx, &self.column)],
                            algorithm,
                        ),
                        algorithm.describe(),
                    )
                    .down_sql(
                        my::alter(
                            ctx,
                            &self.table,
                            &[format!(
                                "MODIFY COLUMN {}",
                                my::column_def(ctx, old, old.not_null, true)
                            )],
                            Algorithm::Copy,
                        ),
                        "going back may copy the table",
                    );
                Ok(Expansion::single(my::alter_locks(
                    step,
                    &self.table,
                    algorithm,
                )))
            }
        }
    }

    fn apply(&self, catalog: &mut Catalog) {
        if self.column.name != self.from {
            catalog.rename_column(&self.table, &self.from, &self.column.name);
        }
        if let Some(t) = catalog.table_mut(&self.table)
            && let Some(c) = t.columns.iter_mut().find(|c| c.name == self.column.name)
        {
            *c = self.column.clone();
        }
    }
}
