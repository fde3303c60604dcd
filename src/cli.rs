//! Command-line definitions. Help text lives here, next to each flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::dialect::Engine;
use crate::lint::format::Format as LintFormat;
use crate::ops::{DualWrite, OnlineTool};
use crate::render::Layout;
use crate::rules::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "safeshift",
    version,
    about = "Turn a risky database schema change into a safe, staged rollout plan",
    long_about = "safeshift reads a schema change written the naive way (plain SQL), knows which operations lock or \
break a busy PostgreSQL, MySQL or MariaDB database, and writes a staged plan: expand, migrate, contract — migration files (up and down) \
and a checklist per stage.",
    after_help = "Start with `safeshift plan CHANGE.sql --schema SCHEMA.sql`, then read PLAN.md or plan.html in the
plan directory it writes. Each command's --help has examples and lists its exit codes; 2 always
means a usage or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Colour in terminal output: auto (a terminal, and NO_COLOR unset; CLICOLOR_FORCE forces
    /// it), always or never
    #[arg(long, global = true, value_enum, default_value_t = clap::ColorChoice::Auto, value_name = "WHEN")]
    pub color: clap::ColorChoice,
}

impl Cli {
    /// Whether to colour output written to a stream that is (or is not) a terminal.
    pub fn colored(&self, terminal: bool) -> bool {
        match self.color {
            clap::ColorChoice::Always => true,
            clap::ColorChoice::Never => false,
            clap::ColorChoice::Auto => {
                let set =
                    |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
                if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                    false
                } else {
                    set("CLICOLOR_FORCE") || terminal
                }
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan a change: write the staged plan directory and print a summary
    #[command(after_help = "Examples:
  safeshift plan change.sql --schema schema.sql
  safeshift plan change.sql --backfill users.email_lower='lower(email)' --out plans/email-lower
  pg_dump --schema-only mydb > schema.sql && safeshift plan change.sql --schema schema.sql --server-version 15
  mysqldump --no-data mydb > schema.sql && safeshift plan change.sql --schema schema.sql --dialect mysql --server-version 8.0.35
  safeshift plan change.sql --database-url postgres://readonly@db/prod    # schema from the live catalog
  safeshift plan change.sql --dialect mariadb --database-url mysql://readonly@db:3306/shop
  safeshift plan change.sql --schema schema.sql --format markdown > pr-comment.md
  safeshift plan change.sql --schema schema.sql --layout golang-migrate --start-at 43

What is written and what is printed are separate choices: --layout picks the files (the plan
directory always: plan.json, PLAN.md, plan.html, one directory per stage; a migration tool's files
besides it), --format picks what is printed (as for lint, gate and rehearse).

Directives: a comment right above a statement adds what SQL cannot say:
  -- safeshift: backfill = lower(email)
  ALTER TABLE users ADD COLUMN email_lower text NOT NULL;

Exit codes: 0 plan written, 1 the plan could not be written (disk, permissions), 2 usage or input
error (unreadable or invalid SQL with its file, line and column; a change safeshift refuses to plan,
with the reason; an existing --out without --force).")]
    Plan(PlanArgs),

    /// Check migration files for statements that lock a busy database or break the running app
    #[command(after_help = "Examples:
  safeshift lint db/migrations
  safeshift lint db/migrations/0042_add_email.sql --schema db/schema.sql --server-version 15
  safeshift lint migrations --format sarif > safeshift.sarif      # GitHub code scanning
  safeshift lint migrations --format github                      # annotations in a GitHub Actions log

Directories are read recursively: every *.sql in the order migration tools run them (numeric
prefixes compare as numbers: 2_x.sql before 10_y.sql); down migrations (down.sql, *.down.sql) and
dbmate's `-- migrate:down` sections are skipped. Files share one schema, so a later file sees what
an earlier one created; tables created in the same file are new and empty, so anything goes on them.

Suppress a finding with a comment right above the statement (several rules: commas), or every
finding of a rule in a file from the line on (put it at the top; no rule: all of them):
  -- safeshift: ignore non-concurrent-index, missing-lock-timeout  the table has 40 rows
  -- safeshift: ignore-file renaming-column
An ignore that names an unknown rule, or silences nothing, is reported.

Adopting safeshift on an existing history:
  safeshift lint db/migrations --since origin/main          # report only what changed
  safeshift lint db/migrations --write-baseline .safeshift-baseline.json
  safeshift lint db/migrations --baseline .safeshift-baseline.json

safeshift.toml (found by walking up from the current directory, or --config):
  dialect = \"postgres\"                # or mysql, mariadb
  server-version = \"15\"
  fail-on = \"warning\"
  schema = \"db/schema.sql\"
  migration-tool = \"dbmate\"          # golang-migrate, sqlx, flyway, none
  baseline = \".safeshift-baseline.json\"
  exclude = [\"db/migrations/legacy/**\"]   # read for their schema only
  [rules]
  disable = [\"renaming-table\"]
  severity = { non-concurrent-index-drop = \"error\" }

Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage or input error (unreadable file,
bad flag or config). `safeshift rules` lists the rules; `safeshift explain RULE` explains one.")]
    Lint(LintArgs),

    /// Decide whether a pipeline may deploy new migrations by itself
    #[command(
        after_help = "Decisions and exit codes (branch on them in the pipeline):
  0   none         no migrations: deploy
  10  safe         every statement is online-safe as written: deploy automatically
  20  staged       needs an expand/contract plan (or a person, for statements safeshift does not
                   understand): do not deploy automatically; run the `safeshift plan` it names
  30  destructive  drops data or breaks the running app for good, outside the maintenance window:
                   blocked; the output says when the next window opens
  31  destructive  ... inside the maintenance window: deploy
  2   usage or input error (syntax error, unknown revision, bad config)

Maintenance windows go in safeshift.toml:
  [gate]
  window = \"Sat 02:00-05:00 UTC\"          # or a list; zones: UTC, +02:00, Europe/Berlin
  Days: Mon..Sun, ranges (Mon-Fri), lists (Sat,Sun), or daily.

An `-- safeshift: ignore RULE` directive accepts a staged risk for that statement; it never makes a
destructive change deployable outside the window.

Examples:
  safeshift gate db/migrations --since origin/main
  safeshift gate db/migrations --since \"$CI_MERGE_REQUEST_DIFF_BASE_SHA\" --format json"
    )]
    Gate(GateArgs),

    /// List every rule with its default severity
    #[command(after_help = "Examples:
  safeshift rules
  safeshift rules --format json

Exit codes: 0 listed, 2 usage error.")]
    Rules(RulesArgs),

    /// Explain a rule: what it detects, why it hurts, the safe rollout, an example
    #[command(after_help = "Examples:
  safeshift explain adding-required-column

Exit codes: 0 explained, 2 unknown rule or usage error.")]
    Explain(ExplainArgs),

    /// Prove a plan on a scratch database before production sees it
    #[command(
        after_help = "What it does, on the server of --database-url (the database named there is not touched):
  1. creates a scratch database, loads the schema (--schema, or the plan's schema.sql) and seeds
     --seed-rows rows into every table (types, NOT NULL, unique keys and foreign keys respected)
  2. runs the stages in order while app traffic runs on other connections: the old version's
     statements until the contract phase, the new version's from its deploy stage on, both in
     between; each version uses the columns of the schema it was written for
  3. for each stage checks: it ran; neither app version saw an error or waited longer than
     --max-wait; no statement read or wrote a table's rows while holding a lock that blocks the
     app (read inside the statement's own transaction, so it shows on small tables too; on
     MySQL/MariaDB: no ALTER copied the table, which its affected-row count shows, and sessions
     seen waiting for a lock in information_schema.PROCESSLIST are reported);
     down.sql restores the schema and up.sql runs again after it
  4. checks the final schema equals the naive change applied to a second scratch database
  5. drops both scratch databases, also on failure or Ctrl-C

App statements of your own (one per line or ;-separated) join the simulated ones with --old-app
and --new-app; `{seq}` in them becomes a fresh number each time.

Exit codes: 0 every check passed, 1 a check failed, 2 usage, input or connection error,
130 interrupted.

Examples:
  safeshift rehearse plans/email-lower --database-url postgres://postgres@localhost/postgres
  safeshift rehearse plans/email-lower --seed-rows 100000 --format markdown > rehearsal.md
  safeshift rehearse plans/mysql-change --database-url mysql://root@127.0.0.1:3306/"
    )]
    Rehearse(RehearseArgs),

    /// Run one stage of a plan on a real database
    #[command(after_help = "How a stage runs:
  - every statement is sent on its own, with the lock_timeout the plan sets (or --lock-timeout;
    on MySQL/MariaDB lock_wait_timeout, in whole seconds); one that gives up on a lock (MySQL:
    error 1205) is retried with jittered exponential backoff (--retries, --retry-delay,
    --max-retry-delay); in a transactional stage the whole transaction is retried
  - MySQL/MariaDB files are split as the mariadb client splits them (DELIMITER blocks too)
  - CREATE INDEX CONCURRENTLY runs outside a transaction; an INVALID index left by an interrupted
    build is dropped before the build is tried again
  - a backfill is walked batch by batch with a progress bar (plain lines when not on a terminal);
    Ctrl-C stops it between batches and the same command resumes it
  - the stage's `before` checks must pass first and its `verify` checks after
  - a failed stage is undone with its down.sql (unless --no-rollback) and recorded
  - application stages are deploys: apply prints what the code must do; record the deploy with
    --confirm once every instance runs the new version

History: the table safeshift.applied_stages (created on first use; on MySQL/MariaDB in a
database named safeshift, one row per database, plan and stage) records each stage; a stage
runs only after the stages it depends on, and a done stage runs again only with --rerun.

Exit codes: 0 done, 1 the stage failed (what this run did is rolled back unless --no-rollback;
a failed --rerun of a done stage is never rolled back; a walk that paused longer than
--max-pause is not rolled back: the same command resumes it), 2 usage, input or connection error
before the stage started, 3 refused (dependencies not done, already done, a check failed or
could not run, a deploy not confirmed, or another apply is running this plan), 4 the connection
was lost while the stage ran (a restart, a killed session: inspect, then run again),
130 interrupted (run again to resume).

Examples:
  safeshift apply plans/email-lower --stage 1 --database-url postgres://app@db/prod
  DATABASE_URL=postgres://app@db/prod safeshift apply plans/email-lower --stage 3 --batch-size 2000 --pause 50ms
  safeshift apply plans/email-lower --stage 4 --confirm
  safeshift apply plans/mysql-change --stage 1 --database-url mysql://app@db:3306/shop")]
    Apply(ApplyArgs),

    /// Print a plan's stage graph as Graphviz DOT or Mermaid
    #[command(after_help = "Examples:
  safeshift graph safeshift-plan --format mermaid      # paste into a GitHub comment
  safeshift graph safeshift-plan | dot -Tsvg > plan.svg

Exit codes: 0 printed, 2 not a plan directory or usage error.")]
    Graph(GraphArgs),

    /// Show where a plan stands on a database: done, failed, running, ready, pending
    #[command(after_help = "Examples:
  safeshift status plans/email-lower --database-url postgres://app@db/prod
  safeshift status plans/email-lower --format json
  safeshift status plans/mysql-change --database-url mysql://app@db:3306/shop

Exit codes: 0 shown (whatever the stages' states), 2 not a plan directory, the database cannot be
reached, or usage error.")]
    Status(StatusArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Install it where your shell looks for completions, for example:
  safeshift completions bash > ~/.local/share/bash-completion/completions/safeshift
  safeshift completions zsh > \"${fpath[1]}/_safeshift\"
  safeshift completions fish > ~/.config/fish/completions/safeshift.fish

Exit codes: 0 printed, 2 unknown shell."
    )]
    Completions(CompletionsArgs),

    /// Write the manual pages (safeshift.1 and one per command) into a directory
    #[command(after_help = "Examples:
  safeshift man --out /usr/local/share/man/man1 && man safeshift
  safeshift man --out man && man -l man/safeshift-plan.1

Exit codes: 0 written, 1 the directory could not be written, 2 usage error.")]
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write the pages into (made if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 500ms, 2s or 1m)"))
}

/// Which database to act on.
#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// Connection URL: postgres://user@host:port/dbname (or a key/value string) for a PostgreSQL
    /// plan, mysql://user:password@host:3306/dbname for a MySQL or MariaDB plan
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A plan directory written by `safeshift plan`
    #[arg(value_name = "PLAN_DIR")]
    pub plan: PathBuf,

    /// The stage to run (see `safeshift status`)
    #[arg(long, value_name = "N")]
    pub stage: usize,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Settings file [default: the nearest safeshift.toml; its [apply] section fills flags not given]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Give up waiting for a lock after this long [default: the plan's own, 2s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,

    /// Attempts after the first for a statement that gave up on a lock [default: 10]
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// First wait before a retry; doubled each time, with jitter [default: 200ms]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<std::time::Duration>,

    /// Longest wait between retries [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_retry_delay: Option<std::time::Duration>,

    /// Rows per backfill transaction [default: the plan's]
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,

    /// Sleep between backfill batches (leaves room for replicas and the app) [default: 0s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pause: Option<std::time::Duration>,

    /// Adapt the backfill batch size so each batch takes about this long (starting from
    /// --batch-size or the plan's; doubled while batches are quick, shrunk when slow)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub target_batch_time: Option<std::time::Duration>,

    /// Before each batch of a walk (a backfill or a batched data change), wait while a replica
    /// lags more than this. PostgreSQL: replay lag in pg_stat_replication (needs pg_monitor to
    /// see it); MySQL/MariaDB: the replicas named with --replica-url
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_replica_lag: Option<std::time::Duration>,

    /// MySQL/MariaDB: a replica whose lag (SHOW REPLICA STATUS) --max-replica-lag bounds;
    /// repeat for each replica (a primary does not know its replicas' lag). apply's own walks
    /// look before each batch; for a walk in the stage's file, apply holds the server-wide lock
    /// safeshift_throttle while a replica lags, and the walk waits while it is held
    #[arg(long, value_name = "URL")]
    pub replica_url: Vec<String>,

    /// Before each batch of a walk (a backfill, or a batched data change's walk in the stage's
    /// file), pause while an app session has waited on a lock longer than this (`off` to never);
    /// apply's own backfill batches are also kept under half of it, since an app session waiting
    /// for a row of the batch in flight is not seen until the batch commits [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = crate::apply::throttle::parse_limit)]
    pub max_app_lock_wait: Option<std::time::Duration>,

    /// PostgreSQL: before each batch of a walk (a backfill apply walks itself, or a walk in the
    /// stage's file, through safeshift.max_wal_rate), pause while the server writes WAL faster
    /// than this many bytes a second (the walk's own WAL included), e.g. 20MB [default: off]
    #[arg(long, value_name = "RATE", value_parser = crate::apply::throttle::parse_rate)]
    pub max_wal_rate: Option<u64>,

    /// PostgreSQL: do not pause a walk (a backfill or a batched data change) while a vacuum
    /// (autovacuum or manual) works on its table [default: it pauses]
    #[arg(long)]
    pub no_vacuum_pause: bool,

    /// The longest one pause may last. A walk (a backfill, or a batched data change's walk in
    /// the stage's file) pauses before its next batch while the app suffers: an app session
    /// waits on a lock (--max-app-lock-wait), a vacuum works on the table, WAL is written too
    /// fast (--max-wal-rate), a replica lags (--max-replica-lag). A pause longer than this stops
    /// the walk and apply exits 1, as for a stage that gave up on a lock, but nothing is rolled
    /// back: every batch done is kept, and the same command resumes the walk. `off`: wait as
    /// long as the cause lasts [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = crate::apply::throttle::parse_limit)]
    pub max_pause: Option<std::time::Duration>,

    /// PostgreSQL: the parallel workers one scan or index build of the stage may start (its
    /// checks, backfill and statements, through max_parallel_workers_per_gather and
    /// max_parallel_maintenance_workers). Parallel workers finish a full scan or an index build
    /// sooner by taking CPU the app is using; 0 keeps the migration to one core per statement.
    /// Raise it on a server with cores to spare [default: 0]
    #[arg(long, value_name = "N")]
    pub parallel_workers: Option<u32>,

    /// Leave a failed stage as it is instead of running its down.sql
    #[arg(long)]
    pub no_rollback: bool,

    /// Run a stage that is already recorded as done
    #[arg(long)]
    pub rerun: bool,

    /// Record an application stage as deployed
    #[arg(long)]
    pub confirm: bool,

    /// Plain progress lines even on a terminal
    #[arg(long)]
    pub no_progress: bool,

    /// Run a stage whose up.sql or down.sql was edited since `safeshift plan` wrote it
    /// (plan.json holds each file's SHA-256; an edited backfill is refused regardless, since
    /// apply runs plan.json's description of it)
    #[arg(long)]
    pub allow_edited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RehearseArgs {
    /// A plan directory written by `safeshift plan`
    #[arg(value_name = "PLAN_DIR")]
    pub plan: PathBuf,

    /// A server where safeshift may create and drop scratch databases (the database named in
    /// the URL is not touched). Never read from $DATABASE_URL: a rehearsal does not belong on
    /// the production server
    #[arg(long, value_name = "URL")]
    pub database_url: String,

    /// The schema before the plan [default: schema.sql in the plan directory]
    #[arg(long, value_name = "SCHEMA.sql")]
    pub schema: Option<PathBuf>,

    /// Settings file [default: the nearest safeshift.toml; its [rehearse] section fills flags
    /// not given]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Rows seeded into every table (`--rows` is accepted too, as before; for `plan`, `--rows`
    /// means a table's row count, TABLE=N) [default: 10000]
    #[arg(long = "seed-rows", alias = "rows", value_name = "N")]
    pub rows: Option<u64>,

    /// Statements the old app version runs, besides the simulated ones
    #[arg(long, value_name = "FILE")]
    pub old_app: Option<PathBuf>,

    /// Statements the new app version runs, besides the simulated ones
    #[arg(long, value_name = "FILE")]
    pub new_app: Option<PathBuf>,

    /// An app statement slower than this fails the stage [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<std::time::Duration>,

    /// How long app traffic runs alone before the first stage, through each deploy and after
    /// the last stage (a quarter of it around every other stage) [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<std::time::Duration>,

    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,

    /// Rehearse stage files edited since `safeshift plan` wrote them (plan.json holds each
    /// file's SHA-256)
    #[arg(long)]
    pub allow_edited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// A plan directory written by `safeshift plan`
    #[arg(value_name = "PLAN_DIR")]
    pub plan: PathBuf,

    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A plan directory written by `safeshift plan`
    #[arg(value_name = "PLAN_DIR")]
    pub plan: PathBuf,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[arg(long, value_enum, default_value_t = GateFormat::Human)]
    pub format: GateFormat,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Migration files or directories; `-` reads standard input
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Lowest severity that makes the exit code 1 [default: error]
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,

    /// Only migrations added or changed since this git revision are reported; older ones are read
    /// for their schema only [default: every file given]
    #[arg(long, value_name = "GIT_REV")]
    pub since: Option<String>,

    /// Accepted findings (written by --write-baseline): not reported [default: baseline in
    /// safeshift.toml]
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,

    /// Record every current finding as accepted in FILE (JSON) and exit 0: adopt safeshift on an
    /// existing history, then report only new findings with --baseline
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GateFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Migration files or directories (as for lint)
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Only migrations added or changed since this git revision are new; older ones are read
    /// for their schema only [default: every file given is new]
    #[arg(long, value_name = "GIT_REV")]
    pub since: Option<String>,

    /// The time to decide at, RFC 3339 (for the maintenance window) [default: now]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = GateFormat::Human)]
    pub format: GateFormat,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// What `lint` and `gate` check against.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The database engine the migrations run on [default: postgres, or dialect in safeshift.toml]
    #[arg(long, value_enum)]
    pub dialect: Option<Engine>,

    /// Version of the target server: PostgreSQL 15 or 14.4, MySQL 8.0.35, MariaDB 10.11
    /// [default: 14, 8.4 or 10.11 by dialect, or server-version in safeshift.toml]
    #[arg(long, value_name = "N")]
    pub server_version: Option<String>,

    /// The schema before the first file (`pg_dump --schema-only` output): tells, for example, a
    /// binary-compatible type change from a rewrite [default: schema in safeshift.toml]
    #[arg(long, value_name = "SCHEMA.sql")]
    pub schema: Option<PathBuf>,

    /// Settings file [default: the nearest safeshift.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The tool that runs the migrations, for which files run inside a transaction (where
    /// CONCURRENTLY fails) [default: migration-tool in safeshift.toml, else guessed per file]
    #[arg(long, value_enum, value_name = "TOOL")]
    pub migration_tool: Option<crate::lint::tools::Tool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesFormat {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = RulesFormat::Human)]
    pub format: RulesFormat,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A rule id, as in a finding (`safeshift rules` lists them)
    #[arg(value_name = "RULE")]
    pub rule: String,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The change as you would naively write it (a .sql file; `-` reads standard input)
    #[arg(value_name = "CHANGE.sql")]
    pub change: PathBuf,

    /// The current schema: `pg_dump --schema-only` output or plain CREATE statements.
    /// Without it safeshift assumes every table is large and busy, and cannot plan
    /// changes that copy a column (rename, type change)
    #[arg(long, value_name = "SCHEMA.sql")]
    pub schema: Option<PathBuf>,

    /// Read the current schema and row estimates from this database instead of --schema (read
    /// only: nothing is changed): postgres://… (the catalog) or, with --dialect mysql|mariadb,
    /// mysql://…/DATABASE (SHOW CREATE TABLE). Also sets --server-version unless given
    #[arg(long, value_name = "URL", conflicts_with = "schema")]
    pub database_url: Option<String>,

    /// The database engine: postgres, mysql (8.0+) or mariadb (10.3+) [default: dialect in
    /// safeshift.toml, else postgres]
    #[arg(long, value_enum)]
    pub dialect: Option<Engine>,

    /// Version of the target server: PostgreSQL 15 or 14.4, MySQL 8.0.35, MariaDB 10.11
    /// (instant DDL depends on it) [default: server-version in safeshift.toml, else the
    /// database's with --database-url, else 14, 8.4 or 10.11 by dialect]
    #[arg(long, value_name = "N")]
    pub server_version: Option<String>,

    /// Settings file (dialect, server-version, schema) [default: the nearest safeshift.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// MySQL/MariaDB: run changes that copy a table (type changes, CHECK) with gh-ost or
    /// pt-online-schema-change; the stage's checklist carries the command line
    #[arg(long, value_enum, value_name = "TOOL")]
    pub online_tool: Option<OnlineTool>,

    /// How to fill existing rows of a new NOT NULL column (or NULLs before SET NOT NULL):
    /// an SQL expression over the row's columns. Repeatable
    #[arg(long, value_name = "TABLE.COLUMN=EXPR")]
    pub backfill: Vec<String>,

    /// Keep old and new columns in sync with database triggers (no app change needed
    /// until the final deploy) or by the application writing both (extra deploy stages)
    #[arg(long, value_enum, default_value_t = DualWrite::Trigger)]
    pub dual_write: DualWrite,

    /// Rows per backfill transaction
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,

    /// A table's row count, for duration estimates (repeatable; overrides the catalog's
    /// estimate with --database-url)
    #[arg(long = "rows", value_name = "TABLE=N")]
    pub rows: Vec<String>,

    /// A measured time for one backfill batch (e.g. from a trial run), instead of the assumed
    /// 50,000 rows/s
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub batch_time: Option<std::time::Duration>,

    /// Where to write the plan directory
    #[arg(long, value_name = "DIR", default_value = "safeshift-plan")]
    pub out: PathBuf,

    /// Also write the stages as a migration tool's files, in DIR/migrations/ (with a README.md
    /// on how they map to stages), for PostgreSQL, MySQL and MariaDB plans; on MySQL/MariaDB
    /// each stage is one non-transactional migration. The plan directory itself is always written
    #[arg(long, value_enum, value_name = "TOOL", default_value_t = Layout::Plain)]
    pub layout: Layout,

    /// First version number of the tool's migrations, to continue an existing numbering
    /// [default: 1 for flyway and golang-migrate; the current UTC time as YYYYMMDDHHMMSS for
    /// dbmate and sqlx, as `dbmate new` and `sqlx migrate add` name files]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub start_at: Option<u64>,

    /// What to print once the plan is written: a short summary for the terminal, or Markdown
    /// sized for a pull-request comment (stages table, each stage's SQL folded)
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,

    /// Replace the output directory if it exists
    #[arg(long)]
    pub force: bool,
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // Into memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "safeshift", &mut script);
    script
}

/// Writes `safeshift.1` and `safeshift-COMMAND.1` for every command into `dir`; returns the paths.
pub fn man_pages(dir: &std::path::Path) -> Result<Vec<PathBuf>, crate::error::Error> {
    use clap::CommandFactory;
    let write_error = |path: &std::path::Path, e: std::io::Error| crate::error::Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let command = Cli::command();
    let mut pages = vec![("safeshift".to_string(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("safeshift-{}", sub.get_name());
        pages.push((
            name.clone(),
            sub.clone()
                .display_name(name)
                .bin_name(format!("safeshift {}", sub.get_name())),
        ));
    }
    let mut written = Vec::new();
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(|e| write_error(&path, e))?;
        std::fs::write(&path, text).map_err(|e| write_error(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
