//! Rules about a migration file as a whole rather than one kind of change: its syntax, its
//! transactions and its timeouts. The rules of each kind of change live in its `src/ops/` file.

use crate::rules::{Rule, Severity};

pub const SYNTAX_ERROR: Rule = Rule {
    id: "syntax-error",
    severity: Some(Severity::Error),
    summary: "a statement that does not parse",
    why: "The migration fails when it reaches this statement, possibly after earlier statements of the same file have already run outside a transaction.",
    safe: "Fix the statement. safeshift keeps checking the statements after it.",
    example: "ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT;",
};

pub const MISSING_LOCK_TIMEOUT: Rule = Rule {
    id: "missing-lock-timeout",
    severity: Some(Severity::Warning),
    summary: "a statement that takes a lock blocking traffic, with no `SET lock_timeout` earlier in the file",
    why: "Even a brief ALTER TABLE needs its lock first. If a long transaction holds the table, the ALTER waits in the lock queue, and every read and write that arrives after it waits behind it: a catalog-only change turns into an outage for as long as that transaction runs. Reported once per file, at the first such statement.",
    safe: "Start the file with `SET lock_timeout = '2s';` (and retry the migration if it times out), so a blocked ALTER gives up instead of stalling the application. `safeshift plan` stages set it for you.",
    example: "ALTER TABLE users ADD COLUMN nickname text;  -- without SET lock_timeout first",
};

pub const CONCURRENTLY_IN_TRANSACTION: Rule = Rule {
    id: "concurrently-in-transaction",
    severity: Some(Severity::Error),
    summary: "CREATE/DROP INDEX CONCURRENTLY (or, before PostgreSQL 12, ALTER TYPE … ADD VALUE) inside BEGIN … COMMIT",
    why: "PostgreSQL refuses to run these statements inside a transaction block: the migration fails at this statement, and whatever ran before it in the transaction is rolled back.",
    safe: "Run the statement outside any transaction: remove the surrounding BEGIN/COMMIT, or tell your migration tool (sqlx: `-- no-transaction`; dbmate: `-- migrate:up transaction:false`; Flyway: `executeInTransaction=false` in a script config). Migration tools that wrap every file in a transaction need that even without an explicit BEGIN.",
    example: "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;",
};

/// File-level rules, in the order `safeshift rules` lists them.
pub const ALL: &[&Rule] = &[
    &SYNTAX_ERROR,
    &MISSING_LOCK_TIMEOUT,
    &CONCURRENTLY_IN_TRANSACTION,
];
