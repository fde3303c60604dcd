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
}

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
            if let Some(down) = &stage.down {
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
