//! One file per kind of schema change. Each file owns everything safeshift knows about its kind:
//! the struct that describes it, the rule id, how risky it is as written (`assess`), the safe
//! steps it expands into (`expand`), and how it changes the catalog (`apply`).
//!
//! Adding a kind: a new file here, a variant in `change::Change` plus its lowering arm, and a
//! fixture under `tests/fixtures/ops/<kind>.sql` (the registry test fails until all three exist).

use std::collections::BTreeSet;

use serde::Serialize;
use sqlparser::ast::Expr;
use sqlparser::parser::Parser;

use crate::dialect::{Dialect, LockMode, Postgres};
use crate::error::{PlanError, Pos};
use crate::name::QName;
use crate::parse::Directive;
use crate::plan::Expansion;
use crate::rules::Rule;
use crate::schema::Catalog;

pub mod add_check;
pub mod add_column;
pub mod add_enum_value;
pub mod add_foreign_key;
pub mod add_primary_key;
pub mod add_required_column;
pub mod add_unique;
pub mod add_volatile_column;
pub mod catalog_only;
pub mod change_column_type;
pub mod create_enum;
pub mod create_index;
pub mod create_table;
pub mod data_change;
pub mod detach_partition;
pub mod drop_column;
pub mod drop_index;
pub mod drop_table;
pub mod modify_column;
pub mod other;
pub mod recipes;
pub mod reindex;
pub mod rename_column;
pub mod rename_enum_value;
pub mod rename_table;
pub mod rename_type;
pub mod sequence;
pub mod set_not_null;
pub mod view;

/// The interface every kind of change implements.
pub trait Op {
    /// Tables this change touches (for ordering changes on the same table).
    fn tables(&self) -> Vec<QName>;
    /// Tables that must already exist (with `--schema`, a missing one is an input error).
    fn existing_tables(&self) -> Vec<QName> {
        self.tables()
    }
    /// Relations, besides [`Op::tables`], that this change must be ordered with in file order
    /// (what a view being dropped read, what a `CREATE TABLE … AS` query reads).
    fn reads(&self, _catalog: &crate::schema::Catalog) -> Vec<QName> {
        Vec::new()
    }
    /// Of [`Op::tables`], those it only reads (a view's query): two changes that only read a
    /// table need no order between them, so views made again over one table share a stage.
    fn reads_only(&self) -> Vec<QName> {
        Vec::new()
    }
    /// The columns of those tables it touches; empty means the whole table. Two changes on the
    /// same table are ordered only when their columns overlap or one of them is table-wide.
    fn columns(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether it adds a constraint that the values of `table.column` must satisfy: ADD COLUMN +
    /// UPDATE + such a constraint is one filled column, and the constraint waits for its backfill.
    fn constrains(&self, _table: &QName, _column: &str) -> bool {
        false
    }
    /// How risky the change is as written.
    fn assess(&self, ctx: &Context) -> Assessment;
    /// The safe steps. Pure: reads only `ctx`.
    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError>;
    /// Records the change's effect in the catalog, so later changes see the schema as it will be.
    fn apply(&self, catalog: &mut Catalog);
    /// Whether PostgreSQL accepts the statement as written inside a transaction block.
    fn runs_in_transaction(&self, _pg: Postgres) -> bool {
        true
    }
    /// A constraint added NOT VALID: its name, its rule, and the lock the ADD holds until COMMIT
    /// (validating it in the same transaction scans under that lock).
    fn adds_not_valid(&self) -> Option<(&str, &'static Rule, LockMode)> {
        None
    }
    /// The constraint this change validates.
    fn validates(&self) -> Option<&str> {
        None
    }
}

/// What happens if the change runs as written on a busy production database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// kebab-case id of the risky pattern, shared with `lint`.
    pub rule: &'static str,
    pub risk: Risk,
    /// The strongest lock the naive statement takes.
    pub lock: Option<LockMode>,
    /// True when the naive statement rewrites or scans the whole table under that lock.
    pub scans_table: bool,
    /// True when the running (old) application version breaks.
    pub breaks_old_app: bool,
    /// One sentence: what goes wrong, or why it is fine.
    pub why: String,
}

/// The deploy decision a change needs (shared with `gate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Online-safe as one short step.
    Safe,
    /// Needs an expand/contract plan.
    Staged,
    /// Destroys data or breaks running code unless sequenced with a deploy.
    Destructive,
    /// Not understood: passed through as written.
    Unknown,
}

impl Assessment {
    pub fn safe(rule: &'static str, lock: Option<LockMode>, why: impl Into<String>) -> Assessment {
        Assessment {
            rule,
            risk: Risk::Safe,
            lock,
            scans_table: false,
            breaks_old_app: false,
            why: why.into(),
        }
    }

    pub fn staged(
        rule: &'static str,
        lock: LockMode,
        scans_table: bool,
        breaks_old_app: bool,
        why: impl Into<String>,
    ) -> Assessment {
        Assessment {
            rule,
            risk: Risk::Staged,
            lock: Some(lock),
            scans_table,
            breaks_old_app,
            why: why.into(),
        }
    }
}

/// MySQL's `FIRST` / `AFTER col` of an added or modified column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnPosition {
    First,
    After(String),
}

impl ColumnPosition {
    pub fn sql(&self, dialect: Dialect) -> String {
        match self {
            ColumnPosition::First => "FIRST".to_string(),
            ColumnPosition::After(column) => format!("AFTER {}", dialect.quote(column)),
        }
    }
}

/// How the old and new column or table are kept in sync while both exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DualWrite {
    /// Database triggers keep both in sync: the running app needs no change.
    #[default]
    Trigger,
    /// The application writes both: the plan has application stages that say what to write.
    App,
}

impl std::fmt::Display for DualWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DualWrite::Trigger => "trigger",
            DualWrite::App => "app",
        })
    }
}

/// A `--backfill TABLE.COLUMN=EXPR` from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillOption {
    pub table: QName,
    pub column: String,
    pub expr: String,
}

/// MySQL/MariaDB: the online schema change tool that copies a table instead of triggers and a
/// batched backfill written into the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnlineTool {
    /// GitHub's gh-ost: triggerless, reads the binlog; throttles on replica lag
    GhOst,
    /// Percona's pt-online-schema-change: triggers and chunked copy
    PtOsc,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub backfills: Vec<BackfillOption>,
    pub dual_write: DualWrite,
    /// MySQL/MariaDB: changes that copy a table run with this tool instead of native steps.
    pub online_tool: Option<OnlineTool>,
    /// Rows per backfill transaction.
    pub batch_size: u64,
    /// Table sizes and measured timings, for the stages' duration estimates.
    pub sizes: crate::plan::estimate::Sizes,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backfills: Vec::new(),
            dual_write: DualWrite::Trigger,
            online_tool: None,
            batch_size: 10_000,
            sizes: Default::default(),
        }
    }
}

/// Everything an op may read while planning.
pub struct Context<'a> {
    /// The engine and version planned for.
    pub dialect: Dialect,
    /// The schema as it is just before this change (the `--schema` file plus earlier changes).
    pub catalog: &'a Catalog,
    /// False without `--schema`: then tables are assumed large and busy.
    pub schema_known: bool,
    /// Tables created earlier in the same change file: empty and unused, so anything goes.
    pub new_tables: &'a BTreeSet<(String, String)>,
    pub options: &'a Options,
    pub directives: &'a [Directive],
    /// Where the statement that produced this change starts.
    pub pos: Pos,
    /// MySQL/MariaDB: foreign key checks are on in the session (lint turns this off after
    /// `SET foreign_key_checks = 0`); an ADD FOREIGN KEY then copies the table.
    pub foreign_key_checks: bool,
    /// Columns added earlier in the same change file (schema, table, column; the column lower-cased
    /// on MySQL): they do not exist yet when the plan's first stage starts.
    pub added_columns: &'a BTreeSet<(String, String, String)>,
}

impl Context<'_> {
    /// Whether `table.column` was added earlier in the same change file.
    pub fn column_added_here(&self, table: &QName, column: &str) -> bool {
        let (schema, name) = table.key();
        let column = if self.dialect.is_mysql() {
            column.to_lowercase()
        } else {
            column.to_string()
        };
        self.added_columns.contains(&(schema, name, column))
    }

    /// The PostgreSQL target (only PostgreSQL code paths ask).
    pub fn pg(&self) -> Postgres {
        self.dialect.pg()
    }

    /// A name quoted for the target engine.
    pub fn quote(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    /// A possibly qualified name quoted for the target engine.
    pub fn qname(&self, name: &QName) -> String {
        self.dialect.qname(name)
    }

    pub fn is_new_table(&self, table: &QName) -> bool {
        self.new_tables.contains(table.key_ref().as_key())
    }

    /// The backfill expression for `table.column`: a `-- safeshift: backfill [column] = EXPR`
    /// directive above the statement wins over `--backfill`. The text is parsed as one SQL
    /// expression, so it cannot smuggle in a second statement.
    pub fn backfill(&self, table: &QName, column: &str) -> Result<Option<Expr>, PlanError> {
        for d in self.directives.iter().filter(|d| d.key == "backfill") {
            let Some((target, expr)) = d.assignment() else {
                return Err(PlanError::new(d.pos, "a backfill directive needs `= EXPR`")
                    .help("write it as `-- safeshift: backfill = lower(email)`"));
            };
            let fold = self.dialect.folds_case();
            if target.is_none_or(|t| {
                crate::name::ident_in(&sqlparser::ast::Ident::new(t), fold) == column
            }) {
                return parse_expr_for(self.dialect, expr)
                    .map(Some)
                    .map_err(|m| PlanError::new(d.pos, m));
            }
        }
        for b in self
            .options
            .backfills
            .iter()
            .filter(|b| b.table.same(table) || b.table.name == table.name)
        {
            if b.column == column {
                return parse_expr_for(self.dialect, &b.expr)
                    .map(Some)
                    .map_err(|m| {
                        PlanError::new(
                            self.pos,
                            format!("--backfill {}.{column}: {m}", table.display()),
                        )
                    });
            }
        }
        Ok(None)
    }

    pub fn error(&self, message: impl Into<String>) -> PlanError {
        PlanError::new(self.pos, message)
    }

    /// The primary key to walk in batches: from the schema, or `id` assumed (and said) without one.
    pub fn batch_key(&self, table: &QName) -> Result<String, PlanError> {
        if !self.schema_known {
            return Ok("id".to_string());
        }
        match self.catalog.table(table).and_then(|t| t.primary_key()) {
            Some([first, ..]) => Ok(first.clone()),
            _ => Err(self
                .error(format!(
                    "{} has no primary key to walk in batches",
                    table.display()
                ))
                .help("safeshift backfills in primary-key batches; add a primary key first")),
        }
    }
}

impl Context<'_> {
    /// PostgreSQL before 13 has no row triggers on a partitioned table, which a plan that keeps
    /// a column filled while the old app runs needs: refused with the reason, not failed at run.
    pub fn row_trigger_allowed(&self, table: &QName, what: &str) -> Result<(), PlanError> {
        if self.dialect.is_mysql()
            || self.pg().row_triggers_on_partitioned()
            || self.is_new_table(table)
            || !self.catalog.table(table).is_some_and(|t| t.partitioned)
        {
            return Ok(());
        }
        Err(self
            .error(format!(
                "{} is partitioned, and PostgreSQL {} cannot put the row trigger that {what} needs on a partitioned table (13 and later can)",
                table.display(),
                self.pg().major
            ))
            .help("plan for PostgreSQL 13 or later (--server-version), or run the change in a maintenance window"))
    }

    /// PostgreSQL: the first primary-key column to walk, or, for a table without a primary key
    /// on PostgreSQL 14+ (TID range scans), its heap blocks ([`crate::plan::BLOCK_WALK`]).
    pub fn pg_batch_key(&self, table: &QName) -> Result<String, PlanError> {
        let mut keys = self.pg_batch_keys(table)?;
        Ok(keys.swap_remove(0))
    }

    /// PostgreSQL: every primary-key column, in key order, for a keyset walk by row value
    /// (`(tenant_id, id) > (…)`): walking only the first column of `(tenant_id, id)` would put
    /// a whole tenant in one batch. A table without a primary key: as [`Self::pg_batch_key`].
    pub fn pg_batch_keys(&self, table: &QName) -> Result<Vec<String>, PlanError> {
        if !self.schema_known {
            return Ok(vec!["id".to_string()]);
        }
        match self.catalog.table(table).and_then(|t| t.primary_key()) {
            Some(key) if !key.is_empty() => Ok(key.to_vec()),
            _ if self.pg().tid_range_scan() => Ok(vec![crate::plan::BLOCK_WALK.to_string()]),
            _ => Err(self
                .error(format!(
                    "{} has no primary key to walk in batches",
                    table.display()
                ))
                .help(
                    "safeshift backfills in primary-key batches, or by heap blocks on PostgreSQL 14+ (--server-version 14); add a primary key first",
                )),
        }
    }
}

pub fn parse_expr(text: &str) -> Result<Expr, String> {
    parse_expr_for(Dialect::default(), text)
}

/// One SQL expression as the target engine reads it, and nothing after it.
pub fn parse_expr_for(dialect: Dialect, text: &str) -> Result<Expr, String> {
    let mut parser = Parser::new(dialect.parser())
        .try_with_sql(text)
        .map_err(|e| format!("invalid expression `{text}`: {e}"))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| format!("invalid expression `{text}`: {e}"))?;
    let next = parser.peek_token();
    if next.token != sqlparser::tokenizer::Token::EOF {
        return Err(format!(
            "invalid expression `{text}`: unexpected `{}` after the expression",
            next.token
        ));
    }
    Ok(expr)
}

/// Every kind's rule, in the order of `KINDS`.
pub const RULES: &[&Rule] = &[
    &create_table::RULE,
    &add_column::RULE,
    &add_required_column::RULE,
    &add_volatile_column::RULE,
    &set_not_null::RULE,
    &create_index::RULE,
    &drop_index::RULE,
    &add_unique::RULE,
    &add_primary_key::RULE,
    &add_foreign_key::RULE,
    &add_check::RULE,
    &change_column_type::RULE,
    &rename_column::RULE,
    &rename_table::RULE,
    &drop_column::RULE,
    &drop_table::RULE,
    &create_enum::RULE,
    &add_enum_value::RULE,
    &catalog_only::RULE,
    &other::RULE,
    &modify_column::RULE,
    &sequence::RULE,
    &view::RULE,
    &reindex::RULE,
    &detach_partition::RULE,
    &rename_enum_value::RULE,
    &rename_type::RULE,
    &data_change::RULE,
];

/// Rules of kinds that `plan` refuses rather than stages: no plan ends where the naive change
/// does while the running app keeps working. Findings of these suggest no plan command.
pub const UNPLANNED: &[&str] = &[rename_enum_value::RULE.id];

/// Every kind of change with its rule id and one-line description; used by docs, `explain` and the
/// registry test that keeps this list, the `Change` enum and the fixtures in step.
pub const KINDS: &[(&str, &str)] = &[
    ("create_table", "create a table (safe: nothing uses it yet)"),
    (
        "add_column",
        "add a nullable column or one with a constant default",
    ),
    (
        "add_required_column",
        "add a NOT NULL column without a default",
    ),
    (
        "add_volatile_column",
        "add a column whose default is volatile (clock_timestamp(), gen_random_uuid(), …)",
    ),
    ("set_not_null", "make an existing column NOT NULL"),
    ("create_index", "create an index (plain or unique)"),
    ("drop_index", "drop an index"),
    ("add_unique", "add a UNIQUE constraint"),
    ("add_primary_key", "add a primary key"),
    ("add_foreign_key", "add a foreign key"),
    ("add_check", "add a CHECK constraint"),
    ("change_column_type", "change a column's type"),
    ("rename_column", "rename a column"),
    ("rename_table", "rename a table"),
    ("drop_column", "drop a column"),
    ("drop_table", "drop a table"),
    ("create_enum", "create an enum type"),
    ("add_enum_value", "add a value to an enum type"),
    (
        "catalog_only",
        "brief catalog-only ALTERs: SET/DROP DEFAULT, DROP NOT NULL, DROP/VALIDATE CONSTRAINT",
    ),
    (
        "other",
        "anything else: passed through as written, with a warning",
    ),
    (
        "modify_column",
        "MySQL's MODIFY/CHANGE COLUMN: a column restated in full",
    ),
    (
        "sequence",
        "create a sequence, or change its type (AS bigint) or owner",
    ),
    ("view", "create, replace or drop a view"),
    (
        "reindex",
        "rebuild an index, or a table's, schema's or database's",
    ),
    (
        "detach_partition",
        "detach a partition from a partitioned table",
    ),
    ("rename_enum_value", "rename a value of an enum type"),
    (
        "rename_type",
        "rename a type (an enum, a composite or a range type)",
    ),
    (
        "data_change",
        "UPDATE, DELETE or INSERT … SELECT on a table with rows",
    ),
];

/// PostgreSQL has no `ADD CONSTRAINT … USING INDEX` for a partitioned table, and its `ADD UNIQUE` /
/// `ADD PRIMARY KEY` there builds every partition's index while writes wait (it does not take over
/// indexes built beforehand): refused, pointing at the index that can be built online.
pub fn refuse_key_on_partitioned(
    ctx: &Context,
    table: &QName,
    kind: &str,
) -> Result<(), PlanError> {
    if ctx.is_new_table(table) || !ctx.catalog.table(table).is_some_and(|t| t.partitioned) {
        return Ok(());
    }
    Err(PlanError::new(
        ctx.pos,
        format!(
            "{} is partitioned: PostgreSQL builds a {kind}'s index on every partition while writes wait, and cannot take one built beforehand",
            table.display()
        ),
    )
    .help("if a unique index is enough, write CREATE UNIQUE INDEX (planned online, partition by partition); otherwise run this in a maintenance window"))
}

/// `ADD CONSTRAINT … USING INDEX` takes the index over (and renames it to the constraint's name):
/// dropping the constraint drops it. Its undo rebuilds the index as it was, concurrently, when
/// its definition is known; the step then runs outside a transaction.
pub fn using_index_undo(
    ctx: &Context,
    table: &QName,
    constraint: &str,
    index: &str,
    step: crate::plan::Step,
) -> crate::plan::Step {
    use crate::dialect::postgres::{qname, quote};
    let drop = format!(
        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
        qname(table),
        quote(constraint)
    );
    match ctx.catalog.index(&table.sibling(index.to_string())) {
        Some(known) => step
            .non_transactional()
            .down_sql(drop, "drops the index the constraint took over")
            .down_sql(
                known
                    .definition()
                    .replacen("INDEX ", "INDEX CONCURRENTLY IF NOT EXISTS ", 1),
                "the index as it was before the constraint took it over (reads and writes continue)",
            ),
        None => step.down_sql(drop, "note: this also drops the index"),
    }
}
