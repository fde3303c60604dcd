//! `safeshift lint`: checks migration files statement by statement, the way they would run on a
//! busy production database. It reuses the planner's knowledge: each finding about a change is
//! the change's own `assess` (`src/ops/`), so lint and plan can never disagree. What only makes
//! sense for a file as a whole (syntax, transactions, lock_timeout) lives in `rules.rs`.
//!
//! Files are checked in order and share one catalog, so a later file sees the tables and columns
//! an earlier one created. Tables created in the same file (or, for `gate`, in any of the new
//! files, which deploy together) are empty and unused: anything goes on them.

pub mod files;
pub mod format;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::change::{self, Change};
use crate::dialect::{Dialect, LockMode};
use crate::error::PlanError;
use crate::error::Pos;
use crate::ops::{Context, Op, Options, Risk};
use crate::parse::{self, Body, Directive};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

/// One migration file.
pub struct Source {
    /// As the user named it (shown in findings).
    pub name: String,
    pub text: String,
    /// False: read only so later files see its schema (`gate --since` for older migrations).
    pub report: bool,
}

/// How to lint: the target server, the schema it starts from, and the team's rule settings.
pub struct Settings {
    /// The engine and version the migrations run on.
    pub dialect: Dialect,
    /// The schema before the first file; `schema_known` says whether it came from `--schema`.
    pub catalog: Catalog,
    pub schema_known: bool,
    /// Severity per rule id, overriding the rule's default.
    pub severity: BTreeMap<String, Severity>,
    /// Rule ids never reported.
    pub disabled: BTreeSet<String>,
    /// Tables created by any earlier file are still new (the files deploy together).
    pub new_tables_across_files: bool,
    /// Flags to repeat in the suggested `safeshift plan` command (`--schema …`, `--server-version …`).
    pub plan_flags: String,
    /// Keep each finding's statement text (for snippets); machine formats do without it.
    pub keep_statements: bool,
    /// Record every change's assessment in `Report::changes` (for `gate`).
    pub collect_changes: bool,
}

impl Settings {
    pub fn new(dialect: impl Into<Dialect>) -> Settings {
        Settings {
            dialect: dialect.into(),
            catalog: Catalog::default(),
            schema_known: false,
            severity: BTreeMap::new(),
            disabled: BTreeSet::new(),
            new_tables_across_files: false,
            plan_flags: String::new(),
            keep_statements: true,
            collect_changes: true,
        }
    }

    /// The severity a finding of `rule` gets, or `None` when it is not reported at all.
    pub fn severity_of(&self, rule: &Rule) -> Option<Severity> {
        if self.disabled.contains(rule.id) {
            return None;
        }
        self.severity.get(rule.id).copied().or(rule.severity)
    }
}

/// A problem at a place in a file.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub file: String,
    /// Where the statement starts (1-based).
    pub line: u64,
    pub column: u64,
    /// Where it ends (1-based, inclusive).
    pub end_line: u64,
    pub end_column: u64,
    pub rule: &'static str,
    pub severity: Severity,
    /// What goes wrong.
    pub message: String,
    /// The safe way, with the `safeshift plan` command when a plan makes it safe.
    pub help: String,
    /// The strongest lock the statement takes, and on what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// What application traffic waits while that lock is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_command: Option<String>,
    /// The statement and where it starts, for snippets (a syntax error points inside it).
    #[serde(skip)]
    pub statement: String,
    #[serde(skip)]
    pub statement_pos: Pos,
}

/// What running a change as written would mean for a deploy (read by `gate`).
#[derive(Clone, Debug, Serialize)]
pub struct Assessed {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub rule: &'static str,
    pub risk: Risk,
    pub why: String,
    /// An `ignore` directive accepts the risk for this statement.
    pub suppressed: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub files: usize,
    pub statements: usize,
    pub findings: Vec<Finding>,
    /// Findings an `ignore` directive silenced.
    pub suppressed: usize,
    /// Every change of the reported files with its risk, including the safe ones.
    #[serde(skip)]
    pub changes: Vec<Assessed>,
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Session state a migration file builds up as it runs.
#[derive(Default)]
struct Session {
    in_transaction: bool,
    lock_timeout: bool,
    /// Set with `SET LOCAL`: ends with the transaction.
    lock_timeout_local: bool,
    lock_timeout_reported: bool,
    /// Constraints added NOT VALID in the open transaction, with their rule and lock: validating
    /// one before COMMIT scans while the ADD's lock is still held.
    not_valid_in_transaction: Vec<(String, &'static Rule, LockMode)>,
    /// MySQL: `SET foreign_key_checks = 0` is in effect.
    foreign_key_checks_off: bool,
}

/// Lints the files in order. Never stops at a bad statement: a syntax error is a finding, and
/// checking goes on with the next statement.
///
/// Parsing is the expensive part and depends on nothing but the file, so worker threads parse
/// files ahead while this thread checks them in order against the evolving catalog.
pub fn lint(sources: &[Source], settings: &Settings) -> Report {
    let mut catalog = settings.catalog.clone();
    let mut new_tables: BTreeSet<(String, String)> = BTreeSet::new();
    let options = Options::default();
    let mut report = Report::default();
    let mut previous_reported = true;

    in_order(sources, settings.dialect, |source, prepared| {
        // Tables of files read only for context were created long ago: never new.
        if !settings.new_tables_across_files || !source.report || !previous_reported {
            new_tables.clear();
        }
        previous_reported = source.report;
        let mut file = FileLint {
            source,
            settings,
            report: &mut report,
            session: Session::default(),
        };
        if source.report {
            file.report.files += 1;
        }
        match prepared {
            Ok(statements) => {
                for statement in &statements {
                    file.statement(statement, &mut catalog, &mut new_tables, &options);
                }
            }
            Err(e) => file.unreadable(e),
        }
    });
    report
}

/// A statement parsed and lowered: the part of linting that needs nothing but its file.
struct Prepared {
    pos: Pos,
    text: String,
    directives: Vec<Directive>,
    body: Prepare,
    /// MySQL: the ALTER forces a copy or a blocking lock (`ALGORITHM=COPY`, `LOCK=SHARED`, …).
    forced_lock: Option<&'static str>,
}

enum Prepare {
    Begin,
    End,
    /// `SET [LOCAL] lock_timeout`: (local, on).
    LockTimeout(bool, bool),
    /// MySQL `SET [SESSION] foreign_key_checks = 0|1`: on?
    ForeignKeyChecks(bool),
    /// Other `SET`s carry no schema change.
    OtherSetting,
    Changes(Vec<Change>),
    Invalid(PlanError),
}

/// Parses and lowers one file; only a tokenizer error stops it.
fn prepare(source: &Source, dialect: Dialect) -> Result<Vec<Prepared>, PlanError> {
    use sqlparser::ast::Statement as S;
    let statements = parse::parse_for(dialect, files::up_section(&source.text))?;
    Ok(statements
        .into_iter()
        .map(|statement| {
            let body = match &statement.body {
                Body::Ast(ast) => match ast.as_ref() {
                    S::StartTransaction { .. } => Some(Prepare::Begin),
                    S::Commit { .. } | S::Rollback { .. } => Some(Prepare::End),
                    S::Set(_) => Some(match lock_timeout_setting(&statement.text) {
                        Some((local, on)) => Prepare::LockTimeout(local, on),
                        None => match foreign_key_checks_setting(&statement.text) {
                            Some(on) => Prepare::ForeignKeyChecks(on),
                            None => Prepare::OtherSetting,
                        },
                    }),
                    _ => None,
                },
                _ => None,
            };
            let body = body.unwrap_or_else(|| match change::lower_statement(&statement) {
                Ok(changes) => Prepare::Changes(changes),
                Err(e) => Prepare::Invalid(e),
            });
            let forced_lock = match &statement.body {
                Body::Ast(ast) if dialect.is_mysql() => change::forced_lock(ast),
                _ => None,
            };
            Prepared {
                pos: statement.pos,
                text: statement.text,
                directives: statement.directives,
                body,
                forced_lock,
            }
        })
        .collect())
}

/// Calls `check` on every source in order with its prepared statements, preparing up to a few
/// files ahead on worker threads (one per core). Memory stays bounded by the channels' size.
fn in_order(
    sources: &[Source],
    dialect: Dialect,
    mut check: impl FnMut(&Source, Result<Vec<Prepared>, PlanError>),
) {
    // Parsing is about twice the work of checking: one parser per core keeps this thread fed.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len());
    if workers < 2 {
        for source in sources {
            check(source, prepare(source, dialect));
        }
        return;
    }
    std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..workers)
            .map(|k| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(4);
                scope.spawn(move || {
                    for source in sources.iter().skip(k).step_by(workers) {
                        if sender.send(prepare(source, dialect)).is_err() {
                            return; // the checking thread stopped
                        }
                    }
                });
                receiver
            })
            .collect();
        for (i, source) in sources.iter().enumerate() {
            // Worker k prepares files k, k + workers, …, in order: its next message is file i.
            let prepared = receivers[i % workers]
                .recv()
                .unwrap_or_else(|_| prepare(source, dialect));
            check(source, prepared);
        }
    });
}

fn line_index(pos: Pos) -> usize {
    usize::try_from(pos.line.saturating_sub(1)).unwrap_or(usize::MAX)
}

struct FileLint<'a> {
    source: &'a Source,
    settings: &'a Settings,
    report: &'a mut Report,
    session: Session,
}

impl FileLint<'_> {
    fn statement(
        &mut self,
        statement: &Prepared,
        catalog: &mut Catalog,
        new_tables: &mut BTreeSet<(String, String)>,
        options: &Options,
    ) {
        if self.source.report {
            self.report.statements += 1;
        }
        let ignored: Vec<&str> = statement
            .directives
            .iter()
            .filter(|d| d.key == "ignore")
            .filter_map(|d| d.rest.split_whitespace().next())
            .collect();
        let before = self.report.findings.len();
        self.check(statement, catalog, new_tables, options, &ignored);
        // An `ignore RULE` directive above the statement silences that rule for it.
        if !ignored.is_empty() {
            let mut kept = self.report.findings.split_off(before);
            let total = kept.len();
            kept.retain(|f| !ignored.contains(&f.rule));
            self.report.suppressed += total - kept.len();
            self.report.findings.extend(kept);
        }
    }

    fn check(
        &mut self,
        statement: &Prepared,
        catalog: &mut Catalog,
        new_tables: &mut BTreeSet<(String, String)>,
        options: &Options,
        ignored: &[&str],
    ) {
        let changes = match &statement.body {
            Prepare::Begin => {
                self.session.in_transaction = true;
                return;
            }
            Prepare::End => {
                self.session.in_transaction = false;
                self.session.not_valid_in_transaction.clear();
                if self.session.lock_timeout_local {
                    self.session.lock_timeout = false;
                    self.session.lock_timeout_local = false;
                }
                return;
            }
            Prepare::LockTimeout(local, on) => {
                self.session.lock_timeout = *on;
                self.session.lock_timeout_local = *local && *on;
                return;
            }
            Prepare::ForeignKeyChecks(on) => {
                self.session.foreign_key_checks_off = !on;
                return;
            }
            Prepare::OtherSetting => return,
            Prepare::Changes(changes) => {
                if let Some(clause) = statement.forced_lock {
                    self.add_finding(
                        &rules::FORCING_TABLE_COPY,
                        statement.pos,
                        &statement.text,
                        format!("{clause} makes the server block writes (or all traffic) for the whole ALTER, whatever it changes"),
                        rules::FORCING_TABLE_COPY.safe.to_string(),
                    );
                }
                changes
            }
            Prepare::Invalid(e) => {
                let e = e.clone();
                let help = e
                    .help
                    .unwrap_or_else(|| rules::SYNTAX_ERROR.safe.to_string());
                // The statement was cut at its semicolon: "EOF" means its end.
                let message = e
                    .message
                    .replace("found: EOF", "found: the end of the statement");
                if let Some(mut f) = self.finding(
                    &rules::SYNTAX_ERROR,
                    statement.pos,
                    &statement.text,
                    message,
                    help,
                ) {
                    (f.line, f.column) = (e.pos.line, e.pos.column);
                    self.report.findings.push(f);
                }
                return;
            }
        };
        for change in changes {
            let op = change.op();
            if !self.settings.schema_known {
                for table in op.existing_tables() {
                    catalog.ensure_table(&table);
                }
            }
            self.validate_in_transaction(op, statement);
            let ctx = Context {
                dialect: self.settings.dialect,
                catalog,
                schema_known: self.settings.schema_known,
                new_tables,
                options,
                directives: &statement.directives,
                pos: statement.pos,
                foreign_key_checks: !self.session.foreign_key_checks_off,
            };
            let assessment = op.assess(&ctx);
            let tables = op.tables();
            let on_new_tables = !tables.is_empty() && tables.iter().all(|t| ctx.is_new_table(t));

            if self.session.in_transaction
                && !self.settings.dialect.is_mysql()
                && !op.runs_in_transaction(self.settings.dialect.pg())
            {
                self.add_finding(
                    &rules::CONCURRENTLY_IN_TRANSACTION,
                    statement.pos,
                    &statement.text,
                    "PostgreSQL cannot run this statement inside a transaction block: the migration fails here".to_string(),
                    rules::CONCURRENTLY_IN_TRANSACTION.safe.to_string(),
                );
            }
            if assessment.risk != Risk::Safe
                && let Some(rule) = crate::ops::RULES.iter().find(|r| r.id == assessment.rule)
            {
                let planned = matches!(assessment.risk, Risk::Staged | Risk::Destructive);
                let command = planned.then(|| self.plan_command());
                let safe = rule.safe_for(self.settings.dialect);
                let help = match &command {
                    Some(c) => format!("{safe} Run `{c}` for the staged plan."),
                    None => safe.to_string(),
                };
                if let Some(mut f) = self.finding(
                    rule,
                    statement.pos,
                    &statement.text,
                    assessment.why.clone(),
                    help,
                ) {
                    if let Some(lock) = assessment.lock {
                        f.lock = Some(lock.sql_name().to_string());
                        f.blocks = Some(lock.blocks().to_string());
                    }
                    f.table = tables.first().map(|t| t.display());
                    f.plan_command = command;
                    self.report.findings.push(f);
                }
            }
            if assessment.lock.is_some_and(|l| l.blocks_traffic())
                && !on_new_tables
                && !self.session.lock_timeout
                && !self.session.lock_timeout_reported
            {
                self.session.lock_timeout_reported = true;
                let lock = assessment.lock.map(|l| l.sql_name()).unwrap_or_default();
                let table = tables.first().map(|t| t.display()).unwrap_or_default();
                let setting = if self.settings.dialect.is_mysql() {
                    "lock_wait_timeout"
                } else {
                    "lock_timeout"
                };
                self.add_finding(
                    &rules::MISSING_LOCK_TIMEOUT,
                    statement.pos,
                    &statement.text,
                    format!("takes {lock} on {table} with no {setting} set: if the lock is not granted at once, all traffic to {table} queues behind it"),
                    rules::MISSING_LOCK_TIMEOUT.safe_for(self.settings.dialect).to_string(),
                );
            }
            if self.source.report && self.settings.collect_changes {
                self.report.changes.push(Assessed {
                    file: self.source.name.clone(),
                    line: statement.pos.line,
                    column: statement.pos.column,
                    rule: assessment.rule,
                    risk: assessment.risk,
                    why: assessment.why,
                    suppressed: ignored.contains(&assessment.rule),
                });
            }
            op.apply(catalog);
            match change {
                Change::CreateTable(create) => {
                    new_tables.insert(create.table.key());
                }
                Change::RenameTable(rename) if new_tables.remove(&rename.from.key()) => {
                    new_tables.insert(rename.to.key());
                }
                _ => {}
            }
        }
    }

    /// A tokenizer error (an unterminated string or comment): nothing after it can be trusted.
    fn unreadable(&mut self, e: PlanError) {
        let text = files::up_section(&self.source.text);
        let line = text.lines().nth(line_index(e.pos)).unwrap_or_default();
        let line_start = Pos {
            line: e.pos.line,
            column: 1,
        };
        let help = e.help.unwrap_or_else(|| {
            "Close the string, quoted name or comment that starts here; until then nothing after it can be checked.".to_string()
        });
        if let Some(mut f) = self.finding(
            &rules::SYNTAX_ERROR,
            line_start,
            line,
            format!("{} (the rest of the file was not checked)", e.message),
            help,
        ) {
            (f.line, f.column) = (e.pos.line, e.pos.column);
            self.report.findings.push(f);
        }
    }

    /// `ADD … NOT VALID` then `VALIDATE` in one transaction: the ADD's lock lasts until COMMIT, so
    /// the validation scan blocks traffic after all.
    fn validate_in_transaction(&mut self, op: &dyn Op, statement: &Prepared) {
        if !self.session.in_transaction {
            return;
        }
        if let Some((name, rule, lock)) = op.adds_not_valid() {
            self.session
                .not_valid_in_transaction
                .push((name.to_string(), rule, lock));
        }
        let Some(name) = op.validates() else {
            return;
        };
        let Some((rule, lock)) = self
            .session
            .not_valid_in_transaction
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, rule, lock)| (*rule, *lock))
        else {
            return;
        };
        let message = format!(
            "VALIDATE CONSTRAINT {name} runs in the same transaction as its ADD … NOT VALID: the ADD's {} lock is held until COMMIT, so the whole scan blocks {}",
            lock.sql_name(),
            lock.blocks()
        );
        let help = format!(
            "COMMIT after ADD … NOT VALID and run VALIDATE CONSTRAINT in its own transaction. {}",
            rule.safe
        );
        if let Some(mut f) = self.finding(rule, statement.pos, &statement.text, message, help) {
            f.lock = Some(lock.sql_name().to_string());
            f.blocks = Some(lock.blocks().to_string());
            f.table = op.tables().first().map(|t| t.display());
            self.report.findings.push(f);
        }
    }

    fn plan_command(&self) -> String {
        let file = shlex::try_quote(&self.source.name)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| self.source.name.clone());
        format!("safeshift plan {file}{}", self.settings.plan_flags)
    }

    /// Builds a finding, or `None` when its rule is off or the file is read for context only.
    fn finding(
        &mut self,
        rule: &'static Rule,
        pos: Pos,
        statement: &str,
        message: String,
        help: String,
    ) -> Option<Finding> {
        if !self.source.report {
            return None;
        }
        let severity = self.settings.severity_of(rule)?;
        let (end_line, end_column) = end_of(pos, statement);
        let finding = Finding {
            file: self.source.name.clone(),
            line: pos.line,
            column: pos.column,
            end_line,
            end_column,
            rule: rule.id,
            severity,
            message,
            help,
            lock: None,
            table: None,
            blocks: None,
            plan_command: None,
            statement: if self.settings.keep_statements {
                statement.to_string()
            } else {
                String::new()
            },
            statement_pos: pos,
        };
        Some(finding)
    }

    /// Reports a finding that needs nothing beyond its message and help.
    fn add_finding(
        &mut self,
        rule: &'static Rule,
        pos: Pos,
        statement: &str,
        message: String,
        help: String,
    ) {
        if let Some(f) = self.finding(rule, pos, statement, message, help) {
            self.report.findings.push(f);
        }
    }
}

/// The last character of a statement that starts at `pos`.
fn end_of(pos: Pos, text: &str) -> (u64, u64) {
    let newlines = text.matches('\n').count() as u64;
    let last = text.rsplit('\n').next().unwrap_or_default();
    let width = last.chars().count() as u64;
    if newlines == 0 {
        (pos.line, pos.column + width.saturating_sub(1))
    } else {
        (pos.line + newlines, width.max(1))
    }
}

/// `SET [LOCAL|SESSION] name { = | TO } value` (MySQL also `SET @@SESSION.name = value`):
/// (local, name, value), lower case, quotes trimmed.
fn setting(text: &str) -> Option<(bool, String, String)> {
    let lower = text
        .to_ascii_lowercase()
        .replace("@@session.", "")
        .replace("@@", "");
    let mut words = lower
        .split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| !w.is_empty());
    if words.next()? != "set" {
        return None;
    }
    let mut name = words.next()?;
    let local = name == "local";
    if local || name == "session" {
        name = words.next()?;
    }
    let mut value = words.next()?;
    if value == "to" {
        value = words.next()?;
    }
    let value = value.trim_matches(|c| c == '\'' || c == '"' || c == ';');
    Some((local, name.to_string(), value.to_string()))
}

/// MySQL `SET [SESSION] foreign_key_checks = value`: Some(on).
fn foreign_key_checks_setting(text: &str) -> Option<bool> {
    let (_, name, value) = setting(text)?;
    (name == "foreign_key_checks").then_some(!matches!(value.as_str(), "0" | "off" | "false"))
}

/// `SET [LOCAL|SESSION] lock_timeout { = | TO } value`: Some((local, enabled)). A value of 0 or
/// DEFAULT turns the timeout off. MySQL's `lock_wait_timeout` counts too (it cannot be 0).
fn lock_timeout_setting(text: &str) -> Option<(bool, bool)> {
    let (local, name, value) = setting(text)?;
    if name != "lock_timeout" && name != "lock_wait_timeout" {
        return None;
    }
    let off = value == "default" || value.trim_start_matches('0').is_empty();
    Some((local, !off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lock_timeout_settings() {
        assert_eq!(
            lock_timeout_setting("SET lock_timeout = '2s'"),
            Some((false, true))
        );
        assert_eq!(
            lock_timeout_setting("set local lock_timeout to 5000"),
            Some((true, true))
        );
        assert_eq!(
            lock_timeout_setting("SET lock_timeout = 0"),
            Some((false, false))
        );
        assert_eq!(
            lock_timeout_setting("SET lock_timeout TO DEFAULT"),
            Some((false, false))
        );
        assert_eq!(lock_timeout_setting("SET statement_timeout = '5s'"), None);
        assert_eq!(
            lock_timeout_setting("SET SESSION lock_wait_timeout = 2"),
            Some((false, true))
        );
        assert_eq!(
            foreign_key_checks_setting("SET foreign_key_checks = 0"),
            Some(false)
        );
        assert_eq!(
            foreign_key_checks_setting("SET @@SESSION.foreign_key_checks=1"),
            Some(true)
        );
    }

    #[test]
    fn end_position_of_a_statement() {
        let pos = Pos { line: 3, column: 5 };
        assert_eq!(end_of(pos, "DROP TABLE t"), (3, 16));
        assert_eq!(end_of(pos, "ALTER TABLE t\n  DROP COLUMN c"), (4, 15));
    }
}
