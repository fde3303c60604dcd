//! A second look at locks, from another connection: every few milliseconds, which table locks
//! the migration's backend holds. It sees what the in-transaction inspection cannot — statements
//! that must run outside a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`) — at the cost of
//! missing locks held for less than a polling interval.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::db::{self, DbError};

use super::inspect::rank;

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
