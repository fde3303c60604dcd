//! `safeshift lint`: checks migration files statement by statement, the way they would run on a
//! busy production database. It reuses the planner's knowledge: each finding about a change is
//! the change's own `assess` (`src/ops/`), so lint and plan can never disagree. What only makes
//! sense for a file as a whole (syntax, transactions, lock_timeout, ignore directives, a foreign
//! key's index) lives in `rules.rs` and `rules/`.
//!
//! Files are checked in order and share one catalog, so a later file sees the tables and columns
//! an earlier one created. Tables created in the same file (or, for `gate`, in any of the new
//! files, which deploy together) are empty and unused: anything goes on them.
//!
//! Linting streams: files are read in chunks and split into statements on one thread, statements
//! are parsed on worker threads, and this thread checks them in order and lets each go. What is
//! kept is the catalog and, per file, the little later statements need; findings go to the
//! caller as they are found. Memory does not grow with the size of the input.

pub mod baseline;
pub mod files;
pub mod format;
pub mod rules;
pub mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;

use crate::change::{self, Change};
use crate::dialect::{Dialect, LockMode};
use crate::error::{Error, PlanError, Pos};
use crate::ops::{Context, Op, Options, Risk};
use crate::parse::split::{DbmateUp, Raw, SplitError, Splitter};
use crate::parse::{self, Body, Directive};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, ConstraintKind};
use rules::{
    foreign_key_without_index as fk_index, int_primary_key, table_not_in_schema,
    unknown_rule_in_ignore, unused_ignore,
};
use tools::{Tool, Wrapping};

/// One migration file, in memory.
pub struct Source {
    /// As the user named it (shown in findings).
    pub name: String,
    pub text: String,
    /// False: read only so later files see its schema (`--since` for older migrations,
    /// `exclude` in safeshift.toml).
    pub report: bool,
}

/// One migration file for [`lint_inputs`]: its text is read when its turn comes.
pub struct Input {
    /// As the user named it (shown in findings).
    pub name: String,
    /// Read from this file, unless `text` is given.
    pub path: Option<PathBuf>,
    pub text: Option<String>,
    /// False: read only so later files see its schema.
    pub report: bool,
    /// Its size in bytes where already known (the file was read through to check it), so
    /// deciding how to lint a long history takes no `stat` of every file.
    pub size: Option<u64>,
}

impl Input {
    pub fn file(name: String, path: PathBuf, size: Option<u64>, report: bool) -> Input {
        Input {
            name,
            path: Some(path),
            text: None,
            report,
            size,
        }
    }

    /// Its size in bytes, where known without reading it (not for a pipe).
    fn size(&self) -> Option<u64> {
        if let Some(size) = self.size {
            return Some(size);
        }
        match (&self.text, &self.path) {
            (Some(text), _) => Some(text.len() as u64),
            (None, Some(path)) => std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
            (None, None) => Some(0),
        }
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        match (&self.text, &self.path) {
            (Some(text), _) => Ok(Box::new(text.as_bytes())),
            (None, Some(path)) => Ok(Box::new(std::fs::File::open(path)?)),
            (None, None) => Ok(Box::new(std::io::empty())),
        }
    }
}

impl From<&Source> for Input {
    fn from(source: &Source) -> Input {
        Input {
            name: source.name.clone(),
            path: None,
            text: Some(source.text.clone()),
            report: source.report,
            size: None,
        }
    }
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
    /// Give each finding its `fingerprint` (for writing a baseline). A baseline in `baseline`
    /// gets them anyway, to match findings.
    pub fingerprints: bool,
    /// The migration tool that runs the files (`None`: guessed per file).
    pub tool: Option<Tool>,
    /// Accepted findings: not reported.
    pub baseline: Option<baseline::Baseline>,
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
            fingerprints: true,
            tool: None,
            baseline: None,
        }
    }

    /// The severity a finding of `rule` gets, or `None` when it is not reported at all.
    pub fn severity_of(&self, rule: &Rule) -> Option<Severity> {
        if self.disabled.contains(rule.id) {
            return None;
        }
        self.severity.get(rule.id).copied().or(rule.severity)
    }

    fn reports(&self, rule_id: &str) -> bool {
        crate::rules::find(rule_id).is_some_and(|r| self.severity_of(r).is_some())
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
    /// The statement's text, hashed: how a baseline recognises the finding. Empty when
    /// `Settings::fingerprints` is off and there is no baseline.
    #[serde(skip)]
    pub fingerprint: String,
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
    /// The findings, when the caller asked to keep them ([`Output::Keep`]).
    pub findings: Vec<Finding>,
    /// Findings an `ignore` directive silenced.
    pub suppressed: usize,
    /// Findings the baseline accepted, and baseline entries that matched nothing.
    pub baselined: usize,
    pub baseline_unmatched: usize,
    /// Every change of the reported files with its risk, including the safe ones.
    #[serde(skip)]
    pub changes: Vec<Assessed>,
    /// Findings reported, by severity (info, warning, error).
    #[serde(skip)]
    counts: [usize; 3],
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.counts[severity as usize]
    }

    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .find(|s| self.count(*s) > 0)
    }

    /// Findings reported in all.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }
}

/// What happens to each finding.
pub enum Output<'a> {
    /// Kept in `Report::findings`.
    Keep,
    /// Handed over as found, then dropped.
    Stream(&'a mut dyn FnMut(Finding)),
}

/// Lints in-memory files in order, keeping the findings. Never stops at a bad statement: a
/// syntax error is a finding, and checking goes on with the next statement.
pub fn lint(sources: &[Source], settings: &Settings) -> Report {
    let inputs: Vec<Input> = sources.iter().map(Input::from).collect();
    // In-memory text is UTF-8 and cannot fail to read.
    lint_inputs(&inputs, settings, Output::Keep).unwrap_or_default()
}

/// Lints files in order, reading each as its turn comes. Fails only when a file cannot be read
/// (it vanished, or is not UTF-8).
pub fn lint_inputs<'a>(
    inputs: &'a [Input],
    settings: &'a Settings,
    output: Output<'a>,
) -> Result<Report, Error> {
    lint_on(inputs, settings, output, threaded(inputs))
}

/// [`lint_inputs`], parsing on threads of its own or not as [`threaded`] said (decided once:
/// for a file whose size the check did not record, it takes a `stat`).
fn lint_on<'a>(
    inputs: &'a [Input],
    settings: &'a Settings,
    output: Output<'a>,
    threaded: bool,
) -> Result<Report, Error> {
    let mut linter = Linter {
        inputs,
        settings,
        catalog: settings.catalog.clone(),
        new_tables: BTreeSet::new(),
        options: Options::default(),
        report: Report::default(),
        output,
        baseline: settings.baseline.clone(),
        previous_reported: true,
        file: None,
        error: None,
    };
    pipeline(inputs, settings.dialect, threaded, |item| linter.item(item));
    if let Some(e) = linter.error.take() {
        return Err(e);
    }
    linter.end_file();
    if let Some(b) = &linter.baseline {
        linter.report.baseline_unmatched = b.unmatched();
    }
    if threaded {
        // A long history's catalog takes tens of milliseconds to free, and nothing waits for it.
        let catalog = std::mem::take(&mut linter.catalog);
        std::thread::spawn(move || drop(catalog));
    }
    Ok(std::mem::take(&mut linter.report))
}

/// Findings handed to the writing thread at a time.
const WRITE_BATCH: usize = 64;

/// Lints files in order, writing each finding to `stream` as it is found. Where the input is
/// large enough to be parsed on several threads, findings are written on a thread of their own:
/// formatting them (JSON's string escaping above all) was a fifth of the checking thread's
/// work, and the checking thread, which has to take statements in order, is the one the
/// others wait for.
pub fn lint_into(
    inputs: &[Input],
    settings: &Settings,
    stream: &mut format::Stream<'_>,
) -> Result<Report, Error> {
    if !threaded(inputs) {
        return lint_on(
            inputs,
            settings,
            Output::Stream(&mut |f| stream.finding(&f)),
            false,
        );
    }
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Finding>>(4);
        let writer = scope.spawn(move || {
            for batch in receive {
                for f in &batch {
                    stream.finding(f);
                }
            }
        });
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        // A send fails only if the writer panicked, which the join below passes on.
        let result = lint_on(
            inputs,
            settings,
            Output::Stream(&mut |f| {
                batch.push(f);
                if batch.len() >= WRITE_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH));
                    let _ = send.send(full);
                }
            }),
            true,
        );
        if !batch.is_empty() {
            let _ = send.send(batch);
        }
        drop(send);
        if let Err(panic) = writer.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// What the reading thread finds, in order.
enum RawItem {
    /// A file begins; what its first lines say about how it runs.
    File {
        input: usize,
        dbmate: Option<DbmateUp>,
        no_transaction: bool,
    },
    Statement(Raw),
    /// The file cannot be read further.
    Stop(SplitError),
}

/// A [`RawItem`] with its statement parsed.
enum Item {
    File {
        input: usize,
        dbmate: Option<DbmateUp>,
        no_transaction: bool,
    },
    Statement(Box<Prepared>),
    Stop(SplitError),
}

/// Reads the inputs in order, handing over each item; stops when `emit` says so.
fn read_inputs(inputs: &[Input], dialect: Dialect, emit: &mut dyn FnMut(RawItem) -> bool) {
    for (input, source) in inputs.iter().enumerate() {
        let reader = match source.open() {
            Ok(reader) => reader,
            Err(e) => {
                let file = RawItem::File {
                    input,
                    dbmate: None,
                    no_transaction: false,
                };
                if !emit(file) || !emit(RawItem::Stop(SplitError::Io(e))) {
                    return;
                }
                continue;
            }
        };
        let mut splitter = Splitter::new(parse::lexer_for(dialect), reader).up_section_only();
        let first = splitter.next_statement();
        let file = RawItem::File {
            input,
            dbmate: splitter.dbmate,
            no_transaction: splitter.no_transaction,
        };
        if !emit(file) {
            return;
        }
        let mut next = first;
        while let Some(result) = next {
            let item = match result {
                Ok(raw) => RawItem::Statement(raw),
                Err(e) => RawItem::Stop(e),
            };
            let stop = matches!(item, RawItem::Stop(_));
            if !emit(item) {
                return;
            }
            if stop {
                break;
            }
            next = splitter.next_statement();
        }
    }
}

fn prepare_item(item: RawItem, dialect: Dialect) -> Item {
    match item {
        RawItem::File {
            input,
            dbmate,
            no_transaction,
        } => Item::File {
            input,
            dbmate,
            no_transaction,
        },
        RawItem::Statement(raw) => Item::Statement(Box::new(prepare(raw, dialect))),
        RawItem::Stop(e) => Item::Stop(e),
    }
}

/// Statements per batch handed to a parsing thread, and the text that fills one early.
const BATCH_STATEMENTS: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;
const MAX_PARSERS: usize = 4;
/// Less SQL than this is linted on one thread: parsing threads would save a few tens of
/// milliseconds and cost about 5 MiB (each thread's allocator arena, the batches in flight).
const THREADED_FROM_BYTES: u64 = 2 * 1024 * 1024;

fn parsers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARSERS))
}

/// Whether the inputs are parsed on threads of their own: with more than one core, from
/// [`THREADED_FROM_BYTES`] of SQL.
fn threaded(inputs: &[Input]) -> bool {
    let small = inputs
        .iter()
        .try_fold(0u64, |sum, input| Some(sum + input.size()?))
        .is_some_and(|bytes| bytes < THREADED_FROM_BYTES);
    parsers() >= 2 && !small
}

/// Reads, parses and hands over every item in order: one thread reads and splits, one per core
/// parses batches of statements, the caller's thread consumes them in order. The channels hold
/// a few batches each, so memory stays bounded whatever the input size.
fn pipeline(
    inputs: &[Input],
    dialect: Dialect,
    threaded: bool,
    mut consume: impl FnMut(&Item) -> bool,
) {
    // Checking in order is the bottleneck beyond a few parsers; more would only hold more
    // batches in flight.
    let workers = parsers();
    if !threaded {
        read_inputs(inputs, dialect, &mut |raw| {
            consume(&prepare_item(raw, dialect))
        });
        return;
    }
    std::thread::scope(|scope| {
        let mut to_workers = Vec::new();
        let mut from_workers = Vec::new();
        for _ in 0..workers {
            let (send_raw, receive_raw) = std::sync::mpsc::sync_channel::<Vec<RawItem>>(2);
            let (send_item, receive_item) = std::sync::mpsc::sync_channel::<Vec<Item>>(2);
            scope.spawn(move || {
                for batch in receive_raw {
                    let items = batch
                        .into_iter()
                        .map(|raw| prepare_item(raw, dialect))
                        .collect();
                    if send_item.send(items).is_err() {
                        return; // the checking thread stopped
                    }
                }
            });
            to_workers.push(send_raw);
            from_workers.push(receive_item);
        }
        scope.spawn(move || {
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut statements = 0;
            let mut next = 0;
            let send = |batch: Vec<RawItem>, next: &mut usize| {
                let ok = to_workers[*next % to_workers.len()].send(batch).is_ok();
                *next += 1;
                ok
            };
            read_inputs(inputs, dialect, &mut |item| {
                if let RawItem::Statement(raw) = &item {
                    bytes += raw.text.len();
                    statements += 1;
                }
                batch.push(item);
                if statements >= BATCH_STATEMENTS || bytes >= BATCH_BYTES {
                    (bytes, statements) = (0, 0);
                    return send(std::mem::take(&mut batch), &mut next);
                }
                true
            });
            if !batch.is_empty() {
                send(batch, &mut next);
            }
            // Dropping the senders ends the workers once they are done.
        });
        // What the parsing threads allocated is freed on a thread of its own: freeing it was a
        // tenth of the checking thread's time, and that thread is the one the others wait for.
        let (send_spent, receive_spent) = std::sync::mpsc::sync_channel::<Vec<Item>>(4);
        scope.spawn(move || receive_spent.into_iter().for_each(drop));
        // Worker k parses batches k, k + workers, …: its next message is the next batch.
        'consume: for k in 0.. {
            let Ok(batch) = from_workers[k % workers].recv() else {
                break;
            };
            for item in &batch {
                if !consume(item) {
                    break 'consume;
                }
            }
            if send_spent.send(batch).is_err() {
                break; // cannot happen: the freeing thread stops only when this one does
            }
        }
        drop(from_workers);
    });
}

/// A statement parsed and lowered: the part of linting that needs nothing but its text.
struct Prepared {
    pos: Pos,
    text: String,
    directives: Vec<Directive>,
    body: Prepare,
    /// MySQL: the ALTER forces a copy or a blocking lock (`ALGORITHM=COPY`, `LOCK=SHARED`,
    /// `CONVERT TO CHARACTER SET`, …).
    forced_lock: Option<&'static str>,
    /// `ALTER TABLE IF EXISTS`: a missing table is no error.
    if_exists: bool,
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

fn setting_of(text: &str) -> Prepare {
    match lock_timeout_setting(text) {
        Some((local, on)) => Prepare::LockTimeout(local, on),
        None => match foreign_key_checks_setting(text) {
            Some(on) => Prepare::ForeignKeyChecks(on),
            None => Prepare::OtherSetting,
        },
    }
}

/// Parses and lowers one statement.
fn prepare(raw: Raw, dialect: Dialect) -> Prepared {
    use sqlparser::ast::Statement as S;
    let statement = parse::read_statement(dialect, raw);
    let mut if_exists = false;
    let body = match &statement.body {
        Body::Ast(ast) => match ast.as_ref() {
            S::StartTransaction { .. } => Some(Prepare::Begin),
            S::Commit { .. } | S::Rollback { .. } => Some(Prepare::End),
            S::Set(_) => Some(setting_of(&statement.text)),
            S::AlterTable(alter) => {
                if_exists = alter.if_exists;
                None
            }
            _ => None,
        },
        // MySQL's `SET @x := …` and the like, which sqlparser cannot read.
        Body::Recognised { keyword } if keyword == "SET" => Some(setting_of(&statement.text)),
        _ => None,
    };
    let body = body.unwrap_or_else(|| match change::lower_statement(&statement) {
        Ok(changes) => Prepare::Changes(changes),
        Err(e) => Prepare::Invalid(e),
    });
    let forced_lock = match &statement.body {
        Body::Ast(ast) if dialect.is_mysql() => change::forced_lock(ast),
        _ => None,
    }
    .or_else(|| {
        statement
            .left_out
            .iter()
            .any(|l| l == "CONVERT TO CHARACTER SET")
            .then_some("CONVERT TO CHARACTER SET")
    });
    Prepared {
        pos: statement.pos,
        text: statement.text,
        directives: statement.directives,
        body,
        forced_lock,
        if_exists,
    }
}

fn line_index(pos: Pos) -> usize {
    usize::try_from(pos.line.saturating_sub(1)).unwrap_or(usize::MAX)
}

/// Session state a migration file builds up as it runs.
#[derive(Default)]
struct Session {
    /// Inside a transaction: the file's own BEGIN, or the migration tool's.
    in_transaction: bool,
    /// The file's own BEGIN.
    explicit_transaction: bool,
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

/// `ignore RULE, …` above a statement, or `ignore-file RULE, …` anywhere in a file.
struct Ignore {
    pos: Pos,
    /// The directive as written, for its finding's snippet.
    text: String,
    /// `None`: every rule (a bare `ignore-file`).
    rules: Option<Vec<String>>,
    used: BTreeSet<String>,
}

impl Ignore {
    fn covers(&self, rule: &str) -> bool {
        self.rules
            .as_ref()
            .is_none_or(|rules| rules.iter().any(|r| r == rule))
    }
}

/// A finding decided only at the end of its file, with the directives above its statement.
struct Deferred {
    finding: Finding,
    when: DeferredIf,
    ignores: Vec<Ignore>,
}

enum DeferredIf {
    /// golang-migrate: the file holds more than one statement.
    MultiStatement,
    /// Flyway: the file holds a statement that runs in a transaction too.
    Mixed,
    /// No index starts with the foreign key's columns.
    Unindexed {
        table: crate::name::QName,
        columns: Vec<String>,
    },
}

/// One file being checked.
struct FileLint {
    input: usize,
    session: Session,
    wrapping: Wrapping,
    /// `ignore-file` directives seen so far.
    file_ignores: Vec<Ignore>,
    deferred: Vec<Deferred>,
    statements: usize,
    /// Statements PostgreSQL runs inside a transaction (all but CONCURRENTLY and the like).
    transactional: usize,
    /// `safeshift plan <file> …` for this file's findings, made at its first.
    plan_command: std::cell::OnceCell<String>,
}

/// The state of a run: the catalog, the report, the file being checked.
struct Linter<'a> {
    inputs: &'a [Input],
    settings: &'a Settings,
    catalog: Catalog,
    new_tables: BTreeSet<(String, String)>,
    options: Options,
    report: Report,
    output: Output<'a>,
    baseline: Option<baseline::Baseline>,
    previous_reported: bool,
    file: Option<FileLint>,
    /// A file that could not be read: the run stops with it.
    error: Option<Error>,
}

impl Linter<'_> {
    /// Takes one item; false stops the run.
    fn item(&mut self, item: &Item) -> bool {
        match item {
            Item::File {
                input,
                dbmate,
                no_transaction,
            } => {
                self.end_file();
                self.begin_file(*input, *dbmate, *no_transaction);
            }
            Item::Statement(statement) => self.statement(statement),
            Item::Stop(SplitError::Unterminated(e)) => self.unreadable(e.clone()),
            Item::Stop(SplitError::Io(source)) => {
                let path = self.source().path.clone().unwrap_or_default();
                // The same kind and message (the error itself stays with its item).
                let source = std::io::Error::new(source.kind(), source.to_string());
                self.error = Some(Error::Read { path, source });
                return false;
            }
            Item::Stop(SplitError::Utf8 { pos, byte }) => {
                self.error = Some(Error::Usage(format!(
                    "{}:{}:{}: not valid UTF-8 (byte {byte}); safeshift reads SQL text files",
                    self.source().name,
                    pos.line,
                    pos.column
                )));
                return false;
            }
        }
        true
    }

    fn source(&self) -> &Input {
        let index = self.file.as_ref().map_or(0, |f| f.input);
        &self.inputs[index.min(self.inputs.len().saturating_sub(1))]
    }

    fn reported(&self) -> bool {
        self.file.is_some() && self.source().report
    }

    fn begin_file(&mut self, input: usize, dbmate: Option<DbmateUp>, no_transaction: bool) {
        let source = &self.inputs[input];
        // Tables of files read only for context were created long ago: never new.
        if !self.settings.new_tables_across_files || !source.report || !self.previous_reported {
            self.new_tables.clear();
        }
        self.previous_reported = source.report;
        if source.report {
            self.report.files += 1;
        }
        let wrapping = if self.settings.dialect.is_mysql() {
            Wrapping::None // MySQL commits DDL at once: no transaction to be inside
        } else {
            tools::wrapping(
                self.settings.tool,
                &tools::FileFacts {
                    name: &source.name,
                    path: source.path.as_deref(),
                    dbmate,
                    no_transaction,
                },
            )
        };
        let session = Session {
            in_transaction: wrapping != Wrapping::None,
            ..Session::default()
        };
        self.file = Some(FileLint {
            input,
            session,
            wrapping,
            file_ignores: Vec::new(),
            deferred: Vec::new(),
            statements: 0,
            transactional: 0,
            plan_command: std::cell::OnceCell::new(),
        });
    }

    /// The checks that need the whole file: deferred findings, unused `ignore-file`s.
    fn end_file(&mut self) {
        let Some(mut file) = self.file.take() else {
            return;
        };
        let deferred = std::mem::take(&mut file.deferred);
        let file_ignores = std::mem::take(&mut file.file_ignores);
        let statements = file.statements;
        let transactional = file.transactional;
        self.file = Some(file);
        let mut file_ignores = file_ignores;
        for Deferred {
            finding,
            when,
            mut ignores,
        } in deferred
        {
            let holds = match &when {
                DeferredIf::MultiStatement => statements > 1,
                DeferredIf::Mixed => transactional > 0,
                DeferredIf::Unindexed { table, columns } => {
                    !fk_index::indexed(&self.catalog, table, columns)
                }
            };
            let findings = if holds { vec![finding] } else { Vec::new() };
            self.settle(findings, &mut ignores, &mut file_ignores);
            self.unused(&ignores);
        }
        self.unused(&file_ignores);
        self.file = None;
    }

    fn statement(&mut self, statement: &Prepared) {
        if self.file.is_none() {
            return;
        }
        let reported = self.reported();
        if reported {
            self.report.statements += 1;
        }
        if let Some(file) = &mut self.file {
            file.statements += 1;
        }
        let (mut ignores, mut findings) = self.directives(statement);
        // Rules that are decided at the end of the file keep their directives until then.
        let mut deferred_ignores: Vec<Ignore> = Vec::new();
        let mut pending = Vec::new();
        self.check(statement, &mut pending, &ignores);
        let mut to_defer = Vec::new();
        for (finding, when) in pending {
            match when {
                Some(when) => to_defer.push((finding, when)),
                None => findings.push(finding),
            }
        }
        let deferred_rules: BTreeSet<&'static str> = to_defer.iter().map(|(f, _)| f.rule).collect();
        ignores.retain_mut(|ignore| {
            let rules = ignore.rules.clone().unwrap_or_default();
            let deferred: Vec<String> = rules
                .iter()
                .filter(|r| deferred_rules.contains(r.as_str()))
                .cloned()
                .collect();
            if deferred.is_empty() {
                return true;
            }
            let rest: Vec<String> = rules
                .into_iter()
                .filter(|r| !deferred.contains(r))
                .collect();
            deferred_ignores.push(Ignore {
                pos: ignore.pos,
                text: ignore.text.clone(),
                rules: Some(deferred),
                used: BTreeSet::new(),
            });
            ignore.rules = Some(rest.clone());
            !rest.is_empty()
        });
        let mut file_ignores = self
            .file
            .as_mut()
            .map(|f| std::mem::take(&mut f.file_ignores))
            .unwrap_or_default();
        self.settle(findings, &mut ignores, &mut file_ignores);
        if let Some(file) = &mut self.file {
            file.file_ignores = file_ignores;
        }
        self.unused(&ignores);
        let n = to_defer.len();
        for (k, (finding, when)) in to_defer.into_iter().enumerate() {
            // Each deferred finding gets the directives that name its rule.
            let ignores = if k + 1 == n {
                std::mem::take(&mut deferred_ignores)
            } else {
                deferred_ignores
                    .iter()
                    .filter(|i| i.covers(finding.rule))
                    .map(|i| Ignore {
                        pos: i.pos,
                        text: i.text.clone(),
                        rules: i.rules.clone(),
                        used: BTreeSet::new(),
                    })
                    .collect()
            };
            if let Some(file) = &mut self.file {
                file.deferred.push(Deferred {
                    finding,
                    when,
                    ignores,
                });
            }
        }
    }

    /// The statement's `ignore` directives, and findings about the directives themselves.
    fn directives(&mut self, statement: &Prepared) -> (Vec<Ignore>, Vec<Finding>) {
        let mut ignores = Vec::new();
        let mut findings = Vec::new();
        for d in &statement.directives {
            let file_level = match d.key.as_str() {
                "ignore" => false,
                "ignore-file" => true,
                _ => continue,
            };
            let text = format!("-- safeshift: {} {}", d.key, d.rest)
                .trim_end()
                .to_string();
            let mut rules = Vec::new();
            for rule in d.ignored_rules() {
                if crate::rules::find(rule).is_some() {
                    rules.push(rule.to_string());
                    continue;
                }
                let similar = crate::rules::similar(rule);
                let help = if similar.is_empty() {
                    format!(
                        "{} `safeshift rules` lists them.",
                        unknown_rule_in_ignore::RULE.safe
                    )
                } else {
                    format!(
                        "Did you mean {}? `safeshift rules` lists them.",
                        similar.join(", ")
                    )
                };
                if let Some(f) = self.finding(
                    &unknown_rule_in_ignore::RULE,
                    d.pos,
                    &text,
                    format!("`{rule}` is not a safeshift rule: this directive silences nothing"),
                    help,
                ) {
                    findings.push(f);
                }
            }
            let ignore = Ignore {
                pos: d.pos,
                text,
                rules: (!(file_level && d.ignored_rules().is_empty())).then_some(rules),
                used: BTreeSet::new(),
            };
            if file_level {
                if let Some(file) = &mut self.file {
                    file.file_ignores.push(ignore);
                }
            } else if ignore.rules.as_ref().is_some_and(|r| !r.is_empty()) {
                ignores.push(ignore);
            }
        }
        (ignores, findings)
    }

    /// Applies ignore directives and the baseline to a statement's findings, and reports the rest.
    fn settle(
        &mut self,
        findings: Vec<Finding>,
        ignores: &mut [Ignore],
        file_ignores: &mut [Ignore],
    ) {
        for finding in findings {
            let ignored = ignores
                .iter_mut()
                .chain(file_ignores.iter_mut())
                .find(|i| i.covers(finding.rule));
            if let Some(ignore) = ignored {
                ignore.used.insert(finding.rule.to_string());
                self.report.suppressed += 1;
                continue;
            }
            if let Some(baseline) = &mut self.baseline
                && baseline.accepts(&finding)
            {
                self.report.baselined += 1;
                continue;
            }
            self.emit(finding);
        }
    }

    /// Reports the rules of `ignores` that silenced nothing.
    fn unused(&mut self, ignores: &[Ignore]) {
        for ignore in ignores {
            let unused: Vec<&String> = match &ignore.rules {
                // A bare `ignore-file`: unused only when it silenced nothing at all.
                None if ignore.used.is_empty() => Vec::new(),
                None => Vec::new(),
                Some(rules) => rules
                    .iter()
                    .filter(|r| !ignore.used.contains(*r) && self.settings.reports(r))
                    .collect(),
            };
            let bare_unused = ignore.rules.is_none() && ignore.used.is_empty();
            let what = if bare_unused {
                "this `ignore-file` directive silences nothing in this file".to_string()
            } else if unused.is_empty() {
                continue;
            } else {
                let names: Vec<String> = unused.iter().map(|r| format!("`{r}`")).collect();
                format!(
                    "nothing here triggers {}: the directive silences nothing",
                    names.join(", ")
                )
            };
            if let Some(f) = self.finding(
                &unused_ignore::RULE,
                ignore.pos,
                &ignore.text,
                what,
                unused_ignore::RULE.safe.to_string(),
            ) {
                // Findings about directives are not themselves silenced by directives.
                if let Some(baseline) = &mut self.baseline
                    && baseline.accepts(&f)
                {
                    self.report.baselined += 1;
                    continue;
                }
                self.emit(f);
            }
        }
    }

    fn emit(&mut self, finding: Finding) {
        self.report.counts[finding.severity as usize] += 1;
        match &mut self.output {
            Output::Keep => self.report.findings.push(finding),
            Output::Stream(sink) => sink(finding),
        }
    }

    /// Checks one statement; each finding comes with the end-of-file condition it waits for.
    fn check(
        &mut self,
        statement: &Prepared,
        out: &mut Vec<(Finding, Option<DeferredIf>)>,
        ignores: &[Ignore],
    ) {
        let Some(file) = &mut self.file else {
            return;
        };
        let session = &mut file.session;
        let changes = match &statement.body {
            Prepare::Begin => {
                session.in_transaction = true;
                session.explicit_transaction = true;
                file.transactional += 1;
                return;
            }
            Prepare::End => {
                session.in_transaction = false;
                session.explicit_transaction = false;
                session.not_valid_in_transaction.clear();
                if session.lock_timeout_local {
                    session.lock_timeout = false;
                    session.lock_timeout_local = false;
                }
                file.transactional += 1;
                return;
            }
            Prepare::LockTimeout(local, on) => {
                session.lock_timeout = *on;
                session.lock_timeout_local = *local && *on;
                file.transactional += 1;
                return;
            }
            Prepare::ForeignKeyChecks(on) => {
                session.foreign_key_checks_off = !on;
                return;
            }
            Prepare::OtherSetting => {
                file.transactional += 1;
                return;
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
                    out.push((f, None));
                }
                return;
            }
            Prepare::Changes(changes) => changes,
        };
        if let Some(clause) = statement.forced_lock {
            let message = if clause == "CONVERT TO CHARACTER SET" {
                "CONVERT TO CHARACTER SET copies the table, converting every row, while writes wait (there is no online algorithm for it)".to_string()
            } else {
                format!(
                    "{clause} makes the server block writes (or all traffic) for the whole ALTER, whatever it changes"
                )
            };
            if let Some(f) = self.finding(
                &rules::FORCING_TABLE_COPY,
                statement.pos,
                &statement.text,
                message,
                rules::FORCING_TABLE_COPY.safe.to_string(),
            ) {
                out.push((f, None));
            }
        }
        let suppressed_rules: BTreeSet<String> = ignores
            .iter()
            .flat_map(|i| i.rules.clone().unwrap_or_default())
            .chain(
                self.file
                    .iter()
                    .flat_map(|f| f.file_ignores.iter())
                    .flat_map(|i| i.rules.clone().unwrap_or_else(|| vec!["*".into()])),
            )
            .collect();
        let mut transactional = true;
        for change in changes {
            self.change(
                change,
                statement,
                out,
                &suppressed_rules,
                &mut transactional,
            );
        }
        if let Some(file) = &mut self.file
            && transactional
        {
            file.transactional += 1;
        }
    }

    fn change(
        &mut self,
        change: &Change,
        statement: &Prepared,
        out: &mut Vec<(Finding, Option<DeferredIf>)>,
        suppressed_rules: &BTreeSet<String>,
        transactional: &mut bool,
    ) {
        let op = change.op();
        let dialect = self.settings.dialect;
        if !self.settings.schema_known {
            for table in op.existing_tables() {
                self.catalog.ensure_table(&table);
            }
        } else {
            for table in op.existing_tables() {
                if self.catalog.table(&table).is_some()
                    || self.new_tables.contains(table.key_ref().as_key())
                    || statement.if_exists
                {
                    continue;
                }
                let mut known: Vec<String> =
                    self.catalog.table_names().map(|t| t.display()).collect();
                known.truncate(8);
                let help = if known.is_empty() {
                    table_not_in_schema::RULE.safe.to_string()
                } else {
                    format!(
                        "{} Tables it has include: {}.",
                        table_not_in_schema::RULE.safe,
                        known.join(", ")
                    )
                };
                if let Some(mut f) = self.finding(
                    &table_not_in_schema::RULE,
                    statement.pos,
                    &statement.text,
                    format!(
                        "table `{}` is not in the schema, nor created by an earlier statement: the migration fails here on that database",
                        table.display()
                    ),
                    help,
                ) {
                    f.table = Some(table.display());
                    out.push((f, None));
                }
                // Reported once: later statements on it are checked as without a schema.
                self.catalog.ensure_table(&table);
            }
        }
        self.validate_in_transaction(op, statement, out);
        let Some(file) = &self.file else {
            return;
        };
        let ctx = Context {
            dialect,
            catalog: &self.catalog,
            schema_known: self.settings.schema_known,
            new_tables: &self.new_tables,
            options: &self.options,
            directives: &statement.directives,
            pos: statement.pos,
            foreign_key_checks: !file.session.foreign_key_checks_off,
            added_columns: &Default::default(),
        };
        let assessment = op.assess(&ctx);
        let tables = op.tables();
        let on_new_tables = !tables.is_empty() && tables.iter().all(|t| ctx.is_new_table(t));
        let in_transaction = file.session.in_transaction;
        let explicit = file.session.explicit_transaction;
        let wrapping = file.wrapping.clone();
        let lock_timeout = file.session.lock_timeout;
        let lock_timeout_reported = file.session.lock_timeout_reported;

        if !dialect.is_mysql() && !op.runs_in_transaction(dialect.pg()) {
            *transactional = false;
            if in_transaction {
                let (message, when) = match (&wrapping, explicit) {
                    (_, true) | (Wrapping::None, _) => (
                        "PostgreSQL cannot run this statement inside a transaction block: the migration fails here".to_string(),
                        None,
                    ),
                    (Wrapping::Transaction(who), false) => (
                        format!("{who}, and PostgreSQL cannot run this statement inside a transaction block: the migration fails here"),
                        None,
                    ),
                    (Wrapping::MultiStatement(who), false) => (
                        format!("{who} once it holds more than one statement, and PostgreSQL cannot run this statement inside a transaction block: the migration fails here"),
                        Some(DeferredIf::MultiStatement),
                    ),
                    (Wrapping::NoMixing, false) => (
                        "Flyway refuses a migration that mixes a statement PostgreSQL cannot run in a transaction with statements it runs in one (\"Detected both transactional and non-transactional statements\", unless flyway.mixed is set)".to_string(),
                        Some(DeferredIf::Mixed),
                    ),
                };
                if let Some(f) = self.finding(
                    &rules::CONCURRENTLY_IN_TRANSACTION,
                    statement.pos,
                    &statement.text,
                    message,
                    rules::CONCURRENTLY_IN_TRANSACTION.safe.to_string(),
                ) {
                    out.push((f, when));
                }
            }
        }
        if assessment.risk != Risk::Safe
            && let Some(rule) = crate::ops::RULES.iter().find(|r| r.id == assessment.rule)
        {
            let planned = matches!(assessment.risk, Risk::Staged | Risk::Destructive)
                && !crate::ops::UNPLANNED.contains(&rule.id);
            let command = planned.then(|| self.plan_command());
            let safe = rule.safe_for(dialect);
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
                out.push((f, None));
            }
        }
        if assessment.lock.is_some_and(|l| l.blocks_traffic())
            && !on_new_tables
            && !lock_timeout
            && !lock_timeout_reported
        {
            if let Some(file) = &mut self.file {
                file.session.lock_timeout_reported = true;
            }
            let lock = assessment.lock.map(|l| l.sql_name()).unwrap_or_default();
            let table = tables.first().map(|t| t.display()).unwrap_or_default();
            let setting = if dialect.is_mysql() {
                "lock_wait_timeout"
            } else {
                "lock_timeout"
            };
            if let Some(f) = self.finding(
                &rules::MISSING_LOCK_TIMEOUT,
                statement.pos,
                &statement.text,
                format!("takes {lock} on {table} with no {setting} set: if the lock is not granted at once, all traffic to {table} queues behind it"),
                rules::MISSING_LOCK_TIMEOUT.safe_for(dialect).to_string(),
            ) {
                out.push((f, None));
            }
        }
        self.facts_of(change, statement, out);
        if self.reported() && self.settings.collect_changes {
            let suppressed =
                suppressed_rules.contains(assessment.rule) || suppressed_rules.contains("*");
            let name = self.source().name.clone();
            self.report.changes.push(Assessed {
                file: name,
                line: statement.pos.line,
                column: statement.pos.column,
                rule: assessment.rule,
                risk: assessment.risk,
                why: assessment.why,
                suppressed,
            });
        }
        op.apply(&mut self.catalog);
        match change {
            Change::CreateTable(create) => {
                self.new_tables.insert(create.table.key());
            }
            Change::RenameTable(rename) if self.new_tables.remove(&rename.from.key()) => {
                self.new_tables.insert(rename.to.key());
            }
            _ => {}
        }
    }

    /// Rules about what a change leaves behind rather than how it runs: a new table's key, a
    /// foreign key's index (decided at the end of the file, when later indexes are in).
    fn facts_of(
        &mut self,
        change: &Change,
        statement: &Prepared,
        out: &mut Vec<(Finding, Option<DeferredIf>)>,
    ) {
        let mut keys: Vec<(crate::name::QName, Vec<String>, String)> = Vec::new();
        match change {
            Change::CreateTable(create) => {
                if let Some((column, type_name)) = int_primary_key::narrow_key(create) {
                    let limit = if type_name.contains("unsigned") {
                        "4,294,967,295"
                    } else if type_name.starts_with("small")
                        || type_name.contains("int2")
                        || type_name.contains("serial2")
                    {
                        "32,767"
                    } else if type_name.starts_with("tiny") {
                        "127"
                    } else {
                        "2,147,483,647"
                    };
                    let rule = &int_primary_key::RULE;
                    if let Some(mut f) = self.finding(
                        rule,
                        statement.pos,
                        &statement.text,
                        format!(
                            "the primary key {}.{column} is {type_name}: inserts fail once it passes {limit}, and widening it then rewrites the table and every table that references it",
                            create.table.display()
                        ),
                        rule.safe_for(self.settings.dialect).to_string(),
                    ) {
                        f.table = Some(create.table.display());
                        out.push((f, None));
                    }
                }
                for c in &create.constraints {
                    if let ConstraintKind::ForeignKey { .. } = c.kind {
                        keys.push((create.table.clone(), c.columns.clone(), c.name.clone()));
                    }
                }
            }
            Change::AddForeignKey(fk) => {
                keys.push((fk.table.clone(), fk.columns.clone(), fk.name.clone()));
            }
            // A key added with its column, in the same ALTER TABLE.
            Change::AddColumn(add) => {
                for c in &add.references {
                    keys.push((add.table.clone(), c.columns.clone(), c.name.clone()));
                }
            }
            _ => {}
        }
        if self.settings.dialect.is_mysql() {
            return; // InnoDB indexes a foreign key's columns itself
        }
        for (table, columns, name) in keys {
            if columns.is_empty() {
                continue;
            }
            let rule = &fk_index::RULE;
            if let Some(mut f) = self.finding(
                rule,
                statement.pos,
                &statement.text,
                format!(
                    "no index starts with {}({}), the columns of foreign key {name}: every DELETE on the referenced table (and every update of its key) scans {}",
                    table.display(),
                    columns.join(", "),
                    table.display()
                ),
                rule.safe.to_string(),
            ) {
                f.table = Some(table.display());
                out.push((f, Some(DeferredIf::Unindexed { table, columns })));
            }
        }
    }

    /// A tokenizer error (an unterminated string or comment): nothing after it can be trusted.
    fn unreadable(&mut self, e: PlanError) {
        let line = self.line_of(e.pos);
        let line_start = Pos {
            line: e.pos.line,
            column: 1,
        };
        let help = e.help.clone().unwrap_or_else(|| {
            "Close the string, quoted name or comment that starts here; until then nothing after it can be checked.".to_string()
        });
        if let Some(mut f) = self.finding(
            &rules::SYNTAX_ERROR,
            line_start,
            &line,
            format!("{} (the rest of the file was not checked)", e.message),
            help,
        ) {
            (f.line, f.column) = (e.pos.line, e.pos.column);
            let mut none = Vec::new();
            self.settle(vec![f], &mut none, &mut []);
        }
    }

    /// Line `pos.line` of the current file, for a snippet (read again: the file is not kept).
    fn line_of(&self, pos: Pos) -> String {
        let source = self.source();
        let reader: Box<dyn Read> = match source.open() {
            Ok(reader) => reader,
            Err(_) => return String::new(),
        };
        use std::io::BufRead;
        std::io::BufReader::new(reader)
            .lines()
            .nth(line_index(pos))
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// `ADD … NOT VALID` then `VALIDATE` in one transaction: the ADD's lock lasts until COMMIT, so
    /// the validation scan blocks traffic after all.
    fn validate_in_transaction(
        &mut self,
        op: &dyn Op,
        statement: &Prepared,
        out: &mut Vec<(Finding, Option<DeferredIf>)>,
    ) {
        let Some(file) = &mut self.file else {
            return;
        };
        let session = &mut file.session;
        if !session.in_transaction {
            return;
        }
        if let Some((name, rule, lock)) = op.adds_not_valid() {
            session
                .not_valid_in_transaction
                .push((name.to_string(), rule, lock));
        }
        let Some(name) = op.validates() else {
            return;
        };
        let Some((rule, lock)) = session
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
            out.push((f, None));
        }
    }

    fn plan_command(&self) -> String {
        let make = || {
            let name = &self.source().name;
            let file = shlex::try_quote(name)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| name.clone());
            format!("safeshift plan {file}{}", self.settings.plan_flags)
        };
        match &self.file {
            Some(file) => file.plan_command.get_or_init(make).clone(),
            None => make(),
        }
    }

    /// Builds a finding, or `None` when its rule is off or the file is read for context only.
    fn finding(
        &self,
        rule: &'static Rule,
        pos: Pos,
        statement: &str,
        message: String,
        help: String,
    ) -> Option<Finding> {
        if !self.reported() {
            return None;
        }
        let severity = self.settings.severity_of(rule)?;
        let (end_line, end_column) = end_of(pos, statement);
        let finding = Finding {
            file: self.source().name.clone(),
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
            fingerprint: if self.settings.fingerprints || self.baseline.is_some() {
                baseline::fingerprint(statement)
            } else {
                String::new()
            },
        };
        Some(finding)
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
