//! Talking to a real MySQL or MariaDB: connections, readable errors, scratch databases, and
//! splitting a SQL file into statements the way the `mariadb`/`mysql` client does (with its
//! `DELIMITER` command), so `apply` and `rehearse` send exactly what an operator's client would.

use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

use super::{DbError, FileStatement, redact_url};
use crate::PlanError;
use crate::error::Pos;

/// An unreachable host fails within this bound instead of hanging the command.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// MySQL limits identifiers (and so database names) to 64 characters.
const MAX_IDENT_CHARS: usize = 64;

/// `ER_LOCK_WAIT_TIMEOUT`: a row lock or a metadata lock was not granted within
/// `innodb_lock_wait_timeout` / `lock_wait_timeout`. The statement did nothing: safe to retry.
pub const LOCK_WAIT_TIMEOUT: u16 = 1205;

/// The table `apply` makes in an application database to give it an id that dies with it
/// (src/apply/mysql.rs): not part of the application's schema, so snapshots and schema reads
/// leave it out.
pub const DATABASE_MARKER: &str = "safeshift_database_id";
/// `ER_LOCK_DEADLOCK`: InnoDB rolled us back to let the other side go on: safe to retry.
pub const LOCK_DEADLOCK: u16 = 1213;
/// `ER_QUERY_INTERRUPTED`: the statement was stopped by `KILL QUERY` (Ctrl-C).
pub const QUERY_INTERRUPTED: u16 = 1317;

/// Is this URL meant for MySQL/MariaDB (`mysql://` or `mariadb://`)?
pub fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

fn opts(url: &str) -> Result<Opts, String> {
    // The driver knows only `mysql://`; `mariadb://` is the same protocol.
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    Opts::from_url(&url).map_err(|e| e.to_string())
}

/// Connects over TCP (never silently switching to a local socket) with a bounded timeout.
pub fn connect(url: &str) -> Result<Conn, DbError> {
    let fail = |message: String| DbError::Connect {
        url: redact_url(url),
        message,
    };
    let opts = opts(url).map_err(fail)?;
    let builder = OptsBuilder::from_opts(opts)
        .prefer_socket(false)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT));
    Conn::new(builder).map_err(|e| fail(describe(&e)))
}

/// The server's message with its error number and SQLSTATE, or the driver's error.
pub fn describe(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(server) => format!(
            "{} (error {}, SQLSTATE {})",
            server.message, server.code, server.state
        ),
        other => other.to_string(),
    }
}

/// The session is gone: the server ended it (KILL, shutdown: errors 1053, 1927; the client's
/// 2006 "server has gone away", 2013 "lost connection") or the connection broke.
pub fn connection_lost(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
        mysql::Error::MySqlError(server) => matches!(server.code, 1053 | 1927 | 2006 | 2013),
        _ => false,
    }
}

/// Runs one statement and reads every result it sends back, returning the first error. A
/// `CALL` answers with a result set per `SELECT` its procedure runs before it fails:
/// `query_drop` reads past them and drops the error that follows (the procedure's failure would
/// pass for success).
pub fn run(conn: &mut Conn, sql: &str) -> Result<(), mysql::Error> {
    run_relaying(conn, sql, &mut |_| {})
}

/// As [`run`], handing `relay`, as each arrives, every row of a one-column result set named
/// `progress` (the lines the walks of templates/mysql/ select): a procedure's result sets reach
/// the client while it still runs.
pub fn run_relaying(
    conn: &mut Conn,
    sql: &str,
    relay: &mut dyn FnMut(&str),
) -> Result<(), mysql::Error> {
    let mut result = conn.query_iter(sql)?;
    while let Some(set) = result.iter() {
        let progress = {
            let columns = set.columns();
            let columns = columns.as_ref();
            columns.len() == 1 && columns[0].name_str() == "progress"
        };
        for row in set {
            let row = row?;
            if progress && let Some(value) = row.as_ref(0) {
                relay(&value_text(value));
            }
        }
    }
    Ok(())
}

/// The server's error number, if the server answered with an error.
pub fn error_code(e: &mysql::Error) -> Option<u16> {
    match e {
        mysql::Error::MySqlError(server) => Some(server.code),
        _ => None,
    }
}

/// Backquotes an identifier; embedded backquotes are doubled, so no name can break out.
pub fn quote_ident(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A string literal for a session with backslash escapes on (the default `sql_mode`): quotes
/// and backslashes are doubled, so no text can break out.
pub fn quote_literal(text: &str) -> String {
    quote_literal_in(text, true)
}

/// A string literal for a session whose `sql_mode` has (`backslash_escapes == false`) or lacks
/// `NO_BACKSLASH_ESCAPES`: with it a backslash is an ordinary character and only quotes are
/// doubled; either way no text can break out.
pub fn quote_literal_in(text: &str, backslash_escapes: bool) -> String {
    if backslash_escapes {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// Whether this session reads `\` in a string literal as an escape (no `NO_BACKSLASH_ESCAPES`).
pub fn backslash_escapes(conn: &mut Conn) -> Result<bool, mysql::Error> {
    Ok(first_value(conn, "SELECT @@SESSION.sql_mode")?
        .is_none_or(|mode| !mode.to_ascii_uppercase().contains("NO_BACKSLASH_ESCAPES")))
}

/// The first column of the first row as text (`None` for no rows, `NULL` for a NULL).
pub fn first_value(conn: &mut Conn, sql: &str) -> Result<Option<String>, mysql::Error> {
    let row: Option<mysql::Row> = conn.query_first(sql)?;
    Ok(row.map(|row| {
        row.as_ref(0)
            .map(value_text)
            .unwrap_or_else(|| "NULL".to_string())
    }))
}

/// A value as the client prints it (the text protocol sends everything as bytes).
pub fn value_text(value: &mysql::Value) -> String {
    match value {
        mysql::Value::NULL => "NULL".to_string(),
        mysql::Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        mysql::Value::Int(n) => n.to_string(),
        mysql::Value::UInt(n) => n.to_string(),
        mysql::Value::Float(n) => n.to_string(),
        mysql::Value::Double(n) => n.to_string(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

/// Every row as text columns.
pub fn rows(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<String>>, mysql::Error> {
    let rows: Vec<mysql::Row> = conn.query(sql)?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.as_ref(i).map(value_text).unwrap_or_default())
                .collect()
        })
        .collect())
}

/// Splits a SQL file into statements as the `mariadb`/`mysql` client does: at the current
/// delimiter (`;` until a `DELIMITER` line changes it), outside quotes, backquotes and
/// comments. `DELIMITER` lines are client commands and are not sent; comment-only pieces are
/// dropped. Each statement's text starts at its first token, so leading comments are not sent.
pub fn statements(text: &str) -> Result<Vec<FileStatement>, PlanError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut delimiter: Vec<char> = vec![';'];
    let mut i = 0;
    let (mut line, mut column) = (1u64, 1u64);
    // The statement being read: where its first token began, and its text so far.
    let mut start: Option<Pos> = None;
    let mut current = String::new();
    let mut at_line_start = true;

    fn advance(c: char, line: &mut u64, column: &mut u64) {
        if c == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
    }

    while i < chars.len() {
        let c = chars[i];
        // `DELIMITER x` as the first thing on a line between statements.
        if at_line_start && start.is_none() {
            let rest: String = chars[i..].iter().take_while(|&&ch| ch != '\n').collect();
            let trimmed = rest.trim_start();
            if trimmed.len() >= 10 && trimmed[..9].eq_ignore_ascii_case("delimiter") {
                let after = &trimmed[9..];
                if after.starts_with([' ', '\t']) {
                    let Some(word) = after.split_whitespace().next() else {
                        return Err(PlanError::new(
                            Pos { line, column },
                            "DELIMITER without a delimiter",
                        ));
                    };
                    delimiter = word.chars().collect();
                    for ch in rest.chars() {
                        advance(ch, &mut line, &mut column);
                    }
                    i += rest.chars().count();
                    continue;
                }
            }
        }
        at_line_start = false;

        if chars[i..].starts_with(&delimiter) {
            if let Some(pos) = start.take() {
                out.push(FileStatement {
                    pos,
                    text: current.trim_end().to_string(),
                });
            }
            current.clear();
            for _ in 0..delimiter.len() {
                advance(chars[i], &mut line, &mut column);
                i += 1;
            }
            continue;
        }

        let here = Pos { line, column };
        let next = chars.get(i + 1).copied();
        // The span of a comment or quoted token starting here, if any.
        let (len, is_comment) = if c == '#'
            || (c == '-'
                && next == Some('-')
                && chars.get(i + 2).is_none_or(|ch| ch.is_whitespace()))
        {
            let len = chars[i..]
                .iter()
                .position(|&ch| ch == '\n')
                .unwrap_or(chars.len() - i);
            (len, true)
        } else if c == '/' && next == Some('*') {
            let Some(end) = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
            else {
                return Err(PlanError::new(here, "unterminated /* comment"));
            };
            // `/*! … */` is SQL the server runs: keep it as part of the statement.
            (end + 2 - i, chars.get(i + 2) != Some(&'!'))
        } else if matches!(c, '\'' | '"' | '`') {
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => {
                        return Err(PlanError::new(
                            here,
                            format!("unterminated {c}…{c} (quote never closed)"),
                        ));
                    }
                    Some('\\') if c != '`' => j += 2,
                    Some(&q) if q == c => {
                        if chars.get(j + 1) == Some(&c) {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                    Some(_) => j += 1,
                }
            }
            (j + 1 - i, false)
        } else {
            (1, false)
        };
        let len = len.min(chars.len() - i);
        if is_comment {
            if start.is_some() {
                current.extend(&chars[i..i + len]);
            }
        } else if start.is_some() || !c.is_whitespace() {
            start.get_or_insert(here);
            current.extend(&chars[i..i + len]);
        }
        for &ch in &chars[i..i + len] {
            advance(ch, &mut line, &mut column);
            if ch == '\n' {
                at_line_start = true;
            }
        }
        i += len;
    }
    if let Some(pos) = start {
        let text = current.trim_end().to_string();
        if !text.is_empty() {
            out.push(FileStatement { pos, text });
        }
    }
    Ok(out)
}

/// One table of a snapshot from its `SHOW CREATE TABLE` text: columns in order, keys sorted
/// (the server prints them in creation order, which a plan may legitimately change), table
/// options without the AUTO_INCREMENT counter.
pub fn table_snapshot(name: &str, ddl: &str) -> String {
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    let mut tail = String::new();
    for part in ddl.lines() {
        let part = part.trim();
        if part.starts_with('`') {
            columns.push(part.trim_end_matches(',').to_string());
        } else if part.starts_with(')') {
            tail = part
                .split_whitespace()
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" ");
        } else if !part.starts_with("CREATE TABLE") && !part.is_empty() {
            keys.push(part.trim_end_matches(',').to_string());
        }
    }
    keys.sort();
    let mut out = format!("table {name} {tail}\n");
    for c in columns {
        out.push_str(&format!("  column {c}\n"));
    }
    for k in keys {
        out.push_str(&format!("  key {k}\n"));
    }
    out
}

/// A deterministic text snapshot of the current database's schema, one fact per line: each
/// table's `SHOW CREATE TABLE` (columns in order — a MySQL plan keeps a column's place — keys and
/// constraints sorted, since a staged plan creates them in another order than a one-shot ALTER,
/// and the AUTO_INCREMENT counter left out), views, triggers and stored routines.
pub fn snapshot(conn: &mut Conn) -> Result<String, DbError> {
    let q = |conn: &mut Conn, sql: &str| {
        rows(conn, sql).map_err(|e| DbError::Query(format!("catalog query: {}", describe(&e))))
    };
    let mut out = String::new();
    let tables = q(
        conn,
        &format!(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> {} ORDER BY TABLE_NAME",
            quote_literal(DATABASE_MARKER)
        ),
    )?;
    for row in tables {
        let [name, kind] = row.as_slice() else {
            continue;
        };
        if kind == "VIEW" {
            let def = q(
                conn,
                &format!(
                    "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                    quote_literal(name)
                ),
            )?;
            let def = def
                .first()
                .and_then(|r| r.first())
                .cloned()
                .unwrap_or_default();
            out.push_str(&format!("view {name}: {}\n", def.trim()));
            continue;
        }
        let create = q(conn, &format!("SHOW CREATE TABLE {}", quote_ident(name)))?;
        let ddl = create
            .first()
            .and_then(|r| r.get(1))
            .cloned()
            .unwrap_or_default();
        out.push_str(&table_snapshot(name, &ddl));
    }
    for row in q(
        conn,
        "SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', EVENT_OBJECT_TABLE, ': ', ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
    )? {
        out.push_str(&row.join(""));
        out.push('\n');
    }
    for row in q(
        conn,
        "SELECT CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME",
    )? {
        out.push_str(&row.join(""));
        out.push('\n');
    }
    Ok(out)
}

/// A throwaway database on the server of `admin_url`, dropped when this value is dropped, so a
/// failed rehearsal leaves nothing behind.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
    /// A session holding the database's named lock for as long as it lives: what tells a later
    /// run's [`drop_abandoned_scratch`] that this one is not a leftover.
    guard: Option<Conn>,
}

impl std::fmt::Debug for ScratchDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDatabase")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// The server-wide named lock a live scratch database's guard holds (names are limited to 64
/// characters, so the database name is hashed into it).
const SCRATCH_LOCK: &str = "CONCAT('safeshift-scratch:', LEFT(SHA2(?, 256), 40))";

/// Drops the scratch databases of rehearsals that died: old enough, and whose named lock no
/// session holds (a live rehearsal holds it for its databases' whole life). Returns the names
/// dropped; best effort.
pub fn drop_abandoned_scratch(admin_url: &str) -> Vec<String> {
    let Ok(mut admin) = connect(admin_url) else {
        return Vec::new();
    };
    let Ok(names) = admin.query::<String, _>(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'safeshift\\_rehearse\\_%' OR SCHEMA_NAME LIKE 'safeshift\\_naive\\_%'",
    ) else {
        return Vec::new();
    };
    let mut dropped = Vec::new();
    for name in names {
        if !super::abandoned_scratch(&name) {
            continue;
        }
        let free: Result<Option<Option<i64>>, _> =
            admin.exec_first(format!("SELECT IS_FREE_LOCK({SCRATCH_LOCK})"), (&name,));
        if free.ok().flatten().flatten() != Some(1) {
            continue;
        }
        if admin
            .query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
            .is_ok()
        {
            dropped.push(name);
        }
    }
    dropped
}

impl ScratchDatabase {
    /// `prefix` must be a plain lower-case word; the name gets the pid, a counter and the time.
    pub fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, DbError> {
        let mut admin = connect(admin_url)?;
        let name = super::scratch_name(prefix, MAX_IDENT_CHARS);
        admin
            .query_drop(format!("CREATE DATABASE {}", quote_ident(&name)))
            .map_err(|e| {
                DbError::Query(format!(
                    "cannot create a scratch database on {}: {}",
                    redact_url(admin_url),
                    describe(&e)
                ))
            })?;
        let url = super::url_with_dbname(admin_url, &name);
        let guard = connect(&url).ok().and_then(|mut conn| {
            let got: Option<Option<i64>> = conn
                .exec_first(format!("SELECT GET_LOCK({SCRATCH_LOCK}, 0)"), (&name,))
                .ok()?;
            (got.flatten() == Some(1)).then_some(conn)
        });
        Ok(ScratchDatabase {
            url,
            name,
            admin_url: admin_url.to_string(),
            guard,
        })
    }

    pub fn connect(&self) -> Result<Conn, DbError> {
        connect(&self.url)
    }

    /// Drops the database now (also done on drop); the error is returned for reporting.
    pub fn drop_now(&mut self) -> Result<(), DbError> {
        if self.name.is_empty() {
            return Ok(());
        }
        self.guard = None;
        let mut admin = connect(&self.admin_url)?;
        admin
            .query_drop(format!(
                "DROP DATABASE IF EXISTS {}",
                quote_ident(&self.name)
            ))
            .map_err(|e| DbError::Query(describe(&e)))?;
        self.name.clear();
        Ok(())
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = self.drop_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        statements(sql)
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn delimiter_lines_change_the_delimiter() {
        let sql = "SET a = 1;\n-- note; with a semicolon\nDELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  COMMIT;\nEND$$\nDELIMITER ;\nCALL p();\n";
        let s = statements(sql).unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].text, "SET a = 1");
        assert!(s[1].text.starts_with("CREATE PROCEDURE p()"));
        assert!(s[1].text.ends_with("COMMIT;\nEND"));
        assert_eq!(s[1].pos.line, 4);
        assert_eq!(s[2].text, "CALL p()");
        assert_eq!(s[2].pos.line, 10);
    }

    #[test]
    fn quotes_and_comments_hide_delimiters() {
        assert_eq!(
            texts(
                "SELECT 'a;b', \"c;d\", `e;f` FROM t; # x; y\nSELECT 'it''s;', 'back\\';slash'; /* ; */ SELECT 2"
            ),
            vec![
                "SELECT 'a;b', \"c;d\", `e;f` FROM t",
                "SELECT 'it''s;', 'back\\';slash'",
                "SELECT 2"
            ]
        );
        assert_eq!(texts("-- only a comment;\n"), Vec::<String>::new());
        assert!(statements("SELECT 'open").is_err());
    }

    #[test]
    fn quoting_cannot_be_escaped() {
        assert_eq!(
            quote_ident("a`; DROP TABLE x; --"),
            "`a``; DROP TABLE x; --`"
        );
        assert_eq!(quote_literal("it's \\"), "'it''s \\\\'");
        assert_eq!(quote_literal_in("it's \\", false), "'it''s \\'");
    }
}
