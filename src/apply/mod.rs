//! `safeshift apply` and `safeshift status`: run one stage of a written plan on a real database,
//! and show where a plan stands there. The rules here are the same on every engine; what differs
//! (connecting, running statements, the history table) sits behind [`Engine`], [`Target`] and
//! [`HistoryStore`], with PostgreSQL's in `run.rs` / `history.rs` and MySQL/MariaDB's in
//! `mysql.rs` / `mysql_history.rs`. Inside a stage, the statement loop and the backfill walk are
//! written once too (`engine.rs`), over each engine's way of running one statement or batch.
//!
//! A stage runs only when the stages it depends on are recorded as done, and a done stage is not
//! run again unless asked. `apply` tracks which statements of a stage took effect; a `down.sql`
//! is only ever run automatically over work this run did and that failed: a run in which nothing
//! took effect is not rolled back (a transactional stage was rolled back by PostgreSQL), and a
//! `--rerun` of a done stage that fails never is (the down.sql would undo the earlier success),
//! and keeps the stage done while it still passes its verification. The cause of every failure
//! is recorded. The stage's checks run under the stage's lock timeout and are retried like its
//! statements. Ctrl-C stops at a safe point and records where a backfill got, so the same
//! command resumes it.

pub(crate) mod engine;
pub mod history;
pub mod mysql;
mod mysql_history;
pub mod run;
pub mod target;
pub mod throttle;
pub mod throttle_lock;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::db::engine::{Engine, Mysql, Postgres};
use crate::db::{self, DbError};
use crate::error::Error;
use crate::interrupt;
use crate::plan_dir::{CheckRecord, PlanDir, StageRecord};
use crate::rehearse::values::Probe;
pub use history::{History, HistoryStore, Record, Status};
pub use run::{Observer, RunError, RunOptions};
pub use target::Target;

/// What `apply` was asked to do.
pub struct ApplyRequest<'a> {
    pub plan: &'a PlanDir,
    pub database_url: &'a str,
    pub stage: usize,
    pub run: RunOptions,
    /// Run `down.sql` when the stage fails.
    pub rollback: bool,
    /// Run a stage recorded as done again.
    pub rerun: bool,
    /// For an application stage: the person confirms the deploy is complete.
    pub confirm: bool,
    /// Draw a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Run stage files edited since `safeshift plan` wrote them.
    pub allow_edited: bool,
}

/// How `apply` ended; each maps to an exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Not started: dependencies not done, already done, a check failed, an application stage
    /// not confirmed, or another apply holds the plan.
    Refused,
    Failed,
    Interrupted,
    /// The connection to the server was lost while the stage ran (a restart, a killed session,
    /// the network): what the statement in flight did is unknown.
    Lost,
}

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::Refused => 3,
            Outcome::Lost => 4,
            Outcome::Interrupted => 130,
        }
    }
}

fn db_error(e: DbError) -> Error {
    Error::Database(e.to_string())
}

fn werr(e: std::io::Error) -> Error {
    Error::Write {
        path: "standard output".into(),
        message: e.to_string(),
    }
}

/// A plan runs on the engine it was made for: a MySQL plan sent to PostgreSQL (or the reverse)
/// would fail on its first statement, so refuse before touching anything.
pub fn check_url(plan: &PlanDir, url: &str) -> Result<(), Error> {
    let mysql_url = db::mysql::is_mysql_url(url);
    if plan.is_mysql() == mysql_url {
        return Ok(());
    }
    Err(Error::Usage(if mysql_url {
        format!(
            "{}: a PostgreSQL plan, but --database-url {} is a MySQL/MariaDB URL",
            plan.root.display(),
            db::redact_url(url)
        )
    } else {
        format!(
            "{}: a {} plan needs a mysql://user@host:3306/DATABASE URL (--database-url or $DATABASE_URL), not {}",
            plan.root.display(),
            plan.plan.dialect,
            db::redact_url(url)
        )
    }))
}

/// Runs one stage. Messages go to `out`; the progress bar, if any, to stderr.
pub fn apply(req: &ApplyRequest, out: &mut dyn Write) -> Result<Outcome, Error> {
    let plan = req.plan;
    let total = plan.plan.stages.len();
    let stage = plan.stage(req.stage).ok_or_else(|| {
        Error::Usage(format!(
            "{}: there is no stage {} (the plan has {total} stage(s))",
            plan.root.display(),
            req.stage
        ))
    })?;
    check_url(plan, req.database_url)?;
    if plan.is_mysql()
        && req.run.max_replica_lag.is_some()
        && req.run.throttle.replica_urls.is_empty()
    {
        return Err(Error::Usage(
            "--max-replica-lag on MySQL/MariaDB needs the replicas: name each with --replica-url (a primary does not show its replicas' lag)".into(),
        ));
    }
    if !plan.is_mysql() && !req.run.throttle.replica_urls.is_empty() {
        return Err(Error::Usage(
            "--replica-url is for MySQL/MariaDB: on PostgreSQL, --max-replica-lag reads the lag of every replica from the primary's pg_stat_replication".into(),
        ));
    }
    if plan.is_mysql() && req.run.parallel_workers.is_some_and(|n| n > 0) {
        return Err(Error::Usage(
            "--parallel-workers works on PostgreSQL only: MariaDB runs each statement on one thread, and safeshift does not set MySQL 8's innodb_parallel_read_threads or innodb_ddl_threads (leave it out, or 0, for a MySQL/MariaDB plan)".into(),
        ));
    }
    if plan.is_mysql() && req.run.throttle.max_wal_rate.is_some() {
        return Err(Error::Usage(
            "--max-wal-rate works on PostgreSQL only (set it to off, or leave it out, for a MySQL/MariaDB plan)".into(),
        ));
    }
    interrupt::install();
    if plan.is_mysql() {
        // The session that holds the throttle lock while a replica lags (throttle_lock.rs)
        // connects to the server the stage runs on.
        let mut run = req.run.clone();
        run.throttle.primary_url = Some(req.database_url.to_string());
        let req = &ApplyRequest { run, ..*req };
        apply_on::<Mysql>(req, stage, out)
    } else {
        apply_on::<Postgres>(req, stage, out)
    }
}

/// Connects to the engine `E`: a control session that keeps the history and holds the plan's
/// lock, and a second session (made once the stage may run) that runs its statements.
fn apply_on<E: Engine>(
    req: &ApplyRequest,
    stage: &StageRecord,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let url = req.database_url;
    let mut control = E::session(url).map_err(db_error)?;
    let mut history = E::open_history(&mut control, &req.plan.id, url).map_err(db_error)?;
    let connect = || -> Result<Box<dyn Target>, Error> {
        let conn = E::session(url).map_err(db_error)?;
        E::cancel_on_interrupt(&conn, url);
        Ok(Box::new(conn))
    };
    apply_stage(req, stage, history.as_mut(), &connect, out)
}

/// The engine-neutral part of `apply`: the ordering rules, the history, the checks, and what
/// happens after a failure.
fn apply_stage(
    req: &ApplyRequest,
    stage: &StageRecord,
    history: &mut dyn HistoryStore,
    connect: &dyn Fn() -> Result<Box<dyn Target>, Error>,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let plan = req.plan;
    let total = plan.plan.stages.len();
    if !history.lock().map_err(db_error)? {
        writeln!(
            out,
            "refused: another `safeshift apply` is running this plan on this database"
        )
        .map_err(werr)?;
        return Ok(Outcome::Refused);
    }
    history.adopt(&plan.legacy_id).map_err(db_error)?;
    let records = history.records().map_err(db_error)?;
    let head = format!("stage {} of {total}: {}", stage.index, stage.name);

    let missing: Vec<String> = stage
        .depends_on
        .iter()
        .filter(|d| records.get(d).map(|r| r.status) != Some(Status::Done))
        .map(|d| d.to_string())
        .collect();
    if !missing.is_empty() {
        writeln!(
            out,
            "refused: {head}\n  it needs stage(s) {} done first (see `safeshift status`)",
            missing.join(", ")
        )
        .map_err(werr)?;
        return Ok(Outcome::Refused);
    }
    let previous = records.get(&stage.index);
    if previous.map(|r| r.status) == Some(Status::Done) && !req.rerun {
        writeln!(
            out,
            "refused: {head} is already done{}\n  pass --rerun to run it again",
            previous
                .and_then(|r| r.finished_at.as_deref())
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        )
        .map_err(werr)?;
        return Ok(Outcome::Refused);
    }

    if stage.is_application() {
        return application_stage(req, stage, &head, history, out);
    }
    let edited = plan.edited_files(stage)?;
    if !edited.is_empty() {
        if stage.runs_from_plan_json() {
            writeln!(
                out,
                "refused: {head}\n  {}\n  apply runs a backfill from plan.json's description (batch by batch, resumable), not from its up.sql: re-plan with the expression you want (a `-- safeshift: backfill = …` directive or --backfill), or run the edited file by hand",
                edited.join("\n  ")
            )
            .map_err(werr)?;
            return Ok(Outcome::Refused);
        }
        if !req.allow_edited {
            writeln!(
                out,
                "refused: {head}\n  {}\n  re-plan, or pass --allow-edited to run the files as they are now",
                edited.join("\n  ")
            )
            .map_err(werr)?;
            return Ok(Outcome::Refused);
        }
        writeln!(out, "warning (--allow-edited): {}", edited.join("; ")).map_err(werr)?;
    }

    let mut migration = connect()?;
    let migration = migration.as_mut();
    if let Some(workers) = req.run.parallel_workers {
        migration
            .limit_parallel_workers(workers)
            .map_err(|e| Error::Database(format!("limiting parallel workers: {e}")))?;
    }
    match check(migration, stage, &req.run, out, |s| &s.before)? {
        Check::Passed => {}
        Check::Failed(failure) => {
            writeln!(out, "refused: {head}\n  before it can run: {failure}").map_err(werr)?;
            return Ok(Outcome::Refused);
        }
        Check::Unknown(_) if interrupt::requested() => {
            writeln!(
                out,
                "interrupted before {head} started: nothing was changed"
            )
            .map_err(werr)?;
            return Ok(Outcome::Interrupted);
        }
        Check::Unknown(why) => {
            writeln!(
                out,
                "refused: {head}\n  its checks could not run: {why}\n  nothing was changed; run the same command again at a quieter time (--retries, --lock-timeout)"
            )
            .map_err(werr)?;
            return Ok(Outcome::Refused);
        }
    }
    // A re-run of a stage an earlier run finished: whatever happens, that earlier success is
    // never undone (its down.sql is not run), and the history keeps it unless the database no
    // longer passes the stage's verification.
    let rerun_of_done = previous.map(|r| r.status) == Some(Status::Done);
    let done_at = previous
        .and_then(|r| r.finished_at.clone())
        .unwrap_or_default();
    let earlier_partial = previous.is_some_and(|r| {
        matches!(
            r.status,
            Status::Failed | Status::Interrupted | Status::Running
        )
    });

    // A backfill resumes after its last batch; a stage that commits per table after its last
    // committed transaction (`sql:N`), also after a failure: those transactions stay. A failed
    // stage keeps a resume point only when its run ended where it can go on from: a per-table
    // stage's `sql:N`, or the last batch of a walk that paused longer than --max-pause.
    let resume = previous
        .filter(|r| {
            matches!(r.status, Status::Interrupted | Status::Running)
                || (r.status == Status::Failed && r.resume_key.is_some())
        })
        .and_then(|r| r.resume_key.clone());
    history.start(stage.index, &stage.name).map_err(db_error)?;
    writeln!(
        out,
        "applying {head}\n  {} · {}",
        stage.phase,
        if stage.transactional {
            "one transaction".to_string()
        } else if !stage.transactions.is_empty() {
            format!(
                "one transaction per table ({}), each committed on its own",
                stage.transactions.len()
            )
        } else {
            "statement by statement, each safe to re-run".to_string()
        }
    )
    .map_err(werr)?;
    let started = Instant::now();
    let (result, effect, resume_key) = {
        let mut printer = Printer {
            out: &mut *out,
            history: &mut *history,
            stage: stage.index,
            step: 0,
            bar: None,
            progress: req.progress && std::io::stderr().is_terminal(),
            last_line: Instant::now(),
            started: Instant::now(),
            estimate: None,
            effect: Effect::default(),
            rows_before: 0,
            per_table: !stage.transactions.is_empty(),
            resume_key: resume.clone(),
        };
        let result = run_stage(migration, plan, stage, &req.run, resume, &mut printer);
        (result, printer.effect, printer.resume_key)
    };
    let took =
        humantime::format_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
    let result = match result {
        Ok(()) => match check(migration, stage, &req.run, out, |s| &s.verify)? {
            Check::Passed => Ok(()),
            Check::Failed(failure) => Err(RunError::Failed {
                pos: None,
                statement: String::new(),
                message: format!("verification failed: {failure}"),
                code: None,
            }),
            Check::Unknown(why) => {
                // Every statement ran; only the look afterwards failed. Nothing to undo.
                let message = format!(
                    "Every statement of the stage ran, but its verification could not run: {why}\nNothing was rolled back. Run the same command again{} to verify it (each statement is safe to re-run).",
                    if rerun_of_done { " with --rerun" } else { "" }
                );
                record(
                    history,
                    stage.index,
                    if rerun_of_done {
                        Status::Done
                    } else {
                        Status::Failed
                    },
                    Some(&message),
                    out,
                )?;
                writeln!(out, "NOT VERIFIED after {took}: {message}").map_err(werr)?;
                return Ok(Outcome::Failed);
            }
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            record(history, stage.index, Status::Done, None, out)?;
            writeln!(out, "done in {took}").map_err(werr)?;
            if let Some(next) = plan.stage(stage.index + 1) {
                writeln!(
                    out,
                    "next: stage {} — {}{}",
                    next.index,
                    next.name,
                    if next.is_application() {
                        " (a deploy; then `--confirm` it)"
                    } else {
                        ""
                    }
                )
                .map_err(werr)?;
            } else {
                writeln!(out, "that was the last stage: the plan is complete").map_err(werr)?;
            }
            Ok(Outcome::Done)
        }
        Err(RunError::Interrupted) if rerun_of_done => {
            let message = format!(
                "A --rerun was interrupted (Ctrl-C) after {took}; {}. Nothing was rolled back: the stage's earlier success stands and it stays done.",
                effect.describe()
            );
            migration.roll_back_open_transaction();
            record(history, stage.index, Status::Done, Some(&message), out)?;
            writeln!(out, "interrupted: {message}").map_err(werr)?;
            Ok(Outcome::Interrupted)
        }
        Err(RunError::Interrupted) => {
            record(
                history,
                stage.index,
                Status::Interrupted,
                Some("interrupted (Ctrl-C)"),
                out,
            )?;
            writeln!(
                out,
                "interrupted after {took}: {}\n  run the same command to continue",
                if stage.transactional {
                    "the stage's transaction was rolled back; nothing changed"
                } else if !stage.transactions.is_empty() {
                    "the tables whose transaction committed stay changed; the run goes on after them"
                } else if stage.runs_from_plan_json() {
                    "rows filled so far stay filled; the backfill resumes where it stopped"
                } else if stage.is_backfill() {
                    "the batches done stay done (each committed with its progress); the walk resumes after the last one"
                } else {
                    "statements that finished stay done; each is safe to run again"
                }
            )
            .map_err(werr)?;
            Ok(Outcome::Interrupted)
        }
        Err(RunError::Stopped(why)) => {
            // Another apply may own the plan now: its history and its work are left alone.
            writeln!(
                out,
                "STOPPED after {took}: {why}\n{}; nothing was rolled back and the history was not written (the apply that holds the lock owns it now). See `safeshift status`.",
                effect.describe()
            )
            .map_err(werr)?;
            migration.roll_back_open_transaction();
            Ok(Outcome::Lost)
        }
        Err(lost @ RunError::Lost { .. }) => {
            let message = format!(
                "{lost}\n{}; whether the statement that was running took effect is unknown. Nothing was rolled back (the session is gone). Inspect the database and `safeshift status`, then run the same command again{}: every statement is safe to re-run.",
                effect.describe(),
                if rerun_of_done { " with --rerun" } else { "" }
            );
            writeln!(out, "CONNECTION LOST after {took}: {message}").map_err(werr)?;
            let status = if rerun_of_done {
                Status::Done
            } else {
                Status::Failed
            };
            // The history's own session may be gone too (a server restart).
            if let Err(e) = record(history, stage.index, status, Some(&message), out) {
                writeln!(
                    out,
                    "could not record it in the history either ({e}): it still says running, which `safeshift status` shows as dead"
                )
                .map_err(werr)?;
            }
            Ok(Outcome::Lost)
        }
        Err(stop) if stop.paused_too_long() && !rerun_of_done => {
            // A walk stops between batches, so there is nothing half done to undo, and undoing
            // the batches done (a backfill's down.sql changes nothing anyway) would only make
            // the re-run do them again: the stage fails, and the same command goes on.
            writeln!(out, "FAILED after {took}: {stop}").map_err(werr)?;
            migration.roll_back_open_transaction();
            let message = format!(
                "{}; nothing was rolled back: the walk stopped between two batches and every batch it committed stays. Run the same command again when the app is calm: the walk goes on where it stopped.",
                effect.describe()
            );
            writeln!(out, "{message}").map_err(werr)?;
            let text = format!("failed: {stop}\n{message}");
            record(history, stage.index, Status::Failed, Some(&text), out)?;
            if let Some(key) = resume_key.filter(|_| matches!(stop, RunError::PausedTooLong { .. }))
            {
                // Recording the failure dropped the resume point; the re-run starts from it.
                // Best effort: without it the walk starts over and skips the rows already filled.
                let _ = history.progress(stage.index, &key);
            }
            Ok(Outcome::Failed)
        }
        Err(failure) => {
            writeln!(out, "FAILED after {took}: {failure}").map_err(werr)?;
            let (status, message) = if rerun_of_done {
                after_failed_rerun(req, stage, migration, &failure, &effect, &done_at, out)?
            } else {
                roll_back(
                    req,
                    stage,
                    migration,
                    &failure,
                    &effect,
                    earlier_partial,
                    out,
                )?
            };
            writeln!(out, "{message}").map_err(werr)?;
            // The history keeps the cause, not only what was done about it.
            let text = format!("failed: {failure}\n{message}");
            record(history, stage.index, status, Some(&text), out)?;
            Ok(Outcome::Failed)
        }
    }
}

/// Records how the stage ended. When the history's session was lost meanwhile (a server
/// restart, a dropped connection), connects again and retakes the plan's lock first, so the
/// record is not lost with it.
fn record(
    history: &mut dyn HistoryStore,
    stage: usize,
    status: Status,
    message: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let Err(first) = history.finish(stage, status, message) else {
        return Ok(());
    };
    writeln!(
        out,
        "the history's session is gone ({first}); connecting again to record stage {stage} as {}…",
        status.as_str()
    )
    .map_err(werr)?;
    if !history.reconnect().map_err(db_error)? {
        return Err(Error::Database(format!(
            "stage {stage} ended {} but another apply took the plan's lock meanwhile, so it was not recorded: see `safeshift status`",
            status.as_str()
        )));
    }
    history.finish(stage, status, message).map_err(db_error)
}

/// What a run changed before it stopped: the statements of the stage's file that took effect
/// (1-based), and the rows a backfill filled.
#[derive(Debug, Default, Clone)]
pub struct Effect {
    pub statements: Vec<usize>,
    pub rows_filled: u64,
    pub batches: u64,
}

impl Effect {
    pub fn is_nothing(&self) -> bool {
        self.statements.is_empty() && self.batches == 0
    }

    /// "statements 1–3 took effect", "12 rows were filled", "nothing took effect".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.statements.is_empty() {
            parts.push(format!(
                "{} {} of the stage's file took effect",
                if self.statements.len() == 1 {
                    "statement"
                } else {
                    "statements"
                },
                ranges(&self.statements)
            ));
        }
        if self.batches > 0 {
            parts.push(format!(
                "{} batch(es) of the backfill committed ({} row(s) filled)",
                self.batches, self.rows_filled
            ));
        }
        if parts.is_empty() {
            "no statement of this run took effect".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// `[1, 2, 3, 5]` → `1–3, 5`.
fn ranges(numbers: &[usize]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}–{end}")
        });
        i += 1;
    }
    out.join(", ")
}

fn lock_hint(plan: &PlanDir, failure: &RunError) -> &'static str {
    let code = match failure {
        RunError::Failed {
            code: Some(code), ..
        } => code.as_str(),
        _ => "",
    };
    if plan.is_mysql() {
        if code == db::mysql::LOCK_WAIT_TIMEOUT.to_string() {
            " It kept waiting for a lock: find the blocker with `SELECT ID, TIME, STATE, INFO FROM information_schema.PROCESSLIST` (an idle session with an open transaction on the table holds its metadata lock; see also information_schema.INNODB_TRX), or retry at a quieter time (--retries, --lock-timeout)."
        } else {
            ""
        }
    } else if code == db::LOCK_NOT_AVAILABLE {
        " It kept waiting for a lock: find the blocker with `SELECT pid, state, query FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids(<pid>))`, or retry at a quieter time (--retries, --lock-timeout)."
    } else {
        ""
    }
}

/// After a failed `--rerun` of a stage an earlier run finished: nothing is rolled back (the
/// down.sql would undo the earlier success: drop a valid index, remove a NOT NULL). The stage
/// stays done as long as the database still passes its verification.
fn after_failed_rerun(
    req: &ApplyRequest,
    stage: &StageRecord,
    migration: &mut dyn Target,
    failure: &RunError,
    effect: &Effect,
    done_at: &str,
    out: &mut dyn Write,
) -> Result<(Status, String), Error> {
    migration.roll_back_open_transaction();
    let hint = lock_hint(req.plan, failure);
    let base = format!(
        "This was a --rerun of a stage already done{}; {}. Nothing was rolled back: a down.sql only undoes what a failed run did itself, and this stage's work was finished by an earlier run.{hint}",
        if done_at.is_empty() {
            String::new()
        } else {
            format!(" ({done_at})")
        },
        effect.describe()
    );
    Ok(
        match check(migration, stage, &req.run, out, |s| &s.verify)? {
            Check::Failed(why) => (
                Status::Failed,
                format!(
                    "{base}\nThe stage's verification no longer passes: {why}\nInspect the database before going on."
                ),
            ),
            Check::Passed | Check::Unknown(_) => {
                (Status::Done, format!("{base} The stage stays done."))
            }
        },
    )
}

/// After a failure of a stage that was not done: undo what this run did, and only that, and say
/// what to do next. A run in which nothing took effect needs no rollback (and its down.sql, run
/// behind the same lock, would only fail too).
fn roll_back(
    req: &ApplyRequest,
    stage: &StageRecord,
    migration: &mut dyn Target,
    failure: &RunError,
    effect: &Effect,
    earlier_partial: bool,
    out: &mut dyn Write,
) -> Result<(Status, String), Error> {
    let lock_hint = lock_hint(req.plan, failure);
    let earlier = if earlier_partial {
        " What an earlier, unfinished run of this stage applied stays as it was (see `safeshift status`)."
    } else {
        ""
    };
    if stage.transactional && effect.is_nothing() {
        return Ok((
            Status::Failed,
            format!(
                "The stage ran in one transaction, which was rolled back: nothing changed.{lock_hint} Fix the cause and run the same command again."
            ),
        ));
    }
    if effect.is_nothing() {
        migration.roll_back_open_transaction();
        return Ok((
            Status::Failed,
            format!(
                "Nothing changed: {}, so there was nothing to roll back (down.sql was not run).{earlier}{lock_hint} Fix the cause and run the same command again.",
                effect.describe()
            ),
        ));
    }
    let applied = effect.describe();
    if !stage.transactions.is_empty() && !matches!(failure, RunError::Lost { .. }) {
        // Each committed transaction is the whole change of its tables, which the app versions
        // live now work with: keep them, and go on from the one that failed on the next run.
        // (Rolling them back would take the locks of every table again, behind the same holder.)
        return Ok((
            Status::Failed,
            format!(
                "{applied}: the transactions before the one that failed committed and stay (each is the whole change of its tables); the one that failed was rolled back.{lock_hint} Fix the cause and run the same command again: it goes on from the transaction that failed. To undo the stage instead: `{}`.",
                stage
                    .down
                    .as_deref()
                    .map(|d| target::client_command(&req.plan.plan.dialect, &req.plan.root.join(d)))
                    .unwrap_or_else(|| "it has no down.sql (a point of no return)".to_string())
            ),
        ));
    }
    let Some(down) = stage.down.as_deref() else {
        return Ok((
            Status::Failed,
            format!(
                "{applied}. The stage has no down.sql (a point of no return); what took effect stays applied.{lock_hint} Fix the cause and run it again: every statement is safe to re-run."
            ),
        ));
    };
    if !req.rollback {
        return Ok((
            Status::Failed,
            format!(
                "{applied}. Not rolled back (--no-rollback): what took effect stays applied.{lock_hint} Run it again to continue, or undo it with `{}`.",
                target::client_command(&req.plan.plan.dialect, &req.plan.root.join(down))
            ),
        ));
    }
    writeln!(out, "{applied}; rolling back with {down}…").map_err(werr)?;
    let text = req.plan.read_sql(down)?;
    migration.roll_back_open_transaction();
    match migration.run_sql(&text, &req.run, &mut run::Quiet) {
        Ok(()) => Ok((
            Status::RolledBack,
            format!(
                "{applied}. Rolled back with {down}: the schema is as it was before the stage.{lock_hint} Fix the cause and run the same command again."
            ),
        )),
        Err(e) => Ok((
            Status::Failed,
            format!(
                "{applied}, and the rollback failed too: {e}\n  The stage is half applied. Inspect the database, finish or undo it by hand ({}), then run the stage again.",
                req.plan.root.join(down).display()
            ),
        )),
    }
}

fn application_stage(
    req: &ApplyRequest,
    stage: &StageRecord,
    head: &str,
    history: &mut dyn HistoryStore,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    if !req.confirm {
        writeln!(
            out,
            "{head} is an application deploy; safeshift cannot do it for you."
        )
        .map_err(werr)?;
        for step in &stage.steps {
            for line in &step.app {
                writeln!(out, "  - {line}").map_err(werr)?;
            }
        }
        writeln!(
            out,
            "Checklist: {}\nWhen every instance runs the new version, record it:\n  safeshift apply {} --stage {} --database-url … --confirm",
            req.plan.root.join(&stage.dir).join("CHECKLIST.md").display(),
            req.plan.root.display(),
            stage.index
        )
        .map_err(werr)?;
        return Ok(Outcome::Refused);
    }
    history.start(stage.index, &stage.name).map_err(db_error)?;
    history
        .finish(stage.index, Status::Done, Some("deploy confirmed"))
        .map_err(db_error)?;
    writeln!(out, "recorded {head} as deployed").map_err(werr)?;
    Ok(Outcome::Done)
}

/// Runs the stage's SQL; backfills are walked batch by batch from their plan.json description.
pub fn run_stage(
    target: &mut dyn Target,
    plan: &PlanDir,
    stage: &StageRecord,
    opts: &RunOptions,
    resume: Option<String>,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let specs: Vec<_> = stage
        .steps
        .iter()
        .filter_map(|s| s.backfill.as_ref())
        .collect();
    if stage.runs_from_plan_json() {
        // Resume keys are `<step>:<key>`: a stage may hold several backfills.
        let (from_step, key) = match resume.as_deref().and_then(|r| r.split_once(':')) {
            Some((step, key)) => (step.parse().unwrap_or(0), Some(key.to_string())),
            None => (0, None),
        };
        for (i, spec) in specs.iter().enumerate().skip(from_step) {
            let resume = if i == from_step { key.clone() } else { None };
            let mut tagged = StepTag {
                inner: &mut *observer,
                step: i,
            };
            target.run_backfill(spec, opts, resume, &mut tagged)?;
        }
        return Ok(());
    }
    let Some(up) = stage.up.as_deref() else {
        return Ok(());
    };
    let text = plan.read_sql(up).map_err(|e| RunError::Failed {
        pos: None,
        statement: String::new(),
        message: e.to_string(),
        code: None,
    })?;
    let committed = resume
        .as_deref()
        .and_then(|r| r.strip_prefix("sql:"))
        .and_then(|n| n.parse::<usize>().ok());
    match committed {
        Some(through) if !stage.transactions.is_empty() => {
            observer.resuming(through);
            let opts = RunOptions {
                start_after: through,
                ..opts.clone()
            };
            target.run_sql(&text, &opts, observer)
        }
        _ => target.run_sql(&text, opts, observer),
    }
}

/// Prefixes backfill resume keys with the step they belong to.
struct StepTag<'a> {
    inner: &'a mut dyn Observer,
    step: usize,
}

impl Observer for StepTag<'_> {
    fn wrap_statements(&self) -> bool {
        self.inner.wrap_statements()
    }
    fn before(&mut self, session: &mut dyn Probe) -> Result<(), DbError> {
        self.inner.before(session)
    }
    fn after(&mut self, session: &mut dyn Probe, statement: &str) -> Result<(), DbError> {
        self.inner.after(session, statement)
    }
    fn retrying(&mut self, what: &str, attempt: u32, of: u32, delay: Duration, why: &str) {
        self.inner.retrying(what, attempt, of, delay, why)
    }
    fn took_effect(&mut self, number: usize) {
        self.inner.took_effect(number)
    }
    fn committed(&mut self, through: usize) {
        self.inner.committed(through)
    }
    fn ran(&mut self, statement: &str, took: Duration, affected_rows: u64) {
        self.inner.ran(statement, took, affected_rows)
    }
    fn backfill_start(&mut self, label: &str, rows: Option<u64>, resume: Option<&str>) {
        self.inner.backfill_start(label, rows, resume)
    }
    fn backfill_batch(&mut self, walked: u64, updated: u64, last_key: &str) {
        let key = format!("{}:{last_key}", self.step);
        self.inner.backfill_batch(walked, updated, &key)
    }
    fn backfill_end(&mut self, walked: u64, updated: u64) {
        self.inner.backfill_end(walked, updated)
    }
    fn batch_size(&mut self, size: u64, took: Duration) {
        self.inner.batch_size(size, took)
    }
    fn throttled(&mut self, why: &str) {
        self.inner.throttled(why)
    }
    fn paused(&mut self, took: Duration, why: &str) {
        self.inner.paused(took, why)
    }
    fn keep_going(&mut self) -> Result<(), String> {
        self.inner.keep_going()
    }
    fn walk_said(&mut self, line: &str) {
        self.inner.walk_said(line)
    }
}

/// What the stage's checks said.
enum Check {
    Passed,
    /// A check's answer was not the expected one.
    Failed(String),
    /// A check could not run (it kept waiting for a lock, or the query failed).
    Unknown(String),
}

/// Runs the stage's checks (`before` or `verify`) under the stage's lock timeout, retrying one
/// that gave up waiting for a lock like a statement, and returns the first failure. Checks meant
/// for a person (`-- check your deploy tool…`) are skipped.
fn check(
    target: &mut dyn Target,
    stage: &StageRecord,
    opts: &RunOptions,
    out: &mut dyn Write,
    which: impl Fn(&crate::plan_dir::StepRecord) -> &Vec<CheckRecord>,
) -> Result<Check, Error> {
    let checks: Vec<&CheckRecord> = stage
        .steps
        .iter()
        .flat_map(|s| which(s).iter())
        .filter(|c| !c.is_manual())
        .collect();
    if checks.is_empty() {
        return Ok(Check::Passed);
    }
    let timeout = opts.lock_timeout.unwrap_or(run::DEFAULT_BATCH_LOCK_TIMEOUT);
    if let Err(e) = target.set_lock_timeout(Some(timeout)) {
        return Ok(Check::Unknown(format!("cannot set the lock timeout: {e}")));
    }
    let result = run_checks(target, &checks, opts, out);
    let _ = target.set_lock_timeout(None);
    result
}

fn run_checks(
    target: &mut dyn Target,
    checks: &[&CheckRecord],
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<Check, Error> {
    for check in checks {
        let mut attempt = 0;
        let answer = loop {
            match target.first_value(&check.query) {
                Ok(answer) => break answer,
                Err(e) if e.lock_wait && attempt < opts.retries && !interrupt::requested() => {
                    attempt += 1;
                    let delay = run::backoff(opts, attempt - 1);
                    writeln!(
                        out,
                        "  retry {attempt}/{} of check `{}` in {}: {}",
                        opts.retries,
                        check.what,
                        humantime::format_duration(Duration::from_millis(delay.as_millis() as u64)),
                        e.message
                    )
                    .map_err(werr)?;
                    if run::sleep(delay).is_err() {
                        return Ok(Check::Unknown(format!(
                            "check `{}`: interrupted",
                            check.what
                        )));
                    }
                }
                Err(e) => {
                    return Ok(Check::Unknown(format!(
                        "check `{}`: {}{}",
                        check.what,
                        e.message,
                        if e.lock_wait {
                            " (it kept waiting for a lock another session holds)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        };
        let ok = match check.expect.as_str() {
            "no rows" => answer.is_none(),
            expect => answer.as_deref() == Some(expect),
        };
        if !ok {
            return Ok(Check::Failed(format!(
                "{} — expected {}, got {}\n  query: {}",
                check.what,
                check.expect,
                answer.as_deref().unwrap_or("no rows"),
                check.query
            )));
        }
    }
    Ok(Check::Passed)
}

/// Tells the person at the terminal what is happening; records backfill progress.
struct Printer<'a> {
    out: &'a mut dyn Write,
    history: &'a mut dyn HistoryStore,
    stage: usize,
    step: usize,
    bar: Option<ProgressBar>,
    progress: bool,
    last_line: Instant,
    started: Instant,
    estimate: Option<u64>,
    effect: Effect,
    /// Rows filled by the stage's earlier backfills (a stage may hold several).
    rows_before: u64,
    /// The stage commits per table: each COMMIT is recorded as the point to go on from.
    per_table: bool,
    /// Where the run would go on from: the resume point it started at, then each batch's.
    resume_key: Option<String>,
}

impl Observer for Printer<'_> {
    fn took_effect(&mut self, number: usize) {
        self.effect.statements.push(number);
    }

    fn resuming(&mut self, after: usize) {
        let _ = writeln!(
            self.out,
            "  going on after statement {after}: the transactions up to it committed in an earlier run"
        );
    }

    fn committed(&mut self, through: usize) {
        if self.per_table {
            // Best effort: without it a failed run's re-run starts at the first table again,
            // where its first statement fails loudly ("already exists") rather than doing harm.
            let _ = self.history.progress(self.stage, &format!("sql:{through}"));
        }
    }

    /// The run goes on only while this apply holds the plan's lock: when its session was lost
    /// (and with it the lock), it connects again and retakes the lock, or stops.
    fn keep_going(&mut self) -> Result<(), String> {
        if let Ok(true) = self.history.holds_lock() {
            return Ok(());
        }
        let _ = writeln!(
            self.out,
            "  the plan's lock is gone (its session was lost); connecting again to take it back…"
        );
        match self.history.reconnect() {
            Ok(true) => Ok(()),
            Ok(false) => Err(
                "the plan's lock was lost and another `safeshift apply` holds it now".to_string(),
            ),
            Err(e) => Err(format!(
                "the plan's lock was lost and the server cannot be reached to take it back: {e}"
            )),
        }
    }

    fn retrying(&mut self, what: &str, attempt: u32, of: u32, delay: Duration, why: &str) {
        let delay = humantime::format_duration(Duration::from_millis(delay.as_millis() as u64));
        let line = format!("  retry {attempt}/{of} of {what} in {delay}: {why}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn backfill_start(&mut self, label: &str, rows: Option<u64>, resume: Option<&str>) {
        self.step += 1;
        self.rows_before = self.effect.rows_filled;
        self.estimate = rows;
        self.started = Instant::now();
        self.last_line = Instant::now();
        let from = resume
            .map(|k| format!(", resuming after key {k}"))
            .unwrap_or_default();
        let about = rows
            .map(|n| format!(" (about {n} rows)"))
            .unwrap_or_default();
        let _ = writeln!(self.out, "  backfill {label}{about}{from}");
        if self.progress {
            let bar = match rows {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let style = ProgressStyle::with_template(
                "  {bar:30} {human_pos}/{human_len} rows · {per_sec} · ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            self.bar = Some(bar);
        }
    }

    fn backfill_batch(&mut self, walked: u64, updated: u64, last_key: &str) {
        self.effect.batches += 1;
        self.effect.rows_filled = self.rows_before + updated;
        // Best effort: a lost progress row only means a resume re-walks some filled rows.
        let _ = self.history.progress(self.stage, last_key);
        self.resume_key = Some(last_key.to_string());
        if let Some(bar) = &self.bar {
            if let Some(n) = self.estimate
                && walked > n
            {
                bar.set_length(walked);
            }
            bar.set_position(walked);
            bar.set_message(format!("({updated} updated)"));
        } else if self.last_line.elapsed() >= Duration::from_secs(10) {
            self.last_line = Instant::now();
            let _ = writeln!(
                self.out,
                "  {}",
                progress_line(walked, updated, self.estimate, self.started.elapsed())
            );
        }
    }

    fn batch_size(&mut self, size: u64, took: Duration) {
        let line = format!(
            "  batch size now {size} rows (the last batch took {})",
            humantime::format_duration(Duration::from_millis(took.as_millis() as u64))
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn throttled(&mut self, why: &str) {
        let line = format!("  waiting: {why}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn paused(&mut self, took: Duration, why: &str) {
        let line = format!("  paused {:.1}s: {why}", took.as_secs_f64());
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn walk_said(&mut self, line: &str) {
        let line = format!("  {line}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }

    fn backfill_end(&mut self, walked: u64, updated: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let _ = writeln!(
            self.out,
            "  walked {walked} rows, filled {updated}, in {:.1}s ({:.0} rows/s)",
            secs,
            walked as f64 / secs
        );
    }
}

/// One plain progress line for logs (CI, pipes): rows, rate, ETA.
pub fn progress_line(
    walked: u64,
    updated: u64,
    estimate: Option<u64>,
    elapsed: Duration,
) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = walked as f64 / secs;
    match estimate.filter(|&n| n >= walked && n > 0) {
        Some(n) => {
            let left = if rate > 0.0 {
                Duration::from_secs(((n - walked) as f64 / rate) as u64)
            } else {
                Duration::ZERO
            };
            format!(
                "{walked} of about {n} rows walked ({:.0}%), {updated} filled, {rate:.0} rows/s, ETA {}",
                walked as f64 * 100.0 / n as f64,
                humantime::format_duration(left)
            )
        }
        None => format!("{walked} rows walked, {updated} filled, {rate:.0} rows/s"),
    }
}

/// The state `status` shows for a stage recorded as running whose apply is gone.
pub const DEAD: &str = "dead";

/// Where each stage of a plan stands in a database.
#[derive(Debug, serde::Serialize)]
pub struct StageStatus {
    pub index: usize,
    pub name: String,
    pub kind: String,
    /// pending, ready (its dependencies are done), a recorded status, or `dead`: recorded as
    /// running, but no apply holds the plan's lock any more.
    pub state: String,
    pub record: Option<Record>,
}

pub fn status(plan: &PlanDir, database_url: &str) -> Result<Vec<StageStatus>, Error> {
    check_url(plan, database_url)?;
    let (records, live) = if plan.is_mysql() {
        recorded::<Mysql>(plan, database_url)?
    } else {
        recorded::<Postgres>(plan, database_url)?
    };
    Ok(plan
        .plan
        .stages
        .iter()
        .map(|s| {
            let record = records.get(&s.index).cloned();
            let state = match &record {
                Some(r) if r.status == Status::Running && !live => DEAD.to_string(),
                Some(r) => r.status.as_str().to_string(),
                None if s
                    .depends_on
                    .iter()
                    .all(|d| records.get(d).map(|r| r.status) == Some(Status::Done)) =>
                {
                    "ready".to_string()
                }
                None => "pending".to_string(),
            };
            StageStatus {
                index: s.index,
                name: s.name.clone(),
                kind: s.kind.clone(),
                state,
                record,
            }
        })
        .collect())
}

/// The plan's history on engine `E` (under the plan's id, or else its legacy id), and whether a
/// stage recorded as running is live: only while an apply holds the plan's lock.
fn recorded<E: Engine>(
    plan: &PlanDir,
    database_url: &str,
) -> Result<(std::collections::BTreeMap<usize, Record>, bool), Error> {
    let mut conn = E::connect(database_url).map_err(db_error)?;
    let mut records = E::read_history(&mut conn, &plan.id).map_err(db_error)?;
    if records.is_empty() {
        records = E::read_history(&mut conn, &plan.legacy_id).map_err(db_error)?;
    }
    let live = records.values().any(|r| r.status == Status::Running)
        && E::lock_held(&mut conn, &plan.id).map_err(db_error)?;
    Ok((records, live))
}

/// `status` for a terminal or a pull request: one line per stage, then what to run next.
pub fn status_text(plan: &PlanDir, stages: &[StageStatus]) -> String {
    let mut text = format!(
        "plan {} ({}) · {} stage(s)\n",
        plan.root.display(),
        plan.id,
        stages.len()
    );
    for s in stages {
        let when = s
            .record
            .as_ref()
            .map(|r| {
                let at = r.finished_at.as_deref().unwrap_or(&r.started_at);
                let tries = if r.attempts > 1 {
                    format!(", {} attempts", r.attempts)
                } else {
                    String::new()
                };
                format!("  ({at}{tries})")
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "  {:>2}. {:<12} {:<12} {}{when}\n",
            s.index, s.state, s.kind, s.name
        ));
        if s.state == DEAD {
            text.push_str("      recorded as running, but no apply holds the plan's lock: the run died (killed, or its connection or server was lost); run the same command to continue\n");
        }
        if let Some(message) = s.record.as_ref().and_then(|r| r.message.as_deref())
            && s.state != "done"
        {
            text.push_str(&format!("      {}\n", message.replace('\n', "\n      ")));
        }
    }
    match stages.iter().find(|s| s.state != "done") {
        None => text.push_str("every stage is done: the plan is complete\n"),
        Some(next) if next.state == "pending" => text.push_str(&format!(
            "next: stage {} waits for its dependencies\n",
            next.index
        )),
        Some(next) => text.push_str(&format!(
            "next: safeshift apply {} --stage {}{}\n",
            plan.root.display(),
            next.index,
            if next.kind == "application" {
                " --confirm  (after the deploy)"
            } else {
                ""
            }
        )),
    }
    text
}
