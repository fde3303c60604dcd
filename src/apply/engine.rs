//! What `apply`'s stage runs share across engines, written once. Connecting, the history and
//! the plan's lock are already one interface ([`crate::db::engine::Engine`], [`super::HistoryStore`]);
//! this is the level below, inside a stage: how an engine's error reads to the run loops
//! ([`ServerError`]), and the backfill walk's batch loop ([`walk`]), over an engine's way of
//! running one batch ([`Walk`]). PostgreSQL's side is in `run.rs`, MySQL/MariaDB's in `mysql.rs`.

use std::time::{Duration, Instant};

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

/// What a statement of a stage file is to the run loop ([`run_file`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Opens a transaction.
    Begin,
    /// Ends the open transaction: what ran in it took effect.
    Commit,
    /// Ends the open transaction: what ran in it did not.
    Rollback,
    /// `LOCK TABLES` (MySQL/MariaDB): commits an open transaction; the tables stay locked until
    /// [`Role::Unlock`], and a retry starts again here.
    Lock,
    Unlock,
    /// A lock timeout or other session setting the run handles itself: never takes effect.
    Setting,
    /// Anything else: it may change the schema or the data.
    Change,
}

/// An engine's side of running a stage's SQL file statement by statement: how it splits and
/// classifies statements, runs one, and cleans up after a failure. [`run_file`] is the rest:
/// the transaction and lock bookkeeping, which statements took effect, Ctrl-C and
/// [`Observer::keep_going`], and the retries.
pub(crate) trait FileRun {
    type Error: ServerError;
    type Kind: Copy + PartialEq;

    /// The file's statements, as the engine's client splits them.
    fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError>;
    fn classify(text: &str) -> Self::Kind;
    fn role(kind: Self::Kind) -> Role;

    /// Before the first statement (the walk limits of the file's server-side walks).
    fn before_file(&mut self, opts: &RunOptions) -> Result<(), RunError>;

    /// The statements up to this one (a count) are skipped: they committed in an earlier run.
    fn start_after(_opts: &RunOptions) -> usize {
        0
    }

    /// Runs one statement; `in_transaction`: the file opened a transaction that is still open.
    fn run_statement(
        &mut self,
        statement: &FileStatement,
        kind: Self::Kind,
        in_transaction: bool,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), Self::Error>;

    /// A [`Role::Change`] statement succeeded after `took`.
    fn ran(&mut self, _statement: &str, _took: Duration, _observer: &mut dyn Observer) {}

    /// Whether this [`Role::Change`] statement commits the open transaction (MySQL's DDL).
    fn commits_implicitly(_text: &str) -> bool {
        false
    }

    /// Whether this [`Role::Change`] statement changes nothing a down.sql would undo (a re-run
    /// check, a session setting).
    fn changes_nothing(text: &str) -> bool;

    /// The `COMMIT` that is statement `through` (1-based) succeeded.
    fn committed(_through: usize, _observer: &mut dyn Observer) {}

    /// The statement in flight was cancelled (by Ctrl-C's cancel request).
    fn cancelled(e: &Self::Error) -> bool;

    /// Ends the open transaction, if any; best effort.
    fn roll_back(&mut self);

    /// `UNLOCK TABLES`, after a [`Role::Lock`].
    fn unlock_tables(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// After statement `statement` failed, before it is retried or the run fails: whatever the
    /// failure itself left behind that took effect (PostgreSQL: the INVALID index of a failed
    /// concurrent build).
    fn after_failure(
        &mut self,
        _number: usize,
        _statement: &FileStatement,
        _kind: Self::Kind,
        _observer: &mut dyn Observer,
    ) {
    }
}

/// Runs a SQL file one statement at a time. A statement that gave up waiting for a lock is
/// retried (the plan writes each to be safe to re-run); inside a transaction (or a `LOCK TABLES`
/// region) the retry starts again at its start. Tells the observer which statements took
/// effect: those outside a transaction when they succeed, those inside when it commits; never a
/// session setting or a statement that changes nothing.
pub(crate) fn run_file<F: FileRun>(
    session: &mut F,
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let statements = F::statements(text).map_err(RunError::unreadable)?;
    session.before_file(opts)?;
    let mut retries = run::Retries::new(opts, statements.len());
    let mut tx_start: Option<usize> = None;
    // Where the file took LOCK TABLES, while it holds them: whatever goes wrong, the tables are
    // unlocked before this returns (the app would otherwise wait on them as long as this
    // connection lives), and a retry starts again at the LOCK TABLES.
    let mut locked_at: Option<usize> = None;
    // Statements run inside the open transaction: they take effect when it commits (explicitly,
    // or implicitly by a DDL statement or LOCK TABLES).
    let mut in_tx: Vec<usize> = Vec::new();
    let mut i = F::start_after(opts).min(statements.len());
    while i < statements.len() {
        let stop = if interrupt::requested() {
            Some(RunError::Interrupted)
        } else {
            observer.keep_going().err().map(RunError::Stopped)
        };
        if let Some(stop) = stop {
            if tx_start.is_some() {
                session.roll_back();
            }
            if locked_at.is_some() {
                let _ = session.unlock_tables();
            }
            return Err(stop);
        }
        let statement = &statements[i];
        let kind = F::classify(&statement.text);
        let role = F::role(kind);
        let started = Instant::now();
        let result = session.run_statement(statement, kind, tx_start.is_some(), opts, observer);
        let Err(e) = result else {
            match role {
                Role::Begin => tx_start = Some(i),
                Role::Commit => {
                    tx_start = None;
                    for number in in_tx.drain(..) {
                        observer.took_effect(number);
                    }
                    F::committed(i + 1, observer);
                }
                Role::Rollback => {
                    tx_start = None;
                    in_tx.clear();
                }
                Role::Lock => {
                    locked_at = Some(i);
                    for number in in_tx.drain(..) {
                        observer.took_effect(number);
                    }
                }
                Role::Unlock => locked_at = None,
                Role::Change => {
                    session.ran(&statement.text, started.elapsed(), observer);
                    let settles = tx_start.is_none() || F::commits_implicitly(&statement.text);
                    if settles {
                        for number in in_tx.drain(..) {
                            observer.took_effect(number);
                        }
                    }
                    if F::changes_nothing(&statement.text) {
                        // A re-run check, a session setting.
                    } else if settles {
                        observer.took_effect(i + 1);
                    } else {
                        in_tx.push(i + 1);
                    }
                }
                Role::Setting => {}
            }
            i += 1;
            continue;
        };
        in_tx.clear();
        if e.lost() {
            return Err(failed(statement, &e));
        }
        let held = locked_at.take();
        if held.is_some() {
            let _ = session.unlock_tables();
        }
        if interrupt::requested() && F::cancelled(&e) {
            session.roll_back();
            return Err(RunError::Interrupted);
        }
        // Where to start again: the transaction's start, the LOCK TABLES (which commits an open
        // transaction, so a locked region starts outside one), or this statement.
        let restart = tx_start.take().or(held).unwrap_or(i);
        if restart != i || role == Role::Commit {
            session.roll_back();
        }
        session.after_failure(i + 1, statement, kind, observer);
        i = retries.retry(
            &statements,
            i,
            restart,
            e.retryable(),
            &e.describe(),
            observer,
            failed(statement, &e),
        )?;
    }
    if locked_at.is_some() {
        // A file that ends holding the lock: release it rather than keep the app waiting.
        session
            .unlock_tables()
            .map_err(|e| failed(&statements[statements.len() - 1], &e))?;
    }
    Ok(())
}
