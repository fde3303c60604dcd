//! The walk every real-database plan test makes, whatever the engine: apply each stage's `up.sql`
//! with the engine's own client, check its `down.sql` restores the schema and that it runs again
//! after that, run its verify queries, and run the statements of the application versions that
//! are live at that point. The engine's side is [`StageDb`].

use std::fs;
use std::path::Path;

use safeshift::Plan;
use safeshift::plan::StepKind;

use super::ScratchDb;
use super::mysql::ScratchMysql;

/// What the walk needs of a scratch database.
pub trait StageDb {
    /// Runs a plan file with the engine's client (`psql -f`, `mariadb <`).
    fn run_file(&self, path: &Path) -> Result<String, String>;
    /// A deterministic text snapshot of the schema.
    fn catalog(&self) -> String;
    /// First column of the first row, as the client prints it (`None` for no rows).
    fn first_value(&self, sql: &str) -> Option<String>;
    /// One application statement.
    fn app(&self, sql: &str) -> Result<(), String>;
    /// A deterministic digest of every user table's rows, to tell a re-run that changed data.
    fn data(&self) -> String;
    /// Splits a plan file into its statements, as the engine's client sends them.
    fn statements(&self, text: &str) -> Vec<String>;
    /// A file that sends `statements` as the engine's client would (the inverse of `statements`).
    fn script(&self, statements: &[String]) -> String {
        statements.iter().map(|s| format!("{s};\n")).collect()
    }
    /// Whether this engine's stage files of the plan test `case` are idempotent: each `up.sql`
    /// and `down.sql` runs twice with the result of one run, and a non-transactional `up.sql`
    /// stopped after any statement finishes when run again.
    fn idempotent(&self, case: &str) -> bool;
    /// After each stop point of the re-run walk of `case` (its `up.sql` stopped there, finished,
    /// undone): nothing, unless the engine needs upkeep that many re-runs in a row call for.
    fn between_stops(&self, _case: &str) {}
}

impl StageDb for ScratchDb {
    fn run_file(&self, path: &Path) -> Result<String, String> {
        self.psql_file(path)
    }
    fn catalog(&self) -> String {
        ScratchDb::catalog(self)
    }
    fn first_value(&self, sql: &str) -> Option<String> {
        ScratchDb::first_value(self, sql)
    }
    fn app(&self, sql: &str) -> Result<(), String> {
        self.try_execute(sql)
    }
    fn data(&self) -> String {
        // One md5 per table of its rows as text, sorted: equal data gives equal digests whatever
        // the physical order (a re-run may rewrite rows).
        self.first_value(
            "SELECT coalesce(string_agg(c.oid::regclass::text || ' ' || (xpath('/row/d/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(r::text, %L ORDER BY r::text), %L)) AS d FROM %s r', E'\\n', '', c.oid::regclass), false, true, '')))[1]::text, E'\\n' ORDER BY c.oid::regclass::text), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'",
        )
        .unwrap_or_default()
    }
    fn statements(&self, text: &str) -> Vec<String> {
        safeshift::db::statements(text)
            .unwrap_or_else(|e| panic!("cannot split a plan file: {e:?}"))
            .into_iter()
            .map(|s| s.text)
            .collect()
    }
    fn idempotent(&self, _case: &str) -> bool {
        true
    }
}

/// MySQL/MariaDB plan tests get the re-run walk in the binaries that call [`walk_mysql_reruns`]
/// (mysql_ops, mysql_hostile, mysql_data_change), every case; elsewhere the older walk (up, down,
/// up).
static MYSQL_RERUNS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[allow(dead_code)] // not every test binary that includes the support module calls it
pub fn walk_mysql_reruns() {
    MYSQL_RERUNS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Cases whose re-run walk adds and drops a column (instantly) more often than MariaDB allows
/// without a rebuild: an instantly dropped column keeps its place in the row format, and after about
/// thirty ADD/DROP cycles of a `varchar(30)` on a small table the next ADD fails with "Row size too
/// large" (MariaDB 10.11.19; `ALTER TABLE … FORCE` gives the space back). The walk of `hostile`
/// stops its first stage's `up.sql` at every one of its statements, each stop adding the column
/// twice: so its tables are rebuilt after each stop point, as a DBA would after so many re-runs.
const MYSQL_REBUILT_BETWEEN_STOPS: &[&str] = &["hostile"];

impl StageDb for ScratchMysql {
    fn run_file(&self, path: &Path) -> Result<String, String> {
        ScratchMysql::run_file(self, path)
    }
    fn catalog(&self) -> String {
        ScratchMysql::catalog(self)
    }
    fn first_value(&self, sql: &str) -> Option<String> {
        ScratchMysql::first_value(self, sql)
    }
    fn app(&self, sql: &str) -> Result<(), String> {
        self.try_execute(&format!("{sql};")).map(|_| ())
    }
    fn data(&self) -> String {
        // CHECKSUM TABLE of every base table: equal rows give equal sums whatever their order.
        let tables = self.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME;",
        );
        tables
            .lines()
            .map(|t| self.execute(&format!("CHECKSUM TABLE `{}`;", t.replace('`', "``"))))
            .collect()
    }
    fn statements(&self, text: &str) -> Vec<String> {
        safeshift::db::mysql::statements(text)
            .unwrap_or_else(|e| panic!("cannot split a plan file: {e:?}"))
            .into_iter()
            .map(|s| s.text)
            .collect()
    }
    fn script(&self, statements: &[String]) -> String {
        // A stored program's body holds `;`: sent between DELIMITER lines, as the plan does.
        statements
            .iter()
            .map(|s| {
                if s.contains(';') {
                    format!("DELIMITER //safeshift//\n{s}//safeshift//\nDELIMITER ;\n")
                } else {
                    format!("{s};\n")
                }
            })
            .collect()
    }
    fn idempotent(&self, _case: &str) -> bool {
        MYSQL_RERUNS.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn between_stops(&self, case: &str) {
        if !MYSQL_REBUILT_BETWEEN_STOPS.contains(&case) {
            return;
        }
        let tables = self.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME;",
        );
        let rebuild: String = tables
            .lines()
            .map(|t| format!("ALTER TABLE `{}` FORCE;\n", t.replace('`', "``")))
            .collect();
        self.execute(&rebuild);
    }
}

/// Whether the re-run walk stops a non-transactional `up.sql` after every statement (the default)
/// or after three of them (first, middle, last): set by `sample_reruns`, or by
/// `SAFESHIFT_TEST_RERUN=sample` (scripts/pg-majors runs every suite on seven servers).
static SAMPLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The walk of this test binary stops each `up.sql` at three points, not at every statement: for
/// suites whose point is elsewhere (pg_hostile: the quoting of names) and whose plans are many.
#[allow(dead_code)] // not every test binary that includes the support module calls it
pub fn sample_reruns() {
    SAMPLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Where the walk stops a file of `len` statements (the first sets the lock timeout).
fn stop_points(len: usize) -> Vec<usize> {
    let sampled = SAMPLED.load(std::sync::atomic::Ordering::Relaxed)
        || std::env::var("SAFESHIFT_TEST_RERUN").is_ok_and(|v| v == "sample");
    if !sampled || len <= 5 {
        return (2..len).collect();
    }
    let mut points = vec![2, len / 2, len - 1];
    points.dedup();
    points
}

/// The plan directory written to a temporary directory, as `safeshift plan` writes it.
pub fn write_plan(plan: &Plan) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in safeshift::render::plan_files(plan).unwrap() {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    dir
}

/// Applies every stage of `plan` (written in `dir`) to `db`, checking downs, re-runs and verify
/// queries, while the old app's statements run until the first deploy and the new app's from the
/// last deploy on (both during a deploy; without deploys the new version ships after the plan, as
/// it would after the naive migration).
pub fn apply_stages(
    name: &str,
    db: &impl StageDb,
    plan: &Plan,
    dir: &Path,
    old_app: &[&str],
    new_app: &[&str],
) {
    let deploys: Vec<usize> = plan
        .stages
        .iter()
        .filter(|s| s.kind == StepKind::Application)
        .map(|s| s.index)
        .collect();
    let after_end = plan.stages.len() + 1;
    let first_deploy = deploys.first().copied().unwrap_or(after_end);
    let switch = deploys.last().copied().unwrap_or(after_end);
    let run_app = |label: &str, statements: &[&str], stage: usize| {
        for sql in statements {
            db.app(sql).unwrap_or_else(|e| {
                panic!("{name}: {label} app failed after stage {stage}: {sql}\n{e}")
            });
        }
    };
    run_app("old", old_app, 0);
    for stage in &plan.stages {
        let before = db.catalog();
        if let Some(up) = &stage.up {
            let up = dir.join(up);
            db.run_file(&up)
                .unwrap_or_else(|e| panic!("{name}: stage {} up.sql failed:\n{e}", stage.index));
            if db.idempotent(name) {
                rerun_stage(name, db, stage, dir, &up, &before);
            } else if let Some(down) = &stage.down {
                db.run_file(&dir.join(down)).unwrap_or_else(|e| {
                    panic!("{name}: stage {} down.sql failed:\n{e}", stage.index)
                });
                let restored = db.catalog();
                assert!(
                    restored == before,
                    "{name}: stage {} down.sql did not restore the catalog:\n{}",
                    stage.index,
                    ScratchDb::catalog_diff(&before, &restored)
                );
                db.run_file(&up).unwrap_or_else(|e| {
                    panic!(
                        "{name}: stage {} up.sql failed on re-run:\n{e}",
                        stage.index
                    )
                });
            }
            for check in stage.steps.iter().flat_map(|s| &s.verify) {
                let got = db.first_value(&check.query);
                let expect = (check.expect != "no rows").then(|| check.expect.clone());
                assert_eq!(
                    got, expect,
                    "{name}: stage {} verify `{}` ({})",
                    stage.index, check.what, check.query
                );
            }
        }
        if stage.index <= first_deploy {
            run_app("old", old_app, stage.index);
        }
        if stage.index >= switch {
            run_app("new", new_app, stage.index);
        }
    }
    if switch > plan.stages.len() {
        run_app("new", new_app, plan.stages.len());
    }
}

/// Whether re-running the stage's `up.sql` after it finished would apply its data change again:
/// a batched data change drops its progress when done (docs/status.md, known limits).
fn reapplies_data(stage: &safeshift::plan::Stage) -> bool {
    stage
        .steps
        .iter()
        .any(|s| s.rule == "unbatched-data-change")
}

/// The re-run proof of one stage whose `up.sql` just ran once (the catalog was `before`):
/// `up.sql` again changes nothing (schema and data); `down.sql` twice restores `before`; a
/// non-transactional `up.sql` stopped after any of its statements finishes when run whole, and
/// `down.sql` undoes exactly what such a partial run did; at the end `up.sql` has run again.
fn rerun_stage(
    name: &str,
    db: &impl StageDb,
    stage: &safeshift::plan::Stage,
    dir: &Path,
    up: &Path,
    before: &str,
) {
    let index = stage.index;
    let run = |path: &Path, what: &str| {
        db.run_file(path)
            .unwrap_or_else(|e| panic!("{name}: stage {index} {what} failed:\n{e}"))
    };
    let same = |expected: &str, what: &str| {
        let now = db.catalog();
        assert!(
            now == expected,
            "{name}: stage {index}: {what}:\n{}",
            ScratchDb::catalog_diff(expected, &now)
        );
    };
    let after = db.catalog();
    let data = db.data();
    if !reapplies_data(stage) {
        run(up, "up.sql run a second time");
        same(&after, "up.sql run a second time changed the schema");
        assert_eq!(
            db.data(),
            data,
            "{name}: stage {index}: up.sql run a second time changed the data"
        );
    }
    let Some(down) = &stage.down else {
        return;
    };
    let down = dir.join(down);
    run(&down, "down.sql");
    same(before, "down.sql did not restore the catalog");
    run(&down, "down.sql run a second time");
    same(before, "down.sql run a second time changed the catalog");
    if !stage.transactional {
        let text = fs::read_to_string(up).unwrap();
        let statements = db.statements(&text);
        let partial = dir.join(format!("partial-{index}.sql"));
        // The first statement sets the lock timeout: stopping after it applies nothing.
        for k in stop_points(statements.len()) {
            let prefix = db.script(&statements[..k]);
            fs::write(&partial, &prefix).unwrap();
            run(&partial, &format!("up.sql's first {k} statements"));
            run(
                &down,
                &format!("down.sql after up.sql's first {k} statements"),
            );
            same(
                before,
                &format!(
                    "down.sql after up.sql's first {k} statements did not restore the catalog"
                ),
            );
            run(&partial, &format!("up.sql's first {k} statements"));
            run(up, &format!("up.sql after its first {k} statements"));
            same(
                &after,
                &format!("up.sql after its first {k} statements differs from one run"),
            );
            run(&down, "down.sql");
            db.between_stops(name);
        }
        let _ = fs::remove_file(&partial);
    }
    run(up, "up.sql after down.sql");
    same(&after, "up.sql after down.sql differs from one run");
}
