//! Building blocks several kinds of change share: NOT NULL without a long lock, fill and sync
//! triggers, batched backfills. They produce steps; the SQL bodies come from `templates/sql/`.
//! The MySQL/MariaDB spelling of the same blocks is in `recipes/mysql.rs`; the functions here
//! that both engines use pick the engine's block.

pub mod mysql;
pub mod replace;

use askama::Template;
use sqlparser::ast::Expr;

use super::Context;
use crate::dialect::LockMode;
use crate::dialect::postgres::{dollar_tag, fit_ident, literal, qname, quote};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{BackfillSpec, Check, Expansion, Phase, Step};

/// Predictable names for the helper objects a plan creates and a later stage removes:
/// `safeshift_<table>_<column>_<purpose>`, cut to 63 bytes with a stable hash when long.
pub fn helper_name(table: &QName, column: &str, purpose: &str) -> String {
    fit_ident(&format!("safeshift_{}_{column}_{purpose}", table.name))
}

fn render(template: &impl Template) -> Result<String, PlanError> {
    template.render().map_err(|e| {
        PlanError::new(
            Default::default(),
            format!("internal error rendering SQL: {e}"),
        )
    })
}

#[derive(Template)]
#[template(path = "sql/fill_function.sql", escape = "none")]
struct FillFunction<'a> {
    function: &'a str,
    column: &'a str,
    expr: &'a str,
    /// The columns the value is computed from, quoted: an UPDATE that changes one of them without
    /// setting `column` gets it recomputed. Empty: only NULLs are filled.
    sources: &'a [String],
    tag: &'a str,
}

#[derive(Template)]
#[template(path = "sql/copy_function.sql", escape = "none")]
struct CopyFunction<'a> {
    function: &'a str,
    target: &'a str,
    expr: &'a str,
    tag: &'a str,
}

#[derive(Template)]
#[template(path = "sql/sync_function.sql", escape = "none")]
struct SyncFunction<'a> {
    function: &'a str,
    old: &'a str,
    new: &'a str,
    default: Option<&'a str>,
    tag: &'a str,
}

#[derive(Template)]
#[template(path = "sql/backfill_blocks.sql", escape = "none")]
struct BackfillBlocks<'a> {
    table: &'a str,
    /// The table as a `regclass` literal.
    table_literal: &'a str,
    column: &'a str,
    value: &'a str,
    pending: &'a str,
    batch_size: u64,
    progress: &'a str,
    tag: &'a str,
    pause: WalkPause,
}

#[derive(Template)]
#[template(path = "sql/backfill.sql", escape = "none")]
struct Backfill<'a> {
    table: &'a str,
    walk: KeyWalk,
    column: &'a str,
    value: &'a str,
    pending: &'a str,
    batch_size: u64,
    /// The arguments of `format()` for one progress line: the format string, then the values.
    progress: &'a str,
    tag: &'a str,
    pause: WalkPause,
}

/// The pause at the top of every batch of a walk that runs on the server (templates/sql/pause.sql,
/// templates/mysql/pause.sql): the limits the plan bakes in (each a SQL string literal, which
/// the session's `safeshift.*` settings or `@safeshift_*` variables override at run time) and,
/// on PostgreSQL, which tables a vacuum pauses the walk for. Nothing in it depends on the
/// server's major: the fragment asks the server it runs on (pg_locks.waitstart is 14+), so a
/// file planned for one major runs on any.
pub struct WalkPause {
    pub max_app_lock_wait: String,
    pub max_replica_lag: String,
    /// PostgreSQL: bytes a second of WAL (`off`, as `safeshift apply --max-wal-rate`).
    pub max_wal_rate: String,
    pub max_pause: String,
    pub vacuum_pause: String,
    /// The tables as `regclass` literals, comma-separated.
    pub tables: String,
    /// MySQL/MariaDB: the named lock whose holder pauses every walk on the server
    /// ([`crate::apply::throttle_lock::THROTTLE_LOCK`]), a literal.
    pub throttle_lock: String,
}

/// How long a server-side walk stays paused before it stops (with an error that says to run the
/// stage again, which resumes it): a person should look at an app that has suffered this long.
/// The same as `safeshift apply --max-pause`'s default (apply sets the session's limit from it).
pub const DEFAULT_MAX_PAUSE_SECONDS: u64 = crate::apply::throttle::DEFAULT_MAX_PAUSE.as_secs();

impl WalkPause {
    /// PostgreSQL: pauses for lock waits over `apply`'s default limit and for a vacuum of
    /// `tables`; replica lag off, as in `apply` (a logical replication consumer that stalls
    /// would otherwise stop every walk), and WAL rate off, as in `apply`.
    pub fn postgres(tables: &[&QName]) -> WalkPause {
        let mut names: Vec<String> = Vec::new();
        for t in tables {
            let name = literal(&qname(t));
            if !names.contains(&name) {
                names.push(name);
            }
        }
        WalkPause {
            max_app_lock_wait: literal(&crate::apply::throttle::setting(
                crate::apply::throttle::DEFAULT_MAX_APP_LOCK_WAIT,
            )),
            max_replica_lag: literal("off"),
            max_wal_rate: literal("off"),
            max_pause: literal(&format!("{DEFAULT_MAX_PAUSE_SECONDS}s")),
            vacuum_pause: literal("on"),
            tables: names.join(", "),
            throttle_lock: String::new(),
        }
    }

    /// MySQL/MariaDB: pauses for lock waits over `apply`'s default limit (seconds), and while
    /// another session holds the throttle lock (a primary does not know its replicas' lag:
    /// `apply` holds the lock while a replica it watches lags). InnoDB's purge is not a vacuum
    /// to wait for.
    pub fn mysql(ctx: &Context) -> WalkPause {
        WalkPause {
            max_app_lock_wait: ctx.dialect.literal(&format!(
                "{}",
                crate::apply::throttle::DEFAULT_MAX_APP_LOCK_WAIT.as_secs_f64()
            )),
            max_pause: ctx.dialect.literal(&DEFAULT_MAX_PAUSE_SECONDS.to_string()),
            max_replica_lag: String::new(),
            max_wal_rate: String::new(),
            vacuum_pause: String::new(),
            tables: String::new(),
            throttle_lock: ctx
                .dialect
                .literal(crate::apply::throttle_lock::THROTTLE_LOCK),
        }
    }
}

/// A key column the walk follows, with the suffix of its PL/pgSQL variables.
pub struct WalkKey {
    pub column: String,
    pub suffix: String,
}

/// A walk of a table in primary-key order, batch by batch, as the DO-block templates spell it
/// (templates/sql/backfill.sql, data_change.sql). One column keeps the plain names (`"id"`,
/// `safeshift_last_key`); several are compared as row values (`("tenant_id", "id") > (…)`),
/// which the primary key's index serves.
pub struct KeyWalk {
    pub keys: Vec<WalkKey>,
    pub first_suffix: String,
    pub key_list: String,
    pub key_row: String,
    pub select_list: String,
    pub batch_list: String,
    pub desc_list: String,
    pub end_list: String,
    pub last_row: String,
    pub end_row: String,
}

impl KeyWalk {
    /// `keys` quoted, in key order.
    pub fn new(keys: &[String]) -> KeyWalk {
        let many = keys.len() > 1;
        let keys: Vec<WalkKey> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| WalkKey {
                column: k.clone(),
                suffix: if many {
                    format!("_{}", i + 1)
                } else {
                    String::new()
                },
            })
            .collect();
        let list =
            |f: &dyn Fn(&WalkKey) -> String| keys.iter().map(f).collect::<Vec<_>>().join(", ");
        let row = |list: String| if many { format!("({list})") } else { list };
        KeyWalk {
            first_suffix: keys.first().map(|k| k.suffix.clone()).unwrap_or_default(),
            key_list: list(&|k| k.column.clone()),
            key_row: row(list(&|k| k.column.clone())),
            select_list: list(&|k| format!("{} AS k{}", k.column, k.suffix)),
            batch_list: list(&|k| format!("batch.k{}", k.suffix)),
            desc_list: list(&|k| format!("batch.k{} DESC", k.suffix)),
            end_list: list(&|k| format!("safeshift_batch_end{}", k.suffix)),
            last_row: row(list(&|k| format!("safeshift_last_key{}", k.suffix))),
            end_row: row(list(&|k| format!("safeshift_batch_end{}", k.suffix))),
            keys,
        }
    }

    pub fn is_composite(&self) -> bool {
        self.keys.len() > 1
    }
}

/// A trigger function plus its trigger, and the SQL that removes both.
pub struct Trigger {
    pub create: Vec<String>,
    pub drop: Vec<String>,
    pub trigger: String,
    pub function: String,
}

fn trigger(table: &QName, name: String, function_sql: String, events: &str) -> Trigger {
    let function = qname(&table.sibling(name.clone()));
    let create = vec![
        function_sql,
        format!(
            "CREATE TRIGGER {} BEFORE {events} ON {} FOR EACH ROW EXECUTE FUNCTION {function}()",
            quote(&name),
            qname(table)
        ),
    ];
    let drop = vec![
        format!(
            "DROP TRIGGER IF EXISTS {} ON {}",
            quote(&name),
            qname(table)
        ),
        format!("DROP FUNCTION IF EXISTS {function}()"),
    ];
    Trigger {
        create,
        drop,
        trigger: name,
        function,
    }
}

/// Fills `column` with `expr` (evaluated against the row) whenever a write leaves it NULL, and
/// recomputes it when an UPDATE changes one of `sources` without setting `column` itself (the
/// old application version updating what a derived column is computed from).
pub fn fill_trigger(
    table: &QName,
    column: &str,
    expr: &str,
    sources: &[String],
) -> Result<Trigger, PlanError> {
    let name = helper_name(table, column, "fill");
    let function = qname(&table.sibling(name.clone()));
    let sources: Vec<String> = sources.iter().map(|s| quote(s)).collect();
    // The tag must not occur in anything that goes into the body, names included.
    let tag = dollar_tag(&format!("{expr} {column} {function} {}", sources.join(" ")));
    let sql = render(&FillFunction {
        function: &function,
        column: &quote(column),
        expr,
        sources: &sources,
        tag: &tag,
    })?;
    Ok(trigger(table, name, sql, "INSERT OR UPDATE"))
}

/// The columns of `table` a backfill expression reads, as the catalog names them, without
/// `column` itself. With the table known, every identifier that names one of its columns;
/// without, the identifiers outside subqueries (there they can only be the row's columns: the
/// value is computed over the row alone).
pub fn source_columns(ctx: &Context, table: &QName, column: &str, expr: &Expr) -> Vec<String> {
    use std::collections::BTreeMap;
    use std::ops::ControlFlow;
    let fold = ctx.dialect.folds_case();
    let mut all: BTreeMap<String, usize> = BTreeMap::new();
    let mut nested: BTreeMap<String, usize> = BTreeMap::new();
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(ident) => {
                *all.entry(crate::name::ident_in(ident, fold)).or_default() += 1;
            }
            Expr::Subquery(q)
            | Expr::Exists { subquery: q, .. }
            | Expr::InSubquery { subquery: q, .. } => {
                let _ = sqlparser::ast::visit_expressions(q.as_ref(), |inner| {
                    if let Expr::Identifier(ident) = inner {
                        *nested
                            .entry(crate::name::ident_in(ident, fold))
                            .or_default() += 1;
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let known = ctx.catalog.table(table).filter(|_| ctx.schema_known);
    let same = |a: &str, b: &str| {
        if ctx.dialect.is_mysql() {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let mut out: Vec<String> = Vec::new();
    for (name, count) in &all {
        let found = match known {
            Some(t) => t
                .columns
                .iter()
                .find(|c| same(&c.name, name))
                .map(|c| c.name.clone()),
            None => (*count > nested.get(name).copied().unwrap_or(0)).then(|| name.clone()),
        };
        if let Some(found) = found
            && !same(&found, column)
            && !out.iter().any(|o| same(o, &found))
        {
            out.push(found);
        }
    }
    out
}

/// Sets `target` from `expr` (evaluated against the row) on every INSERT, and on every UPDATE
/// that sets one of `update_of` (the columns `expr` reads; empty: on every UPDATE).
pub fn copy_trigger(
    table: &QName,
    source: &str,
    target: &str,
    expr: &str,
    update_of: &[String],
) -> Result<Trigger, PlanError> {
    let name = helper_name(table, source, "copy");
    let function = qname(&table.sibling(name.clone()));
    let tag = dollar_tag(&format!("{expr} {source} {target} {function}"));
    let sql = render(&CopyFunction {
        function: &function,
        target: &quote(target),
        expr,
        tag: &tag,
    })?;
    Ok(trigger(table, name, sql, &insert_or_update_of(update_of)))
}

/// The events of a trigger that fires on every INSERT and on the UPDATEs that set one of
/// `columns` (every UPDATE when there are none). An UPDATE that sets none of them cannot change
/// what the trigger computes, so it is spared the call: above all a backfill's own UPDATE, which
/// sets only the column the trigger fills, and computed every row twice when the trigger fired
/// (an UPDATE of 500,000 rows took 25–40% less time without the call). The server still locks
/// each row for a BEFORE UPDATE trigger, whether it fires or not: the WAL is the same.
fn insert_or_update_of(columns: &[String]) -> String {
    if columns.is_empty() {
        return "INSERT OR UPDATE".to_string();
    }
    let columns: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    format!("INSERT OR UPDATE OF {}", columns.join(", "))
}

#[derive(Template)]
#[template(path = "sql/reverse_function.sql", escape = "none")]
struct ReverseFunction<'a> {
    function: &'a str,
    source: &'a str,
    target: &'a str,
    old_type: &'a str,
    tag: &'a str,
}

/// After a type change's swap: sets `target` (the old column, old type) from `source` on every
/// INSERT and every UPDATE that sets `source`, NULL when the value does not fit the old type.
pub fn reverse_trigger(
    table: &QName,
    source: &str,
    target: &str,
    old_type: &str,
) -> Result<Trigger, PlanError> {
    let name = helper_name(table, source, "reverse");
    let function = qname(&table.sibling(name.clone()));
    let tag = dollar_tag(&format!("{source} {target} {old_type} {function}"));
    let sql = render(&ReverseFunction {
        function: &function,
        source: &quote(source),
        target: &quote(target),
        old_type,
        tag: &tag,
    })?;
    Ok(trigger(
        table,
        name,
        sql,
        &insert_or_update_of(&[source.to_string()]),
    ))
}

/// Keeps `old` and `new` equal whichever one a write sets; applies `default` when neither is given.
pub fn sync_trigger(
    table: &QName,
    old: &str,
    new: &str,
    default: Option<&str>,
) -> Result<Trigger, PlanError> {
    let name = helper_name(table, old, "sync");
    let function = qname(&table.sibling(name.clone()));
    let tag = dollar_tag(&format!(
        "{} {old} {new} {function}",
        default.unwrap_or_default()
    ));
    let sql = render(&SyncFunction {
        function: &function,
        old: &quote(old),
        new: &quote(new),
        default,
        tag: &tag,
    })?;
    Ok(trigger(table, name, sql, "INSERT OR UPDATE"))
}

/// The engine's batched backfill (see [`backfill_step`] and [`mysql::backfill_step`]).
pub fn backfill_for(
    ctx: &Context,
    table: &QName,
    column: &str,
    value: &str,
    pending: &str,
) -> Result<Step, PlanError> {
    if ctx.dialect.is_mysql() {
        mysql::backfill_step(ctx, table, column, value, pending)
    } else {
        backfill_step(ctx, table, column, value, pending)
    }
}

/// MySQL spells NOT NULL as a MODIFY that restates the whole column: it needs the definition.
pub fn needs_definition(ctx: &Context, table: &QName, column: &str) -> PlanError {
    ctx.error(format!(
        "making `{}.{column}` NOT NULL on {} restates its whole definition (MODIFY COLUMN): safeshift needs to know it",
        table.display(),
        ctx.dialect.engine_name()
    ))
    .help("pass the current schema with --schema (for example the output of `mysqldump --no-data`)")
}

/// A batched, resumable backfill: `SET column = value` on rows where `pending` holds.
pub fn backfill_step(
    ctx: &Context,
    table: &QName,
    column: &str,
    value: &str,
    pending: &str,
) -> Result<Step, PlanError> {
    let keys = ctx.pg_batch_keys(table)?;
    let key = keys.join(", ");
    let blocks = keys == [crate::plan::BLOCK_WALK];
    let quoted: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    let label = format!("{}.{column}", table.display());
    // The progress message gets names only as `%` arguments: a quote or `%` in a name must not
    // change the RAISE format string.
    let last = if keys.len() > 1 {
        format!(
            "({})",
            (1..=keys.len())
                .map(|i| format!("safeshift_last_key_{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        "safeshift_last_key".to_string()
    };
    let progress = format!(
        "'backfill %s: %s rows updated, up to %s %s', {}, safeshift_filled, {}, {last}",
        literal(&label),
        literal(if blocks { "block" } else { &key })
    );
    let body = format!(
        "{value} {pending} {column} {key} {} {progress}",
        qname(table)
    );
    let tag = dollar_tag(&body);
    let sql = if blocks {
        render(&BackfillBlocks {
            table: &qname(table),
            table_literal: &literal(&qname(table)),
            column: &quote(column),
            value,
            pending,
            batch_size: ctx.options.batch_size,
            progress: &progress,
            tag: &tag,
            pause: WalkPause::postgres(&[table]),
        })?
    } else {
        render(&Backfill {
            table: &qname(table),
            walk: KeyWalk::new(&quoted),
            column: &quote(column),
            value,
            pending,
            batch_size: ctx.options.batch_size,
            progress: &progress,
            tag: &tag,
            pause: WalkPause::postgres(&[table]),
        })?
    };
    let spec = BackfillSpec {
        table: qname(table),
        key: if blocks {
            key.clone()
        } else if quoted.len() > 1 {
            format!("({})", quoted.join(", "))
        } else {
            quoted.join(", ")
        },
        key_columns: if quoted.len() > 1 {
            quoted.clone()
        } else {
            Vec::new()
        },
        column: quote(column),
        value: value.to_string(),
        pending: pending.to_string(),
        batch_size: ctx.options.batch_size,
    };
    let mut step = Step::backfill(
        format!("backfill-{}-{column}", table.name),
        format!(
            "backfill {}.{column} in batches of {}",
            table.display(),
            ctx.options.batch_size
        ),
    )
    .sql(
        sql,
        format!(
            "{} rows per transaction; safe to interrupt and re-run",
            ctx.options.batch_size
        ),
    )
    .lock(table.display(), LockMode::RowExclusive, "per batch")
    .down_sql(
        format!(
            "SELECT {} AS note",
            literal(&format!(
                "nothing to undo: the backfill of {label} only wrote data"
            ))
        ),
        "a backfill changes no schema; the stage before it removes what it filled, if rolled back",
    )
    .verify(
        format!("every row of {} is filled", table.display()),
        format!("SELECT count(*) FROM {} WHERE {pending}", qname(table)),
        "0",
    );
    if !ctx.schema_known {
        step = step.note(format!(
            "Assumed: {} has a primary key column `id` to walk in batches (no --schema was given).",
            table.display()
        ));
    }
    step.backfill = Some(spec);
    Ok(step)
}

/// Makes `column` NOT NULL without holding ACCESS EXCLUSIVE for a full scan: a NOT VALID check
/// (brief lock), VALIDATE (scan under SHARE UPDATE EXCLUSIVE: reads and writes go on), then
/// SET NOT NULL, which on PG12+ trusts the valid check instead of scanning. PG18+ has NOT NULL
/// NOT VALID itself. Not one transaction: each statement commits on its own and is safe to re-run.
/// PostgreSQL 18 keeps NOT NULL as a named constraint: the name [`not_null_step`] gives it, the
/// one PostgreSQL gives by default (`<table>_<column>_not_null`, cut as it cuts default names), so
/// the plan ends with the naive change's name.
pub fn not_null_constraint(table: &QName, column: &str) -> String {
    crate::dialect::postgres::default_object_name(&table.name, Some(column), "not_null")
}

/// PostgreSQL 18: the name a column's NOT NULL constraint gets by default (`<table>_<column>_not_null`,
/// cut as PostgreSQL cuts default names), which a naive ALTER keeps. A plan that makes a copy of
/// the column NOT NULL renames the copy's constraint to it when the copy takes the column's place.
pub fn default_not_null_constraint(table: &QName, column: &str) -> String {
    crate::dialect::postgres::default_object_name(&table.name, Some(column), "not_null")
}

pub fn not_null_step(ctx: &Context, table: &QName, column: &str, phase: Phase) -> Step {
    let t = qname(table);
    let c = quote(column);
    let slug = format!("not-null-{}-{column}", table.name);
    let title = format!(
        "make {}.{column} NOT NULL without a long lock",
        table.display()
    );
    let verify_query = format!(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = {}::regclass AND attname = {}",
        literal(&t),
        literal(column)
    );
    let mut step = Step::database(phase, slug, title)
        .non_transactional()
        .before(
            format!("no NULLs left in {}.{column}", table.display()),
            format!("SELECT count(*) FROM {t} WHERE {c} IS NULL"),
            "0",
        );
    if ctx.pg().not_null_not_valid() {
        let constraint = quote(&not_null_constraint(table, column));
        step = step
            .sql(
                format!("ALTER TABLE {t} ADD CONSTRAINT {constraint} NOT NULL {c} NOT VALID"),
                "brief ACCESS EXCLUSIVE, no scan",
            )
            .sql(
                format!("ALTER TABLE {t} VALIDATE CONSTRAINT {constraint}"),
                "scans under SHARE UPDATE EXCLUSIVE: reads and writes go on",
            )
            .down_sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"),
                "",
            );
    } else {
        let check = quote(&helper_name(table, column, "not_null"));
        step = step
            .sql(
                format!("ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID"),
                "brief ACCESS EXCLUSIVE, no scan; new writes are checked from now on",
            )
            .sql(format!("ALTER TABLE {t} VALIDATE CONSTRAINT {check}"), "scans under SHARE UPDATE EXCLUSIVE: reads and writes go on")
            .sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
                if ctx.pg().set_not_null_skips_scan_with_check() {
                    "brief: PostgreSQL 12+ uses the valid check instead of scanning"
                } else {
                    "PostgreSQL 11 still scans here under ACCESS EXCLUSIVE: run it in a quiet period"
                },
            )
            .sql(format!("ALTER TABLE {t} DROP CONSTRAINT {check}"), "the helper check is no longer needed")
            .down_sql(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"), "")
            .down_sql(format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {check}"), "");
    }
    step = step
        .lock(table.display(), LockMode::AccessExclusive, "brief")
        .lock(
            table.display(),
            LockMode::ShareUpdateExclusive,
            "while it validates",
        )
        .verify(
            format!("{}.{column} is NOT NULL", table.display()),
            verify_query,
            "t",
        );
    if !ctx.pg().set_not_null_skips_scan_with_check() {
        step = step.note("PostgreSQL 11: SET NOT NULL scans the table under ACCESS EXCLUSIVE even with a valid check.");
    }
    step
}

/// A column definition for `ADD COLUMN`, with or without its NOT NULL and DEFAULT.
pub fn column_sql(column: &crate::schema::Column, not_null: bool, default: bool) -> String {
    let mut sql = format!("{} {}", quote(&column.name), column.data_type);
    if default && let Some(d) = &column.default {
        sql.push_str(&format!(" DEFAULT {d}"));
    }
    if not_null && column.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// The column as the catalog knows it, or an error when `--schema` was given and it is missing.
pub fn known_column<'a>(
    ctx: &'a Context,
    table: &QName,
    column: &str,
) -> Result<Option<&'a crate::schema::Column>, PlanError> {
    if !ctx.schema_known {
        return Ok(None);
    }
    match ctx.catalog.table(table) {
        Some(t) => match t.column(column) {
            Some(c) => Ok(Some(c)),
            None => Err(ctx
                .error(format!(
                    "column `{column}` does not exist in table `{}`",
                    table.display()
                ))
                .help(format!(
                    "known columns: {}",
                    t.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
        },
        None => Ok(None),
    }
}

/// The column, which this kind of change cannot plan without: its type, NULL-ability and default
/// are copied to a new column.
pub fn required_column<'a>(
    ctx: &'a Context,
    table: &QName,
    column: &str,
    what: &str,
) -> Result<&'a crate::schema::Column, PlanError> {
    match known_column(ctx, table, column)? {
        Some(c) => Ok(c),
        None => Err(ctx
            .error(format!("{what} needs to know the type, NULL-ability, default and indexes of `{}.{column}`", table.display()))
            .help("pass the current schema with --schema (for example the output of `pg_dump --schema-only`)")),
    }
}

/// The path from "some rows lack a value" to "the column is NOT NULL", while old code that does
/// not write the column keeps running:
///
/// trigger mode: [first] → fill trigger → batched backfill → NOT NULL (no long lock)
///               → new app version (writes the column itself) → drop the trigger.
/// app mode:     [first] → app deploy that writes the column → batched backfill → NOT NULL.
///
/// `first` is an optional step that must precede everything (e.g. adding the column).
/// `derived`: the column is new and holds `expr` of the row (not a one-time fill of NULLs in a
/// column the old code writes itself), so the trigger also recomputes it when an UPDATE changes
/// a column `expr` reads without setting this one, and the new code must keep it equal to `expr`.
/// `not_null: false`: the same without the NOT NULL (a column the file fills for a constraint
/// that comes after it: the constraint is its own change, after the backfill).
#[allow(clippy::too_many_arguments)] // each is a fact of the change; a struct would only rename them
pub fn fill_and_constrain(
    ctx: &Context,
    table: &QName,
    column: &str,
    known: Option<&crate::schema::Column>,
    expr: &sqlparser::ast::Expr,
    first: Option<Step>,
    derived: bool,
    not_null: bool,
) -> Result<Expansion, PlanError> {
    let expr_sql = expr.to_string();
    let c = ctx.quote(column);
    let t = ctx.qname(table);
    let read = source_columns(ctx, table, column, expr);
    // A column added earlier in the file does not exist before the first stage: no check there.
    let checkable = !read.iter().any(|c| ctx.column_added_here(table, c));
    let sources = if derived { read } else { Vec::new() };
    // NOT NULL is coming: a row the expression gives NULL would make the backfill run for nothing
    // and the NOT NULL step fail at the end. Checked before anything is built, naming the rows.
    let key = if ctx.dialect.is_mysql() {
        ctx.batch_key(table)?
    } else {
        ctx.pg_batch_key(table)?
    };
    let no_value = if derived {
        format!("({expr_sql}) IS NULL")
    } else {
        format!("{c} IS NULL AND ({expr_sql}) IS NULL")
    };
    let null_check = (
        format!(
            "`{expr_sql}` gives every row of {} a value ({column} becomes NOT NULL); lists {key} of rows it leaves NULL",
            table.display()
        ),
        format!(
            "SELECT {} FROM {t} WHERE {no_value} ORDER BY {} LIMIT 10",
            ctx.quote(&key),
            ctx.quote(&key)
        ),
        "no rows".to_string(),
    );
    let mut steps: Vec<Step> = first.into_iter().collect();
    let start: Vec<usize> = if steps.is_empty() { vec![] } else { vec![0] };
    // Without NOT NULL (a column a constraint later in the file needs filled), rows the expression
    // leaves NULL are what the naive UPDATE leaves too: nothing to check before.
    let checkable = checkable && not_null;
    let constrain = not_null;
    let not_null = |phase: Phase| -> Result<Step, PlanError> {
        match (ctx.dialect.is_mysql(), known) {
            (false, _) => Ok(not_null_step(ctx, table, column, phase)),
            (true, Some(def)) => Ok(mysql::not_null_step(ctx, table, def, phase)),
            (true, None) => Err(needs_definition(ctx, table, column)),
        }
    };
    let trigger_lock = if ctx.dialect.is_mysql() {
        LockMode::MetadataExclusive
    } else {
        LockMode::ShareRowExclusive
    };
    match ctx.options.dual_write {
        super::DualWrite::Trigger => {
            let fill = if ctx.dialect.is_mysql() {
                let t = mysql::fill_triggers(ctx, table, column, expr, &sources)?;
                Trigger {
                    create: t.create,
                    drop: t.drop,
                    trigger: String::new(),
                    function: String::new(),
                }
            } else {
                ctx.row_trigger_allowed(table, "filling the new column for the running app")?;
                fill_trigger(table, column, &expr_sql, &sources)?
            };
            let mut install = Step::database(
                Phase::Expand,
                format!("fill-trigger-{}-{column}", table.name),
                format!(
                    "install a trigger that fills {}.{column} on every write",
                    table.display()
                ),
            )
            .after(&start)
            .lock(table.display(), trigger_lock, "brief");
            if checkable {
                install.before.push(Check {
                    what: null_check.0.clone(),
                    query: null_check.1.clone(),
                    expect: null_check.2.clone(),
                });
            }
            for sql in &fill.create {
                install = install.sql(sql.clone(), "");
            }
            for sql in &fill.drop {
                install = install.down_sql(sql.clone(), "");
            }
            let install = if let Some(first) = steps.pop() {
                // Adding the column and its trigger in one transaction: no moment where old code
                // can insert a row that nothing fills.
                let mut merged = first;
                merged.title = format!("{} and a trigger that fills it", merged.title);
                merged.up.extend(install.up);
                let mut down = install.down.unwrap_or_default();
                down.extend(merged.down.take().unwrap_or_default());
                merged.down = Some(down);
                merged.locks.extend(install.locks);
                merged.before.extend(install.before);
                merged
            } else {
                install
            };
            steps.push(install);
            steps.push(
                backfill_for(ctx, table, column, &expr_sql, &format!("{c} IS NULL"))?.after(&[0]),
            );
            // MySQL/MariaDB check an omitted NOT NULL column of INSERT … SELECT before BEFORE
            // triggers run (seen on MariaDB 10.11): NOT NULL waits until no old code is left.
            let not_null_after: &[usize] = if ctx.dialect.is_mysql() {
                &[1, 3]
            } else {
                &[1]
            };
            // The step the trigger's removal waits for besides the deploy: the last database step.
            let last = if constrain {
                steps.push(not_null(Phase::Migrate)?.after(not_null_after));
                2
            } else {
                1
            };
            let deploy_at = steps.len();
            steps.push(
                {
                    let deploy = Step::application(
                        crate::plan::Release::NewVersion,
                        Phase::Migrate,
                        format!("deploy-writes-{}-{column}", table.name),
                        format!("deploy code that writes {}.{column}", table.display()),
                    )
                    .after(&[0])
                    .app(format!("Every INSERT into {} sets {column} (the fill trigger is removed after this deploy).", table.display()));
                    if sources.is_empty() {
                        deploy.app(format!("Old and new versions can run side by side: the trigger fills {column} for the old one."))
                    } else {
                        deploy
                            .app(format!("{column} holds `{expr_sql}` of its row: every INSERT sets it to that value, and every UPDATE that changes {} sets it again to the new value, in the same statement.", sources.join(", ")))
                            .app(format!("Old and new versions can run side by side: until the trigger is removed it fills {column} for rows the old version inserts, and recomputes it when the old version changes {} without setting it.", sources.join(", ")))
                    }
                },
            );
            let mut drop = Step::database(
                Phase::Contract,
                format!("drop-fill-trigger-{}-{column}", table.name),
                format!("remove the fill trigger of {}.{column}", table.display()),
            )
            .after(&[last, deploy_at])
            .lock(
                table.display(),
                if ctx.dialect.is_mysql() {
                    LockMode::MetadataExclusive
                } else {
                    LockMode::AccessExclusive
                },
                "brief",
            )
            .before(
                format!("no process runs the old application version (it does not write {column})"),
                "-- check your deploy tool: every instance runs the new version",
                "yes",
            );
            for sql in &fill.drop {
                drop = drop.sql(sql.clone(), "");
            }
            for sql in &fill.create {
                drop = drop.down_sql(sql.clone(), "");
            }
            steps.push(drop);
            Ok(Expansion { steps, anchor: 0 })
        }
        super::DualWrite::App => {
            let deploy = Step::application(
                crate::plan::Release::DualWrite,
                Phase::Expand,
                format!("deploy-writes-{}-{column}", table.name),
                format!("deploy code that writes {}.{column}", table.display()),
            )
            .after(&start)
            .app(if sources.is_empty() {
                format!("Every INSERT into {} sets {column}; every UPDATE that changes its inputs updates it.", table.display())
            } else {
                format!("Every INSERT into {} sets {column}; every UPDATE that changes {} sets {column} again, in the same statement.", table.display(), sources.join(", "))
            })
            .app(format!("The value must equal `{expr_sql}` for the row, as the backfill computes it."))
            .app("No instance of the old version may keep running after this deploy: the backfill that follows does not see rows it inserts later.");
            let d = steps.len();
            steps.push(deploy);
            let mut backfill =
                backfill_for(ctx, table, column, &expr_sql, &format!("{c} IS NULL"))?.after(&[d]);
            // Application stages run no checks: the first database step carries it.
            let carrier = if d > 0 { &mut steps[0] } else { &mut backfill };
            if checkable {
                carrier.before.push(Check {
                    what: null_check.0,
                    query: null_check.1,
                    expect: null_check.2,
                });
            }
            steps.push(backfill);
            if constrain {
                steps.push(not_null(Phase::Migrate)?.after(&[d + 1]));
            }
            Ok(Expansion { steps, anchor: 0 })
        }
    }
}

/// Copies of the plain indexes on `column`, built concurrently on `target` (the column that
/// replaces it), and the renames that give them the original names once the old column is dropped
/// (dropping a column drops its indexes, freeing the names).
pub struct IndexCopies {
    pub step: Option<Step>,
    /// ALTER INDEX … RENAME statements for the step that drops the old column.
    pub renames: Vec<String>,
}

pub fn copy_indexes(
    ctx: &Context,
    table: &QName,
    column: &str,
    target: &str,
    slug: String,
) -> IndexCopies {
    let indexes: Vec<_> = ctx
        .catalog
        .indexes_on(table, column)
        .into_iter()
        .cloned()
        .collect();
    if indexes.is_empty() {
        return IndexCopies {
            step: None,
            renames: Vec::new(),
        };
    }
    let t = qname(table);
    let mut step = Step::database(
        Phase::Migrate,
        slug,
        format!(
            "build the indexes of {}.{column} on {target}",
            table.display()
        ),
    )
    .non_transactional()
    .lock(
        table.display(),
        LockMode::ShareUpdateExclusive,
        "while each index builds",
    );
    let mut renames = Vec::new();
    for index in &indexes {
        let copy = table.sibling(helper_name(table, &index.name.name, "new"));
        let cols = index
            .columns
            .iter()
            .map(|c| quote(if c == column { target } else { c }))
            .collect::<Vec<_>>()
            .join(", ");
        let unique = if index.unique { "UNIQUE " } else { "" };
        step = step
            .sql(
                format!(
                    "CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {} ON {t} ({cols})",
                    quote(&copy.name)
                ),
                "",
            )
            .down_sql(
                format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&copy)),
                "",
            );
        let (what, query, expect) = super::create_index::valid_index_check(&copy);
        step = step.verify(what, query, expect);
        renames.push(format!(
            "ALTER INDEX {} RENAME TO {}",
            qname(&copy),
            quote(&index.name.name)
        ));
    }
    IndexCopies {
        step: Some(step),
        renames,
    }
}
