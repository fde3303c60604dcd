//! MySQL/MariaDB building blocks the ops share: ALTER TABLE with its algorithm pinned, fill, copy
//! and sync triggers, batched backfills in a temporary stored procedure, NOT NULL through an
//! in-place rebuild, and the online-tool stage. Engine facts come from `dialect::mysql`; SQL
//! bodies from `templates/mysql/`.
//!
//! MySQL has no transactional DDL: every ALTER commits on its own. Steps here are therefore
//! written so that running a stage again after it stopped half way is harmless (`IF [NOT]
//! EXISTS` on MariaDB, `DROP … IF EXISTS` before every `CREATE`).

use askama::Template;
use sqlparser::ast::{Expr, Ident};

use super::IndexCopies;
use crate::dialect::{Algorithm, LockMode, MySql};
use crate::error::PlanError;
use crate::name::QName;
use crate::ops::{ColumnPosition, Context, OnlineTool};
use crate::plan::{BackfillSpec, Phase, Step};
use crate::schema::Column;

/// The MySQL target of a context (only MySQL code paths call this).
pub fn target(ctx: &Context) -> MySql {
    ctx.dialect
        .mysql()
        .unwrap_or(crate::dialect::mysql::OLDEST_MYSQL)
}

/// `ALTER TABLE t action, …, ALGORITHM=…[, LOCK=…]`: the server refuses instead of falling back
/// to a table copy.
///
/// A table with a FULLTEXT or SPATIAL key is rebuilt only with LOCK=SHARED (InnoDB rebuilds that
/// index too), and with a FULLTEXT key no column is added or dropped INSTANT (nor a SPATIAL
/// table's column dropped): those ALTERs pin `ALGORITHM=INPLACE, LOCK=SHARED`, the lock the
/// statement as written takes anyway.
pub fn alter(ctx: &Context, table: &QName, actions: &[String], algorithm: Algorithm) -> String {
    let special = |kind: &str| {
        ctx.catalog
            .table(table)
            .is_some_and(|t| t.indexes.iter().any(|i| i.special == Some(kind)))
    };
    let starts = |word: &str| {
        actions.iter().any(|a| {
            a.get(..word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        })
    };
    let (fulltext, spatial) = (special("FULLTEXT"), special("SPATIAL"));
    let shared = match algorithm {
        Algorithm::InplaceRebuild => fulltext || spatial,
        Algorithm::Instant => {
            (fulltext && (starts("ADD COLUMN") || starts("DROP COLUMN")))
                || (spatial && starts("DROP COLUMN"))
        }
        _ => false,
    };
    format!(
        "ALTER TABLE {} {}, {}",
        ctx.qname(table),
        actions.join(", "),
        if shared {
            "ALGORITHM=INPLACE, LOCK=SHARED"
        } else {
            algorithm.clause()
        }
    )
}

/// The locks an ALTER with this algorithm takes on `table`.
pub fn alter_locks(step: Step, table: &QName, algorithm: Algorithm) -> Step {
    match algorithm {
        Algorithm::Instant => step.lock(table.display(), LockMode::MetadataExclusive, "brief"),
        Algorithm::Inplace | Algorithm::InplaceRebuild => step
            .lock(
                table.display(),
                LockMode::MetadataUpgradable,
                if algorithm == Algorithm::Inplace {
                    "while it runs"
                } else {
                    "while the table is rebuilt"
                },
            )
            .lock(
                table.display(),
                LockMode::MetadataExclusive,
                "brief, at its start and end",
            ),
        Algorithm::Copy => step.lock(
            table.display(),
            LockMode::MetadataNoWrite,
            "for the whole copy",
        ),
    }
}

/// `IF NOT EXISTS ` where the server knows it (MariaDB), else nothing.
pub fn if_not_exists(ctx: &Context) -> &'static str {
    if target(ctx).alter_if_exists() {
        "IF NOT EXISTS "
    } else {
        ""
    }
}

/// `IF EXISTS ` where the server knows it (MariaDB), else nothing.
pub fn if_exists(ctx: &Context) -> &'static str {
    if target(ctx).alter_if_exists() {
        "IF EXISTS "
    } else {
        ""
    }
}

/// A column definition for ADD/MODIFY COLUMN: name, type, the attributes as written, NULL-ability
/// and default.
pub fn column_def(ctx: &Context, column: &Column, not_null: bool, default: bool) -> String {
    let default = column
        .default
        .as_ref()
        .filter(|_| default)
        .map(|d| d.to_string());
    column_def_with(ctx, column, not_null, default.as_deref())
}

/// A column attribute that is MariaDB's CHECK written on the column.
pub fn is_check(extra: &str) -> bool {
    extra
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("CHECK "))
}

/// [`column_def`] with the given default (SQL text), or none.
pub fn column_def_with(
    ctx: &Context,
    column: &Column,
    not_null: bool,
    default: Option<&str>,
) -> String {
    let mut sql = format!("{} {}", ctx.quote(&column.name), column.data_type);
    // MariaDB reads a column's CHECK only as its last attribute.
    let is_check = |e: &&String| is_check(e);
    for extra in column.extra.iter().filter(|e| !is_check(e)) {
        sql.push(' ');
        sql.push_str(extra);
    }
    sql.push_str(if not_null { " NOT NULL" } else { " NULL" });
    if let Some(d) = default {
        sql.push_str(&format!(" DEFAULT {d}"));
    }
    for check in column.extra.iter().filter(is_check) {
        sql.push(' ');
        sql.push_str(check);
    }
    sql
}

/// A default every value of `data_type` accepts, for a NOT NULL column that needs one only so
/// that MariaDB lets `INSERT … SELECT` omit it (it checks omitted NOT NULL columns before BEFORE
/// INSERT triggers run): the trigger overwrites it in every row, so no row keeps it. `None` for
/// types without an obvious neutral value.
pub fn placeholder_default(ctx: &Context, data_type: &sqlparser::ast::DataType) -> Option<String> {
    let text = data_type.to_string().to_lowercase();
    let base = text
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_string();
    let mysql = !target(ctx).is_mariadb();
    Some(match base.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal"
        | "numeric" | "dec" | "fixed" | "float" | "double" | "real" | "bit" | "bool"
        | "boolean" | "year" => "0".to_string(),
        "char" | "varchar" | "binary" | "varbinary" | "set" => "''".to_string(),
        // MySQL takes a default for TEXT/BLOB only as an expression (8.0.13+).
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob"
        | "longblob" => if mysql { "('')" } else { "''" }.to_string(),
        "enum" => match data_type {
            sqlparser::ast::DataType::Enum(members, _) => match members.first()? {
                sqlparser::ast::EnumMember::Name(name)
                | sqlparser::ast::EnumMember::NamedValue(name, _) => ctx.dialect.literal(name),
            },
            _ => return None,
        },
        "date" => "'1970-01-01'".to_string(),
        "datetime" => "'1970-01-01 00:00:00'".to_string(),
        // A day in, so that no time zone turns it into the invalid zero TIMESTAMP.
        "timestamp" => "'1970-01-02 00:00:00'".to_string(),
        "time" => "'00:00:00'".to_string(),
        _ => return None,
    })
}

/// `ADD COLUMN` with its position; INSTANT where the version allows the position.
pub fn add_column(
    ctx: &Context,
    table: &QName,
    column: &Column,
    position: Option<&ColumnPosition>,
    not_null: bool,
    default: bool,
) -> (String, Algorithm) {
    let my = target(ctx);
    let algorithm = my.add_column(position.is_none());
    let mut action = format!(
        "ADD COLUMN {}{}",
        if_not_exists(ctx),
        column_def(ctx, column, not_null, default)
    );
    if let Some(p) = position {
        action.push(' ');
        action.push_str(&p.sql(ctx.dialect));
    }
    (alter(ctx, table, &[action], algorithm), algorithm)
}

/// `DROP COLUMN`, INSTANT from MySQL 8.0.29 / MariaDB 10.4.
pub fn drop_column(ctx: &Context, table: &QName, column: &str) -> String {
    alter(
        ctx,
        table,
        &[format!(
            "DROP COLUMN {}{}",
            if_exists(ctx),
            ctx.quote(column)
        )],
        target(ctx).drop_column(),
    )
}

/// `expr` evaluated against the row a trigger writes: every column name becomes `NEW.column`.
pub fn on_new_row(expr: &Expr) -> String {
    let mut expr = expr.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(ident) = e {
            *e = Expr::CompoundIdentifier(vec![Ident::new("NEW"), ident.clone()]);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    expr.to_string()
}

/// Predictable helper names (`safeshift_<table>_<column>_<purpose>`), cut to 64 characters.
pub fn helper_name(ctx: &Context, table: &QName, column: &str, purpose: &str) -> String {
    ctx.dialect
        .fit_ident(&format!("safeshift_{}_{column}_{purpose}", table.name))
}

/// Triggers that run `set` (one `SET NEW.… = …` statement, or a `BEGIN … END` body) before
/// every INSERT and every UPDATE: MySQL needs one trigger per event.
pub struct Triggers {
    pub create: Vec<String>,
    pub drop: Vec<String>,
}

fn triggers(ctx: &Context, table: &QName, base: &str, insert: &str, update: &str) -> Triggers {
    let mut create = Vec::new();
    let mut drop = Vec::new();
    for (event, suffix, body) in [("INSERT", "i", insert), ("UPDATE", "u", update)] {
        let name = ctx.qname(&table.sibling(ctx.dialect.fit_ident(&format!("{base}_{suffix}"))));
        let drop_sql = format!("DROP TRIGGER IF EXISTS {name}");
        create.push(drop_sql.clone());
        create.push(format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {} FOR EACH ROW {body}",
            ctx.qname(table)
        ));
        drop.push(drop_sql);
    }
    Triggers { create, drop }
}

#[derive(Template)]
#[template(path = "mysql/fill_update.sql", escape = "none")]
struct FillUpdate<'a> {
    column: &'a str,
    value: &'a str,
    /// The columns the value is computed from, quoted.
    sources: &'a [String],
}

/// Fills `column` with `expr` (over the written row) whenever a write leaves it NULL, and
/// recomputes it when an UPDATE changes one of `sources` without setting `column` itself.
pub fn fill_triggers(
    ctx: &Context,
    table: &QName,
    column: &str,
    expr: &Expr,
    sources: &[String],
) -> Result<Triggers, PlanError> {
    let c = ctx.quote(column);
    let value = on_new_row(expr);
    let insert = format!("SET NEW.{c} = COALESCE(NEW.{c}, {value})");
    let update = if sources.is_empty() {
        insert.clone()
    } else {
        let sources: Vec<String> = sources.iter().map(|s| ctx.quote(s)).collect();
        render(&FillUpdate {
            column: &c,
            value: &value,
            sources: &sources,
        })?
        .trim()
        .to_string()
    };
    let base = helper_name(ctx, table, column, "fill");
    Ok(triggers(ctx, table, &base, &insert, &update))
}

/// Sets `target` from `expr` (over the written row) on every write.
pub fn copy_triggers(
    ctx: &Context,
    table: &QName,
    source: &str,
    target: &str,
    expr: &Expr,
) -> Triggers {
    let set = format!("SET NEW.{} = {}", ctx.quote(target), on_new_row(expr));
    let base = helper_name(ctx, table, source, "copy");
    triggers(ctx, table, &base, &set, &set)
}

#[derive(Template)]
#[template(path = "mysql/sync_insert.sql", escape = "none")]
struct SyncInsert<'a> {
    old: &'a str,
    new: &'a str,
    /// What an INSERT leaves in a column it does not set: the default (both columns have it), or
    /// NULL.
    unset: &'a str,
}

#[derive(Template)]
#[template(path = "mysql/sync_update.sql", escape = "none")]
struct SyncUpdate<'a> {
    old: &'a str,
    new: &'a str,
}

/// Keeps `old` and `new` equal whichever one a write sets. Both columns carry the same `default`:
/// a column still holding it after an INSERT takes the other one's value (were both set, or the
/// one set equal to the default, the values agree anyway). Single-statement bodies, so the file
/// needs no DELIMITER.
pub fn sync_triggers(
    ctx: &Context,
    table: &QName,
    old: &str,
    new: &str,
    default: Option<&str>,
) -> Result<Triggers, PlanError> {
    let (o, n) = (ctx.quote(old), ctx.quote(new));
    let insert = render(&SyncInsert {
        old: &o,
        new: &n,
        unset: &format!("({})", default.unwrap_or("NULL")),
    })?;
    let update = render(&SyncUpdate { old: &o, new: &n })?;
    let base = helper_name(ctx, table, old, "sync");
    Ok(triggers(ctx, table, &base, insert.trim(), update.trim()))
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
#[template(path = "mysql/backfill.sql", escape = "none")]
struct Backfill<'a> {
    procedure: &'a str,
    delimiter: &'a str,
    table: &'a str,
    key: &'a str,
    key_type: &'a str,
    /// The statement run per batch, on rows with `safeshift_last_key < key <= safeshift_batch_end`.
    batch: &'a str,
    batch_size: u64,
    pause: super::WalkPause,
}

/// The temporary procedure that walks `table` by `key` and runs `batch` per batch.
fn batch_walk(
    ctx: &Context,
    table: &QName,
    key: &str,
    procedure: &str,
    batch: &str,
) -> Result<String, PlanError> {
    let key_type = ctx
        .catalog
        .column(table, key)
        .map(|c| c.data_type.to_string())
        .unwrap_or_else(|| "BIGINT".to_string());
    let procedure = ctx.qname(&table.sibling(procedure.to_string()));
    let (t, k) = (ctx.qname(table), ctx.quote(key));
    let delimiter =
        crate::dialect::mysql::delimiter(&format!("{batch} {procedure} {t} {k} {key_type}"));
    render(&Backfill {
        procedure: &procedure,
        delimiter: &delimiter,
        table: &t,
        key: &k,
        key_type: &key_type,
        batch,
        batch_size: ctx.options.batch_size,
        pause: super::WalkPause::mysql(ctx),
    })
}

/// The rows of one batch: `safeshift_last_key < key <= safeshift_batch_end`.
fn in_batch(ctx: &Context, key: &str) -> String {
    let k = ctx.quote(key);
    format!(
        "(safeshift_last_key IS NULL OR {k} > safeshift_last_key) AND {k} <= safeshift_batch_end"
    )
}

/// A batched, resumable backfill: `SET column = value` on rows where `pending` holds, one
/// transaction per batch, walking the primary key. MySQL has no anonymous code blocks, so the
/// loop is a temporary stored procedure: created, called and dropped by the same file (the
/// `DELIMITER` lines are read by the `mysql`/`mariadb` client).
pub fn backfill_step(
    ctx: &Context,
    table: &QName,
    column: &str,
    value: &str,
    pending: &str,
) -> Result<Step, PlanError> {
    let key = ctx.batch_key(table)?;
    let (t, k, c) = (ctx.qname(table), ctx.quote(&key), ctx.quote(column));
    let batch_size = ctx.options.batch_size;
    let batch = format!(
        "UPDATE {t} SET {c} = {value}\n     WHERE {}\n       AND {pending}",
        in_batch(ctx, &key)
    );
    let procedure = helper_name(ctx, table, column, "backfill");
    let sql = batch_walk(ctx, table, &key, &procedure, &batch)?;
    let mut step = Step::backfill(
        format!("backfill-{}-{column}", table.name),
        format!(
            "backfill {}.{column} in batches of {batch_size}",
            table.display()
        ),
    )
    .sql(
        sql,
        format!("{batch_size} rows per transaction; safe to interrupt and re-run"),
    )
    .lock(table.display(), LockMode::MetadataSharedWrite, "per batch")
    .down_sql(
        format!(
            "SELECT {} AS note",
            ctx.dialect.literal(&format!(
                "nothing to undo: the backfill of {}.{column} only wrote data",
                table.display()
            ))
        ),
        "a backfill changes no schema; the stage before it removes what it filled, if rolled back",
    )
    .down_sql(
        format!("DROP PROCEDURE IF EXISTS {}", ctx.qname(&table.sibling(procedure))),
        "the walk's procedure, left behind if the stage stopped while it ran",
    )
    .verify(
        format!("every row of {} is filled", table.display()),
        format!("SELECT COUNT(*) FROM {t} WHERE {pending}"),
        "0",
    )
    .note("The stage creates a temporary stored procedure (it needs the CREATE ROUTINE privilege) and drops it when done.");
    if !ctx.schema_known {
        step = step.note(format!(
            "Assumed: {} has a primary key column `id` (BIGINT) to walk in batches (no --schema was given).",
            table.display()
        ));
    }
    step.backfill = Some(BackfillSpec {
        table: t,
        key: k,
        key_columns: Vec::new(),
        column: c,
        value: value.to_string(),
        pending: pending.to_string(),
        batch_size,
    });
    Ok(step)
}

/// The query that tells whether a column is nullable (`YES`/`NO`).
pub fn nullable_query(ctx: &Context, table: &QName, column: &str) -> String {
    format!(
        "SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND COLUMN_NAME = {}",
        schema_expr(ctx, table),
        ctx.dialect.literal(&table.name),
        ctx.dialect.literal(column)
    )
}

/// The table's database in an information_schema query: the named one, or the current one.
pub fn schema_expr(ctx: &Context, table: &QName) -> String {
    match &table.schema {
        Some(s) => ctx.dialect.literal(s),
        None => "DATABASE()".to_string(),
    }
}

/// Makes `column` NOT NULL: a MODIFY that restates the column, in place with a rebuild (reads and
/// writes continue). Every stage runs in a strict sql_mode, so a NULL left behind makes the
/// ALTER fail instead of becoming 0 or ''.
pub fn not_null_step(ctx: &Context, table: &QName, column: &Column, phase: Phase) -> Step {
    let t = ctx.qname(table);
    let c = ctx.quote(&column.name);
    let algorithm = target(ctx).change_nullability();
    let step = Step::database(
        phase,
        format!("not-null-{}-{}", table.name, column.name),
        format!(
            "make {}.{} NOT NULL (in-place rebuild; reads and writes continue)",
            table.display(),
            column.name
        ),
    )
    .before(
        format!("no NULLs left in {}.{}", table.display(), column.name),
        format!("SELECT COUNT(*) FROM {t} WHERE {c} IS NULL"),
        "0",
    )
    .sql(
        alter(
            ctx,
            table,
            &[format!("MODIFY COLUMN {}", column_def(ctx, column, true, true))],
            algorithm,
        ),
        algorithm.describe(),
    )
    .down_sql(
        alter(
            ctx,
            table,
            &[format!("MODIFY COLUMN {}", column_def(ctx, column, false, true))],
            algorithm,
        ),
        "",
    )
    .verify(
        format!("{}.{} is NOT NULL", table.display(), column.name),
        nullable_query(ctx, table, &column.name),
        "NO",
    )
    .note("The rebuild reads and rewrites the whole table while traffic goes on; replicas apply it only once it has finished here, so expect replica lag of about its duration.");
    alter_locks(step, table, algorithm)
}

/// A stage a person runs with gh-ost or pt-online-schema-change: the tool copies the table in
/// chunks, keeps the copy in sync, throttles on load and replica lag, and swaps it in.
pub fn online_tool_step(
    ctx: &Context,
    tool: OnlineTool,
    table: &QName,
    alter_clause: &str,
    slug: String,
    title: String,
) -> Step {
    let database = table
        .schema
        .clone()
        .unwrap_or_else(|| "$DATABASE".to_string());
    let quoted = shlex::try_quote(alter_clause)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", alter_clause.replace('\'', "'\\''")));
    let chunk = ctx.options.batch_size.min(50_000);
    let command = match tool {
        OnlineTool::GhOst => format!(
            "gh-ost --host=\"$DB_HOST\" --user=\"$DB_USER\" --ask-pass --database={database} --table={} \\\n  --alter={quoted} \\\n  --chunk-size={chunk} --max-load=Threads_running=25 --critical-load=Threads_running=200 \\\n  --max-lag-millis=1500 --cut-over=default --cut-over-lock-timeout-seconds={} \\\n  --postpone-cut-over-flag-file=/tmp/ghost.postpone.flag --exact-rowcount --verbose --execute",
            table.name,
            crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS.max(3)
        ),
        OnlineTool::PtOsc => format!(
            "pt-online-schema-change --alter {quoted} \\\n  D={database},t={} --ask-pass \\\n  --chunk-size={chunk} --max-load Threads_running=25 --critical-load Threads_running=200 \\\n  --max-lag 1.5 --set-vars lock_wait_timeout={} \\\n  --no-drop-old-table --execute",
            table.name,
            crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS
        ),
    };
    let mut step = Step::tool(tool, Phase::Expand, slug, title)
        .app(match tool {
            OnlineTool::GhOst => "Run it first without --execute (gh-ost then only checks and copies nothing), then with it.",
            OnlineTool::PtOsc => "Run it first with --dry-run in place of --execute, then as written.",
        })
        .app(match tool {
            OnlineTool::GhOst => "gh-ost copies in chunks and replays the binlog into the copy; it waits before the cut-over while /tmp/ghost.postpone.flag exists — delete the file when you are ready for the brief swap.".to_string(),
            OnlineTool::PtOsc => "pt-online-schema-change copies in chunks and keeps the copy in sync with triggers; it pauses while the load or replica lag is above the limits, then swaps the tables with an atomic RENAME TABLE. The old table is kept (`--no-drop-old-table`): drop it once you are sure. While it copies, an app write can lose a deadlock (error 1213) to a chunk or its trigger: the app must retry it, as it should any deadlock.".to_string(),
        })
        .lock(table.display(), LockMode::MetadataExclusive, "brief, at the cut-over");
    step.command = Some(command);
    step
}

/// Copies of the plain indexes on `column`, built in place on `target` (the column that replaces
/// it); `renames` holds the `RENAME INDEX` actions that give them the original names in the swap
/// ALTER (dropping the old column drops its indexes, freeing the names).
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
    let algorithm = self::target(ctx).index_change();
    let mut step = Step::database(
        Phase::Migrate,
        slug,
        format!(
            "build the indexes of {}.{column} on {target}",
            table.display()
        ),
    );
    let mut renames = Vec::new();
    for index in &indexes {
        let copy = helper_name(ctx, table, &index.name.name, "new");
        let cols = index
            .columns
            .iter()
            .map(|c| ctx.quote(if c == column { target } else { c }))
            .collect::<Vec<_>>()
            .join(", ");
        step = step
            .sql(
                alter(
                    ctx,
                    table,
                    &[format!(
                        "ADD {}INDEX {}{} ({cols})",
                        if index.unique { "UNIQUE " } else { "" },
                        if_not_exists(ctx),
                        ctx.quote(&copy)
                    )],
                    algorithm,
                ),
                algorithm.describe(),
            )
            .down_sql(
                alter(
                    ctx,
                    table,
                    &[format!("DROP INDEX {}{}", if_exists(ctx), ctx.quote(&copy))],
                    algorithm,
                ),
                "",
            );
        renames.push(format!(
            "RENAME INDEX {} TO {}",
            ctx.quote(&copy),
            ctx.quote(&index.name.name)
        ));
    }
    IndexCopies {
        step: Some(alter_locks(step, table, algorithm)),
        renames,
    }
}

/// The swap that ends a column copy: drop the old column and give the new one (already in the old
/// one's place) its final name and definition, and the index copies their names, in one ALTER.
pub fn swap_columns(
    ctx: &Context,
    table: &QName,
    old: &str,
    new: &Column,
    final_name: &str,
    renames: &[String],
) -> (String, Algorithm) {
    let my = target(ctx);
    // Dropping an indexed column drops its index, which is never INSTANT (MariaDB 10.11); making
    // the new column NOT NULL here rebuilds the table in place.
    let mut algorithm = my.drop_column();
    if !renames.is_empty() || !ctx.catalog.indexes_on(table, old).is_empty() {
        algorithm = algorithm.max(Algorithm::Inplace);
    }
    if new.not_null {
        algorithm = algorithm.max(my.change_nullability());
    }
    let mut actions = vec![format!("DROP COLUMN {}", ctx.quote(old))];
    actions.push(format!(
        "CHANGE COLUMN {} {}",
        ctx.quote(&new.name),
        column_def(
            ctx,
            &Column {
                name: final_name.to_string(),
                ..new.clone()
            },
            new.not_null,
            true
        )
    ));
    actions.extend(renames.iter().cloned());
    (alter(ctx, table, &actions, algorithm), algorithm)
}

/// A change that only a table copy makes (ADD CHECK, which has no NOT VALID), done the way
/// pt-online-schema-change does it, but as plan stages that run with the plain client:
///
/// 1. expand: an empty copy of the table with the change (`CREATE TABLE … LIKE`, then the ALTER:
///    instant on an empty table), and AFTER INSERT/UPDATE/DELETE triggers that mirror every write
///    into it — from here on the new rule is enforced on writes;
/// 2. migrate: copy the existing rows in primary-key batches (rows the triggers wrote already are
///    kept: they are newer); a row that breaks the new rule fails the batch loudly;
/// 3. contract: one atomic `RENAME TABLE t TO old, copy TO t`, then drop the triggers and the old
///    table (the point of no return).
///
/// `None` when the copy cannot be planned safely: the schema (columns, primary key) is unknown,
/// or foreign keys point from or to the table (they would stay with the old table).
pub fn copy_table(
    ctx: &Context,
    table: &QName,
    actions: &[String],
    what: &str,
) -> Result<Option<crate::plan::Expansion>, PlanError> {
    let Some(t) = ctx.catalog.table(table).filter(|_| ctx.schema_known) else {
        return Ok(None);
    };
    let Some(keys) = t.primary_key().map(<[String]>::to_vec) else {
        return Ok(None);
    };
    let has_fk = |t: &crate::schema::Table| {
        t.constraints
            .iter()
            .any(|c| matches!(c.kind, crate::schema::ConstraintKind::ForeignKey { .. }))
    };
    let referenced = ctx
        .catalog
        .table_names()
        .filter_map(|n| ctx.catalog.table(n))
        .any(|other| {
            other.constraints.iter().any(|c| {
                matches!(&c.kind, crate::schema::ConstraintKind::ForeignKey { table: to, .. } if to.same(table))
            })
        });
    if has_fk(t) || referenced {
        return Ok(None);
    }
    // Generated columns compute themselves; AUTO_INCREMENT ones are copied like any other.
    let columns: Vec<String> = t
        .columns
        .iter()
        .filter(|c| {
            c.generated.is_none()
                || c.extra
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case("AUTO_INCREMENT"))
        })
        .map(|c| ctx.quote(&c.name))
        .collect();
    let cols = columns.join(", ");
    let new_values = columns
        .iter()
        .map(|c| format!("NEW.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let copy = table.sibling(helper_name(ctx, table, "copy", "new"));
    let old = table.sibling(helper_name(ctx, table, "copy", "old"));
    let (tq, cq, oq) = (ctx.qname(table), ctx.qname(&copy), ctx.qname(&old));
    let matches_old = keys
        .iter()
        .map(|k| format!("{} = OLD.{}", ctx.quote(k), ctx.quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let trigger = |suffix: &str| ctx.qname(&table.sibling(helper_name(ctx, table, "copy", suffix)));
    let replace = format!("REPLACE INTO {cq} ({cols}) VALUES ({new_values})");
    let delete = format!("DELETE FROM {cq} WHERE {matches_old}");
    // MySQL keeps several triggers per event in order (FOLLOWS): single statements, no DELIMITER.
    let triggers = [
        (
            trigger("i"),
            format!("AFTER INSERT ON {tq} FOR EACH ROW {replace}"),
        ),
        (
            trigger("u"),
            format!("AFTER UPDATE ON {tq} FOR EACH ROW {delete}"),
        ),
        (
            trigger("u2"),
            format!(
                "AFTER UPDATE ON {tq} FOR EACH ROW FOLLOWS {} {replace}",
                trigger("u")
            ),
        ),
        (
            trigger("d"),
            format!("AFTER DELETE ON {tq} FOR EACH ROW {delete}"),
        ),
    ];
    let drop_triggers: Vec<String> = triggers
        .iter()
        .map(|(name, _)| format!("DROP TRIGGER IF EXISTS {name}"))
        .collect();
    let slug = |step: &str| format!("{step}-{}", table.name);

    let mut expand = Step::database(
        Phase::Expand,
        slug("copy-table"),
        format!(
            "an empty copy of {} that {what}, kept in sync by triggers",
            table.display()
        ),
    );
    for sql in &drop_triggers {
        expand = expand.sql(sql.clone(), "");
    }
    expand = expand
        .sql(
            format!("DROP TABLE IF EXISTS {cq}"),
            "re-runnable: start the copy from a clean slate",
        )
        .sql(
            format!("CREATE TABLE {cq} LIKE {tq}"),
            "the same columns, keys and options",
        )
        .sql(
            alter(ctx, &copy, actions, Algorithm::Copy),
            "the change, on an empty table: nothing to copy yet",
        );
    for (name, body) in &triggers {
        expand = expand.sql(format!("CREATE TRIGGER {name} {body}"), "");
    }
    expand = expand
        .lock(table.display(), LockMode::MetadataExclusive, "brief, for each trigger")
        .note(format!("From this stage on every write to {} also goes through the new rule: a write that breaks it fails.", table.display()));
    for sql in &drop_triggers {
        expand = expand.down_sql(sql.clone(), "");
    }
    expand = expand.down_sql(format!("DROP TABLE IF EXISTS {cq}"), "");

    let key = &keys[0];
    let batch = format!(
        "INSERT INTO {cq} ({cols})\n     SELECT {cols} FROM {tq}\n     WHERE {}\n     ON DUPLICATE KEY UPDATE {cq}.{k} = {cq}.{k}",
        in_batch(ctx, key),
        k = ctx.quote(key)
    );
    let batch_size = ctx.options.batch_size;
    let procedure = helper_name(ctx, table, "copy", "backfill");
    let backfill = Step::backfill(
        slug("copy-rows"),
        format!("copy the rows of {} in batches of {batch_size}", table.display()),
    )
    .after(&[0])
    .sql(
        batch_walk(ctx, table, key, &procedure, &batch)?,
        format!("{batch_size} rows per transaction; rows the triggers wrote are newer and kept; safe to interrupt and re-run"),
    )
    .lock(table.display(), LockMode::MetadataSharedWrite, "per batch")
    .down_sql("SELECT 'nothing to undo: the copy only wrote rows of the copy' AS note", "")
    .down_sql(
        format!("DROP PROCEDURE IF EXISTS {}", ctx.qname(&table.sibling(procedure.clone()))),
        "the walk's procedure, left behind if the stage stopped while it ran",
    )
    .verify(
        format!("the copy of {} has every row", table.display()),
        format!("SELECT (SELECT COUNT(*) FROM {tq}) - (SELECT COUNT(*) FROM {cq})"),
        "0",
    );

    let mut swap = Step::database(
        Phase::Contract,
        slug("swap-table"),
        format!(
            "swap the copy in for {} and drop the old table",
            table.display()
        ),
    )
    .after(&[1])
    .before(
        format!("the copy of {} has every row", table.display()),
        format!("SELECT (SELECT COUNT(*) FROM {tq}) - (SELECT COUNT(*) FROM {cq})"),
        "0",
    )
    .sql(
        format!("RENAME TABLE {tq} TO {oq}, {cq} TO {tq}"),
        "one atomic statement: queries see the old table, then the new one, never neither",
    );
    for (i, sql) in drop_triggers.iter().enumerate() {
        let why = if i == 0 {
            "the triggers moved with the old table"
        } else {
            ""
        };
        swap = swap.sql(sql.clone(), why);
    }
    swap = swap
        .sql(
            format!("DROP TABLE IF EXISTS {oq}"),
            "dropping a large table takes I/O; the rows live on in the new one",
        )
        .lock(table.display(), LockMode::MetadataExclusive, "brief")
        .irreversible(format!(
            "the old {} is dropped; the new one holds its rows",
            table.display()
        ));
    Ok(Some(crate::plan::Expansion {
        steps: vec![expand, backfill, swap],
        anchor: 2,
    }))
}

/// `statement`, run only when `condition` (a query that counts) is above zero: a prepared
/// statement, so a stage that stopped half way can run again without repeating an ALTER that
/// already happened (MySQL has no `IF EXISTS` there, and on MariaDB `DROP COLUMN IF EXISTS c`
/// would drop the column that has just taken `c`'s name).
pub fn guarded(ctx: &Context, condition: &str, statement: &str) -> Vec<String> {
    vec![
        format!(
            "SET @safeshift_sql = IF(({condition}) > 0, {}, 'DO 0')",
            ctx.dialect.literal(statement)
        ),
        "PREPARE safeshift_stmt FROM @safeshift_sql".to_string(),
        "EXECUTE safeshift_stmt".to_string(),
        "DEALLOCATE PREPARE safeshift_stmt".to_string(),
    ]
}

/// Counts `column` of `table` (0 or 1).
pub fn column_count(ctx: &Context, table: &QName, column: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND COLUMN_NAME = {}",
        schema_expr(ctx, table),
        ctx.dialect.literal(&table.name),
        ctx.dialect.literal(column)
    )
}

/// Counts the key parts of `index` on `table` (0 when there is no such index).
pub fn index_count(ctx: &Context, table: &QName, index: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND INDEX_NAME = {}",
        schema_expr(ctx, table),
        ctx.dialect.literal(&table.name),
        ctx.dialect.literal(index)
    )
}

/// The swap that ends a column copy while writers still go through the copy triggers (a type
/// change): `LOCK TABLES t WRITE`, then metadata-only ALTERs — drop the old column's indexes,
/// drop the old column and rename the copy into its place with its final definition, give the
/// index copies the original names — then drop the copy triggers and `UNLOCK TABLES`.
///
/// Why the lock: between dropping the copy triggers and the ALTER, an INSERT would leave the
/// copy NULL (the ALTER then fails) and an UPDATE of the old column would be lost (the copy keeps
/// the stale value, silently). Under the write lock no other session reads or writes the table,
/// so the triggers can go last; the lock is held only for metadata changes, a few milliseconds
/// however big the table. Each ALTER is guarded, so the stage can run again after stopping half
/// way; a failed ALTER leaves the triggers in place (the client disconnects, which unlocks).
///
/// `new` is the copy as it is now: its NULL-ability must already be the final one (changing it
/// rebuilds the table); its default may differ (metadata only). `None` where the server cannot
/// drop a column without a rebuild.
pub fn locked_swap(
    ctx: &Context,
    table: &QName,
    old: &str,
    new: &str,
    final_column: &Column,
    drop_triggers: &[String],
) -> Option<Vec<(String, String)>> {
    let index_algorithm = target(ctx).swap_index_algorithm()?;
    let t = ctx.qname(table);
    let shadow_left = column_count(ctx, table, new);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |sqls: Vec<String>, why: &str| {
        for (i, sql) in sqls.into_iter().enumerate() {
            out.push((
                sql,
                if i == 0 {
                    why.to_string()
                } else {
                    String::new()
                },
            ));
        }
    };
    push(
        vec![format!("LOCK TABLES {t} WRITE")],
        "reads and writes of the table wait from here to UNLOCK TABLES: no write can miss the copy triggers; gives up after lock_wait_timeout (nothing changed then: run the stage again)",
    );
    let indexes: Vec<String> = ctx
        .catalog
        .indexes_on(table, old)
        .iter()
        .map(|i| i.name.name.clone())
        .collect();
    for index in &indexes {
        push(
            guarded(
                ctx,
                &format!("({shadow_left}) * ({})", index_count(ctx, table, index)),
                &format!(
                    "ALTER TABLE {t} DROP INDEX {}, {index_algorithm}",
                    ctx.quote(index)
                ),
            ),
            &format!(
                "drop the old column's index {index} (metadata only, {index_algorithm}); its copy takes the name below"
            ),
        );
    }
    push(
        guarded(
            ctx,
            &shadow_left,
            &format!(
                "ALTER TABLE {t} DROP COLUMN {}, CHANGE COLUMN {} {}, ALGORITHM=INSTANT",
                ctx.quote(old),
                ctx.quote(new),
                column_def(ctx, final_column, final_column.not_null, true)
            ),
        ),
        "the old column and its values are gone, the copy takes its name, place and final default: INSTANT, metadata only; runs only if the copy is still there",
    );
    for index in &indexes {
        let copy = helper_name(ctx, table, index, "new");
        push(
            guarded(
                ctx,
                &index_count(ctx, table, &copy),
                &format!(
                    "ALTER TABLE {t} RENAME INDEX {} TO {}, {index_algorithm}",
                    ctx.quote(&copy),
                    ctx.quote(index)
                ),
            ),
            "the index copy takes the original name (metadata only)",
        );
    }
    push(
        drop_triggers.to_vec(),
        "the copy triggers go only now: until UNLOCK TABLES no write reaches the table",
    );
    push(vec!["UNLOCK TABLES".to_string()], "");
    Some(out)
}
