//! What a migration statement really did, read from inside its own transaction just before
//! COMMIT: the locks it holds (`pg_locks` for our own backend) and how many rows of each table it
//! read or wrote (`pg_stat_xact_user_tables`, before and after). A statement that touches rows
//! of a table while holding a lock that blocks the app's writes takes longer the bigger the
//! table: that is the stall a plan must avoid, and it shows even on a small rehearsal table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use postgres::Client;

use crate::apply::Observer;
use crate::db::{self, DbError};
use crate::rehearse::values::{Probe, ProbeError};

/// PostgreSQL's table lock modes, weakest first.
pub const MODES: [&str; 8] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

pub fn rank(mode: &str) -> usize {
    MODES.iter().position(|m| *m == mode).unwrap_or(0)
}

/// `ACCESS EXCLUSIVE` for `AccessExclusiveLock`, as the docs and plan files write it.
pub fn display(mode: &str) -> String {
    let words = mode.trim_end_matches("Lock");
    let mut out = String::new();
    for (i, c) in words.char_indices() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Modes that conflict with ROW EXCLUSIVE: the app's INSERT/UPDATE/DELETE wait behind them.
pub fn blocks_writes(mode: &str) -> bool {
    rank(mode) >= rank("ShareLock")
}

/// The one mode that also blocks plain SELECTs.
pub fn blocks_reads(mode: &str) -> bool {
    mode == "AccessExclusiveLock"
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Violation {
    pub table: String,
    pub mode: String,
    pub rows: i64,
    pub statement: String,
}

/// Collects, per stage, the strongest lock on each table and every statement that touched rows
/// under a traffic-blocking lock.
#[derive(Default)]
pub struct Inspector {
    /// Tables that existed before the stage (oid → name); a table the stage creates is new and
    /// invisible to the app, so anything goes on it.
    pub existing: HashMap<u32, String>,
    rows_before: HashMap<u32, i64>,
    /// Strongest mode seen per table.
    pub locks: BTreeMap<String, String>,
    /// Per table, the longest a statement that held a write-blocking lock on it ran, in ms.
    pub held_ms: BTreeMap<String, f64>,
    started: Option<std::time::Instant>,
    pub violations: Vec<Violation>,
    /// Statements that were run bare (outside a transaction), whose locks were not read.
    pub unobserved: BTreeSet<String>,
    pub statements: usize,
}

const ROWS: &str = "SELECT relid::oid, (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd + n_tup_del)::bigint FROM pg_stat_xact_user_tables";

const LOCKS: &str = "SELECT c.oid, format('%I.%I', n.nspname, c.relname), l.mode
 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
   AND c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

impl Inspector {
    /// Starts a stage: remembers which user tables exist now.
    pub fn start_stage(&mut self, client: &mut Client) -> Result<(), DbError> {
        self.locks.clear();
        self.held_ms.clear();
        self.violations.clear();
        self.unobserved.clear();
        self.statements = 0;
        self.existing = client
            .query(
                "SELECT c.oid, format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'safeshift')",
                &[],
            )
            .map_err(|e| DbError::Query(db::describe(&e)))?
            .iter()
            .map(|row| (row.get::<_, u32>(0), row.get::<_, String>(1)))
            .collect();
        Ok(())
    }
}

/// Every row of `sql`, as text: the observer reads the session through the engine-neutral
/// [`Probe`].
fn query(session: &mut dyn Probe, sql: &str) -> Result<Vec<Vec<String>>, DbError> {
    session.rows(sql).map_err(|e| match e {
        ProbeError::Missing(m) | ProbeError::Failed(m) => DbError::Query(m),
    })
}

/// A number the server printed; a catalog column that is not one is a bug here, said plainly.
fn number<T: std::str::FromStr>(text: &str) -> Result<T, DbError> {
    text.parse()
        .map_err(|_| DbError::Query(format!("not a number: {text:?}")))
}

fn rows(session: &mut dyn Probe) -> Result<HashMap<u32, i64>, DbError> {
    query(session, ROWS)?
        .iter()
        .map(|row| match row.as_slice() {
            [oid, touched, ..] => Ok((number(oid)?, number(touched)?)),
            _ => Err(DbError::Query(
                "pg_stat_xact_user_tables: a short row".into(),
            )),
        })
        .collect()
}

impl Observer for Inspector {
    fn wrap_statements(&self) -> bool {
        true
    }

    fn before(&mut self, session: &mut dyn Probe) -> Result<(), DbError> {
        self.rows_before = rows(session)?;
        self.started = Some(std::time::Instant::now());
        Ok(())
    }

    fn after(&mut self, session: &mut dyn Probe, statement: &str) -> Result<(), DbError> {
        self.statements += 1;
        let took = self
            .started
            .take()
            .map(|t| t.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        let after = rows(session)?;
        let held = query(session, LOCKS)?;
        // The strongest lock per table: a rewrite also takes weaker locks for its indexes.
        let mut strongest: BTreeMap<u32, (String, String)> = BTreeMap::new();
        for row in held {
            let [oid, table, mode, ..] = row.as_slice() else {
                return Err(DbError::Query("pg_locks: a short row".into()));
            };
            let (oid, table, mode): (u32, String, String) =
                (number(oid)?, table.clone(), mode.clone());
            if strongest
                .get(&oid)
                .is_none_or(|(_, m)| rank(&mode) > rank(m))
            {
                strongest.insert(oid, (table, mode));
            }
        }
        for (oid, (table, mode)) in strongest {
            if self.locks.get(&table).is_none_or(|m| rank(&mode) > rank(m)) {
                self.locks.insert(table.clone(), mode.clone());
            }
            if !blocks_writes(&mode) {
                continue;
            }
            let held = self.held_ms.entry(table.clone()).or_insert(0.0);
            *held = held.max(took);
            if !self.existing.contains_key(&oid) {
                continue;
            }
            let touched = after.get(&oid).copied().unwrap_or(0)
                - self.rows_before.get(&oid).copied().unwrap_or(0);
            if touched > 0 {
                self.violations.push(Violation {
                    table,
                    mode,
                    rows: touched,
                    statement: statement.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_the_docs() {
        assert_eq!(display("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
        assert_eq!(
            display("ShareUpdateExclusiveLock"),
            "SHARE UPDATE EXCLUSIVE"
        );
        assert!(blocks_writes("ShareLock"));
        assert!(!blocks_writes("ShareUpdateExclusiveLock"));
        assert!(blocks_reads("AccessExclusiveLock"));
    }
}
