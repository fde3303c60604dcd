//! The binary: parse arguments, call the library, decide the exit code. Nothing else.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use safeshift::cli::{
    ApplyArgs, Cli, Command, ExplainArgs, GateArgs, GateFormat, GraphArgs, GraphFormat, LintArgs,
    PlanArgs, PlanFormat, RehearseArgs, ReportFormat, RulesArgs, RulesFormat, StatusArgs,
};
use safeshift::config;
use safeshift::dialect::{Dialect, Engine};
use safeshift::error::Error;
use safeshift::lint::{self, Input, Settings, files};
use safeshift::name::QName;
use safeshift::ops::{BackfillOption, Options};
use safeshift::render::{Layout, Numbering};
use safeshift::rules::{self, Severity};

// glibc's malloc, free and realloc were about a quarter of `lint`'s instructions (a `String`
// per SQL word in sqlparser's tokenizer, an AST per statement, on several threads); jemalloc
// does the same work in far fewer and returns memory to the system on its own.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = cli.colored(std::io::stdout().is_terminal());
    let result = match cli.command {
        Command::Plan(args) => plan(args).map(|()| ExitCode::SUCCESS),
        Command::Lint(args) => lint(args, color),
        Command::Gate(args) => gate(args),
        Command::Rules(args) => Ok(rules_list(args)),
        Command::Explain(args) => explain(args),
        Command::Rehearse(args) => rehearse(args),
        Command::Apply(args) => apply(args),
        Command::Status(args) => status(args),
        Command::Graph(args) => graph(args),
        Command::Completions(args) => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(&safeshift::cli::completions(args.shell));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(args) => safeshift::cli::man_pages(&args.out).map(|pages| {
            for page in pages {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

fn parse_backfill(text: &str, fold: bool) -> Result<BackfillOption, Error> {
    let usage = || {
        Error::Usage(format!(
            "--backfill {text}: expected TABLE.COLUMN=EXPR, for example users.email_lower=lower(email)"
        ))
    };
    let (target, expr) = text.split_once('=').ok_or_else(usage)?;
    let (table, column) = target.trim().rsplit_once('.').ok_or_else(usage)?;
    if table.is_empty() || column.is_empty() || expr.trim().is_empty() {
        return Err(usage());
    }
    // MySQL keeps names as written; PostgreSQL folds them like unquoted SQL names.
    let ident = |s: &str| safeshift::name::ident_in(&sqlparser::ast::Ident::new(s), fold);
    let table = match table.split_once('.') {
        Some((schema, name)) => QName {
            schema: Some(ident(schema)),
            name: ident(name),
        },
        None => QName::new(ident(table)),
    };
    Ok(BackfillOption {
        table,
        column: ident(column),
        expr: expr.trim().to_string(),
    })
}

fn plan(args: PlanArgs) -> Result<(), Error> {
    if args.start_at.is_some() && args.layout == Layout::Plain {
        return Err(Error::Usage(
            "--start-at numbers a migration tool's files: add --layout flyway|golang-migrate|dbmate|sqlx".into(),
        ));
    }
    // Flags first, then safeshift.toml, then the defaults.
    let loaded = config::load(args.config.as_deref())?;
    let engine = args
        .dialect
        .or(loaded.config.dialect)
        .unwrap_or(Engine::Postgres);
    let live = match &args.database_url {
        Some(url) => Some(read_live_schema(url, engine)?),
        None => None,
    };
    let version = match (&args.server_version, &loaded.config.server_version, &live) {
        (Some(v), _, _) => Some(v.clone()),
        (None, Some(v), _) => Some(v.clone()),
        (None, None, Some((_, live))) => Some(live.server_version.clone()),
        (None, None, None) => None,
    };
    let dialect = Dialect::new(engine, version.as_deref()).map_err(Error::Usage)?;
    if args.online_tool.is_some() && !dialect.is_mysql() {
        return Err(Error::Usage(
            "--online-tool is for MySQL and MariaDB (--dialect mysql|mariadb)".into(),
        ));
    }
    let backfills = args
        .backfill
        .iter()
        .map(|b| parse_backfill(b, dialect.folds_case()))
        .collect::<Result<Vec<_>, _>>()?;
    let (change_name, change_sql) = files::read(&args.change)?;
    let schema = match &live {
        Some((url, live)) => Some((format!("database {url}"), live.sql.clone())),
        None => args
            .schema
            .clone()
            .or_else(|| loaded.schema())
            .as_deref()
            .map(files::read)
            .transpose()?,
    };
    let input = safeshift::PlanInput {
        change_name: &change_name,
        change_sql: &change_sql,
        schema: schema.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        dialect,
        options: Options {
            backfills,
            dual_write: args.dual_write,
            online_tool: args.online_tool,
            batch_size: args.batch_size,
            sizes: sizes(&args, live.as_ref().map(|(_, l)| l))?,
        },
    };
    let mut plan = safeshift::plan(&input)?;
    if version.is_none() && dialect.is_mysql() {
        plan.assumptions.push(format!(
            "No --server-version was given: planned for {} {}, {}; pass --server-version (or use --database-url) if the server is older, since online DDL depends on it.",
            dialect.engine_name(),
            dialect.version(),
            if engine == Engine::Mysql { "the current long-term-support release" } else { "a current long-term-support release" },
        ));
    }
    if let Some((url, live)) = &live {
        plan.assumptions
            .push(safeshift::introspect::estimates_note(url, live));
    }
    let output = safeshift::render::Output {
        layout: args.layout,
        numbering: match args.start_at {
            Some(n) => Numbering::From(n),
            None => args.layout.default_numbering(jiff::Timestamp::now()),
        },
    };
    safeshift::render::write_plan_dir(&plan, &args.out, args.force, output)?;
    match args.format {
        PlanFormat::Human => {
            print!("{}", safeshift::render::summary(&plan, Some(&args.out)));
            if args.layout != Layout::Plain {
                println!(
                    "{} migrations in {}/migrations/ (see its README.md)",
                    args.layout.as_str(),
                    args.out.display()
                );
            }
        }
        PlanFormat::Markdown => print!(
            "{}",
            safeshift::render::summary_markdown(&plan, Some(&args.out))?
        ),
    }
    Ok(())
}

/// `plan --database-url`: the schema and row estimates of the live database, read the way its
/// engine allows (the catalog on PostgreSQL, SHOW CREATE TABLE on MySQL/MariaDB).
fn read_live_schema(
    url: &str,
    engine: Engine,
) -> Result<(String, safeshift::introspect::LiveSchema), Error> {
    let db = |e: &dyn std::fmt::Display| Error::Database(e.to_string());
    let mysql_url = url.starts_with("mysql://") || url.starts_with("mariadb://");
    match engine {
        Engine::Postgres if mysql_url => Err(Error::Usage(format!(
            "--database-url {}: a MySQL/MariaDB URL; add --dialect mysql or --dialect mariadb",
            safeshift::db::redact_url(url)
        ))),
        Engine::Postgres => {
            let mut client = safeshift::db::connect(url).map_err(|e| db(&e))?;
            let live = safeshift::introspect::read_schema(&mut client).map_err(|e| db(&e))?;
            Ok((safeshift::db::redact_url(url), live))
        }
        Engine::Mysql | Engine::Mariadb => {
            if !mysql_url {
                return Err(Error::Usage(format!(
                    "--dialect {}: --database-url must be a mysql:// URL naming the database, e.g. mysql://user@host:3306/mydb",
                    engine_name(engine)
                )));
            }
            let mut conn = safeshift::db::mysql::connect(url).map_err(|e| db(&e))?;
            let live = safeshift::introspect::mysql::read_schema(&mut conn, engine).map_err(
                |e| match e {
                    safeshift::introspect::mysql::ReadError::Query { .. } => db(&e),
                    _ => Error::Usage(e.to_string()),
                },
            )?;
            Ok((safeshift::db::redact_url(url), live))
        }
    }
}

fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Mariadb => "mariadb",
    }
}

/// Table sizes for estimates: the live catalog's, then `--rows` (which wins).
fn sizes(
    args: &PlanArgs,
    live: Option<&safeshift::introspect::LiveSchema>,
) -> Result<safeshift::plan::estimate::Sizes, Error> {
    let mut sizes = safeshift::plan::estimate::Sizes {
        batch_time: args.batch_time,
        ..Default::default()
    };
    for e in live.map(|l| l.row_estimates.as_slice()).unwrap_or_default() {
        if let Some(rows) = e.rows {
            let name = if e.schema == "public" || e.schema.is_empty() {
                e.table.clone()
            } else {
                format!("{}.{}", e.schema, e.table)
            };
            sizes.rows.insert(name, (rows, "the live catalog"));
        }
    }
    for given in &args.rows {
        let usage = || {
            Error::Usage(format!(
                "--rows {given}: expected TABLE=N, for example users=2000000"
            ))
        };
        let (table, n) = given.split_once('=').ok_or_else(usage)?;
        let n: u64 = n.trim().replace('_', "").parse().map_err(|_| usage())?;
        if table.trim().is_empty() {
            return Err(usage());
        }
        sizes.rows.insert(table.trim().to_string(), (n, "--rows"));
    }
    Ok(sizes)
}

/// What lint and gate share: the config, the server version, the starting schema.
fn settings(
    loaded: &config::Loaded,
    target: &safeshift::cli::TargetArgs,
) -> Result<Settings, Error> {
    let version = target
        .server_version
        .as_deref()
        .or(loaded.config.server_version.as_deref());
    let engine = target.dialect.or(loaded.config.dialect).unwrap_or_default();
    let dialect = Dialect::new(engine, version).map_err(Error::Usage)?;
    let mut settings = Settings::new(dialect);
    let schema = target
        .schema
        .as_deref()
        .map(Path::to_path_buf)
        .or_else(|| loaded.schema());
    let mut flags = String::new();
    if engine != Engine::Postgres {
        flags.push_str(&format!(" --dialect {}", dialect.id()));
    }
    if let Some(path) = &schema {
        let (name, text) = files::read(path)?;
        settings.catalog = safeshift::load_schema_for(dialect, &name, &text)?;
        settings.schema_known = true;
        flags.push_str(&format!(" --schema {}", shell_word(&name)));
    }
    if let Some(v) = version {
        flags.push_str(&format!(" --server-version {}", shell_word(v)));
    }
    settings.plan_flags = flags;
    settings.severity = loaded.config.rules.severity.clone();
    settings.disabled = loaded.config.rules.disable.iter().cloned().collect();
    settings.tool = target.migration_tool.or(loaded.config.migration_tool);
    Ok(settings)
}

fn shell_word(text: &str) -> String {
    shlex::try_quote(text)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| text.to_string())
}

/// The files to lint, in order, each checked readable and UTF-8 but not kept: lint reads them
/// again in chunks. `report` says which are reported (the others only build the schema).
fn inputs(
    paths: &[PathBuf],
    loaded: &config::Loaded,
    report: impl Fn(&Path) -> bool,
) -> Result<Vec<Input>, Error> {
    let found = files::collect(paths)?;
    if found.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!(
            "no .sql files found in {}",
            names.join(", ")
        )));
    }
    let on_disk: Vec<&Path> = found
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .map(PathBuf::as_path)
        .collect();
    let mut checked = files::check_all(&on_disk).into_iter();
    found
        .iter()
        .map(|path| {
            let reported = report(path) && !loaded.excludes(path);
            if path.as_os_str() == "-" {
                let (name, text) = files::read(path)?;
                return Ok(Input {
                    name,
                    path: None,
                    text: Some(text),
                    report: reported,
                    size: None,
                });
            }
            let (name, size) = checked.next().unwrap_or_else(|| files::check(path))?;
            Ok(Input::file(name, path.clone(), Some(size), reported))
        })
        .collect()
}

/// Which files changed since `rev` (for `--since`): the others are read for their schema only.
fn changed_since(rev: Option<&str>) -> Result<Option<Vec<PathBuf>>, Error> {
    let Some(rev) = rev else {
        return Ok(None);
    };
    Ok(Some(
        safeshift::gate::changed_since(rev)
            .map_err(Error::Usage)?
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect(),
    ))
}

fn is_new(changed: &Option<Vec<PathBuf>>, path: &Path) -> bool {
    match changed {
        None => true,
        Some(changed) => path.canonicalize().is_ok_and(|p| changed.contains(&p)),
    }
}

fn lint(args: LintArgs, color: bool) -> Result<ExitCode, Error> {
    let loaded = config::load(args.target.config.as_deref())?;
    let mut settings = Settings {
        keep_statements: args.format == lint::format::Format::Human,
        collect_changes: false,
        // Hashing every finding's statement costs time; only a baseline being written needs it.
        fingerprints: args.write_baseline.is_some(),
        ..settings(&loaded, &args.target)?
    };
    let changed = changed_since(args.since.as_deref())?;
    let inputs = inputs(&args.paths, &loaded, |path| is_new(&changed, path))?;
    if let Some(path) = &args.write_baseline {
        let report = lint::lint_inputs(&inputs, &settings, lint::Output::Keep)?;
        let entries: Vec<_> = report
            .findings
            .iter()
            .map(lint::baseline::Entry::of)
            .collect();
        let n = entries.len();
        lint::baseline::write(path, entries)?;
        println!(
            "safeshift lint: wrote {n} finding{} to {} ({} statements in {} files checked); lint with --baseline {} to report only new ones",
            if n == 1 { "" } else { "s" },
            path.display(),
            report.statements,
            report.files,
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = args.baseline.clone().or_else(|| loaded.baseline()) {
        settings.baseline = Some(lint::baseline::Baseline::load(&path)?);
    }
    // Not stdout's lock: findings may be written on a thread of their own.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let write_error = |e: std::io::Error| Error::Write {
        path: "<stdout>".into(),
        message: e.to_string(),
    };
    let mut stream = lint::format::Stream::begin(args.format, &settings, color, &mut out)
        .map_err(write_error)?;
    let report = lint::lint_into(&inputs, &settings, &mut stream)?;
    stream.end(&report).map_err(write_error)?;
    out.flush().map_err(write_error)?;
    let fail_on = args
        .fail_on
        .or(loaded.config.fail_on)
        .unwrap_or(Severity::Error);
    Ok(match report.worst() {
        Some(worst) if worst >= fail_on => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn gate(args: GateArgs) -> Result<ExitCode, Error> {
    let loaded = config::load(args.target.config.as_deref())?;
    let settings = Settings {
        new_tables_across_files: true,
        ..settings(&loaded, &args.target)?
    };
    let now = match &args.now {
        Some(text) => safeshift::gate::window::parse_now(text)
            .map_err(|e| Error::Usage(format!("--now: {e}")))?,
        None => jiff::Timestamp::now(),
    };
    let changed = changed_since(args.since.as_deref())?;
    let inputs = inputs(&args.paths, &loaded, |path| is_new(&changed, path))?;
    let report = lint::lint_inputs(&inputs, &settings, lint::Output::Keep)?;
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| f.rule == lint::rules::SYNTAX_ERROR.id)
    {
        return Err(Error::Input {
            file: f.file.clone(),
            line: f.line,
            column: f.column,
            message: format!("cannot decide: {}", f.message),
            help: Some("fix the migration; `safeshift lint` lists every problem".into()),
        });
    }
    let new_files = inputs
        .iter()
        .filter(|s| s.report)
        .map(|s| s.name.clone())
        .collect();
    let verdict = safeshift::gate::decide(&report, new_files, &loaded.windows, now);
    match args.format {
        GateFormat::Human => print!("{}", safeshift::gate::human(&verdict)),
        GateFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&verdict).unwrap_or_default()
        ),
    }
    Ok(ExitCode::from(verdict.exit_code))
}

fn rules_list(args: RulesArgs) -> ExitCode {
    match args.format {
        RulesFormat::Human => print!("{}", rules::list()),
        RulesFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rules::all()).unwrap_or_default()
        ),
        RulesFormat::Markdown => print!("{}", rules::markdown()),
    }
    ExitCode::SUCCESS
}

fn explain(args: ExplainArgs) -> Result<ExitCode, Error> {
    match rules::find(&args.rule) {
        Some(rule) => {
            print!("{}", rules::explain(rule));
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let similar = rules::similar(&args.rule);
            let hint = if similar.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", similar.join(", "))
            };
            Err(Error::Usage(format!(
                "unknown rule `{}`{hint}; `safeshift rules` lists them all",
                args.rule
            )))
        }
    }
}

fn apply(args: ApplyArgs) -> Result<ExitCode, Error> {
    let loaded = config::load(args.config.as_deref())?;
    let (a, d) = (&loaded.config.apply, &loaded.durations);
    let plan = safeshift::plan_dir::PlanDir::open(&args.plan)?;
    let request = safeshift::apply::ApplyRequest {
        plan: &plan,
        database_url: &args.database.database_url,
        stage: args.stage,
        run: safeshift::apply::RunOptions {
            lock_timeout: args.lock_timeout.or(d.lock_timeout),
            retries: args.retries.or(a.retries).unwrap_or(10),
            retry_delay: args
                .retry_delay
                .or(d.retry_delay)
                .unwrap_or(Duration::from_millis(200)),
            max_retry_delay: args
                .max_retry_delay
                .or(d.max_retry_delay)
                .unwrap_or(Duration::from_secs(30)),
            batch_size: args.batch_size.or(a.batch_size),
            pause: args.pause.or(d.pause).unwrap_or_default(),
            target_batch_time: args.target_batch_time.or(d.target_batch_time),
            max_replica_lag: args.max_replica_lag.or(d.max_replica_lag),
            throttle: safeshift::apply::throttle::Limits {
                max_app_lock_wait: Some(
                    args.max_app_lock_wait
                        .or(d.max_app_lock_wait)
                        .unwrap_or(safeshift::apply::throttle::DEFAULT_MAX_APP_LOCK_WAIT),
                )
                .filter(|d| !d.is_zero()),
                max_wal_rate: args.max_wal_rate.or(d.max_wal_rate).filter(|&r| r > 0),
                vacuum_pause: !args.no_vacuum_pause && a.vacuum_pause.unwrap_or(true),
                replica_urls: if args.replica_url.is_empty() {
                    a.replica_urls.clone()
                } else {
                    args.replica_url.clone()
                },
                max_pause: Some(
                    args.max_pause
                        .or(d.max_pause)
                        .unwrap_or(safeshift::apply::throttle::DEFAULT_MAX_PAUSE),
                )
                .filter(|d| !d.is_zero()),
                // `apply` itself sets it, from --database-url.
                primary_url: None,
            },
            parallel_workers: Some(args.parallel_workers.or(a.parallel_workers).unwrap_or(0)),
            ..safeshift::apply::RunOptions::default()
        },
        rollback: !args.no_rollback,
        rerun: args.rerun,
        confirm: args.confirm,
        progress: !args.no_progress,
        allow_edited: args.allow_edited,
    };
    let mut out = std::io::stdout().lock();
    let outcome = safeshift::apply::apply(&request, &mut out)?;
    Ok(ExitCode::from(outcome.exit_code() as u8))
}

fn status(args: StatusArgs) -> Result<ExitCode, Error> {
    let plan = safeshift::plan_dir::PlanDir::open(&args.plan)?;
    let stages = safeshift::apply::status(&plan, &args.database.database_url)?;
    let text = match args.format {
        GateFormat::Human => safeshift::apply::status_text(&plan, &stages),
        GateFormat::Json => {
            let mut json = serde_json::to_string_pretty(&serde_json::json!({
                "plan": plan.root.display().to_string(),
                "plan_id": plan.id,
                "stages": stages,
            }))
            .map_err(|e| Error::Usage(e.to_string()))?;
            json.push('\n');
            json
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// App statements from a file: split like any SQL file.
fn app_statements(path: Option<&Path>) -> Result<Vec<String>, Error> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let (name, text) = files::read(path)?;
    Ok(safeshift::db::statements(&text)
        .map_err(|e| e.in_file(&name))?
        .into_iter()
        .map(|s| s.text)
        .collect())
}

fn rehearse(args: RehearseArgs) -> Result<ExitCode, Error> {
    let loaded = config::load(args.config.as_deref())?;
    let plan = safeshift::plan_dir::PlanDir::open(&args.plan)?;
    let schema = args.schema.as_deref().map(files::read).transpose()?;
    let request = safeshift::rehearse::RehearseRequest {
        plan: &plan,
        database_url: &args.database_url,
        schema,
        rows: args
            .rows
            .or(loaded.config.rehearse.seed_rows)
            .unwrap_or(10_000),
        old_app: app_statements(args.old_app.or_else(|| loaded.old_app()).as_deref())?,
        new_app: app_statements(args.new_app.or_else(|| loaded.new_app()).as_deref())?,
        max_wait: args
            .max_wait
            .or(loaded.durations.max_wait)
            .unwrap_or(Duration::from_secs(1)),
        window: args
            .window
            .or(loaded.durations.window)
            .unwrap_or(Duration::from_secs(1)),
        run: safeshift::apply::RunOptions::default(),
        allow_edited: args.allow_edited,
    };
    let rehearsal = safeshift::rehearse::rehearse(&request, &mut std::io::stderr())?;
    let text = match args.format {
        ReportFormat::Human => safeshift::rehearse::report::human(&rehearsal),
        ReportFormat::Markdown => safeshift::rehearse::report::markdown(&rehearsal)
            .map_err(|e| Error::Usage(e.to_string()))?,
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(&rehearsal)
                .map_err(|e| Error::Usage(e.to_string()))?;
            json.push('\n');
            json
        }
    };
    print!("{text}");
    Ok(if rehearsal.interrupted {
        ExitCode::from(130)
    } else if rehearsal.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn graph(args: GraphArgs) -> Result<ExitCode, Error> {
    let plan = safeshift::plan_dir::PlanDir::open(&args.plan)?;
    let text = match args.format {
        GraphFormat::Dot => safeshift::render::graph::dot(&plan.plan),
        GraphFormat::Mermaid => safeshift::render::graph::mermaid(&plan.plan),
    }
    .map_err(|e| Error::Usage(e.to_string()))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
