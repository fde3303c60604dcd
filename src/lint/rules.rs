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
    mysql: "",
};

pub const MISSING_LOCK_TIMEOUT: Rule = Rule {
    id: "missing-lock-timeout",
    severity: Some(Severity::Warning),
    summary: "a statement that takes a lock blocking traffic, with no `SET lock_timeout` earlier in the file",
    why: "Even a brief ALTER TABLE needs its lock first. If a long transaction holds the table, the ALTER waits in the lock queue, and every read and write that arrives after it waits behind it: a catalog-only change turns into an outage for as long as that transaction runs. Reported once per file, at the first such statement.",
    safe: "Start the file with `SET lock_timeout = '2s';` (and retry the migration if it times out), so a blocked ALTER gives up instead of stalling the application. `safeshift plan` stages set it for you.",
    example: "ALTER TABLE users ADD COLUMN nickname text;  -- without SET lock_timeout first",
    mysql: "Every ALTER TABLE needs an exclusive metadata lock at its start and end; a long or idle transaction that touched the table makes it wait, and every query on the table queues behind it. lock_wait_timeout defaults to a year on MySQL (a day on MariaDB). Start the file with `SET SESSION lock_wait_timeout = 2;` and retry the migration if it times out.",
};

pub const CONCURRENTLY_IN_TRANSACTION: Rule = Rule {
    id: "concurrently-in-transaction",
    severity: Some(Severity::Error),
    summary: "CREATE/DROP INDEX CONCURRENTLY (or, before PostgreSQL 12, ALTER TYPE … ADD VALUE) inside BEGIN … COMMIT",
    why: "PostgreSQL refuses to run these statements inside a transaction block: the migration fails at this statement, and whatever ran before it in the transaction is rolled back.",
    safe: "Run the statement outside any transaction: remove the surrounding BEGIN/COMMIT, or tell your migration tool (sqlx: `-- no-transaction`; dbmate: `-- migrate:up transaction:false`; Flyway: `executeInTransaction=false` in a script config). Migration tools that wrap every file in a transaction need that even without an explicit BEGIN.",
    example: "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;",
    mysql: "",
};

/// File-level rules, in the order `safeshift rules` lists them.
pub const ALL: &[&Rule] = &[
    &SYNTAX_ERROR,
    &MISSING_LOCK_TIMEOUT,
    &CONCURRENTLY_IN_TRANSACTION,
];

pub const FORCING_TABLE_COPY: Rule = Rule {
    id: "forcing-table-copy",
    severity: Some(Severity::Error),
    summary: "ALTER TABLE … ALGORITHM=COPY, LOCK=SHARED or LOCK=EXCLUSIVE (MySQL/MariaDB)",
    why: "The clause forces the server to copy the table (COPY), or to hold a lock that blocks writes (SHARED) or all traffic (EXCLUSIVE) for the whole ALTER, even when the change itself could run INSTANT or in place.",
    safe: "Drop the clause, or name the online algorithm the change allows (`ALGORITHM=INSTANT`, `ALGORITHM=INPLACE, LOCK=NONE`) so the server refuses instead of blocking; `safeshift plan --dialect mysql|mariadb` pins the right one per change.",
    example: "ALTER TABLE users ADD INDEX users_email_idx (email), ALGORITHM=COPY;",
    mysql: "",
};

/// File-level rules that only MySQL/MariaDB migrations can break, listed after every other rule.
pub const MYSQL: &[&Rule] = &[&FORCING_TABLE_COPY];
