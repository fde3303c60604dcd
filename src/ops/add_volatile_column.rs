//! ADD COLUMN with a volatile default (`clock_timestamp()`, `gen_random_uuid()`, an unknown
//! function): PostgreSQL must compute a value per row, so it rewrites the whole table under ACCESS
//! EXCLUSIVE. Safe path: add it without the default, set the default (new rows only), backfill
//! existing rows in batches, then NOT NULL through a validated check if asked for.
//! PostgreSQL's `serial` columns are the same case (the sequence is created first), and so are
//! identity columns, which end converted: the default dropped and `ADD GENERATED … AS IDENTITY`
//! restarted past the backfilled values, in one brief transaction. A stored generated column has
//! no online path that ends in a generated column: refused, with the reason.
//! MySQL/MariaDB: a default computed per row (`DEFAULT (uuid())`) copies the table; the same path
//! applies, with INSTANT steps and an in-place NOT NULL rebuild.

use super::add_column::{add_column_step, add_column_step_mysql};
use super::recipes::mysql as my;
use super::recipes::{backfill_for, helper_name, not_null_step};
use super::{Assessment, ColumnPosition, Context, Op};
use crate::dialect::LockMode;
use crate::dialect::postgres::{dollar_tag, literal, qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase};
use crate::plan::{Sql, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column, Generated, Sequence};

pub const RULE: Rule = Rule {
    id: "adding-column-with-volatile-default",
    severity: Some(Severity::Error),
    summary: "ADD COLUMN with a volatile default (clock_timestamp(), random(), gen_random_uuid(), …), or an identity, serial or stored generated column",
    why: "A volatile default is computed for every existing row, so PostgreSQL rewrites the table and all its indexes under ACCESS EXCLUSIVE: every read and write waits for the rewrite. (Constant and stable defaults such as now() are catalog-only since PostgreSQL 11.)",
    safe: "Add the column without a default, set the default so new rows get it, backfill existing rows in batches, then add NOT NULL the safe way if wanted.",
    example: "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
    mysql: "A default computed per row (`DEFAULT (uuid())`, `(rand())`) makes MySQL and MariaDB copy the table while writes wait; the current time (`DEFAULT CURRENT_TIMESTAMP`) and constant expressions stay INSTANT. Add the column without the default (INSTANT), SET DEFAULT (INSTANT; new rows only), backfill in batches, then MODIFY it NOT NULL in place if wanted.",
};

#[derive(Clone, Debug)]
pub struct AddVolatileColumn {
    pub table: QName,
    pub column: Column,
    /// MySQL: `FIRST` or `AFTER col`.
    pub position: Option<ColumnPosition>,
    /// What fills existing rows.
    pub filled: Filled,
}

/// Where a new column's values come from.
#[derive(Clone, Debug)]
pub enum Filled {
    /// Its volatile default.
    Default,
    /// A `serial`: its default draws from this new sequence, which it owns.
    Serial(Sequence),
    /// An identity column (PostgreSQL): filled from a helper sequence, then converted.
    Identity { always: bool, options: String },
    /// A stored generated column (PostgreSQL): no online path.
    StoredGenerated,
}

impl AddVolatileColumn {
    /// The column as written, for a table created in the same change (nothing to stage).
    fn definition(&self) -> String {
        let mut sql = format!(
            "{} {}",
            crate::dialect::postgres::quote(&self.column.name),
            self.column.data_type
        );
        match &self.filled {
            Filled::Identity { always, options } => {
                sql.push_str(&format!(
                    " GENERATED {} AS IDENTITY",
                    if *always { "ALWAYS" } else { "BY DEFAULT" }
                ));
                if !options.trim().is_empty() {
                    sql.push_str(&format!(" ({})", options.trim()));
                }
            }
            _ => {
                if let Some(default) = &self.column.default {
                    sql.push_str(&format!(" DEFAULT {default}"));
                }
                if self.column.not_null {
                    sql.push_str(" NOT NULL");
                }
            }
        }
        sql
    }
}

impl AddVolatileColumn {
    /// An identity column without a rewrite: filled from a helper sequence like a `serial`,
    /// made NOT NULL, then converted — default dropped, `ADD GENERATED … AS IDENTITY` restarted
    /// past the values given out — in one brief transaction.
    fn expand_identity(
        &self,
        ctx: &Context,
        always: bool,
        options: &str,
    ) -> Result<Expansion, PlanError> {
        let (t, c) = (qname(&self.table), quote(&self.column.name));
        let helper = self
            .table
            .sibling(helper_name(&self.table, &self.column.name, "seq"));
        let s = qname(&helper);
        let data_type = self.column.data_type.to_string();
        let next = format!("nextval({}::regclass)", literal(&s));
        let bare = Column {
            not_null: false,
            default: None,
            generated: None,
            ..self.column.clone()
        };
        let mut add = add_column_step(&self.table, &bare, false);
        add.up.insert(
            0,
            Sql {
                text: format!("CREATE SEQUENCE {s} AS {data_type}{options}"),
                why: Some("numbers the rows until the column becomes an identity".into()),
            },
        );
        add = add
            .sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {next}"),
                "new rows are numbered from now on; existing rows by the backfill",
            )
            .sql(format!("ALTER SEQUENCE {s} OWNED BY {t}.{c}"), "")
            .down_sql(format!("DROP SEQUENCE IF EXISTS {s}"), "");
        add.title = format!(
            "add column {}.{} (no rewrite), numbered by a sequence for new rows",
            self.table.display(),
            self.column.name
        );
        let mut steps = vec![add];
        steps.push(
            backfill_for(
                ctx,
                &self.table,
                &self.column.name,
                &next,
                &format!("{c} IS NULL"),
            )?
            .after(&[0]),
        );
        steps.push(not_null_step(ctx, &self.table, &self.column.name, Phase::Migrate).after(&[1]));
        let kind = if always { "ALWAYS" } else { "BY DEFAULT" };
        let identity_options = if options.trim().is_empty() {
            String::new()
        } else {
            format!(" ({})", options.trim())
        };
        let restart = format!(
            "BEGIN IF to_regclass({}) IS NOT NULL THEN EXECUTE format('ALTER TABLE %s ALTER COLUMN %I RESTART WITH %s', {}, {}, {next}); END IF; END",
            literal(&s),
            literal(&t),
            literal(&self.column.name)
        );
        let restart_tag = dollar_tag(&restart);
        let back = format!(
            "BEGIN PERFORM setval({}, nextval(pg_get_serial_sequence({}, {})), false); END",
            literal(&s),
            literal(&t),
            literal(&self.column.name)
        );
        let back_tag = dollar_tag(&back);
        let convert = Step::database(
            Phase::Migrate,
            format!("identity-{}-{}", self.table.name, self.column.name),
            format!(
                "make {}.{} an identity column",
                self.table.display(),
                self.column.name
            ),
        )
        .after(&[2])
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .sql(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"), "")
        .sql(
            format!("ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED {kind} AS IDENTITY{identity_options}"),
            "catalog only: the column is NOT NULL and filled",
        )
        .sql(
            format!("DO {restart_tag} {restart} {restart_tag}"),
            "the identity goes on after the last number given out",
        )
        .sql(format!("DROP SEQUENCE {s}"), "")
        .down_sql(format!("CREATE SEQUENCE {s} AS {data_type}{options}"), "")
        .down_sql(format!("DO {back_tag} {back} {back_tag}"), "")
        .down_sql(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY"), "")
        .down_sql(format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {next}"), "")
        .down_sql(format!("ALTER SEQUENCE {s} OWNED BY {t}.{c}"), "");
        steps.push(convert);
        // Later changes of the column (a primary key on it) wait until it is filled and NOT NULL.
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }
}

impl Op for AddVolatileColumn {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.name.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "the table was created in this change and is empty",
            );
        }
        if ctx.dialect.is_mysql() {
            return Assessment::staged(
                RULE.id,
                LockMode::MetadataNoWrite,
                true,
                false,
                "a default computed per row makes the server copy the table while writes wait",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            match self.filled {
                Filled::Default => {
                    "a volatile default is computed for every existing row: the table and its indexes are rewritten under ACCESS EXCLUSIVE"
                }
                Filled::Serial(_) => {
                    "a serial column's default is drawn for every existing row: the table and its indexes are rewritten under ACCESS EXCLUSIVE"
                }
                Filled::Identity { .. } => {
                    "an identity column is numbered for every existing row: the table and its indexes are rewritten under ACCESS EXCLUSIVE"
                }
                Filled::StoredGenerated => {
                    "a stored generated column is computed for every existing row: the table and its indexes are rewritten under ACCESS EXCLUSIVE"
                }
            },
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if let Filled::StoredGenerated = self.filled
            && !ctx.is_new_table(&self.table)
        {
            return Err(ctx
                    .error(format!(
                        "adding the stored generated column `{}.{}` rewrites the table under ACCESS EXCLUSIVE, and no online path ends with a generated column",
                        self.table.display(),
                        self.column.name
                    ))
                    .help("add a plain column filled by a trigger instead (`-- safeshift: backfill = EXPR` above an ADD COLUMN without GENERATED), or run it in a maintenance window; PostgreSQL 18 can add a VIRTUAL one without a rewrite"));
        }
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(if ctx.dialect.is_mysql() {
                add_column_step_mysql(ctx, &self.table, &self.column, self.position.as_ref())
            } else if let Filled::Default = self.filled {
                add_column_step(&self.table, &self.column, false)
            } else {
                let mut step = add_column_step(&self.table, &self.column, false);
                if let Some(add) = step.up.first_mut() {
                    add.text = format!(
                        "ALTER TABLE {} ADD COLUMN {}",
                        ctx.qname(&self.table),
                        self.definition()
                    );
                }
                step
            }));
        }
        if let Filled::Identity { always, options } = &self.filled {
            return self.expand_identity(ctx, *always, options);
        }
        let Some(default) = &self.column.default else {
            return Err(ctx.error("internal error: volatile column without a default"));
        };
        let bare = Column {
            not_null: false,
            default: None,
            ..self.column.clone()
        };
        let (t, c) = (ctx.qname(&self.table), ctx.quote(&self.column.name));
        let why = "new rows get a value from now on; existing rows are filled by the backfill";
        let mut add = if ctx.dialect.is_mysql() {
            let set = my::alter(
                ctx,
                &self.table,
                &[format!("ALTER COLUMN {c} SET DEFAULT {default}")],
                my::target(ctx).metadata_change(),
            );
            add_column_step_mysql(ctx, &self.table, &bare, self.position.as_ref()).sql(set, why)
        } else {
            add_column_step(&self.table, &bare, false).sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"),
                why,
            )
        };
        add.title = format!(
            "add column {}.{} (no rewrite) with its default for new rows",
            self.table.display(),
            self.column.name
        );
        if let Filled::Serial(sequence) = &self.filled {
            // The sequence first, owned by the column once it exists: as `serial` leaves it.
            let s = qname(&sequence.name);
            add.up.insert(
                0,
                Sql {
                    text: format!("CREATE SEQUENCE {s} AS {}", sequence.data_type),
                    why: Some("the sequence the serial column draws from".into()),
                },
            );
            add = add
                .sql(
                    format!("ALTER SEQUENCE {s} OWNED BY {t}.{c}"),
                    "dropped with the column, as serial's is",
                )
                .down_sql(format!("DROP SEQUENCE IF EXISTS {s}"), "");
        }
        let mut steps = vec![add];
        steps.push(
            backfill_for(
                ctx,
                &self.table,
                &self.column.name,
                &default.to_string(),
                &format!("{c} IS NULL"),
            )?
            .after(&[0]),
        );
        if self.column.not_null {
            let step = if ctx.dialect.is_mysql() {
                my::not_null_step(ctx, &self.table, &self.column, Phase::Migrate)
            } else {
                not_null_step(ctx, &self.table, &self.column.name, Phase::Migrate)
            };
            steps.push(step.after(&[1]));
        }
        // Later changes of the column (a primary key on it) wait until it is filled and NOT NULL.
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && t.column(&self.column.name).is_none()
        {
            let mut column = self.column.clone();
            match &self.filled {
                Filled::Identity { always, options } => {
                    column.generated = Some(Generated::Identity {
                        always: *always,
                        options: options.clone(),
                    })
                }
                Filled::StoredGenerated => column.generated = Some(Generated::Stored),
                _ => {}
            }
            t.columns.push(column);
        }
        if let Filled::Serial(sequence) = &self.filled {
            catalog.set_sequence(sequence.clone());
        }
    }
}
