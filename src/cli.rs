//! Command-line definitions. Help text lives here, next to each flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ops::DualWrite;

#[derive(Debug, Parser)]
#[command(
    name = "safeshift",
    version,
    about = "Turn a risky database schema change into a safe, staged rollout plan",
    long_about = "safeshift reads a schema change written the naive way (plain SQL), knows which operations lock or \
break a busy PostgreSQL database, and writes a staged plan: expand, migrate, contract — migration files (up and down) \
and a checklist per stage.",
    after_help = "Exit codes: 0 success, 2 bad input or usage (nothing written), 1 could not write the output."
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
