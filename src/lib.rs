//! safeshift turns a risky schema change into a staged, reviewable rollout plan.
//!
//! The pipeline runs one way: SQL text → `parse` → `change::lower` → `ops` (assess, expand) →
//! `plan` (step graph, stages) → `render` (plan directory). Everything up to `render` is pure.

pub mod apply;
pub mod change;
pub mod cli;
pub mod config;
pub mod db;
pub mod dialect;
pub mod error;
pub mod gate;
pub mod interrupt;
pub mod introspect;
pub mod lint;
pub mod name;
pub mod ops;
pub mod parse;
pub mod plan;
pub mod plan_dir;
pub mod rehearse;
pub mod render;
pub mod rules;
pub mod schema;

use std::collections::BTreeSet;

use change::Change;
use dialect::Dialect;
pub use error::{Error, PlanError, Pos};
use ops::{Context, Options};
use parse::Body;
pub use plan::Plan;
use plan::graph::Planned;
pub use plan::graph::StepGraph;
use plan::stage::ChangeInfo;
use schema::Catalog;

/// What `safeshift plan` works from.
pub struct PlanInput<'a> {
    /// Name of the change file, for messages (`-` for stdin).
    pub change_name: &'a str,
    pub change_sql: &'a str,
    /// (`--schema` file name, its text).
    pub schema: Option<(&'a str, &'a str)>,
    /// The engine and version to plan for (`Postgres::parse_version(…).into()` for PostgreSQL).
    pub dialect: Dialect,
    pub options: Options,
}

/// A statement of the change file and the changes it lowered to.
struct Lowered {
    pos: Pos,
    text: String,
    directives: Vec<parse::Directive>,
    changes: Vec<Change>,
    /// `UPDATE t SET c = expr` over the whole table (see [`change::whole_table_fill`]).
    fill: Option<(name::QName, String, sqlparser::ast::Expr)>,
    /// Lines of later statements folded into this one's change (the ORM pattern below).
    folded: Vec<u64>,
}

/// `DROP VIEW v` and, later in the file, `CREATE VIEW v` are one intent: a new definition of v.
/// Planned as a drop (after a deploy that stops reading v) and a create, v would be missing in
/// between; as one replacement, where the CREATE stands, v is dropped and made again in one
/// transaction and the app reading it never finds it missing. Not with CASCADE (it drops more than
/// the file makes again) nor for materialized views (a replacement runs their query under lock).
/// PostgreSQL only: MySQL commits each DDL statement on its own. Only where the drop can move:
/// no other view reads v (dropping it would fail while they stand), and nothing between the two
/// statements changes what v reads (the file dropped v to free it: a type change of a column it
/// reads), and no view v reads is dropped in the file (that drop needs v gone first). Returns a
/// sentence per merge.
fn merge_view_replacements(lowered: &mut [Lowered], catalog: &Catalog, file: &str) -> Vec<String> {
    use ops::view::ViewChange;
    let mut said = Vec::new();
    for i in 0..lowered.len() {
        let mut k = 0;
        while k < lowered[i].changes.len() {
            let Change::View(ViewChange::Drop {
                name,
                materialized: false,
                cascade: false,
                ..
            }) = &lowered[i].changes[k]
            else {
                k += 1;
                continue;
            };
            let name = name.clone();
            let names_it = |c: &Change| match c {
                Change::View(ViewChange::Create { view, .. }) => view.name.same(&name),
                Change::View(ViewChange::Drop { name: n, .. }) => n.same(&name),
                _ => false,
            };
            let later = lowered
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, l)| l.changes.iter().any(names_it))
                .map(|(j, _)| j);
            let Some(j) = later else {
                k += 1;
                continue;
            };
            let read_by_others = catalog
                .views()
                .any(|w| !w.name.same(&name) && w.reads.iter().any(|r| r.same(&name)));
            let reads: Vec<name::QName> = catalog
                .view(&name)
                .map(|v| v.reads.clone())
                .unwrap_or_default();
            // Other views' drops and creates only read tables; anything else on what v reads (or
            // of unknown reach) between the two statements keeps the drop where it was written.
            let changed_between = lowered[i + 1..j].iter().flat_map(|l| &l.changes).any(|c| {
                if matches!(c, Change::View(_)) {
                    return false;
                }
                let tables = c.op().tables();
                tables.is_empty() || tables.iter().any(|t| reads.iter().any(|r| r.same(t)))
            });
            // A view it reads is dropped in the file: that drop needs v gone first.
            let reads_a_dropped_view = reads.iter().any(|r| {
                lowered.iter().flat_map(|l| &l.changes).any(
                    |c| matches!(c, Change::View(ViewChange::Drop { name: d, .. }) if d.same(r)),
                )
            });
            if read_by_others
                || changed_between
                || reads_a_dropped_view
                || catalog.view(&name).is_none()
            {
                k += 1;
                continue;
            }
            let create = lowered[j].changes.iter_mut().find(|c| names_it(c));
            let Some(Change::View(ViewChange::Create { view, replaces, .. })) = create else {
                k += 1;
                continue;
            };
            if view.materialized {
                k += 1;
                continue;
            }
            *replaces = true;
            lowered[i].changes.remove(k);
            let (drop_at, create_at) = (lowered[i].pos, lowered[j].pos);
            said.push(format!(
                "{file}:{}:{} (DROP VIEW {}) and {file}:{}:{} (CREATE VIEW {}) are one replacement of the view: it is dropped and made again in one transaction where the CREATE stands, so it is never missing.",
                drop_at.line,
                drop_at.column,
                name.display(),
                create_at.line,
                create_at.column,
                name.display()
            ));
        }
    }
    said
}

/// The ORM way of adding a required column — `ADD COLUMN c` (nullable, no default), `UPDATE t SET
/// c = expr` over every row, `ALTER COLUMN c SET NOT NULL`, with a `SET DEFAULT` of c anywhere
/// among them — is one intent: an added NOT NULL column backfilled with `expr`. The ADD becomes
/// that change (with a backfill directive), the UPDATE and SET NOT NULL are folded into it, and
/// the SET DEFAULT stays a change of its own. Nothing else may touch the table in between.
/// Returns a sentence per merge for the plan's reviewers.
fn merge_required_columns(lowered: &mut [Lowered], file: &str) -> Vec<String> {
    let mut said = Vec::new();
    for i in 0..lowered.len() {
        let [Change::AddColumn(add)] = lowered[i].changes.as_slice() else {
            continue;
        };
        if add.column.not_null
            || add.column.default.is_some()
            || add.column.generated.is_some()
            || add.if_not_exists
            || !add.references.is_empty()
            || lowered[i].directives.iter().any(|d| d.key == "backfill")
        {
            continue;
        }
        let add = add.clone();
        let created_here = lowered[..i].iter().any(|l| {
            l.changes
                .iter()
                .any(|c| matches!(c, Change::CreateTable(t) if t.table.same(&add.table)))
        });
        if created_here {
            continue;
        }
        let column = add.column.name.clone();
        let mut fill: Option<(usize, sqlparser::ast::Expr)> = None;
        let mut not_null: Option<usize> = None;
        let mut default: Option<(usize, sqlparser::ast::Expr)> = None;
        // MySQL's SET NOT NULL is a MODIFY that restates the column; a DEFAULT in it is the
        // default for new rows.
        let mut modify_default: Option<(usize, sqlparser::ast::Expr)> = None;
        let mut not_null_spelling = "SET NOT NULL";
        // A constraint on the filled column instead of NOT NULL (CHECK, FOREIGN KEY, UNIQUE).
        let mut constraint: Option<usize> = None;
        for (j, l) in lowered.iter().enumerate().skip(i + 1) {
            if let Some((t, c, expr)) = &l.fill
                && t.same(&add.table)
                && *c == column
                && fill.is_none()
            {
                fill = Some((j, expr.clone()));
                continue;
            }
            match l.changes.as_slice() {
                [Change::SetNotNull(n)] if n.table.same(&add.table) && n.column == column => {
                    if fill.is_some() {
                        not_null = Some(j);
                    }
                    break;
                }
                [c] if fill.is_some() && c.op().constrains(&add.table, &column) => {
                    constraint = Some(j);
                    break;
                }
                [Change::ModifyColumn(m)] if m.table.same(&add.table) && m.from == column => {
                    let only_not_null = m.column.name == column
                        && m.column.not_null
                        && m.column.data_type == add.column.data_type
                        && m.column.extra == add.column.extra
                        && m.column.generated.is_none()
                        && m.position.is_none();
                    if fill.is_some() && only_not_null {
                        not_null = Some(j);
                        not_null_spelling = "MODIFY … NOT NULL";
                        modify_default = m.column.default.clone().map(|d| (j, d));
                    }
                    break;
                }
                [Change::CatalogOnly(c)] if c.table.same(&add.table) => match &c.action {
                    ops::catalog_only::Action::SetDefault { column: d, expr } if *d == column => {
                        default = Some((j, expr.as_ref().clone()));
                        continue;
                    }
                    _ => break,
                },
                changes => {
                    let touches = changes.iter().any(|c| {
                        let tables = c.op().tables();
                        tables.is_empty() || tables.iter().any(|t| t.same(&add.table))
                    });
                    if touches {
                        break;
                    }
                }
            }
        }
        if let (Some((j, expr)), None, Some(c)) = (&fill, not_null, constraint) {
            // ADD COLUMN + UPDATE every row + a constraint on the column: the column, filled for
            // the running app by a trigger and for existing rows by a batched backfill, stays
            // nullable as written; the constraint is its own change, after the backfill.
            let (at, update, check) = (lowered[i].pos, lowered[*j].pos, lowered[c].pos);
            lowered[i].changes = vec![Change::AddRequiredColumn(
                ops::add_required_column::AddRequiredColumn {
                    table: add.table.clone(),
                    column: add.column.clone(),
                    position: add.position.clone(),
                },
            )];
            lowered[i].directives.push(parse::Directive {
                pos: update,
                key: "backfill".to_string(),
                rest: format!("= {expr}"),
            });
            lowered[*j].changes.clear();
            lowered[i].folded = vec![update.line];
            said.push(format!(
                "{file}:{}:{} (ADD COLUMN {}.{column}) and {}:{} (UPDATE … SET {column} = {expr}) are one intent, for the constraint at {}:{}: the column is filled for the running app by a trigger and for existing rows by a batched backfill of `{expr}` before the constraint is added, so no row the app inserts meanwhile lacks it.",
                at.line,
                at.column,
                add.table.display(),
                update.line,
                update.column,
                check.line,
                check.column
            ));
            continue;
        }
        let (Some((j, expr)), Some(k)) = (fill, not_null) else {
            continue;
        };
        if let Some(in_modify) = modify_default {
            if default.is_some() {
                // Two defaults for the column: leave the statements as they are.
                continue;
            }
            default = Some(in_modify);
        }
        // The default may also come after the NOT NULL (the order the ORMs write).
        if default.is_none() {
            for (d, l) in lowered.iter().enumerate().skip(k + 1) {
                let touches = l.changes.iter().any(|c| {
                    let tables = c.op().tables();
                    tables.is_empty() || tables.iter().any(|t| t.same(&add.table))
                });
                if let [Change::CatalogOnly(c)] = l.changes.as_slice()
                    && c.table.same(&add.table)
                    && let ops::catalog_only::Action::SetDefault { column: dc, expr } = &c.action
                    && *dc == column
                {
                    default = Some((d, expr.as_ref().clone()));
                    break;
                }
                if touches {
                    break;
                }
            }
        }
        let default_in_modify = default.as_ref().is_some_and(|(d, _)| *d == k);
        let constant_default = default.as_ref().is_some_and(|(_, value)| {
            matches!(expr, sqlparser::ast::Expr::Value(_)) && value.to_string() == expr.to_string()
        });
        if default_in_modify && !constant_default {
            // Folding the MODIFY would lose the default it sets; an added required column has
            // none (see add_required_column.rs): leave the statements as they are.
            continue;
        }
        let (at, update, set) = (lowered[i].pos, lowered[j].pos, lowered[k].pos);
        // Every row gets the constant the default gives new rows: that is `ADD COLUMN … NOT NULL
        // DEFAULT constant`, which fills existing rows without touching them (PostgreSQL 11+).
        if let Some((d, value)) = &default
            && matches!(expr, sqlparser::ast::Expr::Value(_))
            && value.to_string() == expr.to_string()
        {
            let d = *d;
            let default_at = lowered[d].pos;
            lowered[i].changes = vec![Change::AddColumn(ops::add_column::AddColumn {
                column: schema::Column {
                    not_null: true,
                    default: Some(value.clone()),
                    ..add.column.clone()
                },
                ..add.clone()
            })];
            for x in [j, k, d] {
                lowered[x].changes.clear();
            }
            lowered[i].folded = vec![update.line, set.line, default_at.line];
            said.push(format!(
                "{file}:{}:{} (ADD COLUMN {}.{column}), {}:{} (UPDATE … SET {column} = {expr}), {}:{} ({not_null_spelling}) and {}:{} (DEFAULT {expr}) are one intent: ADD COLUMN {column} … NOT NULL DEFAULT {expr}, which gives every existing row the default without rewriting the table.",
                at.line,
                at.column,
                add.table.display(),
                update.line,
                update.column,
                set.line,
                set.column,
                default_at.line,
                default_at.column
            ));
            continue;
        }
        lowered[i].changes = vec![Change::AddRequiredColumn(
            ops::add_required_column::AddRequiredColumn {
                table: add.table.clone(),
                column: schema::Column {
                    not_null: true,
                    ..add.column.clone()
                },
                position: add.position.clone(),
            },
        )];
        lowered[i].directives.push(parse::Directive {
            pos: update,
            key: "backfill".to_string(),
            rest: format!("= {expr}"),
        });
        lowered[j].changes.clear();
        lowered[k].changes.clear();
        lowered[i].folded = vec![update.line, set.line];
        said.push(format!(
            "{file}:{}:{} (ADD COLUMN {}.{column}), {}:{} (UPDATE … SET {column} = {expr}) and {}:{} ({not_null_spelling}) are one intent: an added NOT NULL column, filled for the running app by a trigger and for existing rows by a batched backfill of `{expr}`, then made NOT NULL without a long lock.",
            at.line,
            at.column,
            add.table.display(),
            update.line,
            update.column,
            set.line,
            set.column
        ));
    }
    said
}

/// Plans a change. Fails with a positioned error on bad input; never touches a database.
pub fn plan(input: &PlanInput) -> Result<Plan, Error> {
    let file = input.change_name;
    let dialect = input.dialect;
    let Expanded {
        planned,
        infos,
        mut assumptions,
        warnings,
        session,
    } = expand(input)?;
    let graph = StepGraph::build(planned);
    let mut stages = plan::stage::stages(graph).map_err(Error::Usage)?;
    if !dialect.is_mysql() {
        // MySQL commits every DDL statement on its own: there is no transaction to cut.
        plan::stage::commit_per_table(&mut stages);
    }
    let sizes = &input.options.sizes;
    for stage in &mut stages {
        stage.estimate = plan::estimate::estimate(stage, sizes);
    }
    if stages.iter().any(|s| s.estimate.is_some()) {
        assumptions.push(if sizes.is_empty() {
            "Durations are not estimated: no table sizes were given (--rows TABLE=N, or --database-url for the catalog's estimates).".to_string()
        } else {
            format!(
                "Durations are estimates: backfills at {} unless --batch-time gives a measured batch time; index builds and validations at typical scan rates. Watch the first minutes and extrapolate.",
                if sizes.batch_time.is_some() { "the measured batch time" } else { "an assumed 50,000 rows/s" }
            )
        });
    }
    Ok(Plan {
        version: 1,
        generator: format!("safeshift {}", env!("CARGO_PKG_VERSION")),
        dialect: dialect.id(),
        server_version: dialect.version(),
        source: file.to_string(),
        schema: input.schema.map(|(f, _)| f.to_string()),
        schema_sql: input.schema.map(|(_, text)| text.to_string()),
        dual_write: input.options.dual_write,
        changes: infos,
        stages,
        assumptions,
        warnings,
        session,
    })
}

/// The step graph of a change before it is cut into stages, for checks of its shape (the property
/// tests: acyclic, and every edge respected by the stages).
pub fn step_graph(input: &PlanInput) -> Result<StepGraph, Error> {
    Ok(StepGraph::build(expand(input)?.planned))
}

/// Every change of the input, lowered, assessed and expanded into steps.
struct Expanded {
    planned: Vec<Planned>,
    infos: Vec<ChangeInfo>,
    assumptions: Vec<String>,
    warnings: Vec<String>,
    session: Vec<String>,
}

/// A column a batched backfill of the file fills (see `expand`).
struct FilledColumn {
    /// Index of the change's entry in the planned changes.
    planned: usize,
    /// Index of the backfill step in its expansion.
    backfill: usize,
    /// The backfill expression, as SQL over the table's row.
    expr: String,
    /// It reads a column added earlier in the file, which the first stage cannot look at.
    reads_added: bool,
}

/// A column as a map key; MySQL and MariaDB column names ignore case.
fn column_key(dialect: Dialect, table: &name::QName, column: &str) -> (String, String, String) {
    let (schema, name) = table.key();
    let column = if dialect.is_mysql() {
        column.to_lowercase()
    } else {
        column.to_string()
    };
    (schema, name, column)
}

/// Whether `change` is a CHECK or FOREIGN KEY on the column `key` (see `column_key`).
fn constrains_key(change: &Change, dialect: Dialect, key: &(String, String, String)) -> bool {
    let table = match change {
        Change::AddCheck(c) => &c.table,
        Change::AddForeignKey(f) => &f.table,
        _ => return false,
    };
    let (schema, name, _) = column_key(dialect, table, "");
    schema == key.0 && name == key.1 && change.op().constrains(table, &key.2)
}

/// A change that builds a unique key on plain columns: its table, columns, and how to name it.
fn unique_key(change: &Change) -> Option<(&name::QName, &[String], String)> {
    match change {
        Change::CreateIndex(i) if i.unique && !i.columns.is_empty() => Some((
            &i.table,
            i.columns.as_slice(),
            format!("the unique index {}", i.name.display()),
        )),
        Change::AddUnique(u) if u.using_index.is_none() && !u.columns.is_empty() => Some((
            &u.table,
            u.columns.as_slice(),
            format!("the unique constraint {}", u.name),
        )),
        Change::AddPrimaryKey(k) if k.using_index.is_none() && !k.columns.is_empty() => Some((
            &k.table,
            k.columns.as_slice(),
            format!("the primary key {}", k.name),
        )),
        _ => None,
    }
}

fn expand(input: &PlanInput) -> Result<Expanded, Error> {
    let file = input.change_name;
    let dialect = input.dialect;
    let mut assumptions = Vec::new();
    let mut warnings = Vec::new();

    let mut catalog = match input.schema {
        Some((schema_file, text)) => {
            let catalog = load_schema_for(dialect, schema_file, text)?;
            if catalog.skipped > 0 {
                assumptions.push(format!(
                    "{} statement(s) of {schema_file} that do not describe tables, columns, keys, indexes or enums were skipped.",
                    catalog.skipped
                ));
            }
            catalog
        }
        None => {
            assumptions.push(
                "No --schema was given: every table is assumed large and busy, columns' types and defaults are unknown, \
                 and backfills walk a primary key named `id`."
                    .to_string(),
            );
            Catalog::default()
        }
    };
    let schema_known = input.schema.is_some();

    let statements = parse::parse_for(dialect, input.change_sql).map_err(|e| e.in_file(file))?;
    let mut lowered = Vec::new();
    // MySQL: the SET statements a file opens with (`SET FOREIGN_KEY_CHECKS = 0`, `SET NAMES …`,
    // `SET sql_mode = …`, as dumps and migration tools write them) change how its statements
    // run; a stage that runs them as written runs these first.
    let mut session = Vec::new();
    for statement in statements {
        // An ALTER TABLE of nothing but a new default character set, collation or comment is
        // metadata only (INSTANT): it runs as written, nothing of it is lost.
        let metadata_options = matches!(statement.body, Body::Recognised { .. })
            && statement.left_out.iter().all(|l| {
                matches!(
                    l.as_str(),
                    "CHARACTER" | "CHARSET" | "DEFAULT CHARSET" | "COLLATE" | "COMMENT"
                )
            });
        if !statement.left_out.is_empty() && !metadata_options {
            let alone = matches!(statement.body, Body::Recognised { .. });
            return Err(PlanError::new(
                statement.pos,
                if alone {
                    format!(
                        "safeshift does not plan ALTER TABLE … {}: it may rebuild or copy the table",
                        statement.left_out.join(", ")
                    )
                } else {
                    format!(
                        "safeshift cannot read {} exactly, and a plan would lose it",
                        statement.left_out.join(", ")
                    )
                },
            )
            .help(if alone {
                "run it with an online schema change tool (gh-ost, pt-online-schema-change), or as written in a quiet period"
            } else {
                "put table options (ENGINE=, ROW_FORMAT=, CONVERT TO CHARACTER SET …) in a statement of their own"
            })
            .in_file(file));
        }
        let changes = match &statement.body {
            Body::Invalid(e) => return Err(e.clone().in_file(file)),
            Body::Ast(ast)
                if dialect.is_mysql()
                    && lowered.is_empty()
                    && matches!(ast.as_ref(), sqlparser::ast::Statement::Set(_)) =>
            {
                session.push(statement.text.trim().trim_end_matches(';').to_string());
                continue;
            }
            Body::Ast(ast) if is_session_noise(ast) => {
                warnings.push(format!(
                    "{file}:{}:{}: `{}` ignored: each stage sets its own transaction and lock_timeout",
                    statement.pos.line,
                    statement.pos.column,
                    first_words(&statement.text)
                ));
                continue;
            }
            _ => change::lower_statement(&statement).map_err(|e| e.in_file(file))?,
        };
        lowered.push(Lowered {
            pos: statement.pos,
            text: statement.text.clone(),
            directives: statement.directives.clone(),
            fill: change::whole_table_fill(&statement),
            changes,
            folded: Vec::new(),
        });
    }
    assumptions.extend(merge_required_columns(&mut lowered, file));
    if !dialect.is_mysql() {
        assumptions.extend(merge_view_replacements(&mut lowered, &catalog, file));
    }
    if lowered.iter().all(|l| l.changes.is_empty()) {
        return Err(Error::Usage(format!(
            "{file}: no schema change found (the file is empty or holds only comments)"
        )));
    }

    // The file opens with `SET foreign_key_checks = 0` (the last such setting wins): its own
    // ADD FOREIGN KEY statements then run in place, as the plan's do.
    let foreign_key_checks_off = session
        .iter()
        .filter_map(|set| {
            let compact: String = set
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let at = compact.rfind("foreign_key_checks=")?;
            let value = &compact[at + "foreign_key_checks=".len()..];
            Some(value.starts_with('0') || value.starts_with("off") || value.starts_with("false"))
        })
        .next_back()
        .unwrap_or(false);
    let mut planned: Vec<Planned> = Vec::new();
    let mut infos = Vec::new();
    let mut new_tables: BTreeSet<(String, String)> = BTreeSet::new();
    // Which `planned` entry created each new table: later one-step changes on it join that step.
    let mut created_by: std::collections::BTreeMap<(String, String), usize> = Default::default();
    // Columns being rewritten through a shadow column (a type change or rename that copies), and
    // where: a second such change of the same column would build the same helper column, trigger
    // and function while the first one's are still in use.
    let mut shadowed: std::collections::BTreeMap<(String, String, String), Pos> =
        Default::default();
    // Columns a fill trigger of this file keeps filled until its contract stage, and where: a
    // second fill of the same column (dropped and added again) would create a trigger of the same
    // name while the first one is still in place.
    let mut fill_triggers: std::collections::BTreeMap<String, Pos> = Default::default();
    // Names a staged rename keeps alive for the running app (a compatibility view, the old
    // column) until its contract stage, and where the rename is.
    let mut kept_alive: std::collections::BTreeMap<Name, Pos> = Default::default();
    // Columns a batched backfill of this file fills, and where: a unique key on one is built only
    // after the backfill, and its duplicates are looked for in the backfill expression over the
    // existing rows before anything is built.
    let mut filled: std::collections::BTreeMap<(String, String, String), FilledColumn> =
        Default::default();
    // Columns this file adds: they hold nothing the first stage could look at.
    let mut added: BTreeSet<(String, String, String)> = BTreeSet::new();
    // The batched backfills of this file's changes, by table (planned change, step): a data
    // change written after one of them reads the table as it is once filled, so it starts only
    // after them (an as-written UPDATE would otherwise run in an earlier stage than the backfill
    // at the same level, and the backfill would then overwrite or miss its work).
    let mut backfills_on: std::collections::BTreeMap<(String, String), Vec<(usize, usize)>> =
        Default::default();
    for statement in &lowered {
        for change in &statement.changes {
            let op = change.op();
            if let Change::CreateTable(create) = change
                && create.temporary
            {
                return Err(PlanError::new(
                    statement.pos,
                    format!(
                        "`{}` is a TEMPORARY table: it lives only in the session that creates it, and a plan runs its stages in separate sessions",
                        create.table.display()
                    ),
                )
                .help("do the data work with a regular table (dropped at the end), or run this migration as written")
                .in_file(file));
            }
            for name in creates(change) {
                if let Some(rename) = kept_alive.get(&name) {
                    return Err(PlanError::new(
                        statement.pos,
                        format!(
                            "{} was renamed away at {}:{}, but the plan keeps the old name for the running app until the new code is deployed; it cannot be created again before that",
                            name.describe(),
                            rename.line,
                            rename.column
                        ),
                    )
                    .help("create it in a later migration, planned after this one's last stage (or rename without reusing the name)")
                    .in_file(file));
                }
            }
            if schema_known {
                check_tables_exist(change, &catalog, &new_tables, statement.pos)
                    .map_err(|e| e.in_file(file))?;
            }
            let ctx = Context {
                dialect,
                catalog: &catalog,
                schema_known,
                new_tables: &new_tables,
                options: &input.options,
                directives: &statement.directives,
                pos: statement.pos,
                foreign_key_checks: !foreign_key_checks_off,
                added_columns: &added,
            };
            let assessment = op.assess(&ctx);
            let mut expansion = op.expand(&ctx).map_err(|mut e| {
                if e.pos == Pos::default() {
                    e.pos = statement.pos;
                }
                e.in_file(file)
            })?;
            if let Dialect::Postgres(pg) = dialect {
                // Every stage file must run again after it stopped half way or finished.
                for step in &mut expansion.steps {
                    step.up = dialect::rerun::statements(&step.up, pg);
                    if let Some(down) = step.down.as_mut() {
                        *down = dialect::rerun::statements(down, pg);
                    }
                }
            } else if let Dialect::MySql(my) = dialect {
                // MySQL/MariaDB: every DDL statement commits on its own, so every file may stop
                // half way and be run again.
                let columns = my.alter_if_exists();
                for step in &mut expansion.steps {
                    step.up = dialect::rerun_mysql::statements(&step.up, columns);
                    if let Some(down) = step.down.as_mut() {
                        *down = dialect::rerun_mysql::statements(down, columns);
                    }
                }
            }
            if expansion.steps.len() > 1 {
                let columns = shadow_columns(change);
                for key in &columns {
                    if let Some(earlier) = shadowed.get(key) {
                        return Err(PlanError::new(
                            statement.pos,
                            format!(
                                "{}.{} is already rewritten through a shadow column by the change at {}:{}; one plan can rewrite a column only once",
                                key.1, key.2, earlier.line, earlier.column
                            ),
                        )
                        .help("put the second change in a later migration, planned once the first plan has finished")
                        .in_file(file));
                    }
                }
                // An index over two columns this file rewrites would be copied twice under one
                // name (and the second copy built on a column the first swap renames away).
                if let Change::ChangeColumnType(c) = change
                    && let Some(table) = catalog.table(&c.table)
                {
                    let (schema, name) = c.table.key();
                    for index in &table.indexes {
                        let words: Vec<&str> = index
                            .body
                            .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                            .filter(|w| !w.is_empty())
                            .collect();
                        let covers = |column: &str| {
                            index.columns.iter().any(|i| i == column) || words.contains(&column)
                        };
                        if !covers(&c.column) {
                            continue;
                        }
                        let other = shadowed.iter().find(|((s, n, col), _)| {
                            *s == schema && *n == name && *col != c.column && covers(col)
                        });
                        if let Some(((_, _, col), earlier)) = other {
                            return Err(PlanError::new(
                                statement.pos,
                                format!(
                                    "index {} covers {} and {}, which this file both rewrites through shadow columns (the other at {}:{}); one plan can copy an index only once",
                                    index.name.display(),
                                    col,
                                    c.column,
                                    earlier.line,
                                    earlier.column
                                ),
                            )
                            .help("put the second change in a later migration, planned once the first plan has finished")
                            .in_file(file));
                        }
                    }
                }
                for key in columns {
                    shadowed.insert(key, statement.pos);
                }
            }
            for step in &expansion.steps {
                let Some(column) = step.slug.strip_prefix("drop-fill-trigger-") else {
                    continue;
                };
                if let Some(earlier) = fill_triggers.get(column) {
                    return Err(PlanError::new(
                        statement.pos,
                        format!(
                            "this change fills a column through a trigger that the change at {}:{} already installs for a column of the same name, until its contract stage",
                            earlier.line, earlier.column
                        ),
                    )
                    .help("put the second change in a later migration, planned once the first plan has finished")
                    .in_file(file));
                }
                fill_triggers.insert(column.to_string(), statement.pos);
            }
            let fills = match change {
                Change::AddRequiredColumn(a) if !ctx.is_new_table(&a.table) => expansion
                    .steps
                    .iter()
                    .position(|s| s.kind == plan::StepKind::Backfill)
                    .zip(ctx.backfill(&a.table, &a.column.name).ok().flatten())
                    .map(|(step, expr)| {
                        let reads_added =
                            ops::recipes::source_columns(&ctx, &a.table, &a.column.name, &expr)
                                .iter()
                                .any(|c| ctx.column_added_here(&a.table, c));
                        (
                            column_key(dialect, &a.table, &a.column.name),
                            step,
                            expr,
                            reads_added,
                        )
                    }),
                _ => None,
            };
            let mut wait_for = Vec::new();
            // A constraint validates existing rows: one on a column this file fills comes after
            // that backfill (it would otherwise be validated half-filled).
            for f in filled
                .iter()
                .filter(|(k, _)| constrains_key(change, dialect, k))
            {
                wait_for.push((f.1.planned, f.1.backfill));
            }
            if let Change::DataChange(_) = change {
                for table in op.tables().iter().chain(op.reads(&catalog).iter()) {
                    if let Some(backfills) = backfills_on.get(&table.key()) {
                        wait_for.extend(backfills.iter().copied());
                    }
                }
            }
            if let Some((table, columns, what)) = unique_key(change) {
                let keys: Vec<_> = columns
                    .iter()
                    .map(|c| column_key(dialect, table, c))
                    .collect();
                let hits: Vec<&FilledColumn> = keys.iter().filter_map(|k| filled.get(k)).collect();
                if let Some(first) = hits.iter().map(|f| f.planned).min() {
                    wait_for.extend(hits.iter().map(|f| (f.planned, f.backfill)));
                    // Every other column of the key must exist before this file: the check runs
                    // before the first stage.
                    let exprs: Option<Vec<String>> = keys
                        .iter()
                        .zip(columns.iter())
                        .map(|(k, c)| match filled.get(k) {
                            Some(f) if f.reads_added => None,
                            Some(f) => Some(format!("({})", f.expr)),
                            None if added.contains(k) => None,
                            None => Some(ctx.quote(c)),
                        })
                        .collect();
                    if let Some(exprs) = exprs
                        && let Some(host) = planned.get_mut(first)
                        && let Some(step) = host.expansion.steps.first_mut()
                    {
                        let list = exprs.join(", ");
                        let shown = keys
                            .iter()
                            .zip(columns.iter())
                            .map(|(k, c)| filled.get(k).map_or(c.as_str(), |f| f.expr.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let not_null = exprs
                            .iter()
                            .map(|e| format!("{e} IS NOT NULL"))
                            .collect::<Vec<_>>()
                            .join(" AND ");
                        step.before.push(plan::Check {
                            what: format!(
                                "no two rows of {} give the same ({shown}): {what} is built on it after the backfill; lists the duplicate values",
                                table.display()
                            ),
                            query: format!(
                                "SELECT {list}, count(*) FROM {} WHERE {not_null} GROUP BY {list} HAVING count(*) > 1 LIMIT 10",
                                ctx.qname(table)
                            ),
                            expect: "no rows".to_string(),
                        });
                    }
                }
            }
            for step in expansion.steps.iter_mut() {
                step.rule = assessment.rule;
                // MySQL and MariaDB commit every DDL statement implicitly: no stage is one
                // transaction, each statement stands on its own.
                if dialect.is_mysql() {
                    step.transactional = false;
                }
            }
            if let Change::DataChange(data) = change
                && let Some((why, true)) = data.as_written(&ctx)
            {
                warnings.push(format!(
                    "{file}:{}:{}: run as written, in one transaction: {why}",
                    statement.pos.line, statement.pos.column
                ));
            }
            if let Change::Other(other) = change {
                warnings.push(format!(
                    "{file}:{}:{}: passed through as written: {}",
                    statement.pos.line, statement.pos.column, other.why
                ));
            }
            for step in &expansion.steps {
                for note in step.notes.iter().filter(|n| n.starts_with("Assumed")) {
                    if !assumptions.contains(note) {
                        assumptions.push(note.clone());
                    }
                }
            }
            if expansion.steps.len() > 1 {
                match change {
                    Change::RenameTable(r) => {
                        kept_alive.insert(Name::Table(r.from.key()), statement.pos);
                    }
                    Change::RenameColumn(r) => {
                        kept_alive
                            .insert(Name::Column(r.table.key(), r.from.clone()), statement.pos);
                    }
                    _ => {}
                }
            }
            let index = infos.len();
            infos.push(ChangeInfo {
                index,
                kind: change.kind(),
                line: statement.pos.line,
                column: statement.pos.column,
                sql: statement.text.clone(),
                folded_lines: statement.folded.clone(),
                assessment,
            });
            // A table created in this file is empty and unused: a change on it needs no stage of
            // its own, it runs in the CREATE TABLE's transaction.
            let mut tables = op.tables();
            tables.extend(op.reads(&catalog));
            let host = match (tables.as_slice(), expansion.steps.as_slice()) {
                ([table], [step])
                    if step.kind == plan::StepKind::Database
                        && (step.transactional || dialect.is_mysql()) =>
                {
                    created_by.get(&table.key()).copied()
                }
                _ => None,
            };
            // Statements of unknown reach run in file order: nothing joins a CREATE TABLE made
            // before one of them (the statement may use the table as it was then).
            if tables.is_empty() {
                created_by.clear();
            }
            match host.and_then(|h| planned.get_mut(h)) {
                Some(host) => {
                    let step = &mut host.expansion.steps[0];
                    step.up.extend(expansion.steps[0].up.iter().cloned());
                    step.title = format!("{} (+ {})", step.title, change.kind().replace('_', " "));
                }
                None => {
                    // A change of a table made in this file that does not join its CREATE TABLE
                    // (an INSERT … SELECT filling it in batches): later changes of the table come
                    // after it, not back in the CREATE TABLE's transaction before it.
                    for table in &tables {
                        created_by.remove(&table.key());
                    }
                    if let Some((key, backfill, expr, reads_added)) = fills {
                        filled.insert(
                            key,
                            FilledColumn {
                                planned: planned.len(),
                                backfill,
                                expr: expr.to_string(),
                                reads_added,
                            },
                        );
                    }
                    for (step, _) in expansion
                        .steps
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.kind == plan::StepKind::Backfill)
                    {
                        for table in op.tables() {
                            backfills_on
                                .entry(table.key())
                                .or_default()
                                .push((planned.len(), step));
                        }
                    }
                    planned.push(Planned {
                        change: index,
                        tables,
                        reads_only: op.reads_only(),
                        columns: op.columns(),
                        expansion,
                        wait_for,
                    })
                }
            }
            match change {
                Change::AddColumn(a) => {
                    added.insert(column_key(dialect, &a.table, &a.column.name));
                }
                Change::AddRequiredColumn(a) => {
                    added.insert(column_key(dialect, &a.table, &a.column.name));
                }
                Change::AddVolatileColumn(a) => {
                    added.insert(column_key(dialect, &a.table, &a.column.name));
                }
                _ => {}
            }
            op.apply(&mut catalog);
            if let Change::CreateTable(create) = change {
                new_tables.insert(create.table.key());
                created_by.insert(create.table.key(), planned.len() - 1);
            }
            // Nothing reads a materialized view made in this file yet: its indexes need no
            // concurrent build.
            if let Change::View(ops::view::ViewChange::Create { view, .. }) = change
                && view.materialized
            {
                new_tables.insert(view.name.key());
            }
            if let Change::RenameTable(rename) = change
                && new_tables.remove(&rename.from.key())
            {
                new_tables.insert(rename.to.key());
            }
        }
    }

    Ok(Expanded {
        planned,
        infos,
        assumptions,
        warnings,
        session,
    })
}

/// A table or a column, by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Name {
    Table((String, String)),
    Column((String, String), String),
}

impl Name {
    fn describe(&self) -> String {
        match self {
            Name::Table((_, table)) => format!("table `{table}`"),
            Name::Column((_, table), column) => format!("column `{table}.{column}`"),
        }
    }
}

/// The tables and columns a change brings into being.
fn creates(change: &Change) -> Vec<Name> {
    let column = |table: &name::QName, column: &str| Name::Column(table.key(), column.to_string());
    match change {
        Change::CreateTable(c) => vec![Name::Table(c.table.key())],
        Change::RenameTable(c) => vec![Name::Table(c.to.key())],
        Change::AddColumn(c) => vec![column(&c.table, &c.column.name)],
        Change::AddRequiredColumn(c) => vec![column(&c.table, &c.column.name)],
        Change::AddVolatileColumn(c) => vec![column(&c.table, &c.column.name)],
        Change::RenameColumn(c) => vec![column(&c.table, &c.to)],
        Change::View(ops::view::ViewChange::Create { view, .. }) => {
            vec![Name::Table(view.name.key())]
        }
        _ => Vec::new(),
    }
}

/// The columns a change rewrites through a shadow column when it takes more than one step, as
/// (schema, table, column).
fn shadow_columns(change: &Change) -> Vec<(String, String, String)> {
    let (table, columns) = match change {
        Change::ChangeColumnType(c) => (&c.table, vec![c.column.clone()]),
        Change::RenameColumn(c) => (&c.table, vec![c.from.clone(), c.to.clone()]),
        Change::ModifyColumn(c) => (&c.table, vec![c.from.clone(), c.column.name.clone()]),
        _ => return Vec::new(),
    };
    let (schema, name) = table.key();
    columns
        .into_iter()
        .map(|c| (schema.clone(), name.clone(), c))
        .collect()
}

/// Reads a PostgreSQL `--schema` file (`pg_dump --schema-only` output or plain CREATE statements).
pub fn load_schema(file: &str, text: &str) -> Result<Catalog, Error> {
    load_schema_for(Dialect::default(), file, text)
}

/// Reads a `--schema` file for the target engine (`pg_dump --schema-only`, `mysqldump --no-data`,
/// or plain CREATE statements).
pub fn load_schema_for(dialect: Dialect, file: &str, text: &str) -> Result<Catalog, Error> {
    let catalog = Catalog::from_sql_for(dialect, text).map_err(|e| e.in_file(file))?;
    // A dump of an empty database (a project's first migration) is a schema too: the dump tools
    // say what they are in their first lines.
    let dump_of_nothing = text.lines().take(10).any(|l| {
        l.contains("PostgreSQL database dump")
            || l.starts_with("-- MySQL dump")
            || l.starts_with("-- MariaDB dump")
    });
    if catalog.is_empty() && !dump_of_nothing {
        return Err(Error::Usage(format!(
            "{file}: no CREATE TABLE or CREATE TYPE statement found; is this a schema dump?"
        )));
    }
    Ok(catalog)
}

/// BEGIN/COMMIT and session settings in a migration file are the author's way to run it by hand;
/// safeshift decides transactions and timeouts per stage, so they carry no schema change.
fn is_session_noise(ast: &sqlparser::ast::Statement) -> bool {
    use sqlparser::ast::Statement as S;
    matches!(
        ast,
        S::StartTransaction { .. } | S::Commit { .. } | S::Set(_)
    )
}

fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// With `--schema`, a change must name tables that exist (or that the change file creates first).
fn check_tables_exist(
    change: &Change,
    catalog: &Catalog,
    new_tables: &BTreeSet<(String, String)>,
    pos: Pos,
) -> Result<(), PlanError> {
    let must_exist = change.op().existing_tables();
    for table in must_exist {
        if catalog.table(&table).is_none() && !new_tables.contains(&table.key()) {
            let mut known: Vec<String> = catalog.table_names().map(|t| t.display()).collect();
            known.truncate(12);
            return Err(PlanError::new(
                pos,
                format!("table `{}` is not in the schema", table.display()),
            )
            .help(format!("tables in the schema: {}", known.join(", "))));
        }
    }
    Ok(())
}
