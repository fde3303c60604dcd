//! Rendering: the plan directory (DESIGN.md §4) from askama templates, and the terminal summary.
//! Every text that came from the user (names, expressions) is flattened to one line before it
//! goes into an SQL comment, so a name with a newline cannot escape the comment.

pub mod graph;
pub mod html;
pub mod layout;

use std::fs;
use std::path::{Path, PathBuf};

use askama::Template;

use crate::dialect::postgres::LOCK_TIMEOUT;
use crate::error::Error;
use crate::ops::Risk;
use crate::plan::{Plan, Sql, Stage, Step, StepKind};
pub use layout::{Layout, Numbering};

/// One line, for SQL comments and Markdown table cells.
fn oneline(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Markdown table cell: one line, `|` escaped, backticks neutralised for code spans.
fn cell(text: &str) -> String {
    oneline(text).replace('|', "\\|").replace('`', "'")
}

struct SqlView<'a> {
    text: &'a str,
    why: Option<String>,
}

fn sql_views(sql: &[Sql]) -> Vec<SqlView<'_>> {
    sql.iter()
        .map(|s| SqlView {
            text: &s.text,
            why: s.why.as_deref().map(oneline),
        })
        .collect()
}

struct CheckView<'a> {
    what: String,
    query: &'a str,
    expect: String,
}

struct StepView<'a> {
    title: String,
    rule: &'static str,
    up: Vec<SqlView<'a>>,
    down: Vec<SqlView<'a>>,
    locks: Vec<String>,
    before: Vec<CheckView<'a>>,
    verify: Vec<CheckView<'a>>,
    app: Vec<String>,
    /// A tool step's command line, kept as written (it spans lines).
    command: Option<&'a str>,
    notes: Vec<String>,
    points_of_no_return: Vec<String>,
}

impl<'a> StepView<'a> {
    fn new(step: &'a Step) -> StepView<'a> {
        let checks = |checks: &'a [crate::plan::Check]| -> Vec<CheckView<'a>> {
            checks
                .iter()
                .map(|c| CheckView {
                    what: oneline(&c.what),
                    query: &c.query,
                    expect: oneline(&c.expect),
                })
                .collect()
        };
        StepView {
            title: oneline(&step.title),
            rule: step.rule,
            up: sql_views(&step.up),
            down: step.down.as_deref().map(sql_views).unwrap_or_default(),
            locks: step
                .locks
                .iter()
                .map(|l| {
                    format!(
                        "`{}` on {} ({}): blocks {}",
                        l.mode.sql_name(),
                        oneline(&l.table),
                        l.held,
                        l.mode.blocks()
                    )
                })
                .collect(),
            before: checks(&step.before),
            verify: checks(&step.verify),
            app: step.app.iter().map(|a| oneline(a)).collect(),
            command: step.command.as_deref(),
            notes: step.notes.iter().map(|n| oneline(n)).collect(),
            points_of_no_return: step
                .notes
                .iter()
                .filter(|n| n.starts_with("Point of no return"))
                .map(|n| oneline(n))
                .collect(),
        }
    }
}

struct StageView<'a> {
    index: usize,
    name: String,
    dir: String,
    phase: &'static str,
    kind: &'static str,
    transactional: bool,
    /// The stage commits once per group of steps on the same tables: indexes into `steps`.
    transactions: Vec<Vec<usize>>,
    reversible: bool,
    is_application: bool,
    /// An online schema change tool run by a person (its command is in the step's `app`).
    is_tool: bool,
    has_verify: bool,
    depends_on: Vec<usize>,
    after: String,
    locks: String,
    /// `~40s`, `~2h 5m LONG`, `size unknown` or `—` (brief).
    estimate: String,
    /// What the estimate rests on; empty when there is none.
    estimate_basis: String,
    mermaid: String,
    steps: Vec<StepView<'a>>,
    /// MySQL: the stage tightens sql_mode to strict (not when it runs a statement as written).
    strict: bool,
    /// MySQL: the change file's opening SET statements, for a stage that runs it as written.
    session: Vec<String>,
}

impl<'a> StageView<'a> {
    fn new(stage: &'a Stage) -> StageView<'a> {
        let steps: Vec<StepView> = stage.steps.iter().map(StepView::new).collect();
        let mut locks: Vec<String> = Vec::new();
        // A set beside the list: a stage can hold a lock line for each of thousands of tables.
        let mut seen = std::collections::HashSet::new();
        for step in &stage.steps {
            for lock in &step.locks {
                let text = format!("{} on {} ({})", lock.mode.sql_name(), lock.table, lock.held);
                if seen.insert(text.clone()) {
                    locks.push(text);
                }
            }
        }
        let after = if stage.depends_on.is_empty() {
            "—".to_string()
        } else {
            stage
                .depends_on
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        StageView {
            index: stage.index,
            name: oneline(&stage.name),
            dir: stage.dir.clone(),
            phase: stage.phase.as_str(),
            kind: stage.kind.as_str(),
            transactional: stage.transactional,
            transactions: stage.transactions.clone(),
            reversible: stage.reversible,
            is_application: stage.kind == StepKind::Application,
            is_tool: stage.kind == StepKind::Tool,
            has_verify: stage.steps.iter().any(|s| !s.verify.is_empty()),
            depends_on: stage.depends_on.clone(),
            after,
            locks: if locks.is_empty() {
                "none".into()
            } else {
                cell(&locks.join("; "))
            },
            estimate: stage
                .estimate
                .as_ref()
                .map(|e| e.short())
                .unwrap_or_else(|| "—".into()),
            estimate_basis: stage
                .estimate
                .as_ref()
                .map(|e| oneline(&e.basis))
                .unwrap_or_default(),
            mermaid: format!(
                "{:02} {}: {}",
                stage.index,
                stage.kind.as_str(),
                oneline(&stage.name)
            )
            .replace('"', "#quot;"),
            steps,
            strict: !stage.runs_as_written(),
            session: Vec::new(),
        }
    }
}

impl StageView<'_> {
    fn all_steps(&self) -> Vec<&StepView<'_>> {
        self.steps.iter().collect()
    }

    /// The steps of one of the stage's transactions.
    fn steps_of(&self, group: &[usize]) -> Vec<&StepView<'_>> {
        group.iter().filter_map(|&i| self.steps.get(i)).collect()
    }

    /// The stage commits once per group of tables (see `Stage::transactions`).
    fn per_table(&self) -> bool {
        !self.transactions.is_empty()
    }
}

#[derive(Template)]
#[template(path = "up.sql", escape = "none")]
struct UpSql<'a> {
    stage: &'a StageView<'a>,
    total: usize,
    lock_timeout: &'a str,
}

#[derive(Template)]
#[template(path = "down.sql", escape = "none")]
struct DownSql<'a> {
    stage: &'a StageView<'a>,
    total: usize,
    lock_timeout: &'a str,
}

#[derive(Template)]
#[template(path = "mysql/up.sql", escape = "none")]
struct MysqlUpSql<'a> {
    stage: &'a StageView<'a>,
    total: usize,
    engine: &'a str,
    client: &'a str,
    if_exists: bool,
    lock_timeout: String,
    lock_seconds: u32,
}

#[derive(Template)]
#[template(path = "mysql/down.sql", escape = "none")]
struct MysqlDownSql<'a> {
    stage: &'a StageView<'a>,
    total: usize,
    client: &'a str,
    lock_seconds: u32,
}

/// What the files say about the engine a plan is for.
struct Engine {
    id: &'static str,
    name: &'static str,
    /// The command-line client that runs the files.
    client: &'static str,
}

impl Engine {
    fn of(dialect: &str) -> Engine {
        match dialect {
            "mysql" => Engine {
                id: "mysql",
                name: "MySQL",
                client: "mysql",
            },
            "mariadb" => Engine {
                id: "mariadb",
                name: "MariaDB",
                client: "mariadb",
            },
            _ => Engine {
                id: "postgres",
                name: "PostgreSQL",
                client: "psql",
            },
        }
    }

    fn is_mysql(&self) -> bool {
        self.id != "postgres"
    }

    /// Whether a stage's statements are each written to run again after a partial run: on
    /// PostgreSQL and MariaDB (`IF [NOT] EXISTS`), not on MySQL, which lacks the clause for
    /// columns and indexes.
    fn rerunnable(&self) -> bool {
        self.id != "mysql"
    }

    /// The command that runs a stage's SQL file.
    fn run(&self, file: &str) -> String {
        if self.is_mysql() {
            format!("{} --batch \"$DATABASE\" < {file}", self.client)
        } else {
            format!("psql -v ON_ERROR_STOP=1 -d \"$DATABASE_URL\" -f {file}")
        }
    }

    fn up(&self, stage: &StageView, total: usize) -> Result<String, askama::Error> {
        if !self.is_mysql() {
            return UpSql {
                stage,
                total,
                lock_timeout: LOCK_TIMEOUT,
            }
            .render();
        }
        MysqlUpSql {
            stage,
            total,
            engine: self.name,
            client: self.client,
            if_exists: self.rerunnable(),
            lock_timeout: format!("{}s", crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS),
            lock_seconds: crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS,
        }
        .render()
    }

    fn down(&self, stage: &StageView, total: usize) -> Result<String, askama::Error> {
        if !self.is_mysql() {
            return DownSql {
                stage,
                total,
                lock_timeout: LOCK_TIMEOUT,
            }
            .render();
        }
        MysqlDownSql {
            stage,
            total,
            client: self.client,
            lock_seconds: crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS,
        }
        .render()
    }
}

#[derive(Template)]
#[template(path = "CHECKLIST.md")]
struct Checklist<'a> {
    stage: &'a StageView<'a>,
    total: usize,
    run_up: String,
    run_down: String,
    /// What a statement that gave up on its lock says.
    lock_error: &'a str,
    /// `MySQL`, `MariaDB` or `PostgreSQL`.
    engine: &'a str,
    /// Every statement of a stage that is not one transaction may run again (IF [NOT] EXISTS):
    /// not on MySQL, which has no such clause for columns and indexes.
    rerunnable: bool,
}

struct ChangeView {
    index: usize,
    line: u64,
    sql: String,
    why: String,
    rule: &'static str,
    /// The stages that carry a step of this change, in run order: (index, folder).
    stages: Vec<(usize, String)>,
    /// Later statements' lines that are part of this change.
    folded: String,
}

#[derive(Template)]
#[template(path = "PLAN.md")]
struct PlanMd<'a> {
    plan: &'a Plan,
    /// The change file's name, for `file:line`.
    source: String,
    engine: &'a str,
    run: &'a str,
    changes: Vec<ChangeView>,
    stages: &'a [StageView<'a>],
    risks: Vec<String>,
    assumptions: Vec<String>,
    warnings: Vec<String>,
    has_estimates: bool,
}

/// What to write besides the plan itself: a migration tool's files, numbered how.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub layout: Layout,
    pub numbering: Numbering,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            layout: Layout::Plain,
            numbering: Numbering::From(1),
        }
    }
}

/// plan.json: the plan, and for a tool layout which migration files hold which stage.
#[derive(serde::Serialize)]
struct PlanJson<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<Layout>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    migrations: &'a [layout::MigrationFile],
    /// The SHA-256 of every stage's up.sql and down.sql as written, so `apply` and `rehearse`
    /// notice a file edited since.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    sha256: std::collections::BTreeMap<String, String>,
}

/// Lower-case hex SHA-256 of a file's text.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file of the plan directory, as (relative path, contents).
pub fn plan_files(plan: &Plan) -> Result<Vec<(PathBuf, String)>, Error> {
    plan_files_with(plan, Output::default())
}

/// Every file of the plan directory in the given layout, as (relative path, contents).
pub fn plan_files_with(plan: &Plan, output: Output) -> Result<Vec<(PathBuf, String)>, Error> {
    let mut files = Vec::new();
    each_plan_file(plan, output, |path, contents| {
        files.push((path, contents));
        Ok(())
    })?;
    Ok(files)
}

/// Renders the plan directory one file at a time and hands each to `sink`, so a large plan is
/// never held in memory whole.
pub fn each_plan_file(
    plan: &Plan,
    output: Output,
    mut sink: impl FnMut(PathBuf, String) -> Result<(), Error>,
) -> Result<(), Error> {
    let err = |e: askama::Error| Error::Write {
        path: PathBuf::from("<template>"),
        message: e.to_string(),
    };
    let total = plan.stages.len();
    let views: Vec<StageView> = plan
        .stages
        .iter()
        .map(|stage| {
            let mut view = StageView::new(stage);
            if !view.strict {
                view.session = plan.session.clone();
            }
            view
        })
        .collect();
    let tool = layout::render(plan, output.layout, output.numbering)?;
    let engine = Engine::of(plan.dialect);
    // Rendered twice (here for the digest, below to write): never all held at once.
    let mut sha256 = std::collections::BTreeMap::new();
    for (stage, view) in plan.stages.iter().zip(&views) {
        if stage.has_sql() {
            let up = engine.up(view, total).map_err(err)?;
            sha256.insert(format!("{}/up.sql", stage.dir), sha256_hex(&up));
            if stage.reversible {
                let down = engine.down(view, total).map_err(err)?;
                sha256.insert(format!("{}/down.sql", stage.dir), sha256_hex(&down));
            }
        }
    }
    let json = serde_json::to_string_pretty(&PlanJson {
        plan,
        layout: (output.layout != Layout::Plain).then_some(output.layout),
        migrations: &tool.migrations,
        sha256,
    })
    .map_err(|e| Error::Write {
        path: "plan.json".into(),
        message: e.to_string(),
    })?;
    sink(PathBuf::from("plan.json"), json + "\n")?;
    // change → the stages its steps are in (a stage once, however many steps it holds).
    let mut carried: std::collections::HashMap<usize, Vec<(usize, String)>> =
        std::collections::HashMap::new();
    for stage in &plan.stages {
        let mut seen = std::collections::HashSet::new();
        for step in &stage.steps {
            if seen.insert(step.change) {
                carried
                    .entry(step.change)
                    .or_default()
                    .push((stage.index, stage.dir.clone()));
            }
        }
    }
    let changes = plan
        .changes
        .iter()
        .map(|c| ChangeView {
            index: c.index + 1,
            line: c.line,
            sql: cell(&truncate(&c.sql, 90)),
            why: cell(&c.assessment.why),
            rule: c.assessment.rule,
            stages: carried.remove(&c.index).unwrap_or_default(),
            folded: c
                .folded_lines
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let risks = plan
        .changes
        .iter()
        .filter(|c| c.assessment.risk != Risk::Safe)
        .map(|c| {
            let lock = c
                .assessment
                .lock
                .map(|l| format!(" It takes {} (blocks {}).", l.sql_name(), l.blocks()))
                .unwrap_or_default();
            oneline(&format!(
                "Line {} (`{}`): {}.{lock}",
                c.line,
                cell(&truncate(&c.sql, 60)),
                c.assessment.why
            ))
        })
        .collect();
    let run = if engine.is_mysql() {
        format!("`{} --batch < up.sql`", engine.client)
    } else {
        "`psql -v ON_ERROR_STOP=1 -f`".to_string()
    };
    let page = PlanMd {
        plan,
        source: cell(&plan.source),
        engine: engine.name,
        run: &run,
        changes,
        stages: &views,
        risks,
        assumptions: plan.assumptions.iter().map(|a| oneline(a)).collect(),
        warnings: plan.warnings.iter().map(|w| oneline(w)).collect(),
        has_estimates: views.iter().any(|v| !v.estimate_basis.is_empty()),
    };
    sink(PathBuf::from("PLAN.md"), page.render().map_err(err)?)?;
    sink(PathBuf::from("plan.html"), html::plan_html(plan, &views)?)?;
    if let Some(schema) = &plan.schema_sql {
        sink(PathBuf::from("schema.sql"), schema.clone())?;
    }
    for (stage, view) in plan.stages.iter().zip(&views) {
        let dir = PathBuf::from(&stage.dir);
        if stage.has_sql() {
            sink(dir.join("up.sql"), engine.up(view, total).map_err(err)?)?;
            if stage.reversible {
                sink(dir.join("down.sql"), engine.down(view, total).map_err(err)?)?;
            }
        }
        let checklist = Checklist {
            stage: view,
            total,
            run_up: engine.run(&format!("{}/up.sql", stage.dir)),
            run_down: engine.run(&format!("{}/down.sql", stage.dir)),
            lock_error: if engine.is_mysql() {
                "Lock wait timeout exceeded"
            } else {
                "canceling statement due to lock timeout"
            },
            engine: engine.name,
            rerunnable: engine.rerunnable(),
        };
        sink(dir.join("CHECKLIST.md"), checklist.render().map_err(err)?)?;
    }
    for (path, contents) in tool.files {
        sink(path, contents)?;
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    let flat = oneline(text);
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Writes the plan directory: into a temporary sibling first, then renamed into place, so a
/// failure never leaves a half-written plan. An existing `out` is replaced only with `force`;
/// a symlink at `out` is refused (we would otherwise write wherever it points).
pub fn write_plan_dir(plan: &Plan, out: &Path, force: bool, output: Output) -> Result<(), Error> {
    let werr = |path: &Path, e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Ok(meta) = fs::symlink_metadata(out) {
        if meta.file_type().is_symlink() {
            return Err(Error::Usage(format!(
                "{}: is a symbolic link; refusing to write through it",
                out.display()
            )));
        }
        if !force {
            return Err(Error::OutputExists(out.to_path_buf()));
        }
        if !meta.is_dir() {
            return Err(Error::Usage(format!(
                "{}: exists and is not a directory",
                out.display()
            )));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| werr(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".safeshift-plan-")
        .tempdir_in(&parent)
        .map_err(|e| werr(&parent, e))?;
    each_plan_file(plan, output, |path, contents| {
        let full = staging.path().join(path);
        if let Some(dir) = full.parent() {
            fs::create_dir_all(dir).map_err(|e| werr(dir, e))?;
        }
        fs::write(&full, contents).map_err(|e| werr(&full, e))
    })?;
    let staged = staging.keep();
    let placed = if out.exists() {
        replace_dir(&staged, out, &parent)
    } else {
        move_into_place(&staged, out)
    };
    if let Err(e) = placed {
        let _ = fs::remove_dir_all(&staged);
        return Err(werr(out, e));
    }
    Ok(())
}

/// Renames the finished `staged` directory to `out`, which did not exist a moment ago. On Linux
/// the rename refuses to replace anything: an `out` created meanwhile (even an empty directory,
/// which a plain rename replaces silently) is not ours to touch.
fn move_into_place(staged: &Path, out: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, staged, CWD, out, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::EXIST => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "appeared while the plan was written; not replaced (pass --force)",
                ));
            }
            // A file system without renameat2 flags: fall back to the plain rename.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    fs::rename(staged, out)
}

/// Replaces the existing directory `out` (with `--force`) by `staged`. On Linux both swap places
/// in one `renameat2(RENAME_EXCHANGE)`, so `out` is at every moment either the whole old plan or
/// the whole new one; the old one, now at `staged`, is then removed. Elsewhere (or on a file system
/// without the flag) it takes two renames, old aside then new in, and for that moment `out` is
/// missing; a failure of the second puts the old one back.
fn replace_dir(staged: &Path, out: &Path, parent: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, staged, CWD, out, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // `staged` now holds the old plan. Failing to remove it leaves a hidden
                // `.safeshift-plan-*` directory, but the new plan is in place: not an error.
                let _ = fs::remove_dir_all(staged);
                return Ok(());
            }
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    let aside = tempfile::Builder::new()
        .prefix(".safeshift-old-")
        .tempdir_in(parent)?;
    let old = aside.path().join("plan");
    fs::rename(out, &old)?;
    if let Err(e) = fs::rename(staged, out) {
        let _ = fs::rename(&old, out);
        return Err(e);
    }
    // Dropping `aside` removes the old plan.
    Ok(())
}

/// The few lines `safeshift plan` prints: one per stage, then where the plan went.
pub fn summary(plan: &Plan, out: Option<&Path>) -> String {
    let mut text = String::new();
    let risky = plan
        .changes
        .iter()
        .filter(|c| c.assessment.risk != Risk::Safe)
        .count();
    text.push_str(&format!(
        "{} change(s), {} risky as written · {} {} · {} stage(s):\n",
        plan.changes.len(),
        risky,
        Engine::of(plan.dialect).name,
        plan.server_version,
        plan.stages.len()
    ));
    for stage in &plan.stages {
        let how = match (stage.kind, stage.transactional) {
            (StepKind::Application, _) => "deploy".to_string(),
            (StepKind::Tool, _) => "tool run".to_string(),
            (_, true) => "sql, 1 tx".to_string(),
            // One transaction per table (group): `sql, 3 tx`.
            (StepKind::Database, false) if !stage.transactions.is_empty() => {
                format!("sql, {} tx", stage.transactions.len())
            }
            (StepKind::Backfill, _) => "backfill".to_string(),
            _ => "sql, no tx".to_string(),
        };
        let mark = if stage.reversible {
            ""
        } else {
            "  ⚠ cannot be undone"
        };
        let took = stage
            .estimate
            .as_ref()
            .filter(|e| e.seconds.is_some())
            .map(|e| format!("  ({})", e.short()))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {:>2}. {:<9} {:<11} {}{took}{mark}\n",
            stage.index,
            stage.phase.as_str(),
            how,
            oneline(&stage.name)
        ));
    }
    for warning in &plan.warnings {
        text.push_str(&format!("warning: {}\n", oneline(warning)));
    }
    if let Some(out) = out {
        text.push_str(&format!(
            "Plan written to {}/ (start with PLAN.md or plan.html)\n",
            out.display()
        ));
    }
    text
}

struct SummaryStage<'a> {
    view: &'a StageView<'a>,
    /// The name, safe inside a Markdown table cell.
    cell_name: String,
    up_sql: String,
}

impl<'a> std::ops::Deref for SummaryStage<'a> {
    type Target = StageView<'a>;
    fn deref(&self) -> &StageView<'a> {
        self.view
    }
}

#[derive(Template)]
#[template(path = "SUMMARY.md", escape = "none")]
struct SummaryMd<'a> {
    source: String,
    changes: usize,
    risky: usize,
    server_version: &'a str,
    out: Option<String>,
    stages: Vec<SummaryStage<'a>>,
    /// Each stage's SQL folded in a `<details>`; left out when the comment would be too long.
    details: bool,
    /// How many rows of the stages table are shown.
    rows: usize,
    warnings: Vec<String>,
    assumptions: Vec<String>,
}

/// GitHub refuses a comment longer than 65,536 characters; keep a margin for what a bot adds.
const COMMENT_LIMIT: usize = 60_000;

/// A path as a pull-request reader should see it: as given when relative, else its last part
/// (an absolute path names the machine the plan was made on, not the repository).
fn shown_path(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_string())
    } else {
        path.to_string()
    }
}

/// `plan --format markdown`: the plan sized for a pull-request comment — the stages table, then
/// each stage's SQL or deploy instructions folded in a `<details>`.
pub fn summary_markdown(plan: &Plan, out: Option<&Path>) -> Result<String, Error> {
    let err = |e: askama::Error| Error::Usage(format!("rendering the summary: {e}"));
    let views: Vec<StageView> = plan
        .stages
        .iter()
        .map(|stage| {
            let mut view = StageView::new(stage);
            if !view.strict {
                view.session = plan.session.clone();
            }
            view
        })
        .collect();
    let total = plan.stages.len();
    let engine = Engine::of(plan.dialect);
    let mut stages = Vec::with_capacity(views.len());
    for view in &views {
        let up_sql = if view.is_application || view.is_tool {
            String::new()
        } else {
            engine
                .up(view, total)
                .map_err(err)?
                .trim_end()
                .replace("```", "` ` `")
        };
        stages.push(SummaryStage {
            view,
            cell_name: cell(&view.name),
            up_sql,
        });
    }
    let rows = stages.len();
    let mut summary = SummaryMd {
        source: shown_path(&oneline(&plan.source)),
        changes: plan.changes.len(),
        risky: plan
            .changes
            .iter()
            .filter(|c| c.assessment.risk != Risk::Safe)
            .count(),
        server_version: &plan.server_version,
        out: out.map(|p| shown_path(&p.display().to_string())),
        stages,
        details: true,
        rows,
        warnings: plan.warnings.iter().map(|w| oneline(w)).collect(),
        assumptions: plan.assumptions.iter().map(|a| oneline(a)).collect(),
    };
    // Too long for a comment: the SQL goes first, then rows of the stages table.
    let mut text = summary.render().map_err(err)?;
    if text.chars().count() > COMMENT_LIMIT {
        summary.details = false;
        text = summary.render().map_err(err)?;
    }
    while text.chars().count() > COMMENT_LIMIT && summary.rows > 0 {
        summary.rows = summary.rows * 3 / 4;
        text = summary.render().map_err(err)?;
    }
    text.push('\n');
    Ok(text)
}
