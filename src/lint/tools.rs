//! How migration tools run a file on PostgreSQL: inside one transaction or not. A statement that
//! PostgreSQL refuses inside a transaction block (`CREATE INDEX CONCURRENTLY`, `REINDEX
//! CONCURRENTLY`, …) fails when the tool wraps the file, even though the file has no BEGIN.
//!
//! - dbmate: every migration in a transaction, unless `-- migrate:up transaction:false`.
//! - sqlx: every migration in a transaction, unless the file starts with `-- no-transaction`.
//! - golang-migrate: the whole file as one multi-statement query, which PostgreSQL runs as one
//!   implicit transaction when it holds more than one statement.
//! - Flyway: each migration in a transaction; a migration that mixes statements that cannot run
//!   in one with others fails ("Detected both transactional and non-transactional statements"),
//!   unless its script config (`V1__x.sql.conf`) says `executeInTransaction=false`.
//!
//! The tool is `migration-tool` in safeshift.toml (or `--migration-tool`), else guessed per file:
//! dbmate's `-- migrate:up` marker, sqlx's `-- no-transaction`, Flyway's `V1__name.sql`,
//! golang-migrate's (and sqlx's) `1_name.up.sql`.

use std::path::Path;

use serde::Deserialize;

use crate::parse::split::DbmateUp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// Files run statement by statement, as `psql -f` does: no transaction unless the file opens one
    None,
    Dbmate,
    GolangMigrate,
    Sqlx,
    Flyway,
}

/// How the tool runs one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrapping {
    /// Statement by statement.
    None,
    /// Every statement inside one transaction; the text says whose.
    Transaction(String),
    /// One multi-statement query: an implicit transaction once the file has two statements.
    MultiStatement(String),
    /// Flyway: fails when the file mixes statements that cannot run in a transaction with others.
    NoMixing,
}

/// What a file's name, first line and dbmate marker say about how it runs.
pub struct FileFacts<'a> {
    pub name: &'a str,
    pub path: Option<&'a Path>,
    pub dbmate: Option<DbmateUp>,
    pub no_transaction: bool,
}

/// How `tool` (or, without one, the tool the file looks written for) runs the file.
pub fn wrapping(tool: Option<Tool>, facts: &FileFacts) -> Wrapping {
    let file_name = facts
        .path
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| {
            facts
                .name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        });
    let tool = tool.unwrap_or_else(|| guess(&file_name, facts));
    match tool {
        Tool::None => Wrapping::None,
        Tool::Dbmate => match facts.dbmate {
            Some(DbmateUp { transaction: false }) => Wrapping::None,
            _ => Wrapping::Transaction(
                "dbmate runs this migration in a transaction (its `-- migrate:up` line has no `transaction:false`)".into(),
            ),
        },
        Tool::Sqlx if facts.no_transaction => Wrapping::None,
        Tool::Sqlx => Wrapping::Transaction(
            "sqlx runs this migration in a transaction (the file does not start with `-- no-transaction`)".into(),
        ),
        Tool::GolangMigrate => Wrapping::MultiStatement(
            "golang-migrate (and sqlx) send this file as one multi-statement query, which PostgreSQL runs as one transaction".into(),
        ),
        Tool::Flyway if flyway_outside_transaction(facts.path) => Wrapping::None,
        Tool::Flyway => Wrapping::NoMixing,
    }
}

fn guess(file_name: &str, facts: &FileFacts) -> Tool {
    if facts.dbmate.is_some() {
        return Tool::Dbmate;
    }
    if facts.no_transaction {
        return Tool::Sqlx;
    }
    if is_flyway_name(file_name) {
        return Tool::Flyway;
    }
    let digits = file_name.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && file_name[digits..].starts_with('_') && file_name.ends_with(".up.sql") {
        return Tool::GolangMigrate;
    }
    Tool::None
}

/// Flyway's versioned (`V1__x.sql`, `V1_2__x.sql`), undo (`U1__x.sql`) and repeatable
/// (`R__x.sql`) migrations.
fn is_flyway_name(name: &str) -> bool {
    let Some((prefix, _)) = name.split_once("__") else {
        return false;
    };
    match prefix.as_bytes() {
        [b'R'] => true,
        [b'V' | b'U', rest @ ..] => {
            !rest.is_empty()
                && rest[0].is_ascii_digit()
                && rest
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'_')
        }
        _ => false,
    }
}

/// A Flyway script config beside the migration (`V1__x.sql.conf`) that turns the transaction off.
fn flyway_outside_transaction(path: Option<&Path>) -> bool {
    let Some(path) = path else {
        return false;
    };
    let mut conf = path.as_os_str().to_owned();
    conf.push(".conf");
    std::fs::read_to_string(conf).is_ok_and(|text| {
        text.lines().any(|line| {
            let line: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            line.eq_ignore_ascii_case("executeInTransaction=false")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str) -> FileFacts<'_> {
        FileFacts {
            name,
            path: None,
            dbmate: None,
            no_transaction: false,
        }
    }

    #[test]
    fn tools_are_guessed_from_the_file() {
        assert_eq!(guess("V3__add_index.sql", &facts("")), Tool::Flyway);
        assert_eq!(guess("V1_2__x.sql", &facts("")), Tool::Flyway);
        assert_eq!(guess("R__views.sql", &facts("")), Tool::Flyway);
        assert_eq!(guess("VERSION__x.sql", &facts("")), Tool::None);
        assert_eq!(
            guess("20240101_add.up.sql", &facts("")),
            Tool::GolangMigrate
        );
        assert_eq!(guess("0042_add.sql", &facts("")), Tool::None);
        let dbmate = FileFacts {
            dbmate: Some(DbmateUp { transaction: true }),
            ..facts("")
        };
        assert_eq!(guess("20240101_add.sql", &dbmate), Tool::Dbmate);
        let sqlx = FileFacts {
            no_transaction: true,
            ..facts("")
        };
        assert_eq!(guess("20240101_add.sql", &sqlx), Tool::Sqlx);
    }

    #[test]
    fn dbmate_without_transaction_and_sqlx_marker_run_outside() {
        let dbmate = FileFacts {
            dbmate: Some(DbmateUp { transaction: false }),
            ..facts("m.sql")
        };
        assert_eq!(wrapping(None, &dbmate), Wrapping::None);
        assert!(matches!(
            wrapping(Some(Tool::Sqlx), &facts("1_a.sql")),
            Wrapping::Transaction(_)
        ));
        assert_eq!(
            wrapping(Some(Tool::None), &facts("V1__a.sql")),
            Wrapping::None
        );
    }
}
