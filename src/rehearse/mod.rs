//! `safeshift rehearse`: prove a plan on a scratch copy of the schema before production sees it.
//!
//! On the given server it creates a scratch database, loads the schema, seeds rows, and runs the
//! plan's stages in order while simulated app traffic runs on other connections — the old
//! version until the contract phase, the new version from its deploy on, both in between. Each
//! stage is checked: it ran; neither app version saw an error or waited too long; no statement
//! touched a table's rows while holding a lock that blocks the app (read from inside the
//! statement's own transaction, so it shows even on small tables); its `down.sql` restores the
//! schema as it was, and `up.sql` can then run again. At the end the schema must equal what the
//! naive change gives, applied to a second scratch database. Both are dropped at the end, also
//! on failure or Ctrl-C.

pub mod inspect;
pub mod model;
pub mod mysql;
pub mod report;
pub mod seed;
pub mod traffic;
pub mod values;
pub mod watch;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::apply::{self, Observer, RunError, RunOptions};
use crate::db::engine::{Engine, Mysql, Postgres, Scratch};
use crate::db::{self, DbError};
use crate::error::Error;
use crate::interrupt;
use crate::plan_dir::{PlanDir, StageRecord};
use traffic::{AppVersion, Traffic, VersionStats};
use values::{Checker, ValueCheck};

pub struct RehearseRequest<'a> {
    pub plan: &'a PlanDir,
    /// A server where the user may create databases (the database in the URL is left alone).
    pub database_url: &'a str,
    /// (name, text) of the schema; when `None` the plan's own copy is used.
    pub schema: Option<(String, String)>,
    /// Rows seeded into every table.
    pub rows: u64,
    pub old_app: Vec<String>,
    pub new_app: Vec<String>,
    /// An app statement slower than this fails the stage.
    pub max_wait: Duration,
    /// How long app traffic runs alone before the first stage, through each deploy stage, and
    /// after the last stage; a quarter of it before and after every other stage.
    pub window: Duration,
    pub run: RunOptions,
    /// Rehearse stage files edited since `safeshift plan` wrote them.
    pub allow_edited: bool,
}

/// The whole rehearsal, as reported.
#[derive(Debug, Serialize)]
pub struct Rehearsal {
    pub plan: String,
    pub plan_id: String,
    /// PostgreSQL, MariaDB or MySQL.
    pub engine: String,
    pub server_version: String,
    pub rows: u64,
    pub max_wait_ms: u64,
    pub seeded: Vec<(String, u64)>,
    /// The old app alone, before the first stage: the latency to compare with.
    pub baseline: Vec<VersionStats>,
    pub stages: Vec<StageResult>,
    /// The new app alone on the final schema.
    pub after: Vec<VersionStats>,
    pub end_state: Verdict,
    /// The data after the last stage (and the new app alone): derived columns and copies on
    /// every row, constraints valid. Empty when the plan did not run to the end.
    pub end_values: Vec<ValueCheck>,
    pub notes: Vec<String>,
    pub passed: bool,
    pub interrupted: bool,
}

#[derive(Debug, Serialize)]
pub struct StageResult {
    pub index: usize,
    pub name: String,
    pub phase: String,
    pub kind: String,
    /// false when an earlier stage failed and this one was not run.
    pub ran: bool,
    pub passed: bool,
    pub duration_ms: f64,
    pub apps: Vec<VersionStats>,
    pub locks: Vec<LockSeen>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    pub down: Verdict,
    /// The data after the stage: derived columns and copies, row counts.
    pub values: Vec<ValueCheck>,
}

impl StageResult {
    /// A stage that ran: it passed when nothing went wrong and its down.sql checked out.
    fn ran(
        stage: &StageRecord,
        duration: Duration,
        apps: Vec<VersionStats>,
        locks: Vec<LockSeen>,
        problems: Vec<String>,
        notes: Vec<String>,
        down: Verdict,
    ) -> StageResult {
        StageResult {
            index: stage.index,
            name: stage.name.clone(),
            phase: stage.phase.clone(),
            kind: stage.kind.clone(),
            ran: true,
            passed: problems.is_empty() && down.ok,
            duration_ms: duration.as_secs_f64() * 1000.0,
            apps,
            locks,
            problems,
            notes,
            down,
            values: Vec::new(),
        }
    }

    /// The stage's value checks: one that failed fails the stage.
    fn with_values(mut self, values: Vec<ValueCheck>) -> StageResult {
        self.passed &= !values.iter().any(ValueCheck::failed);
        self.values = values;
        self
    }
}

#[derive(Debug, Serialize)]
pub struct LockSeen {
    pub table: String,
    pub mode: String,
    pub blocks: &'static str,
    /// For a lock that blocks the app: about how long it was held, in ms (the statement's run
    /// time, or the whole stage for a transactional stage, which holds locks until COMMIT).
    pub held_ms: Option<f64>,
}

/// A check that passed, failed, or could not be made (with the reason).
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub checked: bool,
    pub ok: bool,
    pub detail: String,
}

impl Verdict {
    fn skipped(why: impl Into<String>) -> Verdict {
        Verdict {
            checked: false,
            ok: true,
            detail: why.into(),
        }
    }
    fn pass(detail: impl Into<String>) -> Verdict {
        Verdict {
            checked: true,
            ok: true,
            detail: detail.into(),
        }
    }
    fn fail(detail: impl Into<String>) -> Verdict {
        Verdict {
            checked: true,
            ok: false,
            detail: detail.into(),
        }
    }
}

fn db_error(e: DbError) -> Error {
    Error::Database(e.to_string())
}

/// Tables the plan touches, by the names its steps' locks give (`users` or `app.users`).
fn touched(plan: &PlanDir, tables: &[model::TableModel]) -> Vec<model::TableModel> {
    let names: Vec<&str> = plan
        .plan
        .stages
        .iter()
        .flat_map(|s| s.steps.iter())
        .flat_map(|s| s.locks.iter())
        .map(|l| l.table.as_str())
        .collect();
    let hit = |t: &model::TableModel| {
        names.iter().any(|n| {
            let plain = n.trim_matches('"');
            plain == t.name || *n == format!("{}.{}", t.schema, t.name)
        })
    };
    let touched: Vec<model::TableModel> = tables.iter().filter(|t| hit(t)).cloned().collect();
    if touched.is_empty() {
        // A plan that touches no table of this schema (a new enum value, a dropped table the new
        // version never uses): the app still runs, on the rest of the schema.
        return tables
            .iter()
            .filter(|t| !t.is_view)
            .take(10)
            .cloned()
            .collect();
    }
    touched
}

/// The old version's data already satisfies the foreign keys the change adds (the plan checks
/// existing rows before validating): its inserts reference existing parents too.
fn with_new_foreign_keys(old: &mut [model::TableModel], new: &[model::TableModel]) {
    for table in old.iter_mut() {
        let Some(later) = new
            .iter()
            .find(|t| t.schema == table.schema && t.name == table.name)
        else {
            continue;
        };
        for fk in &later.foreign_keys {
            let known = fk.columns.iter().all(|c| table.column(c).is_some());
            let already = table.foreign_keys.iter().any(|f| f.columns == fk.columns);
            if known && !already {
                table.foreign_keys.push(fk.clone());
            }
        }
    }
}

/// The schema to load: `--schema`, or the copy the plan keeps.
fn schema_text(req: &RehearseRequest) -> Result<(String, String), Error> {
    let plan = req.plan;
    match &req.schema {
        Some(s) => Ok(s.clone()),
        None => {
            let path = plan.schema_path().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: rehearse needs the schema the plan was made against: pass --schema FILE (plans written with --schema keep a copy as schema.sql)",
                    plan.root.display()
                ))
            })?;
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            Ok((path.display().to_string(), text))
        }
    }
}

/// The stage from which the new app version runs (its deploy stage, or after the last stage
/// when the plan needs no deploy), and the stage from which the old one is gone (the first
/// contract stage after that deploy).
fn schedule(stages: &[StageRecord]) -> (usize, usize) {
    let total = stages.len();
    let new_from = stages
        .iter()
        .find(|s| s.is_application() && s.release() == Some("new-version"))
        .map(|s| s.index)
        .unwrap_or(total + 1);
    let old_until = if new_from > total {
        total + 1
    } else {
        stages
            .iter()
            .find(|s| s.index > new_from && s.phase == "contract")
            .map(|s| s.index)
            .unwrap_or(total + 1)
    };
    (new_from, old_until)
}

/// The old app version, written against the schema before the plan, and the new one, written
/// against the naive change's; each runs on the tables the plan touches.
fn app_versions(
    req: &RehearseRequest,
    old_tables: &[model::TableModel],
    new_tables: &[model::TableModel],
    notes: &mut Vec<String>,
) -> (AppVersion, AppVersion) {
    let mut old_tables_seen = touched(req.plan, old_tables);
    with_new_foreign_keys(&mut old_tables_seen, new_tables);
    if has_unsimulated_releases(&req.plan.plan.stages) {
        notes.push(UNSIMULATED_RELEASES.into());
    }
    (
        AppVersion {
            name: "old",
            salt: "o",
            tables: old_tables_seen,
            extra: req.old_app.clone(),
            derived: Vec::new(),
        },
        AppVersion {
            name: "new",
            salt: "n",
            tables: touched(req.plan, new_tables),
            extra: req.new_app.clone(),
            derived: Vec::new(),
        },
    )
}

const UNSIMULATED_RELEASES: &str = "The intermediate app versions of --dual-write app (writes both, reads new) are not simulated: the old version runs until the contract phase, the new one from its deploy. Add their statements with --old-app/--new-app.";

fn has_unsimulated_releases(stages: &[StageRecord]) -> bool {
    stages
        .iter()
        .any(|s| s.is_application() && matches!(s.release(), Some("dual-write") | Some("read-new")))
}

/// What the app versions saw that fails a stage: errors, and statements slower than --max-wait.
fn app_problems(apps: &[VersionStats], max_wait: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    for app in apps {
        if app.errors > 0 {
            let sample = app
                .error_samples
                .first()
                .map(|(m, n)| format!(", e.g. ({n}×) {m}"))
                .unwrap_or_default();
            problems.push(format!(
                "the {} app version got {} error(s) in {} statement(s){sample}",
                app.version, app.errors, app.statements
            ));
        }
        if app.worst_ms > max_wait.as_secs_f64() * 1000.0 {
            problems.push(format!(
                "the {} app version waited {:.0} ms on one statement (limit --max-wait {} ms): {}",
                app.version,
                app.worst_ms,
                max_wait.as_millis(),
                truncate(&app.worst_statement, 120)
            ));
        }
    }
    problems
}

/// What running the stages gave.
struct StagesRun {
    results: Vec<StageResult>,
    /// A stage failed to run, so the later ones did not.
    stopped: bool,
    interrupted: bool,
}

/// Rehearses one stage with the app versions live at it.
type StageRehearsal<'a> = dyn FnMut(&StageRecord, &[AppVersion]) -> Result<StageResult, Error> + 'a;

/// Runs the stages in order, each with the app versions live at it (see [`schedule`]); after a
/// stage that failed to run, or Ctrl-C, the rest are reported as not run.
fn run_stages(
    stages: &[StageRecord],
    old: &AppVersion,
    new: &AppVersion,
    log: &mut dyn Write,
    rehearse_stage: &mut StageRehearsal,
) -> Result<StagesRun, Error> {
    let total = stages.len();
    let (new_from, old_until) = schedule(stages);
    let mut run = StagesRun {
        results: Vec::new(),
        stopped: false,
        interrupted: false,
    };
    for stage in stages {
        if run.stopped || interrupt::requested() {
            run.interrupted |= interrupt::requested();
            run.results.push(not_run(stage));
            continue;
        }
        let mut live = Vec::new();
        if stage.index < old_until {
            live.push(old.clone());
        }
        if stage.index >= new_from {
            live.push(new.clone());
        }
        let _ = writeln!(
            log,
            "stage {}/{total}: {} [{}]",
            stage.index,
            stage.name,
            live.iter().map(|v| v.name).collect::<Vec<_>>().join(" + ")
        );
        let result = rehearse_stage(stage, &live)?;
        if !result.ran
            || result
                .problems
                .iter()
                .any(|p| p.starts_with("the stage failed"))
        {
            run.stopped = true;
        }
        run.results.push(result);
    }
    Ok(run)
}

/// The schema after the last stage must equal the naive change's (when the naive change ran).
fn compare_end_state(
    naive_failed: &Option<String>,
    naive_end: &str,
    end: impl FnOnce() -> Result<String, Error>,
) -> Result<Verdict, Error> {
    Ok(match naive_failed {
        Some(why) => Verdict::skipped(format!("not checked: {why}")),
        None => {
            let diff = db::snapshot_diff(naive_end, &end()?);
            if diff.is_empty() {
                Verdict::pass("the schema after the last stage equals the naive change's")
            } else {
                Verdict::fail(format!(
                    "the schema after the last stage differs from the naive change's (- naive, + plan):\n{diff}"
                ))
            }
        }
    })
}

pub fn rehearse(req: &RehearseRequest, log: &mut dyn Write) -> Result<Rehearsal, Error> {
    apply::check_url(req.plan, req.database_url)?;
    let mut edited = Vec::new();
    for stage in &req.plan.plan.stages {
        edited.extend(req.plan.edited_files(stage)?);
    }
    if !edited.is_empty() {
        if !req.allow_edited {
            return Err(Error::Usage(format!(
                "{}: {}\n  a rehearsal proves the files as planned: re-plan, or pass --allow-edited to rehearse them as they are now",
                req.plan.root.display(),
                edited.join("\n  ")
            )));
        }
        let _ = writeln!(log, "warning (--allow-edited): {}", edited.join("; "));
    }
    if req.plan.is_mysql() {
        rehearse_on::<Mysql>(req, log)
    } else {
        rehearse_on::<Postgres>(req, log)
    }
}

/// App traffic of `versions` on connections to `url`, until [`Traffic::stop`].
fn start_traffic<E: Engine>(
    url: &str,
    versions: &[AppVersion],
    counter: &Arc<AtomicU64>,
) -> Result<Traffic, Error> {
    Traffic::start_with(|| E::connect(url), E::SPELLING, versions, counter).map_err(db_error)
}

/// The whole rehearsal on engine `E`: the same steps and report on every engine.
fn rehearse_on<E: Engine>(req: &RehearseRequest, log: &mut dyn Write) -> Result<Rehearsal, Error> {
    interrupt::install();
    let plan = req.plan;
    let (schema_name, schema_text) = schema_text(req)?;
    let say = |log: &mut dyn Write, text: String| {
        let _ = writeln!(log, "{text}");
    };

    let abandoned = E::drop_abandoned_scratch(req.database_url);
    if !abandoned.is_empty() {
        let _ = writeln!(
            log,
            "dropped {} scratch database(s) left by rehearsals that died: {}",
            abandoned.len(),
            abandoned.join(", ")
        );
    }
    let mut scratch =
        E::create_scratch(req.database_url, "safeshift_rehearse").map_err(db_error)?;
    let mut naive = E::create_scratch(req.database_url, "safeshift_naive").map_err(db_error)?;
    say(
        log,
        format!("scratch databases {} and {}", scratch.name(), naive.name()),
    );
    let url = scratch.url().to_string();
    let mut main = E::connect(&url).map_err(db_error)?;
    E::load(&mut main, &url, &schema_name, &schema_text)?;
    let mut naive_conn = E::connect(naive.url()).map_err(db_error)?;
    E::load(&mut naive_conn, naive.url(), &schema_name, &schema_text)?;
    let (engine, server_version) = E::server(&mut main);

    // The naive change on an empty copy: the end state the plan must reach, and the schema the
    // new app version is written against.
    let mut naive_failed = None;
    for change in &plan.plan.changes {
        if let Err(e) = E::execute(&mut naive_conn, &change.sql) {
            naive_failed = Some(format!(
                "the naive change fails even on an empty copy at line {}: {e}",
                change.line
            ));
            break;
        }
    }
    let naive_end = E::snapshot(&mut naive_conn).map_err(db_error)?;
    let naive_invalid = E::left_not_valid(&mut naive_conn).map_err(Error::Database)?;
    let new_tables = E::read_tables(&mut naive_conn).map_err(Error::Database)?;
    drop(naive_conn);
    let _ = naive.drop_now();

    let old_tables = E::read_tables(&mut main).map_err(Error::Database)?;
    say(log, format!("seeding {} row(s) per table…", req.rows));
    let seeded = E::seed(&mut main, &old_tables, req.rows).map_err(|e| {
        Error::Database(format!(
            "{e}\n  help: rehearse with fewer rows (--seed-rows 0 seeds nothing) or seed the table yourself in a schema file"
        ))
    })?;
    let mut notes = Vec::new();
    for (table, why) in &seeded.skipped {
        notes.push(format!("{table} was not seeded: {why}"));
    }

    let (old, mut new) = app_versions(req, &old_tables, &new_tables, &mut notes);
    new.tables = E::new_app_tables(new.tables, &old_tables);
    let checker = Checker::new(E::VALUES, &plan.plan, &mut main, &old, &new, naive_invalid);
    new.derived = checker.derived();
    notes.extend(checker.notes().iter().cloned());
    let stages = &plan.plan.stages;

    let counter = Arc::new(AtomicU64::new(1));
    let traffic = |versions: &[AppVersion]| start_traffic::<E>(&url, versions, &counter);
    let mut migration = E::connect(&url).map_err(db_error)?;
    E::cancel_on_interrupt(&migration, &url);

    say(log, "baseline: the old app alone…".into());
    let running = traffic(std::slice::from_ref(&old))?;
    std::thread::sleep(req.window);
    let baseline = running.stop();

    let mut before = E::snapshot(&mut main).map_err(db_error)?;
    let StagesRun {
        results,
        stopped,
        interrupted,
    } = run_stages(stages, &old, &new, log, &mut |stage, live| {
        rehearse_stage::<E>(
            req,
            stage,
            &traffic,
            live,
            &url,
            &mut migration,
            &mut main,
            &mut before,
            &checker,
        )
    })?;

    let mut after = Vec::new();
    let mut end_values = Vec::new();
    let end_state = if stopped || interrupted {
        Verdict::skipped("not checked: the plan did not run to the end")
    } else {
        say(log, "after: the new app alone on the final schema…".into());
        let running = traffic(std::slice::from_ref(&new))?;
        std::thread::sleep(req.window);
        after = running.stop();
        end_values = checker.at_end(&mut main);
        compare_end_state(&naive_failed, &naive_end, || {
            E::snapshot(&mut main).map_err(db_error)
        })?
    };
    drop(migration);
    drop(main);
    let _ = scratch.drop_now();

    let after_ok = after.iter().all(|v| v.errors == 0);
    let passed = !interrupted
        && results.iter().all(|s| s.passed)
        && end_state.ok
        && after_ok
        && !end_values.iter().any(ValueCheck::failed);
    Ok(Rehearsal {
        plan: plan.root.display().to_string(),
        plan_id: plan.id.clone(),
        engine: engine.into(),
        server_version,
        rows: req.rows,
        max_wait_ms: req.max_wait.as_millis() as u64,
        seeded: seeded.tables,
        baseline,
        stages: results,
        after,
        end_state,
        end_values,
        notes,
        passed,
        interrupted,
    })
}

fn not_run(stage: &StageRecord) -> StageResult {
    StageResult {
        index: stage.index,
        name: stage.name.clone(),
        phase: stage.phase.clone(),
        kind: stage.kind.clone(),
        ran: false,
        passed: false,
        duration_ms: 0.0,
        apps: Vec::new(),
        locks: Vec::new(),
        problems: vec!["not run: an earlier stage failed or the rehearsal was interrupted".into()],
        notes: Vec::new(),
        down: Verdict::skipped("not run"),
        values: Vec::new(),
    }
}

/// Watches one stage as it runs, the engine's way (see `Engine::watch_stage`): what it saw
/// fails the stage or is noted.
pub trait StageWatch {
    /// Sees each statement of the stage as it runs.
    fn observer(&mut self) -> &mut dyn Observer;
    /// Stops watching (before the app traffic stops).
    fn finish(self: Box<Self>, stage: &StageRecord, duration: Duration) -> Seen;
}

/// What a [`StageWatch`] saw.
#[derive(Default)]
pub struct Seen {
    pub locks: Vec<LockSeen>,
    /// What fails the stage: a statement that held a lock the app waits on while it went
    /// through a table's rows.
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// Rehearses one stage while `traffic` (the app versions `live`) runs.
#[allow(clippy::too_many_arguments)]
fn rehearse_stage<E: Engine>(
    req: &RehearseRequest,
    stage: &StageRecord,
    start_traffic: &dyn Fn(&[AppVersion]) -> Result<Traffic, Error>,
    live: &[AppVersion],
    url: &str,
    migration: &mut E::Conn,
    main: &mut E::Conn,
    before: &mut String,
    checker: &Checker,
) -> Result<StageResult, Error> {
    // Counted while no app traffic runs: after the stage, the difference must be the apps'.
    let sizes = checker.count(main);
    let traffic = start_traffic(live)?;
    let mut watch = E::watch_stage(url, migration, &traffic).map_err(db_error)?;
    std::thread::sleep(req.window / 4);
    let started = Instant::now();
    let outcome = if stage.is_application() {
        std::thread::sleep(req.window);
        Ok(())
    } else {
        apply::run_stage(migration, req.plan, stage, &req.run, None, watch.observer())
    };
    let duration = started.elapsed();
    std::thread::sleep(req.window / 4);
    let seen = watch.finish(stage, duration);
    let apps = traffic.stop();

    let mut problems = Vec::new();
    match &outcome {
        Ok(()) => {}
        Err(RunError::Interrupted) => problems.push("interrupted (Ctrl-C)".to_string()),
        Err(e) => problems.push(format!("the stage failed: {e}")),
    }
    problems.extend(app_problems(&apps, req.max_wait));
    problems.extend(seen.problems);

    // As the stage and the app traffic left the rows: its down.sql may drop what it added.
    let mut values = if outcome.is_ok() {
        checker.copy_checks(main, stage.index)
    } else {
        Vec::new()
    };
    let down = check_down(
        req,
        stage,
        outcome.is_err(),
        migration,
        &mut || E::snapshot(main).map_err(db_error),
        before,
    )?;
    if outcome.is_ok() {
        values.push(checker.row_counts(main, &req.plan.plan, stage, &sizes, &apps, live));
    }
    Ok(StageResult::ran(
        stage, duration, apps, seen.locks, problems, seen.notes, down,
    )
    .with_values(values))
}

/// down.sql must restore the schema as it was before the stage, and up.sql must then run again
/// to the same schema as the first time. Updates `before` to the schema after the stage.
/// Not checked for a deploy, or a stage that failed.
fn check_down(
    req: &RehearseRequest,
    stage: &StageRecord,
    failed: bool,
    migration: &mut dyn apply::Target,
    snapshot: &mut dyn FnMut() -> Result<String, Error>,
    before: &mut String,
) -> Result<Verdict, Error> {
    if stage.is_application() {
        return Ok(Verdict::skipped(
            "a deploy: nothing to undo in the database",
        ));
    }
    if failed {
        return Ok(Verdict::skipped("not checked: the stage failed"));
    }
    let after_up = snapshot()?;
    let verdict = match stage.down.as_deref() {
        None => Verdict::skipped("a point of no return: the stage has no down.sql"),
        Some(down) => {
            let text = req.plan.read_sql(down)?;
            match migration.run_sql(&text, &req.run, &mut apply::run::Quiet) {
                Err(e) => Verdict::fail(format!("down.sql failed: {e}")),
                Ok(()) => {
                    let after_down = snapshot()?;
                    let diff = db::snapshot_diff(before, &after_down);
                    let redo = apply::run_stage(
                        migration,
                        req.plan,
                        stage,
                        &req.run,
                        None,
                        &mut apply::run::Quiet,
                    );
                    let again = snapshot()?;
                    if !diff.is_empty() {
                        Verdict::fail(format!(
                            "down.sql does not restore the schema (- before the stage, + after down.sql):\n{diff}"
                        ))
                    } else if let Err(e) = redo {
                        Verdict::fail(format!("up.sql fails when run again after down.sql: {e}"))
                    } else if again != after_up {
                        Verdict::fail(format!(
                            "up.sql run again after down.sql gives a different schema:\n{}",
                            db::snapshot_diff(&after_up, &again)
                        ))
                    } else {
                        Verdict::pass("down.sql restores the schema; up.sql runs again after it")
                    }
                }
            }
        }
    };
    *before = snapshot()?;
    Ok(verdict)
}

fn truncate(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("`{}…`", flat.chars().take(max).collect::<String>())
    } else {
        format!("`{flat}`")
    }
}
