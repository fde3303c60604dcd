//! How `apply` (and `rehearse`) run a stage, written once for every engine. Connecting, the
//! history and the plan's lock are one interface already ([`crate::db::engine::Engine`],
//! [`super::HistoryStore`]); this is the level below, inside a stage:
//!
//! - what a run is asked to do and who watches it ([`RunOptions`], [`Observer`]), how it ends
//!   ([`RunError`]; an engine's error reads the same to it through [`ServerError`]), and the
//!   retry policy ([`backoff`], [`Retries`]);
//! - a SQL file statement by statement ([`run_file`]), over an engine's way of splitting,
//!   classifying and running one statement ([`FileRun`]);
//! - a backfill walk batch by batch ([`walk`]), over an engine's way of running one batch
//!   ([`Walk`]).
//!
//! PostgreSQL's side is in `run.rs` (which also re-exports the shared types under their old
//! paths), MySQL/MariaDB's in `mysql.rs`.

use std::time::{Duration, Instant};

use crate::db::{DbError, FileStatement};
use crate::error::Pos;
use crate::interrupt;
use crate::plan::BackfillSpec;
use crate::rehearse::values::Probe;

/// How a stage is run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Replaces the value of every `SET [LOCAL] lock_timeout` in the files; also the timeout of
    /// each backfill batch. `None` keeps the files' own value (backfills then use 2s).
    pub lock_timeout: Option<Duration>,
    /// Attempts after the first, for a statement (or transaction) that hit the lock timeout.
    pub retries: u32,
    /// First backoff; doubled per attempt, capped at `max_retry_delay`, with jitter.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Overrides the plan's backfill batch size.
    pub batch_size: Option<u64>,
    /// Sleep between backfill batches, to leave room for replication and the app.
    pub pause: Duration,
    /// Adapt the backfill batch size so a batch takes about this long (`None`: a fixed size).
    pub target_batch_time: Option<Duration>,
    /// PostgreSQL: before each backfill batch, wait while a replica's replay lag
    /// (`pg_stat_replication`) is above this.
    pub max_replica_lag: Option<Duration>,
    /// What else a backfill pauses for (app lock waits, WAL rate, vacuum; see `throttle.rs`).
    pub throttle: super::throttle::Limits,
    /// PostgreSQL: the file's statements up to this one (1-based) committed in an earlier run
    /// and are skipped: a stage that commits per table goes on after its last committed
    /// transaction instead of running the tables before it again.
    pub start_after: usize,
    /// PostgreSQL: the parallel workers one of the stage's scans or index builds may start
    /// (`max_parallel_workers_per_gather` and `max_parallel_maintenance_workers` of the session
    /// that runs the stage, its checks and its backfill); `None` keeps the server's settings.
    /// Parallel workers make a migration's full scans faster by taking CPU the app needs.
    pub parallel_workers: Option<u32>,
}

/// The largest batch the adaptive sizing grows to.
const MAX_ADAPTIVE_BATCH: u64 = 100_000;

/// Sizes backfill batches: fixed, or adapted after each batch so a batch takes about the target
/// time (a batch that took half the target or less doubles the size; one over the target
/// shrinks it in proportion, to no less than a quarter).
#[derive(Clone, Copy, Debug)]
pub struct BatchSizer {
    pub size: u64,
    target: Option<Duration>,
    /// The longest a batch may hold its rows: an app session that needs one of them waits for
    /// the batch to commit, and the pause between batches cannot see that wait (it looks before
    /// a batch, not during one). Half of `--max-app-lock-wait`, so a waiting app session stays
    /// under the limit; `None` when that limit is off.
    ceiling: Option<Duration>,
}

impl BatchSizer {
    pub fn new(
        size: u64,
        target: Option<Duration>,
        max_app_lock_wait: Option<Duration>,
    ) -> BatchSizer {
        BatchSizer {
            size: size.max(1),
            target,
            ceiling: max_app_lock_wait.map(|limit| limit / 2),
        }
    }

    /// After a batch of the current size that took `took`: the new size, if it changed. With a
    /// target the size follows it both ways (never above the ceiling); without one it stays
    /// the plan's, and only shrinks after a batch that held its rows longer than the ceiling.
    pub fn after(&mut self, took: Duration) -> Option<u64> {
        let old = self.size;
        let shrink_to = |limit: Duration| {
            let ratio = (limit.as_secs_f64() / took.as_secs_f64().max(1e-6)).max(0.25);
            ((old as f64 * ratio) as u64).max(1)
        };
        match (self.target, self.ceiling) {
            (Some(target), ceiling) => {
                let target = ceiling.map_or(target, |c| target.min(c));
                if took <= target / 2 {
                    self.size = (old.saturating_mul(2)).min(MAX_ADAPTIVE_BATCH.max(old));
                } else if took > target {
                    self.size = shrink_to(target);
                }
            }
            (None, Some(ceiling)) if took > ceiling => self.size = shrink_to(ceiling),
            (None, _) => {}
        }
        (self.size != old).then_some(self.size)
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_timeout: None,
            retries: 10,
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(30),
            batch_size: None,
            pause: Duration::ZERO,
            target_batch_time: None,
            max_replica_lag: None,
            throttle: super::throttle::Limits::default(),
            start_after: 0,
            parallel_workers: None,
        }
    }
}

pub(crate) const DEFAULT_BATCH_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Hooks for whoever watches a run: `apply` prints retries and progress, `rehearse` also asks
/// for statements to be wrapped in a transaction so it can read their locks before COMMIT.
pub trait Observer {
    /// Run autocommit statements as `BEGIN; statement; COMMIT` so `after` sees their locks.
    fn wrap_statements(&self) -> bool {
        false
    }
    /// Inside the statement's transaction, just before it runs; `session` is the session that
    /// runs it, whatever the engine.
    fn before(&mut self, _session: &mut dyn Probe) -> Result<(), DbError> {
        Ok(())
    }
    /// Inside the statement's transaction, right after it ran (its locks are still held).
    fn after(&mut self, _session: &mut dyn Probe, _statement: &str) -> Result<(), DbError> {
        Ok(())
    }
    fn retrying(&mut self, _what: &str, _attempt: u32, _of: u32, _delay: Duration, _why: &str) {}
    /// Statement `number` (1-based, counting every statement of the file) took effect: it ran
    /// outside a transaction, or the transaction it ran in committed. Session settings (`SET`)
    /// and transaction control never do. `apply` uses this to know what a failed run changed.
    fn took_effect(&mut self, _number: usize) {}
    /// A `COMMIT` of the file (its 1-based number) succeeded: everything up to it took effect.
    fn committed(&mut self, _through: usize) {}
    /// The run skips the file's statements up to this one: they committed in an earlier run.
    fn resuming(&mut self, _after: usize) {}
    /// On MySQL/MariaDB, after each statement of a file succeeded: how long it took and the
    /// rows the server reported affected (an ALTER that copied the table reports every row it
    /// copied; INSTANT and INPLACE changes report none).
    fn ran(&mut self, _statement: &str, _took: Duration, _affected_rows: u64) {}
    fn backfill_start(&mut self, _label: &str, _rows_estimate: Option<u64>, _resume: Option<&str>) {
    }
    /// After each committed batch; `last_key` is where a resumed run starts.
    fn backfill_batch(&mut self, _walked: u64, _updated: u64, _last_key: &str) {}
    /// The adaptive batch size changed (`--target-batch-time`).
    fn batch_size(&mut self, _size: u64, _took: Duration) {}
    /// The backfill waits before its next batch (`--max-replica-lag`, app lock waits, ...), and
    /// why; said when the wait starts and now and then while it lasts.
    fn throttled(&mut self, _why: &str) {}
    /// The backfill's wait for `why` ended after `took`.
    fn paused(&mut self, _took: Duration, _why: &str) {}
    /// Asked before every statement outside a transaction, before each COMMIT and before every
    /// backfill batch: `Err(why)` stops the run there (`apply`: the plan's lock was lost and
    /// could not be taken back).
    fn keep_going(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn backfill_end(&mut self, _walked: u64, _updated: u64) {}
    /// A walk running on the server (a stage's DO block or stored procedure) said it pauses or
    /// goes on ([`crate::db::WALK_PAUSE_NOTICES`]), while the statement still runs. PostgreSQL:
    /// on a session made with [`crate::db::connect_relaying_pauses`] (`apply`'s).
    fn walk_said(&mut self, _line: &str) {}
}

/// Watches nothing.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Debug)]
pub enum RunError {
    /// A statement failed for good (not retryable, or out of retries).
    Failed {
        pos: Option<Pos>,
        statement: String,
        message: String,
        /// The server's error code: the SQLSTATE on PostgreSQL, the error number on MySQL.
        code: Option<String>,
    },
    /// Ctrl-C: stopped at a safe point.
    Interrupted,
    /// Stopped before a statement or batch because the run may no longer go on (the plan's
    /// lock was lost to another apply).
    Stopped(String),
    /// The connection to the server was lost (the server restarted or ended the session, the
    /// network failed) while `statement` ran: whether it took effect is unknown.
    Lost {
        pos: Option<Pos>,
        statement: String,
        message: String,
    },
    /// A backfill walk paused (see `throttle.rs`) longer than `limit` (`--max-pause`) and stopped
    /// before its next batch: every batch done is committed, and a re-run goes on after them.
    PausedTooLong {
        /// What it was waiting for when it stopped.
        why: String,
        paused: Duration,
        limit: Duration,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Failed {
                pos,
                statement,
                message,
                ..
            } => {
                let at = pos
                    .map(|p| format!(" (line {})", p.line))
                    .unwrap_or_default();
                write!(f, "{message}\n  in{at}: {}", one_line(statement, 160))
            }
            RunError::Interrupted => write!(f, "interrupted"),
            RunError::Stopped(why) => write!(f, "stopped: {why}"),
            RunError::Lost {
                pos,
                statement,
                message,
            } => {
                let at = pos
                    .map(|p| format!(" (line {})", p.line))
                    .unwrap_or_default();
                write!(
                    f,
                    "the connection to the server was lost: {message}\n  while running{at}: {}",
                    one_line(statement, 160)
                )
            }
            RunError::PausedTooLong { why, paused, limit } => write!(
                f,
                "the walk paused {}, longer than --max-pause {}, for: {why}\n  it stopped before its next batch: every batch done is kept, and running `safeshift apply` again resumes the walk after the last one (when the app is calm, or with a longer --max-pause; `--max-pause off` waits as long as the cause lasts)",
                humantime::format_duration(Duration::from_millis(paused.as_millis() as u64)),
                humantime::format_duration(*limit)
            ),
        }
    }
}

impl RunError {
    /// A walk paused longer than its limit and stopped between batches: `apply`'s own walk
    /// ([`RunError::PausedTooLong`]), or a walk in the stage's file, which fails with the error
    /// of templates/sql/pause.sql or templates/mysql/pause.sql.
    pub fn paused_too_long(&self) -> bool {
        match self {
            RunError::PausedTooLong { .. } => true,
            RunError::Failed { message, .. } => message.contains(WALK_STOPPED),
            _ => false,
        }
    }
}

/// What the error of a walk on the server that paused longer than its limit says (PostgreSQL:
/// `stopped: the walk paused longer than safeshift.max_pause …`; MySQL/MariaDB: `safeshift: the
/// walk paused longer than @safeshift_max_pause …`).
const WALK_STOPPED: &str = "the walk paused longer than ";

pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Equal jitter: half the capped exponential delay plus a random part of the other half, so
/// retries of many appliers spread out and never spin.
pub(crate) fn backoff(opts: &RunOptions, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    let capped = opts
        .retry_delay
        .saturating_mul(factor)
        .min(opts.max_retry_delay);
    let half = capped / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The retry policy of a file run: each restart point (a statement, or a transaction's first
/// statement) is retried at most `opts.retries` times, with [`backoff`] between tries.
pub(crate) struct Retries<'a> {
    opts: &'a RunOptions,
    attempts: Vec<u32>,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(opts: &'a RunOptions, statements: usize) -> Retries<'a> {
        Retries {
            opts,
            attempts: vec![0; statements],
        }
    }

    /// Statement `i` failed with `why`. When the failure is retryable and retries are left:
    /// tells the observer, waits, and returns where to start again (`restart`: the statement, or
    /// its transaction's first one). Otherwise returns `failure`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn retry(
        &mut self,
        statements: &[FileStatement],
        i: usize,
        restart: usize,
        retryable: bool,
        why: &str,
        observer: &mut dyn Observer,
        failure: RunError,
    ) -> Result<usize, RunError> {
        let attempts = &mut self.attempts[restart];
        if !retryable || *attempts >= self.opts.retries {
            return Err(failure);
        }
        *attempts += 1;
        let delay = backoff(self.opts, *attempts - 1);
        let what = match statements.get(i) {
            Some(statement) if restart == i => format!(
                "line {}: {}",
                statement.pos.line,
                one_line(&statement.text, 60)
            ),
            _ => "the stage's transaction".to_string(),
        };
        observer.retrying(&what, *attempts, self.opts.retries, delay, why);
        sleep(delay)?;
        Ok(restart)
    }
}

/// Sleeps in small slices so Ctrl-C is noticed.
pub(crate) fn sleep(total: Duration) -> Result<(), RunError> {
    let end = Instant::now() + total;
    while Instant::now() < end {
        if interrupt::requested() {
            return Err(RunError::Interrupted);
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    Ok(())
}

/// What a finished backfill did.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackfillDone {
    pub walked: u64,
    pub updated: u64,
}

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
    /// The statement in flight was cancelled (by Ctrl-C's cancel request).
    fn cancelled(&self) -> bool;
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
    fn cancelled(&self) -> bool {
        crate::db::sqlstate(self) == Some(crate::db::QUERY_CANCELED)
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
    fn cancelled(&self) -> bool {
        crate::db::mysql::error_code(self) == Some(crate::db::mysql::QUERY_INTERRUPTED)
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
/// heard before each batch, a batch that gave up on a lock is retried with [`backoff`]
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
        opts.throttle.max_app_lock_wait,
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
                    let delay = backoff(opts, attempt - 1);
                    observer.retrying(
                        &format!("a batch of {label}"),
                        attempt,
                        opts.retries,
                        delay,
                        &e.describe(),
                    );
                    sleep(delay)?;
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
            sleep(opts.pause)?;
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
    let mut retries = Retries::new(opts, statements.len());
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
        let statement = &statements[i];
        let kind = F::classify(&statement.text);
        let role = F::role(kind);
        // Inside an open transaction nothing takes effect before its COMMIT, so the plan's lock
        // is looked at before the COMMIT (and before a statement that commits implicitly), not
        // before each statement: each look is a round trip to the server, and a swap's
        // statements run while it holds ACCESS EXCLUSIVE locks the app queues behind.
        let look = tx_start.is_none()
            || role == Role::Commit
            || (role == Role::Change && F::commits_implicitly(&statement.text));
        let stop = if interrupt::requested() {
            Some(RunError::Interrupted)
        } else if look {
            observer.keep_going().err().map(RunError::Stopped)
        } else {
            None
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
        if interrupt::requested() && e.cancelled() {
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

#[cfg(test)]
mod tests {
    use super::*;

    type Log = std::rc::Rc<std::cell::RefCell<Vec<String>>>;

    /// A session that runs nothing and logs each statement it is given.
    struct Recorder(Log);

    struct NoError;

    impl ServerError for NoError {
        fn describe(&self) -> String {
            String::new()
        }
        fn code(&self) -> Option<String> {
            None
        }
        fn lost(&self) -> bool {
            false
        }
        fn retryable(&self) -> bool {
            false
        }
        fn cancelled(&self) -> bool {
            false
        }
    }

    impl FileRun for Recorder {
        type Error = NoError;
        type Kind = Role;

        fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError> {
            crate::db::statements(text)
        }
        fn classify(text: &str) -> Role {
            match text {
                "BEGIN" => Role::Begin,
                "COMMIT" => Role::Commit,
                _ => Role::Change,
            }
        }
        fn role(kind: Role) -> Role {
            kind
        }
        fn before_file(&mut self, _opts: &RunOptions) -> Result<(), RunError> {
            Ok(())
        }
        fn run_statement(
            &mut self,
            statement: &FileStatement,
            _kind: Role,
            _in_transaction: bool,
            _opts: &RunOptions,
            _observer: &mut dyn Observer,
        ) -> Result<(), NoError> {
            self.0.borrow_mut().push(statement.text.clone());
            Ok(())
        }
        fn changes_nothing(_text: &str) -> bool {
            false
        }
        fn roll_back(&mut self) {}
    }

    /// Logs each look at the plan's lock.
    struct Looks(Log);

    impl Observer for Looks {
        fn keep_going(&mut self) -> Result<(), String> {
            self.0.borrow_mut().push("look".to_string());
            Ok(())
        }
    }

    #[test]
    fn the_plans_lock_is_looked_at_outside_transactions_and_before_commit_only() {
        let log = Log::default();
        let text = "CREATE INDEX CONCURRENTLY i ON t (c);\nBEGIN;\nLOCK TABLE t;\nALTER TABLE t RENAME c TO d;\nCOMMIT;\nDROP INDEX i;\n";
        let (mut session, mut observer) = (Recorder(log.clone()), Looks(log.clone()));
        run_file(&mut session, text, &RunOptions::default(), &mut observer).unwrap();
        // Not before the LOCK or the ALTER: they run while the transaction holds its locks,
        // and nothing they do takes effect before the COMMIT, which is looked at.
        assert_eq!(
            *log.borrow(),
            [
                "look",
                "CREATE INDEX CONCURRENTLY i ON t (c)",
                "look",
                "BEGIN",
                "LOCK TABLE t",
                "ALTER TABLE t RENAME c TO d",
                "look",
                "COMMIT",
                "look",
                "DROP INDEX i"
            ]
        );
    }

    #[test]
    fn batch_sizes_adapt_to_the_target_time() {
        let mut fixed = BatchSizer::new(100, None, None);
        assert_eq!(fixed.after(Duration::from_secs(10)), None);
        let mut sizer = BatchSizer::new(100, Some(Duration::from_millis(200)), None);
        assert_eq!(sizer.after(Duration::from_millis(50)), Some(200));
        assert_eq!(sizer.after(Duration::from_millis(150)), None);
        assert_eq!(sizer.after(Duration::from_millis(400)), Some(100));
        // A very slow batch shrinks it by at most a quarter at a time, never below one row.
        assert_eq!(sizer.after(Duration::from_secs(60)), Some(25));
        let mut tiny = BatchSizer::new(1, Some(Duration::from_millis(10)), None);
        assert_eq!(tiny.after(Duration::from_secs(1)), None);
        let mut big = BatchSizer::new(MAX_ADAPTIVE_BATCH, Some(Duration::from_secs(1)), None);
        assert_eq!(big.after(Duration::from_millis(1)), None);
    }

    #[test]
    fn a_batch_never_holds_its_rows_longer_than_half_the_app_lock_wait_limit() {
        // No target: the plan's size stays until a batch holds its rows past 500 ms.
        let mut fixed = BatchSizer::new(1000, None, Some(Duration::from_secs(1)));
        assert_eq!(fixed.after(Duration::from_millis(400)), None);
        assert_eq!(fixed.after(Duration::from_millis(1000)), Some(500));
        assert_eq!(
            fixed.after(Duration::from_millis(100)),
            None,
            "it does not grow back"
        );
        // A target above the ceiling is held to the ceiling.
        let mut sizer = BatchSizer::new(
            1000,
            Some(Duration::from_secs(5)),
            Some(Duration::from_secs(1)),
        );
        assert_eq!(sizer.after(Duration::from_millis(1000)), Some(500));
        assert_eq!(sizer.after(Duration::from_millis(200)), Some(1000));
        // With the limit off, nothing changes without a target.
        let mut off = BatchSizer::new(1000, None, None);
        assert_eq!(off.after(Duration::from_secs(30)), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let opts = RunOptions {
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(1),
            ..RunOptions::default()
        };
        for attempt in 0..30 {
            let d = backoff(&opts, attempt);
            let cap = (Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(20)))
                .min(Duration::from_secs(1));
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} vs {cap:?}"
            );
        }
    }
}
