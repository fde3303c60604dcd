//! Rules about a migration file as a whole rather than one kind of change: its syntax, its
//! transactions and its timeouts, its ignore directives, and facts that span statements (a
//! foreign key's index). The rules of each kind of change live in its `src/ops/` file; the
//! larger file-level rules each have a file in `rules/`, with the code that detects them.

use crate::rules::{Rule, Severity};

pub mod foreign_key_without_index;
pub mod int_primary_key;
pub mod table_not_in_schema;
pub mod unknown_rule_in_ignore;
pub mod unused_ignore;

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
    summary: "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY (or, before PostgreSQL 12, ALTER TYPE … ADD VALUE) inside a transaction: BEGIN … COMMIT, or a migration tool's",
    why: "PostgreSQL refuses to run these statements inside a transaction block: the migration fails at this statement, and whatever ran before it in the transaction is rolled back. Migration tools open that transaction without a BEGIN in the file: dbmate and sqlx wrap every migration in one, golang-migrate sends the file as one multi-statement query (one implicit transaction once it holds two statements), and Flyway refuses a migration that mixes such a statement with others.",
    safe: "Run the statement outside any transaction: remove the surrounding BEGIN/COMMIT, or tell your migration tool (dbmate: `-- migrate:up transaction:false`; sqlx: start the file with `-- no-transaction`; golang-migrate: put the statement in a migration of its own; Flyway: a migration of its own, or `executeInTransaction=false` in its script config `V…__name.sql.conf`). safeshift guesses the tool from the file (or set `migration-tool` in safeshift.toml).",
    example: "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;",
    mysql: "",
};

/// File-level rules, in the order `safeshift rules` lists them.
pub const ALL: &[&Rule] = &[
    &SYNTAX_ERROR,
    &MISSING_LOCK_TIMEOUT,
    &CONCURRENTLY_IN_TRANSACTION,
    &table_not_in_schema::RULE,
    &foreign_key_without_index::RULE,
    &int_primary_key::RULE,
    &unused_ignore::RULE,
    &unknown_rule_in_ignore::RULE,
];

pub const FORCING_TABLE_COPY: Rule = Rule {
    id: "forcing-table-copy",
    severity: Some(Severity::Error),
    summary: "ALTER TABLE … ALGORITHM=COPY, LOCK=SHARED, LOCK=EXCLUSIVE or CONVERT TO CHARACTER SET (MySQL/MariaDB)",
    why: "The clause forces the server to copy the table (COPY; CONVERT TO CHARACTER SET always copies, converting every row), or to hold a lock that blocks writes (SHARED) or all traffic (EXCLUSIVE) for the whole ALTER, even when the change itself could run INSTANT or in place.",
    safe: "Drop the clause, or name the online algorithm the change allows (`ALGORITHM=INSTANT`, `ALGORITHM=INPLACE, LOCK=NONE`) so the server refuses instead of blocking; `safeshift plan --dialect mysql|mariadb` pins the right one per change. A character set conversion has no online algorithm: run it with an online schema change tool (gh-ost, pt-online-schema-change) on a busy table.",
    example: "ALTER TABLE users ADD INDEX users_email_idx (email), ALGORITHM=COPY;",
    mysql: "",
};

/// File-level rules that only MySQL/MariaDB migrations can break, listed after every other rule.
pub const MYSQL: &[&Rule] = &[&FORCING_TABLE_COPY];
