//! The seam between `apply`'s rules (ordering, history, rollback, retries) and the engine a
//! stage runs on: a connection that can run a SQL file, walk a backfill and answer a check.
//! PostgreSQL's lives in `run.rs`, MySQL/MariaDB's in `mysql.rs`.

use std::path::Path;
use std::time::Duration;

use super::run::{self, BackfillDone, Observer, RunError, RunOptions};
use crate::db;
use crate::plan::BackfillSpec;

/// Why a check query gave no answer.
#[derive(Debug)]
pub struct CheckError {
    pub message: String,
    /// It gave up waiting for a lock (or was chosen as a deadlock victim): it can run again.
    pub lock_wait: bool,
}

pub trait Target {
    /// Runs a SQL file statement by statement, retrying what gave up waiting for a lock.
    fn run_sql(
        &mut self,
        text: &str,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError>;

    /// Walks a backfill in key order, one short transaction per batch.
    fn run_backfill(
        &mut self,
        spec: &BackfillSpec,
        opts: &RunOptions,
        resume: Option<String>,
        observer: &mut dyn Observer,
    ) -> Result<BackfillDone, RunError>;

    /// The first column of the first row as text, as the engine's client prints it.
    fn first_value(&mut self, query: &str) -> Result<Option<String>, CheckError>;

    /// Gives the session's queries a lock timeout (`None`: the server's default again), so a
    /// check waits behind a held lock no longer than the stage's statements would.
    fn set_lock_timeout(&mut self, timeout: Option<Duration>) -> Result<(), String>;

    /// Ends a transaction a failed statement may have left open.
    fn roll_back_open_transaction(&mut self);

    /// Caps the parallel workers this session's queries and index builds may start (see
    /// [`RunOptions::parallel_workers`]).
    fn limit_parallel_workers(&mut self, workers: u32) -> Result<(), String>;
}

impl Target for postgres::Client {
    fn run_sql(
        &mut self,
        text: &str,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        run::run_sql(self, text, opts, observer)
    }

    fn run_backfill(
        &mut self,
        spec: &BackfillSpec,
        opts: &RunOptions,
        resume: Option<String>,
        observer: &mut dyn Observer,
    ) -> Result<BackfillDone, RunError> {
        run::run_backfill(self, spec, opts, resume, observer)
    }

    fn first_value(&mut self, query: &str) -> Result<Option<String>, CheckError> {
        let messages = self.simple_query(query).map_err(|e| CheckError {
            message: db::describe(&e),
            lock_wait: run::retryable(&e),
        })?;
        for message in messages {
            if let postgres::SimpleQueryMessage::Row(row) = message {
                // `t`/`f` for booleans, as psql shows them.
                return Ok(Some(row.get(0).unwrap_or("NULL").to_string()));
            }
        }
        Ok(None)
    }

    fn set_lock_timeout(&mut self, timeout: Option<Duration>) -> Result<(), String> {
        let sql = match timeout {
            Some(t) => run::lock_timeout_sql(false, t),
            None => "RESET lock_timeout".to_string(),
        };
        self.batch_execute(&sql).map_err(|e| db::describe(&e))
    }

    fn roll_back_open_transaction(&mut self) {
        let _ = self.batch_execute("ROLLBACK");
    }

    fn limit_parallel_workers(&mut self, workers: u32) -> Result<(), String> {
        let sql = format!(
            "SELECT set_config('max_parallel_workers_per_gather', '{workers}', false), \
             set_config('max_parallel_maintenance_workers', '{workers}', false)"
        );
        self.batch_execute(&sql).map_err(|e| db::describe(&e))
    }
}

/// How an operator runs a plan file by hand on this plan's engine.
pub fn client_command(dialect: &str, file: &Path) -> String {
    match dialect {
        "mysql" => format!("mysql --batch \"$DATABASE\" < {}", file.display()),
        "mariadb" => format!("mariadb --batch \"$DATABASE\" < {}", file.display()),
        _ => format!("psql -v ON_ERROR_STOP=1 -f {}", file.display()),
    }
}
