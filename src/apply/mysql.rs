//! `apply` on MySQL and MariaDB: the history table, and running a stage the way the `mariadb`
//! client would (split at the client's delimiter, `DELIMITER` lines honoured) but one statement
//! at a time, so a statement that gave up waiting for a metadata or row lock (error 1205,
//! `lock_wait_timeout` / `innodb_lock_wait_timeout`) is retried with the same jittered backoff
//! as on PostgreSQL. There is no transactional DDL: every ALTER commits on its own, which is why
//! the plans make each statement safe to re-run.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql::Conn;
use mysql::prelude::Queryable;

use super::engine::{FileRun, Role};
use super::history::{HistoryStore, Record, Status};
use super::run::{BackfillDone, DEFAULT_BATCH_LOCK_TIMEOUT, Observer, RunError, RunOptions};
use super::target::{CheckError, Target};
use crate::db::DbError;
use crate::db::FileStatement;
use crate::db::mysql::{self as my, quote_literal};
use crate::plan::BackfillSpec;

/// safeshift's own database, so the history never mixes with the application's tables. One
/// server holds many databases, so each row names the database the stage ran in, by name (for
/// people) and by the id in the database's marker table (so a database dropped and made again
/// under the same name starts with no history).
const SETUP: [&str; 2] = [
    "CREATE DATABASE IF NOT EXISTS `safeshift`",
    "CREATE TABLE IF NOT EXISTS `safeshift`.`applied_stages` (
    database_name VARCHAR(64) NOT NULL,
    database_id VARCHAR(36) NOT NULL DEFAULT '',
    plan_id     VARCHAR(64) NOT NULL,
    stage       INT         NOT NULL,
    name        TEXT        NOT NULL,
    status      VARCHAR(16) NOT NULL,
    attempts    INT         NOT NULL DEFAULT 0,
    started_at  DATETIME    NOT NULL,
    finished_at DATETIME    NULL,
    message     TEXT        NULL,
    resume_key  TEXT        NULL,
    PRIMARY KEY (database_name, database_id, plan_id, stage)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Stages applied by safeshift apply; see safeshift status.'",
];

/// A history table made before databases had ids (rows keyed by database name alone) gains the
/// id column; its rows keep `''` until [`History::open`] gives them to the database of that name.
const MIGRATE: &str = "ALTER TABLE `safeshift`.`applied_stages`
    ADD COLUMN database_id VARCHAR(36) NOT NULL DEFAULT '' AFTER database_name,
    DROP PRIMARY KEY, ADD PRIMARY KEY (database_name, database_id, plan_id, stage)";

/// The marker table in the application database: one row, a random id made by the first
/// `apply`. It is dropped with the database, so a database made again under the same name gets
/// a new id and none of the old history.
const MARKER: &str = crate::db::mysql::DATABASE_MARKER;

fn query_err(e: mysql::Error) -> DbError {
    DbError::Query(format!(
        "history table safeshift.applied_stages: {}",
        my::describe(&e)
    ))
}

/// The history of one plan in one database, in `safeshift`.`applied_stages`. Times are UTC.
pub struct History<'a> {
    conn: &'a mut Conn,
    database: String,
    /// The id in the database's marker table.
    database_id: String,
    plan_id: String,
    /// Where to connect again if the session is lost.
    url: Option<String>,
}

/// The database the URL names: the one the stages run in.
fn current_database(conn: &mut Conn) -> Result<String, DbError> {
    match my::first_value(conn, "SELECT DATABASE()").map_err(query_err)? {
        Some(name) if name != "NULL" => Ok(name),
        _ => Err(DbError::Query(
            "the database URL names no database: add it, as in mysql://user@host:3306/DATABASE"
                .into(),
        )),
    }
}

impl<'a> History<'a> {
    /// Creates the history database and table if needed (adding the id column to a table made
    /// by an older safeshift), and the database's marker table with its id.
    pub fn open(conn: &'a mut Conn, plan_id: &str) -> Result<History<'a>, DbError> {
        let database = current_database(conn)?;
        // Two first applies race to create it: the second waits for the first.
        let _: Option<Option<i64>> = conn
            .query_first("SELECT GET_LOCK('safeshift:history-setup', 60)")
            .map_err(query_err)?;
        let made = setup(conn, &database);
        let _: Option<Option<i64>> = conn
            .query_first("SELECT RELEASE_LOCK('safeshift:history-setup')")
            .map_err(query_err)?;
        let database_id = made?;
        Ok(History {
            conn,
            database,
            database_id,
            plan_id: plan_id.to_string(),
            url: None,
        })
    }

    /// Lets [`HistoryStore::reconnect`] reach the server again at `url`.
    pub fn reconnecting_to(mut self, url: &str) -> History<'a> {
        self.url = Some(url.to_string());
        self
    }

    /// Reads the history without creating anything (for `status` on a database never applied to).
    pub fn read_only(conn: &mut Conn, plan_id: &str) -> Result<BTreeMap<usize, Record>, DbError> {
        let database = current_database(conn)?;
        let exists = my::first_value(
            conn,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'safeshift' AND TABLE_NAME = 'applied_stages'",
        )
        .map_err(query_err)?;
        if exists.as_deref() != Some("1") {
            return Ok(BTreeMap::new());
        }
        if !has_id_column(conn)? {
            // Not migrated yet: every row is the database name's (the next apply adopts them).
            return read_legacy(conn, &database, plan_id);
        }
        // Without a marker, no apply of this safeshift has run here: the rows of an older one
        // (id '') are this database's, those of a dropped database of the same name are not.
        let database_id = marker_id(conn)?.unwrap_or_default();
        read(conn, &database, &database_id, plan_id)
    }
}

/// Whether the history table has the `database_id` column.
fn has_id_column(conn: &mut Conn) -> Result<bool, DbError> {
    let n = my::first_value(
        conn,
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'safeshift' AND TABLE_NAME = 'applied_stages' AND COLUMN_NAME = 'database_id'",
    )
    .map_err(query_err)?;
    Ok(n.as_deref() == Some("1"))
}

/// The id in the current database's marker table, if it has one.
fn marker_id(conn: &mut Conn) -> Result<Option<String>, DbError> {
    let exists = my::first_value(
        conn,
        &format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
            quote_literal(MARKER)
        ),
    )
    .map_err(query_err)?;
    if exists.as_deref() != Some("1") {
        return Ok(None);
    }
    my::first_value(
        conn,
        &format!("SELECT MIN(id) FROM {}", my::quote_ident(MARKER)),
    )
    .map_err(query_err)
    .map(|id| id.filter(|id| id != "NULL" && !id.is_empty()))
}

/// The history table (migrated if an older safeshift made it) and the database's id (its marker
/// made if missing). Runs under the setup lock, so two first applies make one marker row.
fn setup(conn: &mut Conn, database: &str) -> Result<String, DbError> {
    for sql in SETUP {
        conn.query_drop(sql).map_err(query_err)?;
    }
    if !has_id_column(conn)? {
        conn.query_drop(MIGRATE).map_err(query_err)?;
    }
    if let Some(id) = marker_id(conn)? {
        return Ok(id);
    }
    let marker = my::quote_ident(MARKER);
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {marker} (id VARCHAR(36) NOT NULL PRIMARY KEY) ENGINE=InnoDB COMMENT='safeshift: this database''s id in safeshift.applied_stages (dropped with the database, so a database made again under this name has no history)'"
    ))
    .map_err(query_err)?;
    conn.query_drop(format!("INSERT INTO {marker} (id) SELECT UUID() FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM {marker})"))
        .map_err(query_err)?;
    let id = marker_id(conn)?
        .ok_or_else(|| DbError::Query(format!("the marker table {MARKER} holds no id")))?;
    // The rows an older safeshift wrote for this database name, before ids: this is the first
    // apply since, so they are taken as this database's (a database dropped and made again
    // before the upgrade is the one case this gets wrong; docs/rehearse-and-apply.md).
    conn.exec_drop(
        "UPDATE `safeshift`.`applied_stages` SET database_id = ? WHERE database_name = ? AND database_id = ''",
        (&id, database),
    )
    .map_err(query_err)?;
    Ok(id)
}

/// Whether a live `apply` holds this plan's named lock: a stage recorded as running with no
/// holder was left by a run that died.
pub fn lock_held(conn: &mut Conn, plan_id: &str) -> Result<bool, DbError> {
    let database = current_database(conn)?;
    let held: Option<Option<i64>> = conn
        .exec_first(
            "SELECT IS_USED_LOCK(CONCAT('safeshift:', LEFT(SHA2(CONCAT(?, ':', ?), 256), 40))) IS NOT NULL",
            (&database, plan_id),
        )
        .map_err(query_err)?;
    Ok(held.flatten() == Some(1))
}

type HistoryRow = (
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The history's columns as `records` reads them; each reader adds its own WHERE.
const HISTORY_SELECT: &str =
    "SELECT stage, status, attempts, DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s UTC'),
        DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s UTC'), message, resume_key
 FROM `safeshift`.`applied_stages`";

fn read(
    conn: &mut Conn,
    database: &str,
    database_id: &str,
    plan_id: &str,
) -> Result<BTreeMap<usize, Record>, DbError> {
    let rows: Vec<HistoryRow> = conn
        .exec(
            format!(
                "{HISTORY_SELECT} WHERE database_name = ? AND database_id = ? AND plan_id = ? ORDER BY stage"
            ),
            (database, database_id, plan_id),
        )
        .map_err(query_err)?;
    Ok(records(rows))
}

/// The rows of a history table not migrated yet (it has no `database_id` column).
fn read_legacy(
    conn: &mut Conn,
    database: &str,
    plan_id: &str,
) -> Result<BTreeMap<usize, Record>, DbError> {
    let rows: Vec<HistoryRow> = conn
        .exec(
            format!("{HISTORY_SELECT} WHERE database_name = ? AND plan_id = ? ORDER BY stage"),
            (database, plan_id),
        )
        .map_err(query_err)?;
    Ok(records(rows))
}

fn records(rows: Vec<HistoryRow>) -> BTreeMap<usize, Record> {
    let mut out = BTreeMap::new();
    for (stage, status, attempts, started_at, finished_at, message, resume_key) in rows {
        let Some(status) = Status::parse(&status) else {
            continue;
        };
        let stage = stage.max(0) as usize;
        out.insert(
            stage,
            Record {
                stage,
                status,
                attempts: attempts.clamp(0, i32::MAX as i64) as i32,
                started_at,
                finished_at,
                message,
                resume_key,
            },
        );
    }
    out
}

/// The server closes a session idle longer than `wait_timeout`, and with it the named lock
/// that keeps a second apply out. `apply`'s sessions wait (for a long index build on the other
/// connection, between retries), so they ask not to be closed.
pub fn keep_session_open(conn: &mut Conn) -> Result<(), DbError> {
    conn.query_drop("SET SESSION wait_timeout = 31536000")
        .map_err(|e| DbError::Query(my::describe(&e)))
}

impl HistoryStore for History<'_> {
    /// A named lock held by this session until it disconnects. Lock names are limited to 64
    /// characters, so the database and plan are hashed into it. Waited for a moment: the
    /// session of an apply that just ended may not be gone yet.
    fn lock(&mut self) -> Result<bool, DbError> {
        let got: Option<Option<i64>> = self
            .conn
            .exec_first(
                "SELECT GET_LOCK(CONCAT('safeshift:', LEFT(SHA2(CONCAT(?, ':', ?), 256), 40)), ?)",
                (
                    &self.database,
                    &self.plan_id,
                    super::history::LOCK_WAIT.as_secs(),
                ),
            )
            .map_err(query_err)?;
        Ok(got.flatten() == Some(1))
    }

    fn records(&mut self) -> Result<BTreeMap<usize, Record>, DbError> {
        read(self.conn, &self.database, &self.database_id, &self.plan_id)
    }

    fn start(&mut self, stage: usize, name: &str) -> Result<(), DbError> {
        self.conn
            .exec_drop(
                "INSERT INTO `safeshift`.`applied_stages` (database_name, database_id, plan_id, stage, name, status, attempts, started_at)
                 VALUES (?, ?, ?, ?, ?, 'running', 1, UTC_TIMESTAMP())
                 ON DUPLICATE KEY UPDATE status = 'running', attempts = attempts + 1,
                     started_at = UTC_TIMESTAMP(), finished_at = NULL, message = NULL, name = VALUES(name)",
                (
                    &self.database,
                    &self.database_id,
                    &self.plan_id,
                    stage as i64,
                    name,
                ),
            )
            .map_err(query_err)
    }

    fn finish(
        &mut self,
        stage: usize,
        status: Status,
        message: Option<&str>,
    ) -> Result<(), DbError> {
        // A finished stage needs no resume point; an interrupted one keeps it.
        self.conn
            .exec_drop(
                "UPDATE `safeshift`.`applied_stages`
                 SET resume_key = CASE WHEN ? = 'interrupted' THEN resume_key END,
                     status = ?, finished_at = UTC_TIMESTAMP(), message = ?
                 WHERE database_name = ? AND database_id = ? AND plan_id = ? AND stage = ?",
                (
                    status.as_str(),
                    status.as_str(),
                    message,
                    &self.database,
                    &self.database_id,
                    &self.plan_id,
                    stage as i64,
                ),
            )
            .map_err(query_err)
    }

    fn holds_lock(&mut self) -> Result<bool, DbError> {
        let held: Option<Option<i64>> = self
            .conn
            .exec_first(
                "SELECT IS_USED_LOCK(CONCAT('safeshift:', LEFT(SHA2(CONCAT(?, ':', ?), 256), 40))) = CONNECTION_ID()",
                (&self.database, &self.plan_id),
            )
            .map_err(query_err)?;
        Ok(held.flatten() == Some(1))
    }

    fn reconnect(&mut self) -> Result<bool, DbError> {
        let mut conn = super::history::connect_again(self.url.as_deref(), my::connect)?;
        keep_session_open(&mut conn)?;
        *self.conn = conn;
        self.lock()
    }

    fn adopt(&mut self, legacy_id: &str) -> Result<(), DbError> {
        if legacy_id == self.plan_id
            || !read(self.conn, &self.database, &self.database_id, &self.plan_id)?.is_empty()
        {
            return Ok(());
        }
        self.conn
            .exec_drop(
                "UPDATE `safeshift`.`applied_stages` SET plan_id = ? WHERE database_name = ? AND database_id = ? AND plan_id = ?",
                (&self.plan_id, &self.database, &self.database_id, legacy_id),
            )
            .map_err(query_err)
    }

    fn progress(&mut self, stage: usize, resume_key: &str) -> Result<(), DbError> {
        self.conn
            .exec_drop(
                "UPDATE `safeshift`.`applied_stages` SET resume_key = ? WHERE database_name = ? AND database_id = ? AND plan_id = ? AND stage = ?",
                (
                    resume_key,
                    &self.database,
                    &self.database_id,
                    &self.plan_id,
                    stage as i64,
                ),
            )
            .map_err(query_err)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Begin,
    Commit,
    Rollback,
    SetLockWaitTimeout,
    /// `LOCK TABLES … WRITE`: until `UNLOCK TABLES` (or the session ends) other sessions wait.
    LockTables,
    UnlockTables,
    Other,
}

fn classify(text: &str) -> Kind {
    let words: Vec<String> = text
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_lowercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        // `BEGIN NOT ATOMIC … END` is a MariaDB compound statement, not a transaction.
        "begin" if matches!(w(1), "" | "work") => Kind::Begin,
        "start" if w(1) == "transaction" => Kind::Begin,
        "commit" => Kind::Commit,
        "rollback" if w(1) != "to" => Kind::Rollback,
        "lock" if matches!(w(1), "tables" | "table") => Kind::LockTables,
        "unlock" if matches!(w(1), "tables" | "table") => Kind::UnlockTables,
        "set" => {
            let name = match w(1) {
                "session" | "local" => w(2),
                other => other,
            };
            let name = name
                .trim_start_matches("@@session.")
                .trim_start_matches("@@local.")
                .trim_start_matches("@@");
            if name.split('=').next() == Some("lock_wait_timeout") {
                Kind::SetLockWaitTimeout
            } else {
                Kind::Other
            }
        }
        _ => Kind::Other,
    }
}

/// `SET …` (a session setting), `SHOW` and `USE` change nothing a down.sql would undo.
fn is_session_setting(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(first.as_str(), "set" | "show" | "use")
}

/// DDL commits the open transaction (and itself) on MySQL and MariaDB.
fn commits_implicitly(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "alter" | "create" | "drop" | "rename" | "truncate"
    )
}

/// `lock_wait_timeout` counts whole seconds; never less than one.
fn whole_seconds(timeout: Duration) -> u64 {
    timeout.as_millis().div_ceil(1000).max(1) as u64
}

/// A metadata-lock or row-lock wait that timed out, or a deadlock: the statement did nothing and
/// can run again. Anything else is a real failure.
pub(crate) fn retryable(e: &mysql::Error) -> bool {
    matches!(
        my::error_code(e),
        Some(my::LOCK_WAIT_TIMEOUT) | Some(my::LOCK_DEADLOCK)
    )
}

/// The limits of the walks the stage's procedures run (templates/mysql/pause.sql reads
/// `@safeshift_max_app_lock_wait` and `@safeshift_max_pause`, in seconds), from the run's options
/// (see [`super::run::walk_limits`]). MySQL's walks pause for app lock waits only.
fn set_walk_limits(conn: &mut Conn, opts: &RunOptions) -> Result<(), RunError> {
    let seconds = |d: Option<Duration>| match d {
        Some(d) if !d.is_zero() => format!("{}", d.as_secs_f64()),
        _ => "off".to_string(),
    };
    let sql = format!(
        "SET @safeshift_max_app_lock_wait = {}, @safeshift_max_pause = {}",
        quote_literal(&seconds(opts.throttle.max_app_lock_wait)),
        quote_literal(&seconds(opts.throttle.max_pause))
    );
    conn.query_drop(&sql)
        .map_err(|e| RunError::failed(&sql, &e))
}

/// Runs a SQL file one statement at a time. A statement that hit a lock wait timeout is retried
/// (the plan writes each to be safe to re-run); inside `START TRANSACTION … COMMIT` the retry
/// starts again at the transaction's start, inside `LOCK TABLES … UNLOCK TABLES` at the
/// `LOCK TABLES`, and no table stays locked when the run ends.
pub fn run_sql(
    conn: &mut Conn,
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    super::engine::run_file(conn, text, opts, observer)
}

impl FileRun for Conn {
    type Error = mysql::Error;
    type Kind = Kind;

    fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError> {
        my::statements(text)
    }

    fn classify(text: &str) -> Kind {
        classify(text)
    }

    fn role(kind: Kind) -> Role {
        match kind {
            Kind::Begin => Role::Begin,
            Kind::Commit => Role::Commit,
            Kind::Rollback => Role::Rollback,
            Kind::LockTables => Role::Lock,
            Kind::UnlockTables => Role::Unlock,
            Kind::SetLockWaitTimeout => Role::Setting,
            Kind::Other => Role::Change,
        }
    }

    fn before_file(&mut self, opts: &RunOptions) -> Result<(), RunError> {
        set_walk_limits(self, opts)
    }

    fn run_statement(
        &mut self,
        statement: &FileStatement,
        kind: Kind,
        _in_transaction: bool,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), mysql::Error> {
        match (kind, opts.lock_timeout) {
            (Kind::SetLockWaitTimeout, Some(t)) => self.query_drop(format!(
                "SET SESSION lock_wait_timeout = {}",
                whole_seconds(t)
            )),
            _ => my::run_relaying(self, &statement.text, &mut |line| {
                if crate::db::WALK_PAUSE_NOTICES
                    .iter()
                    .any(|p| line.starts_with(p))
                {
                    observer.walk_said(line);
                }
            }),
        }
    }

    fn ran(&mut self, statement: &str, took: Duration, observer: &mut dyn Observer) {
        observer.ran(statement, took, self.affected_rows());
    }

    fn commits_implicitly(text: &str) -> bool {
        commits_implicitly(text)
    }

    /// Changes nothing a down.sql would undo.
    fn changes_nothing(text: &str) -> bool {
        is_session_setting(text)
    }

    fn cancelled(e: &mysql::Error) -> bool {
        my::error_code(e) == Some(my::QUERY_INTERRUPTED)
    }

    fn roll_back(&mut self) {
        let _ = self.query_drop("ROLLBACK");
    }

    fn unlock_tables(&mut self) -> Result<(), mysql::Error> {
        self.query_drop("UNLOCK TABLES")
    }
}

/// `` `users` `` → `users`, for catalog lookups; `None` for a qualified or odd name.
fn plain_name(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('`')?.strip_suffix('`')?;
    let mut plain = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        // Inside backquotes a backquote is written twice; a single one ends the name.
        if c == '`' && chars.next() != Some('`') {
            return None;
        }
        plain.push(c);
    }
    Some(plain)
}

/// Walks the table in key order, one autocommitted UPDATE (one transaction) per batch, filling
/// rows where `pending` holds. `resume` is the last key of an earlier, interrupted run. Each
/// batch is retried on a lock wait timeout like any statement.
pub fn run_backfill(
    conn: &mut Conn,
    spec: &BackfillSpec,
    opts: &RunOptions,
    resume: Option<String>,
    observer: &mut dyn Observer,
) -> Result<BackfillDone, RunError> {
    let BackfillSpec { table, column, .. } = spec;
    let label = match (plain_name(table), plain_name(column)) {
        (Some(t), Some(c)) => format!("{t}.{c}"),
        _ => format!("{table}.{column}"),
    };
    let fail = |statement: &str, e: &mysql::Error| RunError::server(None, statement, e);
    let seconds = whole_seconds(opts.lock_timeout.unwrap_or(DEFAULT_BATCH_LOCK_TIMEOUT));
    let set =
        format!("SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}");
    conn.query_drop(&set).map_err(|e| fail(&set, &e))?;
    // Resume keys come back from the table as text; they go back as literals this session reads
    // the same way.
    let escapes = my::backslash_escapes(conn).map_err(|e| fail("SELECT @@SESSION.sql_mode", &e))?;
    let estimate = match plain_name(table) {
        Some(name) => my::first_value(
            conn,
            &format!(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
                quote_literal(&name)
            ),
        )
        .ok()
        .flatten()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0),
        None => None,
    };
    observer.backfill_start(&label, estimate, resume.as_deref());
    let mut walker = MyWalk {
        throttle: super::throttle::MyThrottle::new(opts)?,
        conn,
        spec,
        escapes,
    };
    super::engine::walk(&mut walker, spec, opts, &label, resume, observer)
}

/// MySQL/MariaDB's batches of a backfill walk.
struct MyWalk<'a> {
    conn: &'a mut Conn,
    spec: &'a BackfillSpec,
    /// Whether the session's string literals take backslash escapes (its `sql_mode`).
    escapes: bool,
    throttle: super::throttle::MyThrottle,
}

impl super::engine::Walk for MyWalk<'_> {
    type Error = mysql::Error;

    fn after(&self, last: Option<&str>) -> String {
        last.map(|k| {
            format!(
                "{} > {}",
                self.spec.key,
                my::quote_literal_in(k, self.escapes)
            )
        })
        .unwrap_or_else(|| "TRUE".to_string())
    }

    fn wait(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        self.throttle.wait(self.conn, observer)
    }

    fn batch(
        &mut self,
        after: &str,
        _last: Option<&str>,
        batch_size: u64,
        _observer: &mut dyn Observer,
    ) -> Result<Option<(String, u64, u64)>, mysql::Error> {
        let BackfillSpec {
            table,
            key,
            column,
            value,
            pending,
            ..
        } = self.spec;
        let next_sql = format!(
            "SELECT MAX(k), COUNT(*) FROM (SELECT {key} AS k FROM {table} WHERE {after} ORDER BY {key} LIMIT {batch_size}) AS batch"
        );
        let row: Option<mysql::Row> = self.conn.query_first(&next_sql)?;
        let (end, walked) = match row {
            Some(row) => (
                row.as_ref(0)
                    .filter(|v| **v != mysql::Value::NULL)
                    .map(my::value_text),
                row.as_ref(1)
                    .map(my::value_text)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0),
            ),
            None => (None, 0),
        };
        let Some(end) = end else {
            return Ok(None);
        };
        let update = format!(
            "UPDATE {table} SET {column} = {value} WHERE {after} AND {key} <= {} AND ({pending})",
            my::quote_literal_in(&end, self.escapes)
        );
        self.conn.query_drop(&update)?;
        Ok(Some((end, walked, self.conn.affected_rows())))
    }
}

impl Target for Conn {
    fn run_sql(
        &mut self,
        text: &str,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        run_sql(self, text, opts, observer)
    }

    fn run_backfill(
        &mut self,
        spec: &BackfillSpec,
        opts: &RunOptions,
        resume: Option<String>,
        observer: &mut dyn Observer,
    ) -> Result<BackfillDone, RunError> {
        run_backfill(self, spec, opts, resume, observer)
    }

    fn first_value(&mut self, query: &str) -> Result<Option<String>, CheckError> {
        my::first_value(self, query).map_err(|e| CheckError {
            message: my::describe(&e),
            lock_wait: retryable(&e),
        })
    }

    fn set_lock_timeout(&mut self, timeout: Option<Duration>) -> Result<(), String> {
        let sql = match timeout {
            Some(t) => {
                let seconds = whole_seconds(t);
                format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"
                )
            }
            None => "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT"
                .to_string(),
        };
        self.query_drop(sql).map_err(|e| my::describe(&e))
    }

    fn roll_back_open_transaction(&mut self) {
        let _ = self.query_drop("ROLLBACK");
        // And no table stays locked by LOCK TABLES on this connection.
        let _ = self.query_drop("UNLOCK TABLES");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified() {
        assert_eq!(classify("START TRANSACTION"), Kind::Begin);
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(classify("BEGIN NOT ATOMIC SELECT 1; END"), Kind::Other);
        assert_eq!(classify("COMMIT"), Kind::Commit);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a"), Kind::Other);
        assert_eq!(
            classify("SET SESSION lock_wait_timeout = 2"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(
            classify("SET lock_wait_timeout=5"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(
            classify("SET @@session.lock_wait_timeout = 5"),
            Kind::SetLockWaitTimeout
        );
        assert_eq!(classify("SET SESSION sql_mode = ''"), Kind::Other);
        assert_eq!(classify("LOCK TABLES `users` WRITE"), Kind::LockTables);
        assert_eq!(classify("unlock tables;"), Kind::UnlockTables);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
    }

    #[test]
    fn only_plain_names_are_looked_up() {
        assert_eq!(plain_name("`users`").as_deref(), Some("users"));
        assert_eq!(plain_name("`we``ird`").as_deref(), Some("we`ird"));
        assert_eq!(plain_name("`a`.`b`"), None);
        assert_eq!(plain_name("users"), None);
    }
}
