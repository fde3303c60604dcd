//! Simulated application traffic on MySQL/MariaDB — the statements of `rehearse::traffic`
//! spelled for MySQL — and a watcher that polls `information_schema.PROCESSLIST` for sessions
//! waiting for a lock (a waiting ALTER, or the app queued behind one: "Waiting for table
//! metadata lock").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::Conn;
use mysql::prelude::Queryable;

use super::model::{qualified, value_sql};
use crate::db::DbError;
use crate::db::mysql::{self as my, quote_ident, quote_literal};
use crate::rehearse::traffic::{AppConnection, Spelling};

impl AppConnection for Conn {
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        self.query_drop(sql).map_err(|e| my::describe(&e))
    }

    fn text_rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        my::rows(self, sql).unwrap_or_default()
    }

    fn session_id(&self) -> Option<u32> {
        Some(self.connection_id())
    }
}

pub const MYSQL: Spelling = Spelling {
    session_setup: "SET SESSION lock_wait_timeout = 30, innodb_lock_wait_timeout = 30",
    quote_ident,
    quote_literal,
    value_sql,
    table: qualified,
    parent: |fk| quote_ident(&fk.ref_table),
    as_text: |column| column.to_string(),
    // MySQL converts a quoted number or date to the column's type on INSERT … SELECT too.
    typed: |value, _| value.to_string(),
};

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
