//! Command-line definitions. Help text lives here, next to each flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::lint::format::Format as LintFormat;
use crate::ops::DualWrite;
use crate::rules::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "safeshift",
    version,
    about = "Turn a risky database schema change into a safe, staged rollout plan",
    long_about = "safeshift reads a schema change written the naive way (plain SQL), knows which operations lock or \
break a busy PostgreSQL database, and writes a staged plan: expand, migrate, contract — migration files (up and down) \
and a checklist per stage.",
    after_help = "Commands at a glance:
  plan      write the staged rollout for a change
  lint      check migration files in CI (human, JSON, SARIF, GitHub annotations)
  gate      decide whether a pipeline may deploy new migrations by itself
  rules     list the rules; `explain RULE` tells one in full

Each command's --help lists its exit codes."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan a change: write the staged plan directory and print a summary
    #[command(after_help = "Examples:
  safeshift plan change.sql --schema schema.sql
  safeshift plan change.sql --backfill users.email_lower='lower(email)' --out plans/email-lower
  pg_dump --schema-only mydb > schema.sql && safeshift plan change.sql --schema schema.sql --server-version 15

Directives: a comment right above a statement adds what SQL cannot say:
  -- safeshift: backfill = lower(email)
  ALTER TABLE users ADD COLUMN email_lower text NOT NULL;")]
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

Suppress a finding with a comment right above the statement:
  -- safeshift: ignore non-concurrent-index  the table has 40 rows

safeshift.toml (found by walking up from the current directory, or --config):
  server-version = \"15\"
  fail-on = \"warning\"
  schema = \"db/schema.sql\"
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
    Rules(RulesArgs),

    /// Explain a rule: what it detects, why it hurts, the safe rollout, an example
    Explain(ExplainArgs),
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
    /// PostgreSQL version of the target server [default: 14, or server-version in safeshift.toml]
    #[arg(long, value_name = "N")]
    pub server_version: Option<String>,

    /// The schema before the first file (`pg_dump --schema-only` output): tells, for example, a
    /// binary-compatible type change from a rewrite [default: schema in safeshift.toml]
    #[arg(long, value_name = "SCHEMA.sql")]
    pub schema: Option<PathBuf>,

    /// Settings file [default: the nearest safeshift.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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

    /// PostgreSQL version of the target server (major, or major.minor such as 14.4)
    #[arg(long, value_name = "N", default_value = "14")]
    pub server_version: String,

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

    /// Where to write the plan directory
    #[arg(long, value_name = "DIR", default_value = "safeshift-plan")]
    pub out: PathBuf,

    /// Replace the output directory if it exists
    #[arg(long)]
    pub force: bool,
}
