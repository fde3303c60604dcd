//! Simulated application traffic: one connection per live app version, running the statements
//! that version's code would run — INSERT with every column it writes, SELECT of every column it
//! reads, UPDATE of the columns it writes — against the tables the plan touches, while a stage
//! runs. Each version knows the shape of the schema it was written for: the old version the
//! schema before the plan, the new version the schema after the naive change. The same for both
//! engines: what differs is the connection ([`AppConnection`]) and the spelling ([`Spelling`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::Client;

use super::model::{ColumnModel, ForeignKey, TableModel, quote_ident, quote_literal, value_sql};
use crate::db::{self, DbError};

/// An app connection, on either engine.
pub trait AppConnection: Send + 'static {
    /// Runs one statement; the error as the server worded it.
    fn execute(&mut self, sql: &str) -> Result<(), String>;
    /// Every row, each column as text (NULL as empty); nothing on error.
    fn text_rows(&mut self, sql: &str) -> Vec<Vec<String>>;
    /// The server's id of this session, where it helps tell the app's sessions apart.
    fn session_id(&self) -> Option<u32> {
        None
    }
}

impl AppConnection for Client {
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        self.batch_execute(sql).map_err(|e| db::describe(&e))
    }

    fn text_rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        match self.query(sql, &[]) {
            Ok(rows) => rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                        .collect()
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// How one engine spells the app's statements.
pub struct Spelling {
    /// Run once per app session: bounds how long one stalled statement can hold a window up
    /// (the stall itself is still measured and reported).
    pub session_setup: &'static str,
    pub quote_ident: fn(&str) -> String,
    pub quote_literal: fn(&str) -> String,
    /// See `model::value_sql`.
    pub value_sql: fn(&ColumnModel, &str, &str) -> Option<String>,
    /// The table as the app names it.
    pub table: fn(&TableModel) -> String,
    /// The table a foreign key references.
    pub parent: fn(&ForeignKey) -> String,
    /// A (quoted) key column, read as text.
    pub as_text: fn(&str) -> String,
    /// A value as the column's type where the value's own type does not say it (a foreign key
    /// read back as text, selected in a derived table).
    pub typed: fn(&str, &ColumnModel) -> String,
}

pub const POSTGRES: Spelling = Spelling {
    session_setup: "SET statement_timeout = '30s'",
    quote_ident,
    quote_literal,
    value_sql,
    table: TableModel::qualified,
    parent: |fk| {
        format!(
            "{}.{}",
            quote_ident(&fk.ref_schema),
            quote_ident(&fk.ref_table)
        )
    },
    as_text: |column| format!("{column}::text"),
    typed: |value, column| format!("CAST({value} AS {})", column.type_sql),
};

/// One version of the application, as the schema it was written against.
#[derive(Clone, Debug)]
pub struct AppVersion {
    /// "old" or "new".
    pub name: &'static str,
    /// Keeps the rows each version inserts distinct on unique columns (see `value_sql`).
    pub salt: &'static str,
    pub tables: Vec<TableModel>,
    /// Statements the user gave with `--old-app` / `--new-app`, run as they are.
    pub extra: Vec<String>,
    /// Derived columns this version writes as their checklist says: the backfill expression
    /// over the values it writes in the same row (see `values::Derived`).
    pub derived: Vec<Derived>,
}

/// A derived column: `column` of `schema.table` holds `expr` computed over its row.
#[derive(Clone, Debug)]
pub struct Derived {
    /// `None`: the table's schema is the default one.
    pub schema: Option<String>,
    pub table: String,
    pub column: String,
    /// SQL over the row's columns, as plan.json gives it.
    pub expr: String,
}

/// What one version saw during a window.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VersionStats {
    pub version: String,
    pub statements: u64,
    pub errors: u64,
    /// The slowest statement's latency, in milliseconds.
    pub worst_ms: f64,
    pub worst_statement: String,
    /// Distinct error messages with how often each was seen (at most a few).
    pub error_samples: Vec<(String, u64)>,
    /// What could not be simulated (e.g. a type with no generator).
    pub notes: Vec<String>,
    /// Rows this version inserted, per table as its statements name it: the row-count check
    /// tells them from rows the plan added.
    #[serde(skip)]
    pub inserted: BTreeMap<String, u64>,
}

/// Traffic running in the background until [`Traffic::stop`].
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<VersionStats>>,
    /// The app sessions' server ids, where the engine gives them.
    pub session_ids: Vec<u32>,
}

/// A pause between statements: the app is busy, not a benchmark saturating two cores.
const THINK: Duration = Duration::from_millis(2);

impl Traffic {
    /// Starts one connection per version, made by `connect`, speaking `spelling`. `counter`
    /// numbers inserted rows across windows so they never collide on unique columns.
    pub fn start_with<C: AppConnection>(
        connect: impl Fn() -> Result<C, DbError>,
        spelling: &'static Spelling,
        versions: &[AppVersion],
        counter: &Arc<AtomicU64>,
    ) -> Result<Traffic, DbError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut session_ids = Vec::new();
        for version in versions {
            let mut conn = connect()?;
            session_ids.extend(conn.session_id());
            let version = version.clone();
            let stop = Arc::clone(&stop);
            let counter = Arc::clone(counter);
            threads.push(std::thread::spawn(move || {
                run(&mut conn, spelling, &version, &stop, &counter)
            }));
        }
        Ok(Traffic {
            stop,
            threads,
            session_ids,
        })
    }

    pub fn stop(self) -> Vec<VersionStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .collect()
    }
}

/// A statement the app runs; `{seq}` (or `{n}`) in it is replaced by a fresh number each time.
struct AppStatement {
    sql: String,
    /// The table a one-row INSERT writes, as the statement names it.
    inserts_into: Option<String>,
}

fn run(
    conn: &mut dyn AppConnection,
    spelling: &Spelling,
    version: &AppVersion,
    stop: &AtomicBool,
    counter: &AtomicU64,
) -> VersionStats {
    let mut stats = VersionStats {
        version: version.name.to_string(),
        ..VersionStats::default()
    };
    let _ = conn.execute(spelling.session_setup);
    let statements = statements_for(conn, spelling, version, &mut stats.notes);
    if statements.is_empty() {
        stats.notes.push(format!(
            "the {} version has no statement to run here",
            version.name
        ));
        return stats;
    }
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let statement = &statements[i % statements.len()];
        i += 1;
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let sql = statement
            .sql
            .replace("{n}", &n.to_string())
            .replace("{seq}", &n.to_string());
        let started = Instant::now();
        let result = conn.execute(&sql);
        let took = started.elapsed();
        stats.statements += 1;
        let ms = took.as_secs_f64() * 1000.0;
        if ms > stats.worst_ms {
            stats.worst_ms = ms;
            stats.worst_statement = sql.clone();
        }
        match result {
            Ok(()) => {
                if let Some(table) = &statement.inserts_into {
                    *stats.inserted.entry(table.clone()).or_default() += 1;
                }
            }
            Err(e) => {
                stats.errors += 1;
                *errors.entry(e).or_default() += 1;
            }
        }
        std::thread::sleep(THINK);
    }
    let mut samples: Vec<(String, u64)> = errors.into_iter().collect();
    samples.sort_by_key(|s| std::cmp::Reverse(s.1));
    samples.truncate(5);
    stats.error_samples = samples;
    stats
}

/// Keys of existing rows, as text, to aim SELECTs, UPDATEs and foreign keys at.
fn sample_keys(
    conn: &mut dyn AppConnection,
    spelling: &Spelling,
    table: &str,
    columns: &[String],
) -> Vec<Vec<String>> {
    if columns.is_empty() {
        return Vec::new();
    }
    let quoted: Vec<String> = columns.iter().map(|c| (spelling.quote_ident)(c)).collect();
    let list: Vec<String> = quoted.iter().map(|c| (spelling.as_text)(c)).collect();
    let not_null: Vec<String> = quoted.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    conn.text_rows(&format!(
        "SELECT {} FROM {table} WHERE {} LIMIT 200",
        list.join(", "),
        not_null.join(" AND ")
    ))
}

fn key_condition(spelling: &Spelling, columns: &[String], values: &[String]) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| {
            format!(
                "{} = {}",
                (spelling.quote_ident)(c),
                (spelling.quote_literal)(v)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The column a version's code writes: everything but what the database fills itself.
fn writable(column: &ColumnModel) -> bool {
    !column.identity && !column.generated && !column.serial
}

fn statements_for(
    conn: &mut dyn AppConnection,
    spelling: &Spelling,
    version: &AppVersion,
    notes: &mut Vec<String>,
) -> Vec<AppStatement> {
    let quote_ident = spelling.quote_ident;
    let quote_literal = spelling.quote_literal;
    let mut out = Vec::new();
    for table in &version.tables {
        let name = (spelling.table)(table);
        let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        if columns.is_empty() {
            continue;
        }
        let key: Vec<String> = if table.primary_key.is_empty() {
            table.unique.first().cloned().unwrap_or_default()
        } else {
            table.primary_key.clone()
        };
        let keys = sample_keys(conn, spelling, &name, &key);
        let pick = |i: usize| keys.get(i % keys.len().max(1));

        // Reads: every column this version knows, by key.
        for i in 0..3 {
            let sql = match pick(i * 37) {
                Some(values) => format!(
                    "SELECT {} FROM {name} WHERE {}",
                    columns.join(", "),
                    key_condition(spelling, &key, values)
                ),
                None => format!("SELECT {} FROM {name} LIMIT 1", columns.join(", ")),
            };
            out.push(AppStatement {
                sql,
                inserts_into: None,
            });
        }

        // Inserts: every column this version writes, with foreign keys aimed at existing rows.
        let mut parents: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
        for (i, fk) in table.foreign_keys.iter().enumerate() {
            let parent = (spelling.parent)(fk);
            parents.insert(i, sample_keys(conn, spelling, &parent, &fk.ref_columns));
        }
        let mut insert_columns = Vec::new();
        let mut values = Vec::new();
        let mut derived = Vec::new();
        // The values as the columns' types, for the derived table that feeds derived columns.
        let mut typed = Vec::new();
        let mut can_insert = true;
        for column in table.columns.iter().filter(|c| writable(c)) {
            let fk = table.foreign_keys.iter().enumerate().find_map(|(i, fk)| {
                fk.columns
                    .iter()
                    .position(|c| *c == column.name)
                    .map(|p| (i, p))
            });
            let value = match fk {
                Some((i, position)) => parents
                    .get(&i)
                    .and_then(|rows| rows.first())
                    .and_then(|row| row.get(position))
                    .map(|v| quote_literal(v)),
                None => (spelling.value_sql)(column, "{n}", version.salt),
            };
            if let Some(d) = version.derived.iter().find(|d| {
                d.table == table.name
                    && d.schema.as_ref().is_none_or(|s| *s == table.schema)
                    && d.column == column.name
            }) {
                derived.push((quote_ident(&column.name), d.expr.clone()));
                continue;
            }
            match value {
                Some(v) => {
                    insert_columns.push(quote_ident(&column.name));
                    typed.push((spelling.typed)(&v, column));
                    values.push(v);
                }
                None if !column.not_null || column.has_default => {}
                None => {
                    notes.push(format!(
                        "{} version: no value for {name}.{} ({}), so it does not INSERT into {name}",
                        version.name,
                        quote_ident(&column.name),
                        column.type_sql
                    ));
                    can_insert = false;
                }
            }
        }
        if can_insert && !insert_columns.is_empty() {
            let sql = if derived.is_empty() {
                Some(format!(
                    "INSERT INTO {name} ({}) VALUES ({})",
                    insert_columns.join(", "),
                    values.join(", ")
                ))
            } else {
                // The derived columns get their expression over the other values of the row,
                // as the new code must write them: the values are a one-row derived table the
                // expression reads by column name.
                let selected: Vec<String> = typed
                    .iter()
                    .zip(&insert_columns)
                    .map(|(v, c)| format!("{v} AS {c}"))
                    .collect();
                let exprs: Vec<String> = derived.iter().map(|(_, e)| format!("({e})")).collect();
                let row = format!("FROM (SELECT {}) AS safeshift_row", selected.join(", "));
                // An expression that reads a column the app does not write (one the database
                // fills, like a serial key) cannot be computed here: no INSERT rather than one
                // that fails or writes a value the expression would not give.
                let computes = !conn
                    .text_rows(&format!("SELECT {} {row}", exprs.join(", ")).replace("{n}", "0"))
                    .is_empty();
                if computes {
                    Some(format!(
                        "INSERT INTO {name} ({}, {}) SELECT safeshift_row.*, {} {row}",
                        insert_columns.join(", "),
                        derived
                            .iter()
                            .map(|(c, _)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        exprs.join(", "),
                    ))
                } else {
                    notes.push(format!(
                        "{} version: it does not INSERT into {name}: {} cannot be computed from the columns it writes",
                        version.name,
                        exprs.join(", ")
                    ));
                    None
                }
            };
            if let Some(sql) = sql {
                out.push(AppStatement {
                    sql,
                    inserts_into: Some(name.clone()),
                });
            }
        }

        // Updates: every column this version writes, set to itself, on an existing row: the
        // statement touches what the code touches, and fires the triggers a real update fires.
        let settable: Vec<String> = table
            .columns
            .iter()
            .filter(|c| writable(c) && !key.contains(&c.name))
            .map(|c| format!("{0} = {0}", quote_ident(&c.name)))
            .collect();
        if !settable.is_empty()
            && let Some(values) = pick(11)
        {
            out.push(AppStatement {
                sql: format!(
                    "UPDATE {name} SET {} WHERE {}",
                    settable.join(", "),
                    key_condition(spelling, &key, values)
                ),
                inserts_into: None,
            });
        }
    }
    out.extend(version.extra.iter().map(|sql| AppStatement {
        sql: sql.clone(),
        inserts_into: None,
    }));
    out
}
