//! Reads the schema of a live MySQL/MariaDB database as `mysqldump --no-data` would print it, so
//! `plan --dialect mysql|mariadb --database-url mysql://…/DB` plans against what is deployed.
//!
//! The DDL is the server's own `SHOW CREATE TABLE`: it knows its quoting and syntax, so hostile
//! names cannot inject and the text is exactly what `--schema` reads from a dump. Tables are
//! sorted byte-wise so two reads of the same database give the same text. Views, routines and
//! triggers are not read: safeshift plans around tables, columns, keys and indexes.

use mysql::Conn;
use mysql::prelude::Queryable;

use super::{LiveSchema, RowEstimate};
use crate::db::mysql::{describe, quote_ident};
use crate::dialect::Engine;

/// Why the schema could not be read, or was read from the wrong kind of server.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("could not read the database schema ({step}): {message}")]
    Query { step: &'static str, message: String },
    /// The URL names no database (`mysql://host:3306/` has none to read).
    #[error("the URL names no database: add one, e.g. mysql://user@host:3306/mydb")]
    NoDatabase,
    /// `--dialect mysql` against MariaDB or the other way round: the version numbers mean
    /// different things on each, so planning would use the wrong facts.
    #[error("the server is {found} {version}, not {expected}: pass --dialect {flag}")]
    WrongEngine {
        found: &'static str,
        version: String,
        expected: &'static str,
        flag: &'static str,
    },
}

fn failed(step: &'static str) -> impl Fn(mysql::Error) -> ReadError {
    move |e| ReadError::Query {
        step,
        message: describe(&e),
    }
}

/// Reads every base table of the URL's database, in one consistent snapshot.
pub fn read_schema(conn: &mut Conn, engine: Engine) -> Result<LiveSchema, ReadError> {
    let version: String = conn
        .query_first("SELECT VERSION()")
        .map_err(failed("server version"))?
        .unwrap_or_default();
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let server_version: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    match (engine, mariadb) {
        (Engine::Mysql, true) => {
            return Err(ReadError::WrongEngine {
                found: "MariaDB",
                version: server_version,
                expected: "MySQL",
                flag: "mariadb",
            });
        }
        (Engine::Mariadb, false) => {
            return Err(ReadError::WrongEngine {
                found: "MySQL",
                version: server_version,
                expected: "MariaDB",
                flag: "mysql",
            });
        }
        _ => {}
    }
    let database: Option<String> = conn
        .query_first("SELECT DATABASE()")
        .map_err(failed("current database"))?
        .flatten();
    if database.is_none() {
        return Err(ReadError::NoDatabase);
    }
    // A consistent snapshot: DDL running meanwhile cannot tear the read (InnoDB's data
    // dictionary answers information_schema and SHOW CREATE TABLE inside it).
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .map_err(failed("start a read-only transaction"))?;
    let tables: Vec<(String, Option<u64>)> = conn
        .query(format!(
            "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' \
             AND TABLE_NAME <> {} ORDER BY CAST(TABLE_NAME AS BINARY)",
            crate::db::mysql::quote_literal(crate::db::mysql::DATABASE_MARKER)
        ))
        .map_err(failed("tables"))?;
    let mut sql = String::new();
    let mut row_estimates = Vec::new();
    for (table, rows) in tables {
        let create: Option<(String, String)> = conn
            .query_first(format!("SHOW CREATE TABLE {}", quote_ident(&table)))
            .map_err(failed("SHOW CREATE TABLE"))?;
        if let Some((_, ddl)) = create {
            sql.push_str(&ddl);
            sql.push_str(";\n\n");
        }
        row_estimates.push(RowEstimate {
            // MySQL has no schemas inside a database: names are unqualified.
            schema: String::new(),
            table,
            rows,
        });
    }
    conn.query_drop("COMMIT")
        .map_err(failed("end the transaction"))?;
    Ok(LiveSchema {
        sql,
        row_estimates,
        server_version,
        estimates_from: "information_schema.TABLES.TABLE_ROWS, InnoDB's sampled estimate",
    })
}
