//! `safeshift rehearse` on MySQL/MariaDB: the same proof as on PostgreSQL, with the same
//! report. A scratch database gets the schema and seeded rows; the stages run in order through
//! `apply`'s MySQL runner while the old and new app versions run on other connections; each
//! stage's down.sql must restore the schema and up.sql must run again after it; the end state
//! must equal the naive change applied to a second scratch database.
//!
//! What "a lock that stalls the app" means differs. InnoDB has no table lock a rehearsal can
//! read from inside the statement, and `performance_schema` is often off, so two signals are
//! used: an ALTER that reports affected rows copied the table (ALGORITHM=COPY, which blocks the
//! app's writes until it finishes — on a big table a long stall, even if the rehearsal's small
//! table copies in milliseconds), and sessions seen in `information_schema.PROCESSLIST` waiting
//! for a lock (the app queued behind the migration's metadata lock, or the reverse).

pub mod model;
pub mod seed;
pub mod traffic;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use mysql::Conn;

use super::traffic::AppVersion;
use super::{
    LockSeen, Rehearsal, RehearseRequest, StageResult, StagesRun, Verdict, app_problems,
    app_versions, check_down, compare_end_state, run_stages, schema_text, truncate,
};
use crate::apply::{self, Observer, RunError};
use crate::db::DbError;
use crate::db::mysql::{self as my, ScratchDatabase};
use crate::error::Error;
use crate::interrupt;
use crate::plan_dir::StageRecord;
use crate::rehearse::values::{self, Checker, ValueCheck};
use traffic::{LockWait, Watcher};

fn db_error(e: DbError) -> Error {
    Error::Database(e.to_string())
}

/// Runs a schema file statement by statement, as the client would, naming the failing line.
fn load(conn: &mut Conn, name: &str, text: &str) -> Result<(), Error> {
    for s in my::statements(text).map_err(|e| e.in_file(name))? {
        my::run(conn, &s.text).map_err(|e| Error::Input {
            file: name.to_string(),
            line: s.pos.line,
            column: s.pos.column,
            message: format!(
                "the scratch database rejected this statement: {}",
                my::describe(&e)
            ),
            help: None,
        })?;
    }
    Ok(())
}

pub fn rehearse(req: &RehearseRequest, log: &mut dyn Write) -> Result<Rehearsal, Error> {
    interrupt::install();
    let plan = req.plan;
    let (schema_name, schema_text) = schema_text(req)?;
    let say = |log: &mut dyn Write, text: String| {
        let _ = writeln!(log, "{text}");
    };

    let abandoned = crate::db::mysql::drop_abandoned_scratch(req.database_url);
    if !abandoned.is_empty() {
        let _ = writeln!(
            log,
            "dropped {} scratch database(s) left by rehearsals that died: {}",
            abandoned.len(),
            abandoned.join(", ")
        );
    }
    let mut scratch =
        ScratchDatabase::create(req.database_url, "safeshift_rehearse").map_err(db_error)?;
    let mut naive =
        ScratchDatabase::create(req.database_url, "safeshift_naive").map_err(db_error)?;
    say(
        log,
        format!("scratch databases {} and {}", scratch.name, naive.name),
    );
    let mut main = scratch.connect().map_err(db_error)?;
    load(&mut main, &schema_name, &schema_text)?;
    let mut naive_conn = naive.connect().map_err(db_error)?;
    load(&mut naive_conn, &schema_name, &schema_text)?;
    let server_version = my::first_value(&mut main, "SELECT VERSION()")
        .ok()
        .flatten()
        .unwrap_or_default();
    let engine = if server_version.to_ascii_lowercase().contains("mariadb") {
        "MariaDB"
    } else {
        "MySQL"
    };

    // The naive change on an empty copy: the end state the plan must reach, and the schema the
    // new app version is written against.
    let mut naive_failed = None;
    for change in &plan.plan.changes {
        if let Err(e) = my::run(&mut naive_conn, &change.sql) {
            naive_failed = Some(format!(
                "the naive change fails even on an empty copy at line {}: {}",
                change.line,
                my::describe(&e)
            ));
            break;
        }
    }
    let naive_end = my::snapshot(&mut naive_conn).map_err(db_error)?;
    let new_tables =
        model::read_tables(&mut naive_conn).map_err(|e| Error::Database(my::describe(&e)))?;
    drop(naive_conn);
    let _ = naive.drop_now();

    let old_tables =
        model::read_tables(&mut main).map_err(|e| Error::Database(my::describe(&e)))?;
    say(log, format!("seeding {} row(s) per table…", req.rows));
    let seeded = seed::seed(&mut main, &old_tables, req.rows).map_err(|e| {
        Error::Database(format!(
            "{e}\n  help: rehearse with fewer rows (--rows 0 seeds nothing) or seed the table yourself in a schema file"
        ))
    })?;
    let mut notes = Vec::new();
    for (table, why) in &seeded.skipped {
        notes.push(format!("{table} was not seeded: {why}"));
    }

    let (old, mut new) = app_versions(req, &old_tables, &new_tables, &mut notes);
    new.tables = within_old_ranges(new.tables, &old_tables);
    // Nothing is left NOT VALID on MySQL: the end check is foreign keys' rows instead.
    let checker = Checker::new(
        values::Engine::Mysql,
        &plan.plan,
        &mut main,
        &old,
        &new,
        Vec::new(),
    );
    new.derived = checker.derived();
    notes.extend(checker.notes().iter().cloned());
    let stages = &plan.plan.stages;

    let counter = Arc::new(AtomicU64::new(1));
    let mut migration = scratch.connect().map_err(db_error)?;
    interrupt::watch_mysql(&scratch.url, migration.connection_id());

    say(log, "baseline: the old app alone…".into());
    let traffic =
        traffic::start(&scratch.url, std::slice::from_ref(&old), &counter).map_err(db_error)?;
    std::thread::sleep(req.window);
    let baseline = traffic.stop();

    let mut before = my::snapshot(&mut main).map_err(db_error)?;
    let StagesRun {
        results,
        stopped,
        interrupted,
    } = run_stages(stages, &old, &new, log, &mut |stage, live| {
        rehearse_stage(
            req,
            stage,
            live,
            &counter,
            &scratch.url,
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
        let traffic =
            traffic::start(&scratch.url, std::slice::from_ref(&new), &counter).map_err(db_error)?;
        std::thread::sleep(req.window);
        after = traffic.stop();
        end_values = checker.at_end(&mut main);
        compare_end_state(&naive_failed, &naive_end, || {
            my::snapshot(&mut main).map_err(db_error)
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

const INTEGER_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// The new version is live while a widened integer column still has its old type (a type
/// change swaps the column only in its last stage), so until then it can only write values the
/// old type holds: its generated values stay in the narrower of the two ranges.
fn within_old_ranges(
    mut new: Vec<crate::rehearse::model::TableModel>,
    old: &[crate::rehearse::model::TableModel],
) -> Vec<crate::rehearse::model::TableModel> {
    let rank = |t: &str| INTEGER_TYPES.iter().position(|i| *i == t);
    for table in &mut new {
        let Some(before) = old.iter().find(|t| t.name == table.name) else {
            continue;
        };
        for column in &mut table.columns {
            let Some(was) = before.column(&column.name) else {
                continue;
            };
            if let (Some(now), Some(then)) = (rank(&column.base_type), rank(&was.base_type))
                && then < now
            {
                column.base_type = was.base_type.clone();
                column.type_sql = was.type_sql.clone();
            }
        }
    }
    new
}

/// An ALTER that copied a table's rows, seen through the affected-row count it reported.
struct TableCopy {
    table: String,
    rows: u64,
    took: Duration,
    statement: String,
}

/// Watches each statement of a stage for table copies.
#[derive(Default)]
struct CopyWatch {
    copies: Vec<TableCopy>,
    /// The ALTER a guarded `SET @v = IF(…, 'ALTER TABLE …', 'DO 0')` may prepare: an `EXECUTE`
    /// that reports affected rows copied its table.
    prepared: Option<String>,
}

/// The table of `ALTER [ONLINE] [IGNORE] TABLE t …`, unquoted.
fn altered_table(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    if !words.first()?.eq_ignore_ascii_case("alter") {
        return None;
    }
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("table"))?;
    let name = words.get(at + 1)?;
    Some(name.trim_matches('`').replace("``", "`"))
}

impl Observer for CopyWatch {
    fn ran(&mut self, statement: &str, took: Duration, affected_rows: u64) {
        let upper = statement.trim_start().to_ascii_uppercase();
        if upper.starts_with("SET ")
            && let Some(at) = upper.find("'ALTER TABLE ")
        {
            self.prepared = Some(statement.trim_start()[at + 1..].to_string());
        }
        if affected_rows == 0 {
            return;
        }
        let altered = if upper.starts_with("EXECUTE") {
            self.prepared.clone()
        } else {
            Some(statement.to_string())
        };
        if let Some(table) = altered.as_deref().and_then(altered_table) {
            self.copies.push(TableCopy {
                table,
                rows: affected_rows,
                took,
                statement: statement.to_string(),
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rehearse_stage(
    req: &RehearseRequest,
    stage: &StageRecord,
    live: &[AppVersion],
    counter: &Arc<AtomicU64>,
    url: &str,
    migration: &mut Conn,
    main: &mut Conn,
    before: &mut String,
    checker: &Checker,
) -> Result<StageResult, Error> {
    let mut notes = Vec::new();
    // Counted while no app traffic runs: after the stage, the difference must be the apps'.
    let sizes = checker.count(main);
    let mut watch = CopyWatch::default();
    let traffic = traffic::start(url, live, counter).map_err(db_error)?;
    let watcher = Watcher::start(url, traffic.session_ids.clone()).map_err(db_error)?;
    std::thread::sleep(req.window / 4);
    let started = Instant::now();
    let outcome = if stage.is_application() {
        std::thread::sleep(req.window);
        Ok(())
    } else {
        apply::run_stage(migration, req.plan, stage, &req.run, None, &mut watch)
    };
    let duration = started.elapsed();
    std::thread::sleep(req.window / 4);
    let waits = watcher.stop();
    let apps = traffic.stop();

    let mut problems = Vec::new();
    match &outcome {
        Ok(()) => {}
        Err(RunError::Interrupted) => problems.push("interrupted (Ctrl-C)".to_string()),
        Err(e) => problems.push(format!("the stage failed: {e}")),
    }
    problems.extend(app_problems(&apps, req.max_wait));
    let mut locks = Vec::new();
    for copy in &watch.copies {
        problems.push(format!(
            "{} copied {} row(s) of {} (a table copy, ALGORITHM=COPY), which blocks the app's writes until it finishes: on a big table that is a long stall",
            truncate(&copy.statement, 100),
            copy.rows,
            copy.table
        ));
        locks.push(LockSeen {
            table: copy.table.clone(),
            mode: "table copy".into(),
            blocks: "writes",
            held_ms: Some(copy.took.as_secs_f64() * 1000.0),
        });
    }
    locks.extend(app_waits(&waits));
    for wait in waits.iter().filter(|w| !w.app) {
        notes.push(format!(
            "the migration waited {:.0} ms ({}) on {}",
            wait.waited_ms,
            wait.state,
            truncate(&wait.statement, 80)
        ));
    }

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
        &mut || my::snapshot(main).map_err(db_error),
        before,
    )?;
    if outcome.is_ok() {
        values.push(checker.row_counts(main, &req.plan.plan, stage, &sizes, &apps, live));
    }
    Ok(StageResult::ran(stage, duration, apps, locks, problems, notes, down).with_values(values))
}

/// The app sessions seen queued behind a lock, per table: the longest wait.
fn app_waits(waits: &[LockWait]) -> Vec<LockSeen> {
    let mut longest: std::collections::BTreeMap<String, f64> = Default::default();
    for wait in waits.iter().filter(|w| w.app) {
        let table = traffic::statement_table(&wait.statement).unwrap_or_else(|| "?".into());
        let ms = longest.entry(table).or_insert(0.0);
        *ms = ms.max(wait.waited_ms);
    }
    longest
        .into_iter()
        .map(|(table, ms)| LockSeen {
            table,
            mode: "metadata lock (the app waited)".into(),
            blocks: "reads and writes",
            held_ms: Some(ms),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_alter_that_copied_is_seen_through_its_execute() {
        let mut watch = CopyWatch::default();
        let set = "SET @safeshift_sql = IF((SELECT 1) > 0, 'ALTER TABLE `users` MODIFY x bigint', 'DO 0')";
        watch.ran(set, Duration::from_millis(1), 0);
        watch.ran("EXECUTE safeshift_stmt", Duration::from_millis(9), 0);
        assert!(watch.copies.is_empty());
        watch.ran("EXECUTE safeshift_stmt", Duration::from_millis(9), 500);
        assert_eq!(watch.copies.len(), 1);
        assert_eq!(watch.copies[0].table, "users");
        assert_eq!(watch.copies[0].rows, 500);
    }

    #[test]
    fn altered_tables_are_named() {
        assert_eq!(
            altered_table("ALTER TABLE `we``ird` MODIFY x int").as_deref(),
            Some("we`ird")
        );
        assert_eq!(
            altered_table("ALTER ONLINE TABLE users ADD x int").as_deref(),
            Some("users")
        );
        assert_eq!(altered_table("UPDATE users SET x = 1"), None);
        assert_eq!(
            traffic::statement_table("INSERT INTO `users` (`a`) VALUES (1)").as_deref(),
            Some("users")
        );
    }
}
