//! Where a plan stands in a database: one row per (plan, stage) in `safeshift.applied_stages`,
//! in safeshift's own schema (on MySQL/MariaDB its own database, see `super::mysql`) so it never
//! mixes with the application's tables.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::db::{self, DbError};

const SETUP: &str = "
CREATE SCHEMA IF NOT EXISTS safeshift;
CREATE TABLE IF NOT EXISTS safeshift.applied_stages (
    plan_id     text        NOT NULL,
    stage       integer     NOT NULL,
    name        text        NOT NULL,
    status      text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    message     text,
    resume_key  text,
    PRIMARY KEY (plan_id, stage)
);
COMMENT ON TABLE safeshift.applied_stages IS 'Stages applied by safeshift apply; see safeshift status.';
";

/// How long `apply` waits for another apply's lock before refusing.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Running,
    Done,
    Failed,
    RolledBack,
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::RolledBack => "rolled-back",
            Status::Interrupted => "interrupted",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "running" => Status::Running,
            "done" => Status::Done,
            "failed" => Status::Failed,
            "rolled-back" => Status::RolledBack,
            "interrupted" => Status::Interrupted,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Record {
    pub stage: usize,
    pub status: Status,
    pub attempts: i32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub message: Option<String>,
    pub resume_key: Option<String>,
}

/// The history of one plan in one database, whatever the engine: `apply` reads and writes it
/// through this, so the ordering rules and the record kept are the same everywhere.
pub trait HistoryStore {
    /// Takes a session-level lock for this plan, so two appliers never run one plan at once.
    /// `false` when another session holds it.
    fn lock(&mut self) -> Result<bool, DbError>;
    fn records(&mut self) -> Result<BTreeMap<usize, Record>, DbError>;
    /// Marks a stage running, counting the attempt.
    fn start(&mut self, stage: usize, name: &str) -> Result<(), DbError>;
    fn finish(
        &mut self,
        stage: usize,
        status: Status,
        message: Option<&str>,
    ) -> Result<(), DbError>;
    /// Records how far a backfill got, so an interrupted one resumes there.
    fn progress(&mut self, stage: usize, resume_key: &str) -> Result<(), DbError>;
    /// Takes over the history an older safeshift recorded under the plan's legacy id, when
    /// there is none under its id yet.
    fn adopt(&mut self, legacy_id: &str) -> Result<(), DbError>;
    /// After the history's session was lost (a server restart, a dropped connection): connects
    /// again (for up to [`RECONNECT_FOR`]) and takes the plan's lock again. `false` when another
    /// apply took the lock meanwhile.
    fn reconnect(&mut self) -> Result<bool, DbError>;
    /// Whether this session still holds the plan's lock.
    fn holds_lock(&mut self) -> Result<bool, DbError>;
}

/// How long `apply` keeps trying to reach the server again to record how a stage ended.
pub const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// A new session for [`HistoryStore::reconnect`]: `connect` to `url`, tried once a second for
/// [`RECONNECT_FOR`] (the server may be restarting). Without a URL (a history opened without
/// [`History::reconnecting_to`]) there is nothing to reconnect to.
pub(crate) fn connect_again<C>(
    url: Option<&str>,
    connect: impl Fn(&str) -> Result<C, DbError>,
) -> Result<C, DbError> {
    let Some(url) = url else {
        return Err(DbError::Query("no URL to reconnect to".into()));
    };
    let until = Instant::now() + RECONNECT_FOR;
    loop {
        match connect(url) {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() >= until => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

pub struct History<'a> {
    client: &'a mut Client,
    plan_id: String,
    /// Where to connect again if the session is lost.
    url: Option<String>,
}

fn query_err(e: postgres::Error) -> DbError {
    DbError::Query(format!(
        "history table safeshift.applied_stages: {}",
        db::describe(&e)
    ))
}

impl<'a> History<'a> {
    /// Creates the history table if needed. Two first applies on one database race to create
    /// it; a transaction-level advisory lock makes the second wait for the first, so neither
    /// trips over the other's half-made schema (a unique violation in pg_namespace).
    pub fn open(client: &'a mut Client, plan_id: &str) -> Result<History<'a>, DbError> {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('safeshift.applied_stages') IS NOT NULL",
                &[],
            )
            .map_err(query_err)?
            .get(0);
        if !exists {
            let setup = format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('safeshift:history-setup', 0)); {SETUP} COMMIT;"
            );
            if let Err(e) = client.batch_execute(&setup) {
                let _ = client.batch_execute("ROLLBACK");
                return Err(query_err(e));
            }
        }
        Ok(History {
            client,
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
    pub fn read_only(
        client: &mut Client,
        plan_id: &str,
    ) -> Result<BTreeMap<usize, Record>, DbError> {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('safeshift.applied_stages') IS NOT NULL",
                &[],
            )
            .map_err(query_err)?
            .get(0);
        if !exists {
            return Ok(BTreeMap::new());
        }
        read(client, plan_id)
    }
}

/// Whether a live `apply` holds this plan's lock in the client's database: a stage recorded as
/// running with no holder was left by a run that died (kill -9, a lost connection, a restart).
/// Taken and given back at once, so it never blocks an apply for long (that one waits
/// [`LOCK_WAIT`] for it).
pub fn lock_held(client: &mut Client, plan_id: &str) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_try_advisory_lock(k) THEN NOT pg_advisory_unlock(k) ELSE true END
             FROM (SELECT hashtextextended('safeshift:' || $1, 0) AS k) AS l",
            &[&plan_id],
        )
        .map_err(query_err)?;
    Ok(row.get(0))
}

impl HistoryStore for History<'_> {
    /// Holds a session advisory lock for this plan, so two appliers never run one plan at once.
    /// A backend ends a moment after its client has gone, so the lock of an apply that just
    /// finished may still be held: it is tried for up to [`LOCK_WAIT`] before giving up.
    fn lock(&mut self) -> Result<bool, DbError> {
        let until = Instant::now() + LOCK_WAIT;
        loop {
            let row = self
                .client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended('safeshift:' || $1, 0))",
                    &[&self.plan_id],
                )
                .map_err(query_err)?;
            if row.get(0) {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn records(&mut self) -> Result<BTreeMap<usize, Record>, DbError> {
        read(self.client, &self.plan_id)
    }

    fn start(&mut self, stage: usize, name: &str) -> Result<(), DbError> {
        self.client
            .execute(
                "INSERT INTO safeshift.applied_stages AS h (plan_id, stage, name, status, attempts)
                 VALUES ($1, $2, $3, 'running', 1)
                 ON CONFLICT (plan_id, stage) DO UPDATE
                 SET status = 'running', attempts = h.attempts + 1, started_at = now(),
                     finished_at = NULL, message = NULL, name = EXCLUDED.name",
                &[&self.plan_id, &(stage as i32), &name],
            )
            .map_err(query_err)?;
        Ok(())
    }

    fn finish(
        &mut self,
        stage: usize,
        status: Status,
        message: Option<&str>,
    ) -> Result<(), DbError> {
        // A finished stage needs no resume point; an interrupted one keeps it, and so does a
        // failed stage that commits per table (`sql:N`: its committed transactions stay).
        self.client
            .execute(
                "UPDATE safeshift.applied_stages
                 SET status = $3, finished_at = now(), message = $4,
                     resume_key = CASE WHEN $3 = 'interrupted' THEN resume_key
                                       WHEN $3 = 'failed' AND resume_key LIKE 'sql:%' THEN resume_key END
                 WHERE plan_id = $1 AND stage = $2",
                &[&self.plan_id, &(stage as i32), &status.as_str(), &message],
            )
            .map_err(query_err)?;
        Ok(())
    }

    fn holds_lock(&mut self) -> Result<bool, DbError> {
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks, (SELECT hashtextextended('safeshift:' || $1, 0) AS k) AS l
                   WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = pg_backend_pid()
                     AND classid = ((k >> 32) & 4294967295)::oid AND objid = (k & 4294967295)::oid)",
                &[&self.plan_id],
            )
            .map_err(query_err)?;
        Ok(row.get(0))
    }

    fn reconnect(&mut self) -> Result<bool, DbError> {
        let mut client = connect_again(self.url.as_deref(), db::connect)?;
        super::run::keep_session_open(&mut client)?;
        *self.client = client;
        self.lock()
    }

    fn adopt(&mut self, legacy_id: &str) -> Result<(), DbError> {
        if legacy_id == self.plan_id {
            return Ok(());
        }
        self.client
            .execute(
                "UPDATE safeshift.applied_stages SET plan_id = $1
                 WHERE plan_id = $2
                   AND NOT EXISTS (SELECT 1 FROM safeshift.applied_stages WHERE plan_id = $1)",
                &[&self.plan_id, &legacy_id],
            )
            .map_err(query_err)?;
        Ok(())
    }

    /// Records how far a backfill got, so an interrupted one resumes there. Without waiting for
    /// its WAL flush (like the batches themselves): a crash loses at most the last resume
    /// points, and the resumed walk skips rows already filled; the app's commits then do not
    /// queue behind one more flush per batch.
    fn progress(&mut self, stage: usize, resume_key: &str) -> Result<(), DbError> {
        let mut tx = self.client.transaction().map_err(query_err)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(query_err)?;
        tx.execute(
            "UPDATE safeshift.applied_stages SET resume_key = $3 WHERE plan_id = $1 AND stage = $2",
            &[&self.plan_id, &(stage as i32), &resume_key],
        )
        .map_err(query_err)?;
        tx.commit().map_err(query_err)
    }
}

fn read(client: &mut Client, plan_id: &str) -> Result<BTreeMap<usize, Record>, DbError> {
    let rows = client
        .query(
            "SELECT stage, status, attempts, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'),
                    to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS TZ'), message, resume_key
             FROM safeshift.applied_stages WHERE plan_id = $1 ORDER BY stage",
            &[&plan_id],
        )
        .map_err(query_err)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let stage: i32 = row.get(0);
        let status: String = row.get(1);
        let Some(status) = Status::parse(&status) else {
            continue;
        };
        out.insert(
            stage.max(0) as usize,
            Record {
                stage: stage.max(0) as usize,
                status,
                attempts: row.get(2),
                started_at: row.get(3),
                finished_at: row.get(4),
                message: row.get(5),
                resume_key: row.get(6),
            },
        );
    }
    Ok(out)
}
