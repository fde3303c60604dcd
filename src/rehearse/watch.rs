//! A second look at locks, from another connection: every few milliseconds, which table locks
//! the migration's backend holds. It sees what the in-transaction inspection cannot — statements
//! that must run outside a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`) — at the cost of
//! missing locks held for less than a polling interval. [`PostgresWatch`] puts it together with
//! the in-transaction inspection: how a stage is watched on PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::Client;

use crate::apply::Observer;
use crate::db::{self, DbError};
use crate::plan_dir::StageRecord;

use super::inspect::{self, Inspector, rank};
use super::{LockSeen, Seen, StageWatch, truncate};

const POLL: Duration = Duration::from_millis(10);

pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<BTreeMap<String, String>>,
}

impl Watcher {
    pub fn start(url: &str, migration_pid: i32) -> Result<Watcher, DbError> {
        let mut client = db::connect(url)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            let sql = "SELECT format('%I.%I', n.nspname, c.relname), l.mode
                 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted
                   AND c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')";
            while !flag.load(Ordering::SeqCst) {
                if let Ok(rows) = client.query(sql, &[&migration_pid]) {
                    for row in rows {
                        let table: String = row.get(0);
                        let mode: String = row.get(1);
                        if seen.get(&table).is_none_or(|m| rank(&mode) > rank(m)) {
                            seen.insert(table, mode);
                        }
                    }
                }
                std::thread::sleep(POLL);
            }
            seen
        });
        Ok(Watcher { stop, thread })
    }

    /// The strongest lock the migration was seen holding on each table.
    pub fn stop(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

/// How a stage is watched on PostgreSQL: each statement runs with an [`Inspector`] that reads,
/// inside the statement's own transaction, which locks it holds and how many rows it went
/// through (so a scan under a lock that blocks the app shows even on a small table), and a
/// [`Watcher`] polls the locks of what must run outside a transaction.
pub struct PostgresWatch {
    inspector: Inspector,
    watcher: Watcher,
}

impl PostgresWatch {
    pub fn start(url: &str, migration: &mut Client) -> Result<PostgresWatch, DbError> {
        let mut inspector = Inspector::default();
        inspector.start_stage(migration)?;
        let pid: i32 = migration
            .query_one("SELECT pg_backend_pid()", &[])
            .map(|r| r.get(0))
            .map_err(|e| DbError::Query(db::describe(&e)))?;
        Ok(PostgresWatch {
            inspector,
            watcher: Watcher::start(url, pid)?,
        })
    }
}

impl StageWatch for PostgresWatch {
    fn observer(&mut self) -> &mut dyn Observer {
        &mut self.inspector
    }

    fn finish(self: Box<Self>, stage: &StageRecord, duration: Duration) -> Seen {
        let polled = self.watcher.stop();
        let inspector = self.inspector;
        let mut seen = Seen::default();
        for v in &inspector.violations {
            seen.problems.push(format!(
                "{} went through {} row(s) of {} (scan, rewrite or index build) while holding {}, which blocks the app's {} until it commits: on a big table that is a long stall",
                truncate(&v.statement, 100),
                v.rows,
                v.table,
                inspect::display(&v.mode),
                if inspect::blocks_reads(&v.mode) {
                    "reads and writes"
                } else {
                    "writes"
                }
            ));
        }

        let mut locks = inspector.locks.clone();
        for (table, mode) in polled {
            if locks
                .get(&table)
                .is_none_or(|m| inspect::rank(&mode) > inspect::rank(m))
            {
                locks.insert(table, mode);
            }
        }
        for (table, mode) in &locks {
            if let Some(said) = declared(stage, table)
                && inspect::rank(mode) > inspect::rank(&said)
            {
                seen.notes.push(format!(
                    "took {} on {table}; the plan says {}",
                    inspect::display(mode),
                    inspect::display(&said)
                ));
            }
        }
        let held = |table: &str| {
            inspector.held_ms.get(table).map(|&ms| {
                if stage.transactional {
                    duration.as_secs_f64() * 1000.0
                } else {
                    ms
                }
            })
        };
        seen.locks = locks
            .into_iter()
            .map(|(table, mode)| LockSeen {
                held_ms: if inspect::blocks_writes(&mode) {
                    held(&table)
                } else {
                    None
                },
                blocks: if inspect::blocks_reads(&mode) {
                    "reads and writes"
                } else if inspect::blocks_writes(&mode) {
                    "writes"
                } else {
                    "nothing the app does"
                },
                mode: inspect::display(&mode),
                table,
            })
            .collect();
        seen
    }
}

/// The strongest lock the plan says a stage takes on `table`, in pg_locks' spelling.
fn declared(stage: &StageRecord, table: &str) -> Option<String> {
    stage
        .steps
        .iter()
        .flat_map(|s| s.locks.iter())
        .filter(|l| {
            let plain = l.table.trim_matches('"');
            table == plain
                || table.ends_with(&format!(".{plain}"))
                || table.trim_matches('"').ends_with(&format!(".{plain}"))
        })
        .map(|l| {
            let mut mode: String = l
                .mode
                .split('_')
                .map(|w| {
                    let mut w = w.to_ascii_lowercase();
                    if let Some(first) = w.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    w
                })
                .collect();
            mode.push_str("Lock");
            mode
        })
        .max_by_key(|m| inspect::rank(m))
}
