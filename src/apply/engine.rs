//! What `apply`'s stage runs share across engines, written once. Connecting, the history and
//! the plan's lock are already one interface ([`crate::db::engine::Engine`], [`super::HistoryStore`]);
//! this is the level below, inside a stage: how an engine's error reads to the run loops
//! ([`ServerError`]), and the backfill walk's batch loop ([`walk`]), over an engine's way of
//! running one batch ([`Walk`]). PostgreSQL's side is in `run.rs`, MySQL/MariaDB's in `mysql.rs`.

use std::time::Instant;

use super::run::{self, BackfillDone, BatchSizer, Observer, RunError, RunOptions};
use crate::db::FileStatement;
use crate::error::Pos;
use crate::interrupt;
use crate::plan::BackfillSpec;

/// An engine's error, as the run loops read it.
pub(crate) trait ServerError {
    /// The server's words, with its error code.
    fn describe(&self) -> String;
    /// The SQLSTATE on PostgreSQL, the error number on MySQL/MariaDB.
    fn code(&self) -> Option<String>;
    /// The session is gone (restart, killed session, network): what was in flight is unknown.
    fn lost(&self) -> bool;
    /// It gave up waiting for a lock, or was a deadlock's victim: it did nothing and can run
    /// again.
    fn retryable(&self) -> bool;
}

impl ServerError for postgres::Error {
    fn describe(&self) -> String {
        crate::db::describe(self)
    }
    fn code(&self) -> Option<String> {
        crate::db::sqlstate(self).map(str::to_string)
    }
    fn lost(&self) -> bool {
        crate::db::connection_lost(self)
    }
    fn retryable(&self) -> bool {
        super::run::retryable(self)
    }
}

impl ServerError for mysql::Error {
    fn describe(&self) -> String {
        crate::db::mysql::describe(self)
    }
    fn code(&self) -> Option<String> {
        crate::db::mysql::error_code(self).map(|c| c.to_string())
    }
    fn lost(&self) -> bool {
        crate::db::mysql::connection_lost(self)
    }
    fn retryable(&self) -> bool {
        super::mysql::retryable(self)
    }
}

impl RunError {
    /// `statement` (at `pos` in its file, if it is a file's) failed with `e`: [`RunError::Lost`]
    /// when the session is gone, [`RunError::Failed`] otherwise.
    pub(crate) fn server(pos: Option<Pos>, statement: &str, e: &impl ServerError) -> RunError {
        if e.lost() {
            return RunError::Lost {
                pos,
                statement: statement.to_string(),
                message: e.describe(),
            };
        }
        RunError::Failed {
            pos,
            statement: statement.to_string(),
            message: e.describe(),
            code: e.code(),
        }
    }

    /// The stage's SQL file could not be split into statements.
    pub(crate) fn unreadable(e: crate::PlanError) -> RunError {
        RunError::Failed {
            pos: Some(e.pos),
            statement: String::new(),
            message: format!("cannot read the SQL file: {}", e.message),
            code: None,
        }
    }

    /// A statement that failed without the session being lost (the session's settings, say).
    pub(crate) fn failed(statement: &str, e: &impl ServerError) -> RunError {
        RunError::Failed {
            pos: None,
            statement: statement.to_string(),
            message: e.describe(),
            code: e.code(),
        }
    }
}

/// A statement of a file failed with `e`.
pub(crate) fn failed(statement: &FileStatement, e: &impl ServerError) -> RunError {
    RunError::server(Some(statement.pos), &statement.text, e)
}

/// An engine's side of a backfill walk: the batches, in key order, each its own short
/// transaction. [`walk`] runs them.
pub(crate) trait Walk {
    type Error: ServerError;

    /// The condition for the rows after `last` (every row without one).
    fn after(&self, last: Option<&str>) -> String;

    /// Before each batch: waits while the throttle says the app suffers (see `throttle.rs`).
    fn wait(&mut self, observer: &mut dyn Observer) -> Result<(), RunError>;

    /// Before each batch, after [`Walk::wait`]: `Some(updated)` ends the walk there, with the
    /// rows a last pass updated (PostgreSQL's walk by heap blocks, past the table's last block,
    /// sweeps for rows moved past it).
    fn finished(
        &mut self,
        _last: Option<&str>,
        _size: u64,
        _observer: &mut dyn Observer,
    ) -> Result<Option<u64>, RunError> {
        Ok(None)
    }

    /// One batch of up to `size` rows after `last` (`after`: [`Walk::after`]'s condition):
    /// its last key and the rows it walked and updated, `None` past the last row.
    fn batch(
        &mut self,
        after: &str,
        last: Option<&str>,
        size: u64,
        observer: &mut dyn Observer,
    ) -> Result<Option<(String, u64, u64)>, Self::Error>;
}

/// Walks a backfill batch by batch from `resume` (the last key of an earlier, interrupted run),
/// after the engine said [`Observer::backfill_start`]: Ctrl-C and [`Observer::keep_going`] are
/// heard before each batch, a batch that gave up on a lock is retried with [`run::backoff`]
/// like any statement, the batch size adapts to `--target-batch-time`, and `--pause` sleeps
/// between batches.
pub(crate) fn walk(
    walker: &mut impl Walk,
    spec: &BackfillSpec,
    opts: &RunOptions,
    label: &str,
    resume: Option<String>,
    observer: &mut dyn Observer,
) -> Result<BackfillDone, RunError> {
    let BackfillSpec {
        table,
        column,
        value,
        pending,
        batch_size,
        ..
    } = spec;
    let mut sizer = BatchSizer::new(
        opts.batch_size.unwrap_or(*batch_size),
        opts.target_batch_time,
    );
    let mut last = resume;
    let mut done = BackfillDone::default();
    loop {
        if interrupt::requested() {
            return Err(RunError::Interrupted);
        }
        observer.keep_going().map_err(RunError::Stopped)?;
        let after = walker.after(last.as_deref());
        walker.wait(observer)?;
        let batch_size = sizer.size;
        if let Some(updated) = walker.finished(last.as_deref(), batch_size, observer)? {
            done.updated += updated;
            observer.backfill_end(done.walked, done.updated);
            return Ok(done);
        }
        let mut attempt = 0;
        let started = Instant::now();
        let (end, walked, updated) = loop {
            match walker.batch(&after, last.as_deref(), batch_size, observer) {
                Ok(Some(batch)) => break batch,
                Ok(None) => {
                    observer.backfill_end(done.walked, done.updated);
                    return Ok(done);
                }
                Err(e) => {
                    if interrupt::requested() {
                        return Err(RunError::Interrupted);
                    }
                    if !e.retryable() || attempt >= opts.retries {
                        let what = format!(
                            "UPDATE {table} SET {column} = {value} WHERE {after} AND … AND ({pending})"
                        );
                        return Err(RunError::server(None, &what, &e));
                    }
                    attempt += 1;
                    let delay = run::backoff(opts, attempt - 1);
                    observer.retrying(
                        &format!("a batch of {label}"),
                        attempt,
                        opts.retries,
                        delay,
                        &e.describe(),
                    );
                    run::sleep(delay)?;
                }
            }
        };
        done.walked += walked;
        done.updated += updated;
        observer.backfill_batch(done.walked, done.updated, &end);
        let took = started.elapsed();
        if attempt == 0
            && let Some(size) = sizer.after(took)
        {
            observer.batch_size(size, took);
        }
        last = Some(end);
        if !opts.pause.is_zero() {
            run::sleep(opts.pause)?;
        }
    }
}
