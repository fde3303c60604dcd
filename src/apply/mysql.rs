//! `apply` on MySQL and MariaDB: running a stage the way the `mariadb` client would (split at
//! the client's delimiter, `DELIMITER` lines honoured) but one statement at a time, so a
//! statement that gave up waiting for a metadata or row lock (error 1205, `lock_wait_timeout` /
//! `innodb_lock_wait_timeout`) is retried with the same jittered backoff as on PostgreSQL. There
//! is no transactional DDL: every ALTER commits on its own, which is why the plans make each
//! statement safe to re-run. The run loops are `engine.rs`'s; this is the engine's side of them
//! ([`FileRun`], the walk's batches), and its history is in `mysql_history.rs`.

use std::time::Duration;

use mysql::Conn;
use mysql::prelude::Queryable;

use super::engine::{FileRun, Role};
use super::run::{BackfillDone, DEFAULT_BATCH_LOCK_TIMEOUT, Observer, RunError, RunOptions};
use super::target::{CheckError, Target};
use crate::db::FileStatement;
use crate::db::mysql::{self as my, quote_literal};
use crate::plan::BackfillSpec;

pub use super::mysql_history::{History, keep_session_open, lock_held};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Begin,
    Commit,
    Rollback,
    SetLockWaitTimeout,
    /// `LOCK TABLES … WRITE`: until `UNLOCK TABLES` (or the session ends) other sessions wait.
    LockTables,
    UnlockTables,
    Other,
}

fn classify(text: &str) -> Kind {
    let words: Vec<String> = text
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_lowercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        // `BEGIN NOT ATOMIC … END` is a MariaDB compound statement, not a transaction.
        "begin" if matches!(w(1), "" | "work") => Kind::Begin,
        "start" if w(1) == "transaction" => Kind::Begin,
        "commit" => Kind::Commit,
        "rollback" if w(1) != "to" => Kind::Rollback,
        "lock" if matches!(w(1), "tables" | "table") => Kind::LockTables,
        "unlock" if matches!(w(1), "tables" | "table") => Kind::UnlockTables,
        "set" => {
            let name = match w(1) {
                "session" | "local" => w(2),
                other => other,
            };
            let name = name
                .trim_start_matches("@@session.")
                .trim_start_matches("@@local.")
                .trim_start_matches("@@");
            if name.split('=').next() == Some("lock_wait_timeout") {
                Kind::SetLockWaitTimeout
            } else {
                Kind::Other
            }
        }
        _ => Kind::Other,
    }
}

/// `SET …` (a session setting), `SHOW` and `USE` change nothing a down.sql would undo.
fn is_session_setting(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(first.as_str(), "set" | "show" | "use")
}

/// DDL commits the open transaction (and itself) on MySQL and MariaDB.
fn commits_implicitly(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "alter" | "create" | "drop" | "rename" | "truncate"
    )
}

/// `lock_wait_timeout` counts whole seconds; never less than one.
fn whole_seconds(timeout: Duration) -> u64 {
    timeout.as_millis().div_ceil(1000).max(1) as u64
}

/// A metadata-lock or row-lock wait that timed out, or a deadlock: the statement did nothing and
/// can run again. Anything else is a real failure.
pub(crate) fn retryable(e: &mysql::Error) -> bool {
    matches!(
        my::error_code(e),
        Some(my::LOCK_WAIT_TIMEOUT) | Some(my::LOCK_DEADLOCK)
    )
}

/// The limits of the walks the stage's procedures run (templates/mysql/pause.sql reads
/// `@safeshift_max_app_lock_wait` and `@safeshift_max_pause`, in seconds), from the run's options
/// (see [`super::run::walk_limits`]). Replica lag reaches them through the throttle lock
/// instead (`throttle_lock.rs`): a primary does not know its replicas' lag.
fn set_walk_limits(conn: &mut Conn, opts: &RunOptions) -> Result<(), RunError> {
    let seconds = |d: Option<Duration>| match d {
        Some(d) if !d.is_zero() => format!("{}", d.as_secs_f64()),
        _ => "off".to_string(),
    };
    let sql = format!(
        "SET @safeshift_max_app_lock_wait = {}, @safeshift_max_pause = {}",
        quote_literal(&seconds(opts.throttle.max_app_lock_wait)),
        quote_literal(&seconds(opts.throttle.max_pause))
    );
    conn.query_drop(&sql)
        .map_err(|e| RunError::failed(&sql, &e))
}

/// Runs a SQL file one statement at a time. A statement that hit a lock wait timeout is retried
/// (the plan writes each to be safe to re-run); inside `START TRANSACTION … COMMIT` the retry
/// starts again at the transaction's start, inside `LOCK TABLES … UNLOCK TABLES` at the
/// `LOCK TABLES`, and no table stays locked when the run ends.
pub fn run_sql(
    conn: &mut Conn,
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    // The file's walks on the server hear of replica lag through the throttle lock, which a
    // watcher holds while a replica lags (`--max-replica-lag` with `--replica-url`).
    super::throttle_lock::watching(text, opts, observer, |observer| {
        super::engine::run_file(conn, text, opts, observer)
    })
}

impl FileRun for Conn {
    type Error = mysql::Error;
    type Kind = Kind;

    fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError> {
        my::statements(text)
    }

    fn classify(text: &str) -> Kind {
        classify(text)
    }

    fn role(kind: Kind) -> Role {
        match kind {
            Kind::Begin => Role::Begin,
            Kind::Commit => Role::Commit,
            Kind::Rollback => Role::Rollback,
            Kind::LockTables => Role::Lock,
            Kind::UnlockTables => Role::Unlock,
            Kind::SetLockWaitTimeout => Role::Setting,
            Kind::Other => Role::Change,
        }
    }

    fn before_file(&mut self, opts: &RunOptions) -> Result<(), RunError> {
        set_walk_limits(self, opts)
    }

    fn run_statement(
        &mut self,
        statement: &FileStatement,
        kind: Kind,
        _in_transaction: bool,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), mysql::Error> {
        match (kind, opts.lock_timeout) {
            (Kind::SetLockWaitTimeout, Some(t)) => self.query_drop(format!(
                "SET SESSION lock_wait_timeout = {}",
                whole_seconds(t)
            )),
            _ => my::run_relaying(self, &statement.text, &mut |line| {
                if crate::db::WALK_PAUSE_NOTICES
                    .iter()
                    .any(|p| line.starts_with(p))
                {
                    observer.walk_said(line);
                }
            }),
        }
    }

    fn ran(&mut self, statement: &str, took: Duration, observer: &mut dyn Observer) {
        observer.ran(statement, took, self.affected_rows());
    }

    fn commits_implicitly(text: &str) -> bool {
        commits_implicitly(text)
    }

    /// Changes nothing a down.sql would undo.
    fn changes_nothing(text: &str) -> bool {
        is_session_setting(text)
    }

    fn roll_back(&mut self) {
        let _ = self.query_drop("ROLLBACK");
    }

    fn unlock_tables(&mut self) -> Result<(), mysql::Error> {
        self.query_drop("UNLOCK TABLES")
    }
}

/// `` `users` `` → `users`, for catalog lookups; `None` for a qualified or odd name.
fn plain_name(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('`')?.strip_suffix('`')?;
    let mut plain = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        // Inside backquotes a backquote is written twice; a single one ends the name.
        if c == '`' && chars.next() != Some('`') {
            return None;
        }
        plain.push(c);
    }
    Some(plain)
}

/// Walks the table in key order, one autocommitted UPDATE (one transaction) per batch, filling
/// rows where `pending` holds. `resume` is the last key of an earlier, interrupted run. Each
/// batch is retried on a lock wait timeout like any statement.
pub fn run_backfill(
    conn: &mut Conn,
    spec: &BackfillSpec,
    opts: &RunOptions,
    resume: Option<String>,
    observer: &mut dyn Observer,
) -> Result<BackfillDone, RunError> {
    let BackfillSpec { table, column, .. } = spec;
    let label = match (plain_name(table), plain_name(column)) {
        (Some(t), Some(c)) => format!("{t}.{c}"),
        _ => format!("{table}.{column}"),
    };
    let fail = |statement: &str, e: &mysql::Error| RunError::server(None, statement, e);
    let seconds = whole_seconds(opts.lock_timeout.unwrap_or(DEFAULT_BATCH_LOCK_TIMEOUT));
    let set =
        format!("SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}");
    conn.query_drop(&set).map_err(|e| fail(&set, &e))?;
    // Resume keys come back from the table as text; they go back as literals this session reads
    // the same way.
    let escapes = my::backslash_escapes(conn).map_err(|e| fail("SELECT @@SESSION.sql_mode", &e))?;
    let estimate = match plain_name(table) {
        Some(name) => my::first_value(
            conn,
            &format!(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                quote_literal(&name)
            ),
        )
        .ok()
        .flatten()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0),
        None => None,
    };
    observer.backfill_start(&label, estimate, resume.as_deref());
    let mut walker = MyWalk {
        throttle: super::throttle::MyThrottle::new(opts)?,
        conn,
        spec,
        escapes,
    };
    super::engine::walk(&mut walker, spec, opts, &label, resume, observer)
}

/// MySQL/MariaDB's batches of a backfill walk.
struct MyWalk<'a> {
    conn: &'a mut Conn,
    spec: &'a BackfillSpec,
    /// Whether the session's string literals take backslash escapes (its `sql_mode`).
    escapes: bool,
    throttle: super::throttle::MyThrottle,
}

impl super::engine::Walk for MyWalk<'_> {
    type Error = mysql::Error;

    fn after(&self, last: Option<&str>) -> String {
        last.map(|k| {
            format!(
                "{} > {}",
                self.spec.key,
                my::quote_literal_in(k, self.escapes)
            )
        })
        .unwrap_or_else(|| "TRUE".to_string())
    }

    fn wait(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        self.throttle.wait(self.conn, observer)
    }

    fn batch(
        &mut self,
        after: &str,
        _last: Option<&str>,
        batch_size: u64,
        _observer: &mut dyn Observer,
    ) -> Result<Option<(String, u64, u64)>, mysql::Error> {
        let BackfillSpec {
            table,
            key,
            column,
            value,
            pending,
            ..
        } = self.spec;
        let next_sql = format!(
            "SELECT MAX(k), COUNT(*) FROM (SELECT {key} AS k FROM {table} WHERE {after} ORDER BY {key} LIMIT {batch_size}) AS batch"
        );
        let row: Option<mysql::Row> = self.conn.query_first(&next_sql)?;
        let (end, walked) = match row {
            Some(row) => (
                row.as_ref(0)
                    .filter(|v| **v != mysql::Value::NULL)
                    .map(my::value_text),
                row.as_ref(1)
                    .map(my::value_text)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0),
            ),
            None => (None, 0),
        };
        let Some(end) = end else {
            return Ok(None);
        };
        let update = format!(
            "UPDATE {table} SET {column} = {value} WHERE {after} AND {key} <= {} AND ({pending})",
            my::quote_literal_in(&end, self.escapes)
        );
        self.conn.query_drop(&update)?;
        Ok(Some((end, walked, self.conn.affected_rows())))
    }
}

impl Target for Conn {
    fn run_sql(
        &mut self,
        text: &str,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        run_sql(self, text, opts, observer)
    }

    fn run_backfill(
        &mut self,
        spec: &BackfillSpec,
        opts: &RunOptions,
        resume: Option<String>,
        observer: &mut dyn Observer,
    ) -> Result<BackfillDone, RunError> {
        run_backfill(self, spec, opts, resume, observer)
    }

    fn first_value(&mut self, query: &str) -> Result<Option<String>, CheckError> {
        my::first_value(self, query).map_err(|e| CheckError {
            message: my::describe(&e),
            lock_wait: retryable(&e),
        })
    }

    fn set_lock_timeout(&mut self, timeout: Option<Duration>) -> Result<(), String> {
        let sql = match timeout {
            Some(t) => {
                let seconds = whole_seconds(t);
                format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"
                )
            }
            None => "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT"
                .to_string(),
        };
        self.query_drop(sql).map_err(|e| my::describe(&e))
    }

    fn roll_back_open_transaction(&mut self) {
        let _ = self.query_drop("ROLLBACK");
        // And no table stays locked by LOCK TABLES on this connection.
        let _ = self.query_drop("UNLOCK TABLES");
    }

    /// MariaDB runs a query on one thread. MySQL 8 reads a clustered index with
    /// `innodb_parallel_read_threads` and builds an index with `innodb_ddl_threads`; neither is
    /// set here, since no MySQL 8 server has been available to test it on.
    fn limit_parallel_workers(&mut self, _workers: u32) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified() {
        assert_eq!(classify("START TRANSACTION"), Kind::Begin);
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(classify("BEGIN NOT ATOMIC SELECT 1; END"), Kind::Other);
        assert_eq!(classify("COMMIT"), Kind::Commit);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a"), Kind::Other);
        assert_eq!(
            classify("SET SESSION lock_wait_timeout = 2"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(
            classify("SET lock_wait_timeout=5"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(
            classify("SET @@session.lock_wait_timeout = 5"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(classify("SET SESSION sql_mode = ''"), Kind::Other);
        assert_eq!(classify("LOCK TABLES `users` WRITE"), Kind::LockTables);
        assert_eq!(classify("unlock tables;"), Kind::UnlockTables);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
    }

    #[test]
    fn only_plain_names_are_looked_up() {
        assert_eq!(plain_name("`users`").as_deref(), Some("users"));
        assert_eq!(plain_name("`we``ird`").as_deref(), Some("we`ird"));
        assert_eq!(plain_name("`a`.`b`"), None);
        assert_eq!(plain_name("users"), None);
    }
}
