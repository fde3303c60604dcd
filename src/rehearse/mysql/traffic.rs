//! Simulated application traffic on MySQL/MariaDB — the same statements as on PostgreSQL
//! (see `rehearse::traffic`): per live version, INSERT with every column it writes, SELECT of
//! every column it knows by key, UPDATE of its columns on an existing row — and a watcher that
//! polls `information_schema.PROCESSLIST` for sessions waiting for a lock (a waiting ALTER, or
//! the app queued behind one: "Waiting for table metadata lock").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::Conn;
use mysql::prelude::Queryable;

use super::model::{qualified, value_sql};
use crate::db::DbError;
use crate::db::mysql::{self as my, quote_ident, quote_literal};
use crate::rehearse::model::ColumnModel;
use crate::rehearse::traffic::{AppVersion, VersionStats};

/// A pause between statements: the app is busy, not a benchmark saturating two cores.
const THINK: Duration = Duration::from_millis(2);

pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<VersionStats>>,
    /// Connection ids of the app sessions, to tell their lock waits from the migration's.
    pub ids: Vec<u32>,
}

impl Traffic {
    pub fn start(
        url: &str,
        versions: &[AppVersion],
        counter: &Arc<AtomicU64>,
    ) -> Result<Traffic, DbError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut ids = Vec::new();
        for version in versions {
            let mut conn = my::connect(url)?;
            ids.push(conn.connection_id());
            let version = version.clone();
            let stop = Arc::clone(&stop);
            let counter = Arc::clone(counter);
            threads.push(std::thread::spawn(move || {
                run(&mut conn, &version, &stop, &counter)
            }));
        }
        Ok(Traffic { stop, threads, ids })
    }

    pub fn stop(self) -> Vec<VersionStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .collect()
    }
}

fn run(
    conn: &mut Conn,
    version: &AppVersion,
    stop: &AtomicBool,
    counter: &AtomicU64,
) -> VersionStats {
    let mut stats = VersionStats {
        version: version.name.to_string(),
        ..VersionStats::default()
    };
    // Bounds how long one stalled statement can hold the window up; the stall is still
    // measured and reported.
    let _ = conn.query_drop("SET SESSION lock_wait_timeout = 30, innodb_lock_wait_timeout = 30");
    let statements = statements_for(conn, version, &mut stats.notes);
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
        let sql = statement.replace("{n}", &n.to_string());
        let started = Instant::now();
        let result = conn.query_drop(&sql);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        stats.statements += 1;
        if ms > stats.worst_ms {
            stats.worst_ms = ms;
            stats.worst_statement = sql.clone();
        }
        if let Err(e) = result {
            stats.errors += 1;
            *errors.entry(my::describe(&e)).or_default() += 1;
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
fn sample_keys(conn: &mut Conn, table: &str, columns: &[String]) -> Vec<Vec<String>> {
    if columns.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let not_null: Vec<String> = list.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {} LIMIT 200",
        list.join(", "),
        not_null.join(" AND ")
    );
    my::rows(conn, &sql).unwrap_or_default()
}

fn key_condition(columns: &[String], values: &[String]) -> String {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{} = {}", quote_ident(c), quote_literal(v)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn writable(column: &ColumnModel) -> bool {
    !column.generated && !column.serial
}

fn statements_for(conn: &mut Conn, version: &AppVersion, notes: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for table in &version.tables {
        let name = qualified(table);
        let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        if columns.is_empty() {
            continue;
        }
        let key: Vec<String> = if table.primary_key.is_empty() {
            table.unique.first().cloned().unwrap_or_default()
        } else {
            table.primary_key.clone()
        };
        let keys = sample_keys(conn, &name, &key);
        let pick = |i: usize| keys.get(i % keys.len().max(1));

        for i in 0..3 {
            out.push(match pick(i * 37) {
                Some(values) => format!(
                    "SELECT {} FROM {name} WHERE {}",
                    columns.join(", "),
                    key_condition(&key, values)
                ),
                None => format!("SELECT {} FROM {name} LIMIT 1", columns.join(", ")),
            });
        }

        let parents: Vec<Vec<Vec<String>>> = table
            .foreign_keys
            .iter()
            .map(|fk| sample_keys(conn, &quote_ident(&fk.ref_table), &fk.ref_columns))
            .collect();
        let mut insert_columns = Vec::new();
        let mut values = Vec::new();
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
                    .get(i)
                    .and_then(|rows| rows.first())
                    .and_then(|row| row.get(position))
                    .map(|v| quote_literal(v)),
                None => value_sql(column, "{n}", version.salt),
            };
            match value {
                Some(v) => {
                    insert_columns.push(quote_ident(&column.name));
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
            out.push(format!(
                "INSERT INTO {name} ({}) VALUES ({})",
                insert_columns.join(", "),
                values.join(", ")
            ));
        }

        // Every column this version writes, set to itself: the statement touches what the
        // code touches, and fires the triggers a real update fires.
        let settable: Vec<String> = table
            .columns
            .iter()
            .filter(|c| writable(c) && !key.contains(&c.name))
            .map(|c| format!("{0} = {0}", quote_ident(&c.name)))
            .collect();
        if !settable.is_empty()
            && let Some(values) = pick(11)
        {
            out.push(format!(
                "UPDATE {name} SET {} WHERE {}",
                settable.join(", "),
                key_condition(&key, values)
            ));
        }
    }
    out.extend(version.extra.iter().cloned());
    out
}

/// A session seen waiting for a lock: whose, on what statement, and for about how long.
#[derive(Clone, Debug)]
pub struct LockWait {
    pub app: bool,
    pub state: String,
    pub statement: String,
    pub waited_ms: f64,
}

const POLL: Duration = Duration::from_millis(10);

/// Polls the process list of the scratch database while a stage runs.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<LockWait>>,
}

impl Watcher {
    pub fn start(url: &str, app_ids: Vec<u32>) -> Result<Watcher, DbError> {
        let mut conn = my::connect(url)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let own = conn.connection_id();
            // (session id, statement) → (state, first seen, last seen)
            let mut seen: BTreeMap<(u32, String), (String, Instant, Instant)> = BTreeMap::new();
            let sql = "SELECT ID, STATE, INFO FROM information_schema.PROCESSLIST
                       WHERE DB = DATABASE() AND STATE LIKE 'Waiting for%lock%'";
            while !flag.load(Ordering::SeqCst) {
                if let Ok(rows) = my::rows(&mut conn, sql) {
                    let now = Instant::now();
                    for row in rows {
                        let [id, state, info] = row.as_slice() else {
                            continue;
                        };
                        let Ok(id) = id.parse::<u32>() else {
                            continue;
                        };
                        if id == own {
                            continue;
                        }
                        seen.entry((id, info.clone()))
                            .and_modify(|e| e.2 = now)
                            .or_insert((state.clone(), now, now));
                    }
                }
                std::thread::sleep(POLL);
            }
            seen.into_iter()
                .map(|((id, statement), (state, first, last))| LockWait {
                    app: app_ids.contains(&id),
                    state,
                    statement,
                    waited_ms: (last - first + POLL).as_secs_f64() * 1000.0,
                })
                .collect()
        });
        Ok(Watcher { stop, thread })
    }

    pub fn stop(self) -> Vec<LockWait> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

/// The table an app statement works on (`FROM t`, `INTO t`, `UPDATE t`), for reporting.
pub fn statement_table(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let at = words.iter().position(|w| {
        w.eq_ignore_ascii_case("from")
            || w.eq_ignore_ascii_case("into")
            || w.eq_ignore_ascii_case("update")
    })?;
    let name = words.get(at + 1)?;
    Some(
        name.trim_end_matches([',', '('])
            .trim_matches('`')
            .replace("``", "`"),
    )
}
