//! Value checks of a rehearsal: after each stage, and at the end, the data must be what the
//! naive change gives on the same rows.
//!
//! - **Derived columns and copies.** Every backfill in plan.json says which column must hold
//!   which expression over its row (`BackfillSpec`): a derived column (`-- safeshift: backfill =
//!   lower(email)`), the new name of a renamed column (the old column), the copy of a column
//!   changing type (the old column, converted). After every stage where both the column and what
//!   it is computed from exist, no row may hold another value (`IS DISTINCT FROM`; MySQL `<=>`,
//!   which compares under the column's collation). Before the backfill has run, only rows the
//!   backfill would skip are checked (its `pending` condition is false for them: rows the
//!   triggers filled). A fill value that reads no column (`'en'`, `now()`) is a value for the
//!   existing rows, not a derived column: it is not checked. The simulated new app version
//!   writes a derived column as its checklist says (the expression over the row it writes), so
//!   the check holds for its rows too, up to the end, after the fill trigger is gone.
//! - **Row counts.** The plan itself adds or removes no rows: the tables the app versions use
//!   are counted while no app traffic runs, before the stage and after it (after its down.sql
//!   and up.sql again), and the difference must be the rows the app versions inserted during the
//!   stage (the traffic counts its successful one-row INSERTs; it deletes nothing). Not compared
//!   when it cannot be told: a stage whose change itself inserts or deletes rows, user app
//!   statements that may, or app inserts through a view.
//! - **Constraints.** At the end no constraint is left NOT VALID and no index INVALID that the
//!   naive change leaves valid (PostgreSQL); no row breaks a foreign key (MySQL/MariaDB, where a
//!   plan adds keys with `foreign_key_checks = 0` and the server checks no existing row).
//!
//! A failure names the first offending rows. The engine-specific SQL is in [`Engine`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::traffic::{AppVersion, Derived, VersionStats};
use crate::plan_dir::{PlanFile, StageRecord};

/// How many offending rows a failure names.
const FIRST_ROWS: usize = 5;

/// The SQL dialect of the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    /// True where `column` does not hold `value` (NULL and NULL are the same).
    fn differs(self, column: &str, value: &str) -> String {
        match self {
            Engine::Postgres => format!("{column} IS DISTINCT FROM ({value})"),
            Engine::Mysql => format!("NOT ({column} <=> ({value}))"),
        }
    }

    fn literal(self, text: &str) -> String {
        match self {
            Engine::Postgres => crate::dialect::postgres::literal(text),
            Engine::Mysql => crate::db::mysql::quote_literal(text),
        }
    }

    fn quote(self, ident: &str) -> String {
        match self {
            Engine::Postgres => crate::dialect::postgres::quote(ident),
            Engine::Mysql => crate::db::mysql::quote_ident(ident),
        }
    }

    /// One row: `BASE TABLE` when `key` (as the app names it) is a table, another word when it
    /// is a view — then, on PostgreSQL, the tables the view reads, as the app would name them,
    /// in the second column; no row when it does not exist.
    fn relation_kind(self, table: &Counted) -> String {
        match self {
            Engine::Postgres => format!(
                "SELECT CASE WHEN c.relkind IN ('r', 'p') THEN 'BASE TABLE' ELSE 'VIEW' END, \
                 (SELECT string_agg(DISTINCT quote_ident(tn.nspname) || '.' || quote_ident(t.relname), ' ') \
                  FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid \
                  JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p') \
                  JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                  WHERE r.ev_class = c.oid AND d.refobjid <> c.oid) \
                 FROM pg_class c WHERE c.oid = to_regclass({})",
                self.literal(&table.key)
            ),
            Engine::Mysql => format!(
                "SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                self.literal(&table.name)
            ),
        }
    }
}

/// Runs a check query on the scratch database.
pub trait Probe {
    /// Every row, each column as text (`NULL` for NULL).
    fn rows(&mut self, sql: &str) -> Result<Vec<Vec<String>>, ProbeError>;
}

#[derive(Debug)]
pub enum ProbeError {
    /// A table or column the query names does not exist (yet, or any more).
    Missing(String),
    Failed(String),
}

impl Probe for postgres::Client {
    fn rows(&mut self, sql: &str) -> Result<Vec<Vec<String>>, ProbeError> {
        let messages = self.simple_query(sql).map_err(|e| {
            let text = crate::db::describe(&e);
            match e.code().map(|c| c.code()) {
                // undefined_column, undefined_table
                Some("42703") | Some("42P01") => ProbeError::Missing(text),
                _ => ProbeError::Failed(text),
            }
        })?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

impl Probe for mysql::Conn {
    fn rows(&mut self, sql: &str) -> Result<Vec<Vec<String>>, ProbeError> {
        crate::db::mysql::rows(self, sql).map_err(|e| {
            let text = crate::db::mysql::describe(&e);
            match &e {
                // unknown column, table does not exist
                mysql::Error::MySqlError(server) if matches!(server.code, 1054 | 1146) => {
                    ProbeError::Missing(text)
                }
                _ => ProbeError::Failed(text),
            }
        })
    }
}

/// One value check, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct ValueCheck {
    /// `derived`, `copy`, `rows` or `constraints`.
    pub kind: &'static str,
    /// What must hold: `users.email_lower = lower(email)`.
    pub what: String,
    /// false when it could not be told (`detail` says why).
    pub checked: bool,
    pub ok: bool,
    pub detail: String,
    /// The first offending rows (or tables, constraints), at most five.
    pub rows: Vec<String>,
}

impl ValueCheck {
    pub fn failed(&self) -> bool {
        self.checked && !self.ok
    }
}

/// A column that must keep an expression over its row.
#[derive(Clone, Debug)]
struct Kept {
    kind: &'static str,
    /// Quoted as in plan.json.
    table: String,
    column: String,
    value: String,
    pending: String,
    key: String,
    /// The stage that backfills it: before it, only rows already filled are checked.
    backfilled_at: usize,
    what: String,
}

/// A table the apps use, counted before and after each stage.
#[derive(Clone, Debug)]
struct Counted {
    /// As the app's statements name it.
    key: String,
    name: String,
}

enum Count {
    Rows(u64),
    /// A view (or another relation that is not a table) by that name, with the one table it
    /// reads where that is known (a view bridging a renamed table, on PostgreSQL).
    View(Option<String>),
    Missing,
}

/// The table sizes before a stage, for [`Checker::after_stage`].
pub struct Counts(BTreeMap<String, Count>);

/// Builds and runs the value checks of one rehearsal.
pub struct Checker {
    engine: Engine,
    copies: Vec<Kept>,
    tables: Vec<Counted>,
    /// Derived columns, for the new app version's INSERTs.
    derived: Vec<Derived>,
    /// What the naive change itself leaves NOT VALID or INVALID (PostgreSQL).
    naive_invalid: Vec<String>,
    notes: Vec<String>,
}

/// The parts of a qualified name as plan.json spells it (`users`, `"app"."Users"`, `` `users` ``).
fn unquote(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote: Option<char> = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                if chars.peek() == Some(&q) {
                    part.push(q);
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => part.push(c),
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == '.' => parts.push(std::mem::take(&mut part)),
            None => part.push(c),
        }
    }
    parts.push(part);
    parts
}

fn label(sql_name: &str) -> String {
    unquote(sql_name).join(".")
}

fn short(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text.to_string()
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn number(rows: &[Vec<String>]) -> u64 {
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// The first word of a statement, lower case, after comments.
fn first_word(sql: &str) -> String {
    sql.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .flat_map(|l| l.split_whitespace())
        .next()
        .unwrap_or("")
        .trim_start_matches('(')
        .to_ascii_lowercase()
}

impl Checker {
    /// The checks plan.json calls for. `probe` tells a derived value from a constant fill;
    /// `naive_invalid` is [`invalid_objects`] of the naive change's database.
    pub fn new(
        engine: Engine,
        plan: &PlanFile,
        probe: &mut dyn Probe,
        old: &AppVersion,
        new: &AppVersion,
        naive_invalid: Vec<String>,
    ) -> Checker {
        let mut copies: Vec<Kept> = Vec::new();
        let mut derived = Vec::new();
        let mut notes = Vec::new();
        for stage in &plan.stages {
            for step in &stage.steps {
                let Some(spec) = &step.backfill else {
                    continue;
                };
                let kind = match step.rule.as_str() {
                    "adding-required-column" => "derived",
                    "renaming-column" | "changing-column-type" => "copy",
                    // A sequence's numbers, a volatile default, NULLs of an existing column
                    // filled: values for the rows as they are, not an expression every row keeps.
                    _ => continue,
                };
                if kind == "derived"
                    && probe
                        .rows(&format!("SELECT ({}) AS safeshift_value", spec.value))
                        .is_ok()
                {
                    notes.push(format!(
                        "{}.{} is filled with `{}`, which reads no column: a value for the existing rows, not a derived one, so rows are not compared with it",
                        label(&spec.table),
                        label(&spec.column),
                        spec.value
                    ));
                    continue;
                }
                let what = format!(
                    "{}.{} = {}",
                    label(&spec.table),
                    label(&spec.column),
                    spec.value
                );
                if kind == "derived" {
                    let mut parts = unquote(&spec.table);
                    let table = parts.pop().unwrap_or_default();
                    derived.push(Derived {
                        schema: parts.pop(),
                        table,
                        column: label(&spec.column),
                        expr: spec.value.clone(),
                    });
                }
                copies.push(Kept {
                    kind,
                    table: spec.table.clone(),
                    column: spec.column.clone(),
                    value: spec.value.clone(),
                    pending: spec.pending.clone(),
                    key: spec.key.clone(),
                    backfilled_at: stage.index,
                    what,
                });
            }
        }
        let mut tables: Vec<Counted> = Vec::new();
        let spelling = match engine {
            Engine::Postgres => &super::traffic::POSTGRES,
            Engine::Mysql => &super::mysql::traffic::MYSQL,
        };
        for table in old.tables.iter().chain(&new.tables) {
            let key = (spelling.table)(table);
            if !table.is_view && !tables.iter().any(|t| t.key == key) {
                tables.push(Counted {
                    key,
                    name: table.name.clone(),
                });
            }
        }
        Checker {
            engine,
            copies,
            tables,
            derived,
            naive_invalid,
            notes,
        }
    }

    /// The derived columns, which the new app version writes itself.
    pub fn derived(&self) -> Vec<Derived> {
        self.derived.clone()
    }

    /// What the rehearsal should say about what is not checked.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The tables' sizes now (take it while no app traffic runs).
    pub fn count(&self, probe: &mut dyn Probe) -> Counts {
        let mut counts = BTreeMap::new();
        for table in &self.tables {
            let count = match probe.rows(&self.engine.relation_kind(table)) {
                Ok(rows) => match rows.first().and_then(|r| r.first()) {
                    Some(kind) if kind == "BASE TABLE" => {
                        match probe.rows(&format!("SELECT count(*) FROM {}", table.key)) {
                            Ok(rows) => Count::Rows(number(&rows)),
                            Err(_) => Count::Missing,
                        }
                    }
                    Some(_) => Count::View(
                        rows.first()
                            .and_then(|r| r.get(1))
                            .filter(|t| !t.contains(' ') && *t != "NULL")
                            .cloned(),
                    ),
                    None => Count::Missing,
                },
                Err(_) => Count::Missing,
            };
            counts.insert(table.key.clone(), count);
        }
        Counts(counts)
    }

    /// The checks at the end: every copy and derived column on every row, and constraints.
    pub fn at_end(&self, probe: &mut dyn Probe) -> Vec<ValueCheck> {
        let mut checks = self.copy_checks(probe, usize::MAX);
        checks.push(self.constraints(probe));
        checks
    }

    /// Derived columns and copies after stage `stage` ran, as the app traffic left them (before
    /// its down.sql, which may drop what the stage added).
    pub fn copy_checks(&self, probe: &mut dyn Probe, stage: usize) -> Vec<ValueCheck> {
        let mut checks = Vec::new();
        for copy in &self.copies {
            let differs = self.engine.differs(&copy.column, &copy.value);
            let (scope, scope_words) = if stage < copy.backfilled_at {
                (
                    format!(" WHERE ({}) IS NOT TRUE", copy.pending),
                    " filled before the backfill",
                )
            } else {
                (String::new(), "")
            };
            let totals = format!(
                "SELECT count(*), COALESCE(SUM(CASE WHEN {differs} THEN 1 ELSE 0 END), 0) FROM {}{scope}",
                copy.table
            );
            let rows = match probe.rows(&totals) {
                Ok(rows) => rows,
                // The column, or what it is computed from, is not there (yet, or any more):
                // nothing to compare at this stage.
                Err(ProbeError::Missing(_)) => continue,
                Err(ProbeError::Failed(e)) => {
                    checks.push(ValueCheck {
                        kind: copy.kind,
                        what: copy.what.clone(),
                        checked: true,
                        ok: false,
                        detail: format!("the check query failed: {e}"),
                        rows: Vec::new(),
                    });
                    continue;
                }
            };
            let field = |i: usize| {
                rows.first()
                    .and_then(|r| r.get(i))
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|v| v as u64)
                    .unwrap_or(0)
            };
            let (total, bad) = (field(0), field(1));
            if bad == 0 {
                checks.push(ValueCheck {
                    kind: copy.kind,
                    what: copy.what.clone(),
                    checked: true,
                    ok: true,
                    detail: format!("{} row(s){scope_words}, all equal", thousands(total)),
                    rows: Vec::new(),
                });
                continue;
            }
            let first = format!(
                "SELECT {key}, {column}, ({value}) FROM {table} WHERE {differs}{and} ORDER BY {key} LIMIT {FIRST_ROWS}",
                key = copy.key,
                column = copy.column,
                value = copy.value,
                table = copy.table,
                and = if scope.is_empty() {
                    String::new()
                } else {
                    format!(" AND ({}) IS NOT TRUE", copy.pending)
                }
            );
            let key = label(&copy.key);
            let column = label(&copy.column);
            let rows = probe
                .rows(&first)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let at = |i: usize| short(r.get(i).map(String::as_str).unwrap_or(""));
                    format!(
                        "{key} {}: {column} is {}, {} is {}",
                        at(0),
                        at(1),
                        copy.value,
                        at(2)
                    )
                })
                .collect();
            checks.push(ValueCheck {
                kind: copy.kind,
                what: copy.what.clone(),
                checked: true,
                ok: false,
                detail: format!(
                    "{} of {} row(s){scope_words} differ",
                    thousands(bad),
                    thousands(total)
                ),
                rows,
            });
        }
        checks
    }

    /// After `stage`, its down.sql and its up.sql again: the tables' sizes against `before`,
    /// less what the `apps` inserted.
    pub fn row_counts(
        &self,
        probe: &mut dyn Probe,
        plan: &PlanFile,
        stage: &StageRecord,
        before: &Counts,
        apps: &[VersionStats],
        live: &[AppVersion],
    ) -> ValueCheck {
        let unchecked = |detail: String| ValueCheck {
            kind: "rows",
            what: "the plan adds or removes no rows".into(),
            checked: false,
            ok: true,
            detail,
            rows: Vec::new(),
        };
        if let Some(change) = stage
            .steps
            .iter()
            .filter_map(|s| plan.changes.iter().find(|c| c.index == s.change))
            .find(|c| {
                matches!(
                    first_word(&c.sql).as_str(),
                    "delete" | "insert" | "truncate" | "merge" | "replace" | "with"
                )
            })
        {
            return unchecked(format!(
                "not compared: the change itself inserts or deletes rows (line {}: {})",
                change.line,
                short(&change.sql)
            ));
        }
        for version in live {
            if let Some(sql) = version.extra.iter().find(|sql| {
                !matches!(
                    first_word(sql).as_str(),
                    "select" | "update" | "set" | "show" | "values"
                )
            }) {
                return unchecked(format!(
                    "not compared: the {} app's own statements may insert or delete rows ({})",
                    version.name,
                    short(sql)
                ));
            }
        }
        let after = self.count(probe);
        // The apps' inserts, per table; through a view, into the one table it reads.
        let mut inserted: BTreeMap<String, u64> = BTreeMap::new();
        for app in apps {
            for (name, n) in &app.inserted {
                let table = match (before.0.get(name), after.0.get(name)) {
                    (Some(Count::View(Some(t))), Some(Count::View(Some(u)))) if t == u => t,
                    // The table renamed during the stage, its old name left as a view onto it.
                    (Some(Count::Rows(_)), Some(Count::View(Some(t)))) => t,
                    (Some(Count::View(_)), _) | (_, Some(Count::View(_))) => {
                        return unchecked(format!(
                            "not compared: the app inserted through {name}, a view during this stage, so its rows cannot be told from the plan's"
                        ));
                    }
                    _ => name,
                };
                *inserted.entry(table.clone()).or_default() += n;
            }
        }
        let mut compared = Vec::new();
        let mut offending = Vec::new();
        for table in &self.tables {
            let Some(Count::Rows(now)) = after.0.get(&table.key) else {
                continue;
            };
            // A table renamed during the stage was counted under its old name, which is a
            // view onto it now.
            let renamed_from = || {
                before
                    .0
                    .iter()
                    .find_map(|(old, count)| match (count, after.0.get(old)) {
                        (Count::Rows(n), Some(Count::View(Some(t)))) if *t == table.key => Some(n),
                        _ => None,
                    })
            };
            let Some(was) = (match before.0.get(&table.key) {
                Some(Count::Rows(n)) => Some(n),
                Some(Count::Missing) => renamed_from(),
                _ => None,
            }) else {
                continue;
            };
            let by_apps = inserted.get(&table.key).copied().unwrap_or(0);
            let expected = was + by_apps;
            let line = format!(
                "{}: {} → {} row(s), the apps inserted {}",
                table.name,
                thousands(*was),
                thousands(*now),
                thousands(by_apps)
            );
            if *now != expected {
                let diff = *now as i128 - expected as i128;
                offending.push(format!(
                    "{line}: the plan {} {} row(s)",
                    if diff > 0 { "added" } else { "removed" },
                    thousands(diff.unsigned_abs() as u64)
                ));
            } else {
                compared.push(line);
            }
        }
        if offending.is_empty() && compared.is_empty() {
            return unchecked("no table the apps use was there before and after the stage".into());
        }
        let ok = offending.is_empty();
        ValueCheck {
            kind: "rows",
            what: "the plan adds or removes no rows".into(),
            checked: true,
            ok,
            detail: if ok {
                compared.join("; ")
            } else {
                format!(
                    "{} table(s) changed size beyond the apps' inserts",
                    offending.len()
                )
            },
            rows: offending.into_iter().take(FIRST_ROWS).collect(),
        }
    }

    fn constraints(&self, probe: &mut dyn Probe) -> ValueCheck {
        let (what, found) = match self.engine {
            Engine::Postgres => (
                "no constraint NOT VALID, no index INVALID that the naive change leaves valid",
                invalid_objects(probe).map(|all| {
                    all.into_iter()
                        .filter(|o| !self.naive_invalid.contains(o))
                        .collect::<Vec<_>>()
                }),
            ),
            Engine::Mysql => (
                "no row breaks a foreign key",
                foreign_key_orphans(self.engine, probe),
            ),
        };
        match found {
            Err(e) => ValueCheck {
                kind: "constraints",
                what: what.into(),
                checked: true,
                ok: false,
                detail: format!("the check query failed: {e}"),
                rows: Vec::new(),
            },
            Ok(found) => ValueCheck {
                kind: "constraints",
                what: what.into(),
                checked: true,
                ok: found.is_empty(),
                detail: match (found.len(), self.engine) {
                    (0, _) => "all valid".into(),
                    (n, Engine::Postgres) => format!("{n} left invalid"),
                    (n, Engine::Mysql) => format!("{n} foreign key(s) broken by rows"),
                },
                rows: found.into_iter().take(FIRST_ROWS).collect(),
            },
        }
    }
}

/// PostgreSQL: constraints NOT VALID and indexes INVALID, by table and name.
pub fn invalid_objects(probe: &mut dyn Probe) -> Result<Vec<String>, String> {
    let user =
        "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";
    let constraints = format!(
        "SELECT 'constraint ' || c.conname || ' on ' || coalesce(c.conrelid::regclass::text, 'a domain') || ' is NOT VALID' FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE NOT c.convalidated AND {user} ORDER BY 1"
    );
    let indexes = format!(
        "SELECT 'index ' || i.indexrelid::regclass::text || ' on ' || i.indrelid::regclass::text || ' is INVALID' FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid AND {user} ORDER BY 1"
    );
    let mut out = Vec::new();
    for sql in [constraints, indexes] {
        let rows = probe.rows(&sql).map_err(|e| match e {
            ProbeError::Missing(e) | ProbeError::Failed(e) => e,
        })?;
        out.extend(rows.into_iter().filter_map(|r| r.into_iter().next()));
    }
    Ok(out)
}

/// MySQL/MariaDB: foreign keys some row breaks, each with its first offending rows.
fn foreign_key_orphans(engine: Engine, probe: &mut dyn Probe) -> Result<Vec<String>, String> {
    let text = |e: ProbeError| match e {
        ProbeError::Missing(e) | ProbeError::Failed(e) => e,
    };
    let columns = probe
        .rows(
            "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        )
        .map_err(text)?;
    // (table, constraint) → (parent, [(column, referenced column)])
    type Pairs = Vec<(String, String)>;
    let mut keys: BTreeMap<(String, String), (String, Pairs)> = BTreeMap::new();
    for row in columns {
        let [name, table, column, parent, referenced] = row.as_slice() else {
            continue;
        };
        keys.entry((table.clone(), name.clone()))
            .or_insert_with(|| (parent.clone(), Vec::new()))
            .1
            .push((column.clone(), referenced.clone()));
    }
    let mut out = Vec::new();
    for ((table, name), (parent, pairs)) in keys {
        let q = |s: &str| engine.quote(s);
        let not_null: Vec<String> = pairs
            .iter()
            .map(|(c, _)| format!("safeshift_child.{} IS NOT NULL", q(c)))
            .collect();
        let matches: Vec<String> = pairs
            .iter()
            .map(|(c, r)| format!("safeshift_parent.{} = safeshift_child.{}", q(r), q(c)))
            .collect();
        let listed: Vec<String> = pairs
            .iter()
            .map(|(c, _)| format!("safeshift_child.{}", q(c)))
            .collect();
        let sql = format!(
            "SELECT CONCAT_WS(', ', {}) FROM {} AS safeshift_child WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS safeshift_parent WHERE {}) LIMIT {FIRST_ROWS}",
            listed.join(", "),
            q(&table),
            not_null.join(" AND "),
            q(&parent),
            matches.join(" AND ")
        );
        let orphans: Vec<String> = probe
            .rows(&sql)
            .map_err(text)?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect();
        if !orphans.is_empty() {
            out.push(format!(
                "foreign key {name} on {table}: no {parent} row for ({}) = ({})",
                pairs
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                orphans.join("), (")
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unquoted_as_plan_json_spells_them() {
        assert_eq!(unquote("users"), ["users"]);
        assert_eq!(unquote("\"app\".\"We\"\"ird.x\""), ["app", "We\"ird.x"]);
        assert_eq!(unquote("`my``t`"), ["my`t"]);
    }

    #[test]
    fn data_changes_are_told_by_their_first_word() {
        assert_eq!(first_word("-- note\n  DELETE FROM t"), "delete");
        assert_eq!(first_word("(SELECT 1)"), "select");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
