//! Migration-tool layouts: the plan's stages cut into the files Flyway, golang-migrate, dbmate or
//! sqlx run, next to the plain plan directory (which `rehearse` and `apply` keep reading).
//!
//! How each tool sends a file decides the cut. PostgreSQL runs a query string holding several
//! statements as one implicit transaction, so `CREATE INDEX CONCURRENTLY`, or a `DO` block that
//! commits per batch, fails in it. golang-migrate's postgres driver sends a whole file in one
//! `Exec` (unless the global `x-multi-statement` option is on); dbmate sends a whole
//! `-- migrate:up` section, sqlx a whole file, each in the tool's own transaction unless told
//! otherwise. So for those three a transactional stage is one migration, and a stage whose
//! statements commit one by one becomes one migration per statement. Flyway splits a script into
//! statements itself and, with `executeInTransaction=false` in the script's `.conf`, runs each on
//! its own: one migration per stage. Application stages have no SQL and take no version number.

use std::path::PathBuf;

use askama::Template;
use serde::Serialize;

use crate::dialect::postgres::{LOCK_TIMEOUT, Postgres, runs_only_alone};
use crate::error::Error;
use crate::plan::{Plan, Sql, Stage, Step};

/// Which files `safeshift plan` writes besides the plan itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Stage directories only: `01-<slug>/up.sql`, `down.sql`, `CHECKLIST.md` (run with psql, or
    /// the mariadb/mysql client)
    Plain,
    /// Also `migrations/V<n>__<slug>.sql` (+ `.conf` with executeInTransaction=false where a
    /// stage is not one transaction: on MySQL/MariaDB, every stage)
    Flyway,
    /// Also `migrations/<n>_<slug>.up.sql` / `.down.sql`
    GolangMigrate,
    /// Also `migrations/<n>_<slug>.sql` with `-- migrate:up` / `-- migrate:down`
    Dbmate,
    /// Also `migrations/<n>_<slug>.up.sql` / `.down.sql`, `-- no-transaction` where needed (on
    /// MySQL/MariaDB: every file)
    Sqlx,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::Flyway => "flyway",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Dbmate => "dbmate",
            Layout::Sqlx => "sqlx",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Layout::Plain => "psql",
            Layout::Flyway => "Flyway",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Dbmate => "dbmate",
            Layout::Sqlx => "sqlx",
        }
    }

    /// Tools that send a whole file (or section) at once: a stage whose statements must commit
    /// one by one is cut into one migration per statement.
    fn sends_file_whole(self) -> bool {
        matches!(self, Layout::GolangMigrate | Layout::Dbmate | Layout::Sqlx)
    }

    /// Numbering without `--start-at`: dbmate and sqlx name migrations by UTC timestamp
    /// (`dbmate new`, `sqlx migrate add`), Flyway and golang-migrate count from 1.
    pub fn default_numbering(self, now: jiff::Timestamp) -> Numbering {
        match self {
            Layout::Dbmate | Layout::Sqlx => Numbering::Clock(now),
            _ => Numbering::From(1),
        }
    }
}

/// Where numbering starts: `--start-at N`, or (dbmate, sqlx) the current UTC time.
#[derive(Clone, Copy, Debug)]
pub enum Numbering {
    From(u64),
    Clock(jiff::Timestamp),
}

/// One migration of a tool layout, as plan.json lists it.
#[derive(Clone, Debug, Serialize)]
pub struct MigrationFile {
    pub stage: usize,
    pub version: String,
    /// Paths relative to the plan root.
    pub up: String,
    /// `None` when the tool has no down file (Flyway: undo is the stage's down.sql).
    pub down: Option<String>,
    /// Whether the tool runs it in a transaction.
    pub transaction: bool,
    /// False at a point of no return: its down migration refuses to run.
    pub reversible: bool,
}

/// The tool's files (path relative to the plan root, contents) and what plan.json says of them.
pub struct Rendered {
    pub files: Vec<(PathBuf, String)>,
    pub migrations: Vec<MigrationFile>,
}

/// A group of statements the tool runs in one go.
struct Chunk<'a> {
    statements: Vec<&'a Sql>,
    /// It holds one statement that PostgreSQL refuses in a transaction block.
    alone: bool,
}

/// One migration before it is numbered: its up and down.
struct Piece<'a> {
    up: Chunk<'a>,
    /// `None`: a point of no return.
    down: Option<Chunk<'a>>,
}

fn chunk<'a>(statements: Vec<&'a Sql>, pg: Postgres) -> Chunk<'a> {
    let alone = statements.len() == 1 && runs_only_alone(&statements[0].text, pg);
    Chunk { statements, alone }
}

/// A statement that opens or closes a transaction block a step writes itself (`BEGIN` …
/// `COMMIT`: a swap that must happen all at once inside a stage that is otherwise not one
/// transaction).
fn opens(sql: &Sql) -> bool {
    sql.text.trim().eq_ignore_ascii_case("BEGIN")
}

fn closes(sql: &Sql) -> bool {
    sql.text.trim().eq_ignore_ascii_case("COMMIT")
}

/// `VALIDATE CONSTRAINT` reads the whole table: in its own transaction, so that the brief
/// exclusive lock of the `ADD CONSTRAINT … NOT VALID` before it is not held while it reads.
fn scans(sql: &Sql) -> bool {
    sql.text
        .to_ascii_uppercase()
        .contains(" VALIDATE CONSTRAINT ")
}

fn has_block(stage: &Stage) -> bool {
    stage
        .steps
        .iter()
        .flat_map(|s| s.up.iter().chain(s.down.iter().flatten()))
        .any(opens)
}

/// A run of statements as the tool must receive them: a step's own `BEGIN` … `COMMIT` becomes
/// one migration run in the tool's transaction (its `BEGIN`/`COMMIT` left out: the tool opens
/// the transaction, and a second `BEGIN` inside it would commit the tool's own early); every
/// other statement is on its own, or, with `merge`, grouped with its neighbours unless it must
/// run alone.
fn cut<'a>(statements: impl Iterator<Item = &'a Sql>, merge: bool, pg: Postgres) -> Vec<Chunk<'a>> {
    let mut chunks: Vec<Chunk<'a>> = Vec::new();
    let mut block: Option<Vec<&'a Sql>> = None;
    let mut open = false;
    for sql in statements {
        if let Some(inside) = block.as_mut() {
            if closes(sql) {
                chunks.push(Chunk {
                    statements: block.take().unwrap_or_default(),
                    alone: false,
                });
            } else {
                inside.push(sql);
            }
            continue;
        }
        if opens(sql) {
            block = Some(Vec::new());
            open = false;
        } else if runs_only_alone(&sql.text, pg) || !merge || scans(sql) {
            chunks.push(chunk(vec![sql], pg));
            open = false;
        } else if open {
            if let Some(last) = chunks.last_mut() {
                last.statements.push(sql);
            }
        } else {
            chunks.push(chunk(vec![sql], pg));
            open = true;
        }
    }
    if let Some(rest) = block {
        // A block never closed: keep it whole rather than lose its statements.
        chunks.push(Chunk {
            statements: rest,
            alone: false,
        });
    }
    chunks
}

/// The stage as migrations, before numbering.
fn pieces<'a>(stage: &'a Stage, layout: Layout, pg: Postgres) -> Vec<Piece<'a>> {
    if !stage.has_sql() {
        return Vec::new();
    }
    // A stage that commits per table: one migration per transaction, each in the tool's own
    // transaction, so the tool never holds the locks of unrelated tables together either.
    if !stage.transactions.is_empty() {
        return stage
            .transactions
            .iter()
            .map(|group| {
                let steps: Vec<&Step> = group.iter().filter_map(|&i| stage.steps.get(i)).collect();
                let up = steps.iter().flat_map(|s| s.up.iter()).collect();
                let down = stage.reversible.then(|| {
                    steps
                        .iter()
                        .rev()
                        .flat_map(|s| s.down.iter().flatten())
                        .collect()
                });
                Piece {
                    up: Chunk {
                        statements: up,
                        alone: false,
                    },
                    down: down.map(|statements| Chunk {
                        statements,
                        alone: false,
                    }),
                }
            })
            .collect();
    }
    // Flyway runs a non-transactional script statement by statement, so it takes one script per
    // stage, unless the stage holds a transaction block: then it is cut like the others.
    if stage.transactional || (!layout.sends_file_whole() && !has_block(stage)) {
        // One migration: the stage's up, and its down (steps undone last first).
        let up = stage.steps.iter().flat_map(|s| s.up.iter()).collect();
        let down = stage.reversible.then(|| {
            stage
                .steps
                .iter()
                .rev()
                .flat_map(|s| s.down.iter().flatten())
                .collect()
        });
        return vec![Piece {
            up: Chunk {
                statements: up,
                alone: !stage.transactional,
            },
            down: down.map(|d| Chunk {
                statements: d,
                alone: !stage.transactional,
            }),
        }];
    }
    // One migration per statement. A step's undo goes on its first migration, which is undone
    // whether the step ran whole or stopped half-way (its downs are idempotent: `IF EXISTS`);
    // the step's later migrations have empty downs. A down that must be cut (statements that run
    // alone) spreads over the first migrations so that going down still runs it in order, with
    // trailing do-nothing migrations if the step has fewer statements than down chunks.
    let mut pieces = Vec::new();
    for step in &stage.steps {
        let ups = cut(step.up.iter(), false, pg);
        let downs: Option<Vec<Chunk>> = step.down.as_ref().map(|d| cut(d.iter(), true, pg));
        // Flyway has no down migrations: its pieces follow the ups alone.
        let count = match layout {
            Layout::Flyway => ups.len().max(1),
            _ => ups.len().max(downs.as_ref().map_or(0, Vec::len)).max(1),
        };
        let empty = || Chunk {
            statements: Vec::new(),
            alone: false,
        };
        let mut ups = ups.into_iter();
        let mut downs = downs.map(|d| d.into_iter().rev().map(Some).collect::<Vec<_>>());
        for _ in 0..count {
            let up = ups.next().unwrap_or_else(empty);
            // Piece i undoes chunk r-1-i: the last chunk runs last, on the first piece.
            let down = downs.as_mut().map(|chunks| {
                let next = chunks.iter_mut().find_map(Option::take);
                next.unwrap_or_else(empty)
            });
            pieces.push(Piece { up, down });
        }
    }
    pieces
}

/// The file name part after the version: the stage's slug, with the part for cut stages.
fn slug(stage: &Stage, part: Option<(usize, usize)>) -> String {
    let base = stage
        .dir
        .split_once('-')
        .map(|(_, rest)| rest)
        .unwrap_or(&stage.dir);
    match part {
        Some((k, n)) => format!("{base}-{k}of{n}"),
        None => base.to_string(),
    }
}

fn versions(layout: Layout, numbering: Numbering, count: usize) -> Vec<String> {
    let raw: Vec<u64> = match numbering {
        Numbering::From(n) => (0..count as u64).map(|i| n + i).collect(),
        Numbering::Clock(now) => (0..count as i64)
            .map(|i| {
                let t = now
                    .checked_add(jiff::SignedDuration::from_secs(i))
                    .unwrap_or(now);
                t.strftime("%Y%m%d%H%M%S").to_string().parse().unwrap_or(0)
            })
            .collect(),
    };
    // dbmate orders files by name, so versions are padded to one width; golang-migrate's
    // `migrate create -seq` pads to 6 digits. Flyway compares versions as numbers.
    let width = raw.last().map(|v| v.to_string().len()).unwrap_or(1);
    let width = match layout {
        Layout::Flyway => 0,
        Layout::GolangMigrate => width.max(6),
        _ => width,
    };
    raw.iter().map(|v| format!("{v:0width$}")).collect()
}

/// How the lock timeout is set in a migration file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LockTimeout {
    /// `SET LOCAL`: the migration is one transaction.
    Local,
    /// `SET`: Flyway runs the statements of a non-transactional script one by one on one session.
    Session,
    /// The statement must be the only one sent: nothing can precede it.
    None,
}

#[derive(Template)]
#[template(path = "migrations/migration.sql", escape = "none")]
struct MigrationSql<'a> {
    /// sqlx reads `-- no-transaction` only as the file's first characters.
    no_transaction_marker: bool,
    tool: &'static str,
    stage: usize,
    total: usize,
    name: &'a str,
    part: Option<(usize, usize)>,
    direction: &'static str,
    how: String,
    explicit_transaction: bool,
    lock: LockTimeout,
    lock_timeout: &'static str,
    statements: Vec<SqlLine<'a>>,
    refuse: Option<String>,
}

#[derive(Template)]
#[template(path = "migrations/dbmate.sql", escape = "none")]
struct DbmateSql<'a> {
    stage: usize,
    total: usize,
    name: &'a str,
    part: Option<(usize, usize)>,
    up_alone: bool,
    down_alone: bool,
    lock_timeout: &'static str,
    up: Vec<SqlLine<'a>>,
    down: Vec<SqlLine<'a>>,
    refuse: Option<String>,
}

#[derive(Template)]
#[template(path = "migrations/README.md")]
struct Readme<'a> {
    tool: &'static str,
    layout: &'static str,
    source: &'a str,
    /// `Some("MySQL")` or `Some("MariaDB")`; `None` for PostgreSQL.
    engine: Option<&'static str>,
    stages: Vec<ReadmeStage>,
    first: Option<String>,
    last: Option<String>,
    numbering: String,
}

struct ReadmeStage {
    index: usize,
    name: String,
    dir: String,
    application: bool,
    reversible: bool,
    /// `000003` or `000003 … 000007`.
    versions: String,
    how: String,
    last_version: Option<String>,
}

struct SqlLine<'a> {
    text: &'a str,
    why: Option<String>,
}

fn lines<'a>(statements: &[&'a Sql]) -> Vec<SqlLine<'a>> {
    statements
        .iter()
        .map(|s| SqlLine {
            text: &s.text,
            why: s.why.as_deref().map(super::oneline),
        })
        .collect()
}

/// dbmate splits a file at lines starting `-- migrate:`; a statement that holds one would be cut
/// in two, so such a plan is refused rather than written.
fn dbmate_sections_intact(text: &str, stage: usize) -> Result<(), Error> {
    let markers = text
        .lines()
        .filter_map(|l| l.strip_prefix("--"))
        .map(str::trim_start)
        .filter(|l| l.starts_with("migrate:up") || l.starts_with("migrate:down"))
        .count();
    if markers != 2 {
        return Err(Error::Usage(format!(
            "stage {stage}: a statement holds a line that dbmate reads as a `-- migrate:` section marker; use another --layout"
        )));
    }
    Ok(())
}

fn refusal(stage: usize) -> String {
    format!(
        "safeshift: stage {stage} is a point of no return and has no down migration; restore from a backup instead"
    )
}

/// Renders the tool's files for `plan`. `Layout::Plain` has none.
pub fn render(plan: &Plan, layout: Layout, numbering: Numbering) -> Result<Rendered, Error> {
    let err = |e: askama::Error| Error::Write {
        path: PathBuf::from("<template>"),
        message: e.to_string(),
    };
    let mut rendered = Rendered {
        files: Vec::new(),
        migrations: Vec::new(),
    };
    if layout == Layout::Plain {
        return Ok(rendered);
    }
    match plan.dialect {
        "postgres" => {}
        "mysql" | "mariadb" => return render_mysql(plan, layout, numbering),
        other => {
            return Err(Error::Usage(format!(
                "--layout {} does not know the {other} dialect; use the stage directories' up.sql/down.sql",
                layout.as_str()
            )));
        }
    }
    let pg = Postgres::parse_version(&plan.server_version).unwrap_or_default();
    let total = plan.stages.len();
    let per_stage: Vec<Vec<Piece>> = plan.stages.iter().map(|s| pieces(s, layout, pg)).collect();
    let count = per_stage.iter().map(Vec::len).sum();
    let mut versions = versions(layout, numbering, count).into_iter();
    let mut readme_stages = Vec::new();
    let dir = PathBuf::from("migrations");
    for (stage, pieces) in plan.stages.iter().zip(&per_stage) {
        let n = pieces.len();
        let mut stage_versions = Vec::new();
        for (k, piece) in pieces.iter().enumerate() {
            let version = versions.next().unwrap_or_default();
            let part = (n > 1).then_some((k + 1, n));
            let name = slug(stage, part);
            let refuse = piece.down.is_none().then(|| refusal(stage.index));
            let up_lines = lines(&piece.up.statements);
            let down_lines = piece
                .down
                .as_ref()
                .map(|d| lines(&d.statements))
                .unwrap_or_default();
            let down_alone = piece.down.as_ref().is_some_and(|d| d.alone);
            let (up_path, down_path) = match layout {
                Layout::Flyway => (format!("V{version}__{name}.sql"), None),
                Layout::Dbmate => (format!("{version}_{name}.sql"), None),
                _ => (
                    format!("{version}_{name}.up.sql"),
                    Some(format!("{version}_{name}.down.sql")),
                ),
            };
            let stage_name = super::oneline(&stage.name);
            // Flyway: a stage's one script runs in a transaction when the stage is one; a cut
            // stage's scripts each run in one unless a statement must run alone.
            let in_transaction = match layout {
                Layout::Flyway if n > 1 || has_block(stage) => !piece.up.alone,
                Layout::Flyway => stage.transactional,
                _ => !piece.up.alone,
            };
            let file = |direction: &'static str,
                        chunk_alone: bool,
                        lines: Vec<SqlLine>,
                        refuse: Option<String>|
             -> Result<String, Error> {
                let transactional_stage = in_transaction;
                let (how, explicit, lock, marker) = match layout {
                    Layout::Flyway if transactional_stage => (
                        "Flyway runs this script in one transaction.".to_string(),
                        false,
                        LockTimeout::Local,
                        false,
                    ),
                    Layout::Flyway => (
                        "Not one transaction: the .conf beside this file sets executeInTransaction=false, so Flyway runs each statement on its own and each commits; every statement is safe to re-run.".to_string(),
                        false,
                        LockTimeout::Session,
                        false,
                    ),
                    _ if chunk_alone => (
                        format!(
                            "Runs outside a transaction, alone: PostgreSQL refuses this statement in a transaction block, and {} sends the file as one query string.",
                            layout.title()
                        ),
                        false,
                        LockTimeout::None,
                        layout == Layout::Sqlx,
                    ),
                    Layout::GolangMigrate => (
                        "One transaction (BEGIN … COMMIT in the file: golang-migrate does not open one itself).".to_string(),
                        true,
                        LockTimeout::Local,
                        false,
                    ),
                    _ => (
                        format!("{} runs this migration in one transaction.", layout.title()),
                        false,
                        LockTimeout::Local,
                        false,
                    ),
                };
                MigrationSql {
                    no_transaction_marker: marker,
                    tool: layout.title(),
                    stage: stage.index,
                    total,
                    name: &stage_name,
                    part,
                    direction,
                    how,
                    explicit_transaction: explicit,
                    lock,
                    lock_timeout: LOCK_TIMEOUT,
                    statements: lines,
                    refuse,
                }
                .render()
                .map(|text| text + "\n")
                .map_err(err)
            };
            match layout {
                Layout::Dbmate => {
                    let text = DbmateSql {
                        stage: stage.index,
                        total,
                        name: &stage_name,
                        part,
                        up_alone: piece.up.alone,
                        down_alone,
                        lock_timeout: LOCK_TIMEOUT,
                        up: up_lines,
                        down: down_lines,
                        refuse,
                    }
                    .render()
                    .map_err(err)?
                        + "\n";
                    dbmate_sections_intact(&text, stage.index)?;
                    rendered.files.push((dir.join(&up_path), text));
                }
                _ => {
                    rendered.files.push((
                        dir.join(&up_path),
                        file("up", piece.up.alone, up_lines, None)?,
                    ));
                    if let Some(down_path) = &down_path {
                        rendered.files.push((
                            dir.join(down_path),
                            file("down", down_alone, down_lines, refuse)?,
                        ));
                    }
                }
            }
            if layout == Layout::Flyway && !in_transaction {
                rendered.files.push((
                    dir.join(format!("{up_path}.conf")),
                    "executeInTransaction=false\n".to_string(),
                ));
            }
            rendered.migrations.push(MigrationFile {
                stage: stage.index,
                version: version.clone(),
                up: format!("migrations/{up_path}"),
                down: match layout {
                    Layout::Dbmate => Some(format!("migrations/{up_path}")),
                    _ => down_path.map(|p| format!("migrations/{p}")),
                },
                transaction: in_transaction,
                reversible: piece.down.is_some(),
            });
            stage_versions.push(version);
        }
        readme_stages.push(ReadmeStage {
            index: stage.index,
            name: super::oneline(&stage.name),
            dir: stage.dir.clone(),
            application: !stage.has_sql(),
            reversible: stage.reversible,
            versions: match stage_versions.as_slice() {
                [] => "—".into(),
                [one] => one.clone(),
                [first, .., last] => format!("{first} … {last}"),
            },
            how: if !stage.has_sql() {
                "deploy: no migration".into()
            } else if stage_versions.len() > 1 {
                format!(
                    "{} migrations, one per statement or transaction block (they commit one by one)",
                    stage_versions.len()
                )
            } else if stage.transactional {
                "one migration, one transaction".into()
            } else {
                "one migration, statements commit one by one".into()
            },
            last_version: stage_versions.last().cloned(),
        });
    }
    let first = rendered.migrations.first().map(|m| m.version.clone());
    let last = rendered.migrations.last().map(|m| m.version.clone());
    let readme = Readme {
        tool: layout.title(),
        layout: layout.as_str(),
        source: &plan.source,
        engine: None,
        stages: readme_stages,
        first,
        last,
        numbering: numbering_text(numbering),
    }
    .render()
    .map_err(err)?;
    rendered.files.push((dir.join("README.md"), readme));
    Ok(rendered)
}

// ── MySQL and MariaDB ───────────────────────────────────────────────────────────────────────────
//
// MySQL has no transactional DDL: every DDL statement commits on its own, whatever the tool
// does, so every stage is non-transactional and there is nothing to gain from cutting it: one
// migration per stage for all four tools. What differs is how the file reaches the server.
// Flyway splits a script into statements itself and understands the client's `DELIMITER`, so
// its scripts keep the stage's text. golang-migrate, dbmate and sqlx send a file (or section)
// as one multi-statement string, which the server parses itself, a `CREATE PROCEDURE … BEGIN …
// END` compound statement included; `DELIMITER` is a client command the server rejects, so for
// them each statement is re-written as the client would send it, followed by `;`.

#[derive(Template)]
#[template(path = "migrations/mysql.sql", escape = "none")]
struct MysqlMigrationSql<'a> {
    no_transaction_marker: bool,
    tool: &'static str,
    engine: &'static str,
    stage: usize,
    total: usize,
    name: &'a str,
    direction: &'static str,
    how: &'a str,
    lock_seconds: u32,
    /// Tightens sql_mode to strict (not when the stage runs a statement as written).
    strict: bool,
    statements: Vec<MysqlLine>,
    refuse: Option<String>,
}

#[derive(Template)]
#[template(path = "migrations/mysql_dbmate.sql", escape = "none")]
struct MysqlDbmateSql<'a> {
    engine: &'static str,
    stage: usize,
    total: usize,
    name: &'a str,
    lock_seconds: u32,
    strict: bool,
    up: Vec<MysqlLine>,
    down: Vec<MysqlLine>,
    refuse: Option<String>,
}

struct MysqlLine {
    text: String,
    why: Option<String>,
}

/// The statements as `layout` sends them: as written for Flyway (it reads `DELIMITER`), split
/// the way the `mysql` client splits them and re-joined with `;` for the tools that send the
/// whole file to the server.
fn mysql_lines(statements: &[&Sql], layout: Layout, stage: usize) -> Result<Vec<MysqlLine>, Error> {
    let mut out = Vec::new();
    for sql in statements {
        let text = if layout == Layout::Flyway {
            sql.text.clone()
        } else {
            let parts = crate::db::mysql::statements(&sql.text).map_err(|e| {
                Error::Usage(format!(
                    "stage {stage}: cannot split a statement for --layout {}: {}",
                    layout.as_str(),
                    e.message
                ))
            })?;
            if parts.is_empty() {
                continue;
            }
            parts
                .into_iter()
                .map(|p| p.text)
                .collect::<Vec<_>>()
                .join(";\n")
        };
        out.push(MysqlLine {
            text,
            why: sql.why.as_deref().map(super::oneline),
        });
    }
    Ok(out)
}

fn render_mysql(plan: &Plan, layout: Layout, numbering: Numbering) -> Result<Rendered, Error> {
    let err = |e: askama::Error| Error::Write {
        path: PathBuf::from("<template>"),
        message: e.to_string(),
    };
    let engine = if plan.dialect == "mariadb" {
        "MariaDB"
    } else {
        "MySQL"
    };
    let lock_seconds = crate::dialect::mysql::LOCK_WAIT_TIMEOUT_SECONDS;
    let mut rendered = Rendered {
        files: Vec::new(),
        migrations: Vec::new(),
    };
    let total = plan.stages.len();
    let count = plan.stages.iter().filter(|s| s.has_sql()).count();
    let mut versions = versions(layout, numbering, count).into_iter();
    let dir = PathBuf::from("migrations");
    let how = match layout {
        Layout::Flyway => format!(
            "Not one transaction: {engine} commits every DDL statement on its own. The .conf beside this file sets executeInTransaction=false; Flyway runs the statements one by one on one connection, reading DELIMITER itself."
        ),
        Layout::Sqlx => format!(
            "Not one transaction: {engine} commits every DDL statement on its own. sqlx sends the file as one multi-statement string, which the server parses itself (no DELIMITER lines)."
        ),
        _ => format!(
            "Not one transaction: {engine} commits every DDL statement on its own. {} sends the file as one multi-statement string, which the server parses itself (no DELIMITER lines).",
            layout.title()
        ),
    };
    let mut readme_stages = Vec::new();
    for stage in &plan.stages {
        let stage_name = super::oneline(&stage.name);
        let mut version = None;
        if stage.has_sql() {
            let v = versions.next().unwrap_or_default();
            let name = slug(stage, None);
            let up: Vec<&Sql> = stage.steps.iter().flat_map(|s| s.up.iter()).collect();
            let down: Vec<&Sql> = stage
                .steps
                .iter()
                .rev()
                .flat_map(|s| s.down.iter().flatten())
                .collect();
            let refuse = (!stage.reversible).then(|| refusal(stage.index));
            let up = mysql_lines(&up, layout, stage.index)?;
            let down = if stage.reversible {
                mysql_lines(&down, layout, stage.index)?
            } else {
                Vec::new()
            };
            let file = |direction: &'static str,
                        statements: Vec<MysqlLine>,
                        refuse: Option<String>|
             -> Result<String, Error> {
                MysqlMigrationSql {
                    // sqlx reads it only as the file's first characters.
                    no_transaction_marker: layout == Layout::Sqlx,
                    tool: layout.title(),
                    engine,
                    stage: stage.index,
                    total,
                    name: &stage_name,
                    direction,
                    how: &how,
                    lock_seconds,
                    strict: !stage.runs_as_written(),
                    statements,
                    refuse,
                }
                .render()
                .map(|text| text + "\n")
                .map_err(err)
            };
            let (up_path, down_path) = match layout {
                Layout::Flyway => (format!("V{v}__{name}.sql"), None),
                Layout::Dbmate => (format!("{v}_{name}.sql"), None),
                _ => (
                    format!("{v}_{name}.up.sql"),
                    Some(format!("{v}_{name}.down.sql")),
                ),
            };
            match layout {
                Layout::Dbmate => {
                    let text = MysqlDbmateSql {
                        engine,
                        stage: stage.index,
                        total,
                        name: &stage_name,
                        lock_seconds,
                        strict: !stage.runs_as_written(),
                        up,
                        down,
                        refuse,
                    }
                    .render()
                    .map_err(err)?
                        + "\n";
                    dbmate_sections_intact(&text, stage.index)?;
                    rendered.files.push((dir.join(&up_path), text));
                }
                Layout::Flyway => {
                    rendered
                        .files
                        .push((dir.join(&up_path), file("up", up, None)?));
                    rendered.files.push((
                        dir.join(format!("{up_path}.conf")),
                        "executeInTransaction=false\n".to_string(),
                    ));
                }
                _ => {
                    rendered
                        .files
                        .push((dir.join(&up_path), file("up", up, None)?));
                    if let Some(down_path) = &down_path {
                        rendered
                            .files
                            .push((dir.join(down_path), file("down", down, refuse)?));
                    }
                }
            }
            rendered.migrations.push(MigrationFile {
                stage: stage.index,
                version: v.clone(),
                up: format!("migrations/{up_path}"),
                down: match layout {
                    Layout::Dbmate => Some(format!("migrations/{up_path}")),
                    _ => down_path.map(|p| format!("migrations/{p}")),
                },
                transaction: false,
                reversible: stage.reversible,
            });
            version = Some(v);
        }
        readme_stages.push(ReadmeStage {
            index: stage.index,
            name: stage_name,
            dir: stage.dir.clone(),
            application: !stage.has_sql(),
            reversible: stage.reversible,
            versions: version.clone().unwrap_or_else(|| "—".into()),
            how: if stage.has_sql() {
                "one migration, statements commit one by one".into()
            } else {
                "deploy: no migration".into()
            },
            last_version: version,
        });
    }
    let readme = Readme {
        tool: layout.title(),
        layout: layout.as_str(),
        source: &plan.source,
        engine: Some(engine),
        stages: readme_stages,
        first: rendered.migrations.first().map(|m| m.version.clone()),
        last: rendered.migrations.last().map(|m| m.version.clone()),
        numbering: numbering_text(numbering),
    }
    .render()
    .map_err(err)?;
    rendered.files.push((dir.join("README.md"), readme));
    Ok(rendered)
}

fn numbering_text(numbering: Numbering) -> String {
    match numbering {
        Numbering::From(n) => format!("from {n} (--start-at)"),
        Numbering::Clock(_) => "from the time the plan was written (pass --start-at N to continue an existing numbering)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Phase, Step, StepKind};

    fn stage(steps: Vec<Step>, transactional: bool) -> Stage {
        Stage {
            index: 3,
            name: "s".into(),
            dir: "03-build-things".into(),
            phase: Phase::Expand,
            kind: StepKind::Database,
            up: Some("03-build-things/up.sql".into()),
            down: Some("03-build-things/down.sql".into()),
            transactional,
            transactions: Vec::new(),
            reversible: steps.iter().all(|s| s.down.is_some()),
            depends_on: vec![],
            steps,
            estimate: None,
        }
    }

    fn texts(chunk: &Chunk) -> Vec<String> {
        chunk.statements.iter().map(|s| s.text.clone()).collect()
    }

    #[test]
    fn a_cut_stage_is_undone_by_each_steps_first_migration() {
        let pg = Postgres::default();
        let step = Step::database(Phase::Expand, "c", "check")
            .non_transactional()
            .sql("ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID", "")
            .sql("ALTER TABLE t VALIDATE CONSTRAINT c", "")
            .down_sql("ALTER TABLE t DROP CONSTRAINT IF EXISTS c", "");
        let s = stage(vec![step], false);
        let pieces = pieces(&s, Layout::GolangMigrate, pg);
        assert_eq!(pieces.len(), 2);
        let down = |i: usize| texts(pieces[i].down.as_ref().unwrap());
        assert_eq!(down(0), ["ALTER TABLE t DROP CONSTRAINT IF EXISTS c"]);
        assert!(down(1).is_empty());
        // Flyway runs the statements one by one itself: one migration.
        assert_eq!(super::pieces(&s, Layout::Flyway, pg).len(), 1);
    }

    #[test]
    fn a_down_with_more_lone_statements_than_the_up_gets_carrier_migrations() {
        let pg = Postgres::default();
        let step = Step::database(Phase::Expand, "i", "index")
            .non_transactional()
            .sql("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)", "")
            .down_sql("DROP INDEX CONCURRENTLY IF EXISTS j", "")
            .down_sql("DROP INDEX CONCURRENTLY IF EXISTS i", "");
        let s = stage(vec![step], false);
        let pieces = pieces(&s, Layout::Sqlx, pg);
        assert_eq!(pieces.len(), 2);
        assert!(pieces[0].up.alone && pieces[1].up.statements.is_empty());
        // Going down runs piece 2's down, then piece 1's: j, then i, as the stage's down.sql.
        let down = |i: usize| texts(pieces[i].down.as_ref().unwrap());
        assert_eq!(down(1), ["DROP INDEX CONCURRENTLY IF EXISTS j"]);
        assert_eq!(down(0), ["DROP INDEX CONCURRENTLY IF EXISTS i"]);
        assert!(pieces.iter().all(|p| p.down.as_ref().unwrap().alone));
    }

    #[test]
    fn points_of_no_return_have_no_down_and_versions_pad_for_name_order() {
        let pg = Postgres::default();
        let step = Step::database(Phase::Contract, "d", "drop")
            .sql("ALTER TABLE t DROP COLUMN x", "")
            .irreversible("x is gone");
        let s = stage(vec![step], true);
        let pieces = pieces(&s, Layout::Dbmate, pg);
        assert_eq!(pieces.len(), 1);
        assert!(pieces[0].down.is_none());
        assert_eq!(
            versions(Layout::Dbmate, Numbering::From(98), 3),
            ["098", "099", "100"]
        );
        assert_eq!(
            versions(Layout::GolangMigrate, Numbering::From(7), 2),
            ["000007", "000008"]
        );
        assert_eq!(versions(Layout::Flyway, Numbering::From(9), 2), ["9", "10"]);
        let at = "2024-01-01T23:59:59Z".parse().unwrap();
        assert_eq!(
            versions(Layout::Sqlx, Numbering::Clock(at), 2),
            ["20240101235959", "20240102000000"]
        );
    }

    #[test]
    fn mysql_statements_lose_the_client_delimiter_except_for_flyway() {
        let step = Step::database(Phase::Migrate, "b", "backfill")
            .non_transactional()
            .sql(
                "DROP PROCEDURE IF EXISTS `p`;\nDELIMITER $$\nCREATE PROCEDURE `p`()\nBEGIN\n  SELECT 1;\n  COMMIT;\nEND$$\nDELIMITER ;\nCALL `p`();\nDROP PROCEDURE IF EXISTS `p`",
                "",
            );
        let ups: Vec<&Sql> = step.up.iter().collect();
        let sent = mysql_lines(&ups, Layout::Dbmate, 3).unwrap();
        assert_eq!(
            sent[0].text,
            "DROP PROCEDURE IF EXISTS `p`;\nCREATE PROCEDURE `p`()\nBEGIN\n  SELECT 1;\n  COMMIT;\nEND;\nCALL `p`();\nDROP PROCEDURE IF EXISTS `p`"
        );
        let kept = mysql_lines(&ups, Layout::Flyway, 3).unwrap();
        assert_eq!(kept[0].text, step.up[0].text);
    }
}
