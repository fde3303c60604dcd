//! `apply`'s history on MySQL and MariaDB: `safeshift`.`applied_stages`, keyed by the database's
//! name and its id (a marker table in the application database), and the plan's named lock.
//! PostgreSQL's is in `history.rs`; `apply` reaches both through [`HistoryStore`].

use std::collections::BTreeMap;

use mysql::Conn;
use mysql::prelude::Queryable;

use super::history::{HistoryStore, Record, Status};
use crate::db::DbError;
use crate::db::mysql::{self as my, quote_literal};

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
