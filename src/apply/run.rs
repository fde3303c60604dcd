//! Runs a stage's SQL on a real connection the way a careful operator would: one statement at a
//! time, retrying what gave up on `lock_timeout` with jittered exponential backoff, cleaning up
//! an INVALID index that an interrupted `CREATE INDEX CONCURRENTLY` left behind, and walking
//! backfills batch by batch. `rehearse` runs stages through the same code, watching each
//! statement through an [`Observer`].

use std::time::{Duration, Instant};

use postgres::Client;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::engine::{FileRun, Role};
use crate::db::{self, DbError, FileStatement, quote_literal};
use crate::interrupt;
use crate::plan::BackfillSpec;

/// The server closes a session idle longer than `idle_session_timeout` (PostgreSQL 14+), and
/// with it the advisory lock that keeps a second apply out. `apply`'s sessions wait (the
/// history's while a long index build runs on the other, the stage's between retries), so they
/// ask not to be closed.
pub fn keep_session_open(client: &mut Client) -> Result<(), DbError> {
    client
        .batch_execute(
            "SELECT set_config('idle_session_timeout', '0', false) WHERE current_setting('server_version_num')::int >= 140000",
        )
        .map_err(|e| DbError::Query(db::describe(&e)))
}

/// The engine-neutral parts of a run, where they were before they were shared with MySQL/MariaDB
/// (see `engine.rs`).
pub use super::engine::{BackfillDone, BatchSizer, Observer, Quiet, RunError, RunOptions};
pub(crate) use super::engine::{DEFAULT_BATCH_LOCK_TIMEOUT, backoff, sleep};

/// Lock timeouts and deadlocks mean "someone else was first": the statement did nothing and can
/// run again. Anything else is a real failure.
pub(crate) fn retryable(e: &postgres::Error) -> bool {
    matches!(
        db::sqlstate(e),
        Some(db::LOCK_NOT_AVAILABLE) | Some(db::DEADLOCK_DETECTED)
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Begin,
    Commit,
    Rollback,
    SetLockTimeout {
        local: bool,
    },
    Set,
    /// Must run outside a transaction block.
    Concurrently,
    Other,
}

fn classify(text: &str) -> Kind {
    let words: Vec<String> = text
        .split_whitespace()
        .take(4)
        .map(|w| {
            w.trim_end_matches(';')
                .trim_matches('"')
                .to_ascii_lowercase()
        })
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match w(0) {
        "begin" | "start" if w(0) == "begin" || w(1) == "transaction" => Kind::Begin,
        "commit" | "end" => Kind::Commit,
        "rollback" | "abort" => Kind::Rollback,
        "set" => {
            let (local, name) = match w(1) {
                "local" => (true, w(2)),
                "session" => (false, w(2)),
                other => (false, other),
            };
            if name.trim_end_matches('=') == "lock_timeout" {
                Kind::SetLockTimeout { local }
            } else {
                Kind::Set
            }
        }
        "vacuum" => Kind::Concurrently,
        _ if text
            .split_whitespace()
            .take(6)
            .any(|w| w.eq_ignore_ascii_case("concurrently")) =>
        {
            Kind::Concurrently
        }
        _ => Kind::Other,
    }
}

/// For `CREATE INDEX CONCURRENTLY`: the index's name as `to_regclass` reads it.
fn concurrent_index_name(text: &str) -> Option<String> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, text).ok()?;
    let Statement::CreateIndex(index) = statements.pop()? else {
        return None;
    };
    if !index.concurrently {
        return None;
    }
    let name = index.name?;
    if name.0.len() == 1 && index.table_name.0.len() == 2 {
        // An unqualified index name lives in its table's schema.
        return Some(format!("{}.{}", index.table_name.0[0], name));
    }
    Some(name.to_string())
}

/// An interrupted concurrent build leaves an INVALID index behind; `IF NOT EXISTS` would then
/// skip the build and report success. Drop it first.
fn drop_invalid_index(client: &mut Client, name: &str) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)",
        &[&name],
    )?;
    let invalid: bool = row.get(0);
    if invalid {
        let qualified = regclass_text(client, name)?;
        client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}"))?;
    }
    Ok(invalid)
}

/// Whether the index exists (valid or not); `true` when the server cannot say, so a failure is
/// never reported as having changed nothing when it may have.
fn index_exists(client: &mut Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .map(|row| row.get(0))
        .unwrap_or(true)
}

/// The index's fully qualified, quoted name, from the server (so quoting is the server's).
fn regclass_text(client: &mut Client, name: &str) -> Result<String, postgres::Error> {
    let row = client.query_one(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        &[&name],
    )?;
    Ok(row.get(0))
}

pub(crate) fn lock_timeout_sql(local: bool, timeout: Duration) -> String {
    format!(
        "SET {}lock_timeout = '{}ms'",
        if local { "LOCAL " } else { "" },
        timeout.as_millis()
    )
}

/// The limits of the walks that run on the server (templates/sql/pause.sql reads them with
/// `current_setting('safeshift.…', true)`), from the run's options, so one setting governs the
/// walks `apply` makes itself and those in the stage's DO blocks. A limit the run does not have
/// is `off` (`rehearse` pauses for nothing), and so is `max_pause` when the run waits as long as
/// a pause's cause lasts.
pub(crate) fn walk_limits(opts: &RunOptions) -> [(&'static str, String); 5] {
    let limit = |d: Option<Duration>| match d {
        Some(d) if !d.is_zero() => super::throttle::setting(d),
        _ => "off".to_string(),
    };
    [
        ("max_app_lock_wait", limit(opts.throttle.max_app_lock_wait)),
        (
            "vacuum_pause",
            if opts.throttle.vacuum_pause {
                "on"
            } else {
                "off"
            }
            .to_string(),
        ),
        ("max_replica_lag", limit(opts.max_replica_lag)),
        (
            "max_wal_rate",
            match opts.throttle.max_wal_rate {
                Some(rate) if rate > 0 => super::throttle::rate_setting(rate),
                _ => "off".to_string(),
            },
        ),
        ("max_pause", limit(opts.throttle.max_pause)),
    ]
}

fn set_walk_limits(client: &mut Client, opts: &RunOptions) -> Result<(), RunError> {
    let sql = walk_limits(opts)
        .iter()
        .map(|(name, value)| {
            format!(
                "set_config({}, {}, false)",
                quote_literal(&format!("safeshift.{name}")),
                quote_literal(value)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {sql}");
    client
        .batch_execute(&sql)
        .map_err(|e| RunError::failed(&sql, &e))
}

/// Runs a SQL file. Statements outside a transaction are retried one by one (the plan writes
/// them to be safe to re-run); a failed statement inside `BEGIN … COMMIT` rolls the transaction
/// back, and the retry starts again at its `BEGIN`.
pub fn run_sql(
    client: &mut Client,
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    super::engine::run_file(client, text, opts, observer)
}

impl FileRun for Client {
    type Error = postgres::Error;
    type Kind = Kind;

    fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError> {
        db::statements(text)
    }

    fn classify(text: &str) -> Kind {
        classify(text)
    }

    fn role(kind: Kind) -> Role {
        match kind {
            Kind::Begin => Role::Begin,
            Kind::Commit => Role::Commit,
            Kind::Rollback => Role::Rollback,
            Kind::SetLockTimeout { .. } | Kind::Set => Role::Setting,
            Kind::Concurrently | Kind::Other => Role::Change,
        }
    }

    fn before_file(&mut self, opts: &RunOptions) -> Result<(), RunError> {
        set_walk_limits(self, opts)
    }

    /// A stage that commits per table goes on after its last committed transaction.
    fn start_after(opts: &RunOptions) -> usize {
        opts.start_after
    }

    fn run_statement(
        &mut self,
        statement: &FileStatement,
        kind: Kind,
        in_transaction: bool,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<(), postgres::Error> {
        let client = self;
        match kind {
            Kind::Begin | Kind::Commit | Kind::Rollback | Kind::Set => {
                client.batch_execute(&statement.text)
            }
            Kind::SetLockTimeout { local } => match opts.lock_timeout {
                Some(t) => client.batch_execute(&lock_timeout_sql(local, t)),
                None => client.batch_execute(&statement.text),
            },
            Kind::Concurrently => run_concurrently(client, &statement.text, opts, observer),
            Kind::Other if in_transaction => observed(client, &statement.text, observer),
            Kind::Other if observer.wrap_statements() => wrapped(client, &statement.text, observer),
            Kind::Other => db::run_relaying(client, &statement.text, &mut |line| {
                observer.walk_said(line)
            }),
        }
    }

    /// A re-run check or the clean-up of an interrupted build's leftover.
    fn changes_nothing(text: &str) -> bool {
        crate::dialect::rerun::changes_nothing(text)
    }

    fn committed(through: usize, observer: &mut dyn Observer) {
        observer.committed(through);
    }

    fn roll_back(&mut self) {
        let _ = self.batch_execute("ROLLBACK");
    }

    fn after_failure(
        &mut self,
        number: usize,
        statement: &FileStatement,
        kind: Kind,
        observer: &mut dyn Observer,
    ) {
        if kind == Kind::Concurrently
            && let Some(name) = concurrent_index_name(&statement.text)
            && index_exists(self, &name)
        {
            // A concurrent build that failed after it made its catalog entry leaves an INVALID
            // index behind: that took effect (a re-run drops and rebuilds it).
            observer.took_effect(number);
        }
    }
}

fn observed(
    client: &mut Client,
    text: &str,
    observer: &mut dyn Observer,
) -> Result<(), postgres::Error> {
    // Watching is best effort: a failed look at pg_locks must not fail the migration.
    let _ = observer.before(client);
    db::run_relaying(client, text, &mut |line| observer.walk_said(line))?;
    let _ = observer.after(client, text);
    Ok(())
}

/// `BEGIN; statement; COMMIT` so the observer sees the locks the statement takes. A statement
/// that cannot run in a transaction block (a `DO` block that commits, say) is run again bare.
fn wrapped(
    client: &mut Client,
    text: &str,
    observer: &mut dyn Observer,
) -> Result<(), postgres::Error> {
    client.batch_execute("BEGIN")?;
    match observed(client, text, observer) {
        Ok(()) => client.batch_execute("COMMIT"),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            // 25001: cannot run inside a transaction block; 2D000: invalid transaction termination.
            if matches!(db::sqlstate(&e), Some("25001") | Some("2D000")) {
                db::run_relaying(client, text, &mut |line| observer.walk_said(line))
            } else {
                Err(e)
            }
        }
    }
}

/// Transactions of this database older than now that hold a snapshot: a concurrent index
/// build waits for each of them after it has built the index, and if one outlasts the lock
/// timeout the whole build is lost (left INVALID, rebuilt by the retry).
const OLD_SNAPSHOTS: &str =
    "SELECT count(*), string_agg(pid::text, ', ' ORDER BY pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL
   AND xact_start < $1::text::timestamptz";

/// Before a concurrent index build: waits (bounded by the retry budget, Ctrl-C stops it) for the
/// transactions that already hold a snapshot to end, so the build does not give up on them
/// after the work is done. Best effort: the build runs after the wait either way.
fn wait_for_old_snapshots(client: &mut Client, opts: &RunOptions, observer: &mut dyn Observer) {
    let Ok(row) = client.query_one("SELECT now()::text", &[]) else {
        return;
    };
    let start: String = row.get(0);
    let budget = opts
        .max_retry_delay
        .saturating_mul(opts.retries.max(1))
        .min(Duration::from_secs(3600));
    let until = Instant::now() + budget;
    let mut told = Instant::now() - Duration::from_secs(3600);
    loop {
        let Ok(row) = client.query_one(OLD_SNAPSHOTS, &[&start]) else {
            return;
        };
        let count: i64 = row.get(0);
        if count == 0 || Instant::now() >= until || interrupt::requested() {
            return;
        }
        if told.elapsed() >= Duration::from_secs(5) {
            told = Instant::now();
            let pids: Option<String> = row.get(1);
            observer.throttled(&format!(
                "{count} transaction(s) older than the index build hold a snapshot (pid {}); the build starts when they end, so it need not be redone",
                pids.unwrap_or_default()
            ));
        }
        if sleep(Duration::from_millis(200)).is_err() {
            return;
        }
    }
}

fn run_concurrently(
    client: &mut Client,
    text: &str,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(), postgres::Error> {
    let index = concurrent_index_name(text);
    if let Some(name) = &index {
        drop_invalid_index(client, name)?;
        if !index_exists(client, name) {
            wait_for_old_snapshots(client, opts, observer);
        }
    }
    client.batch_execute(text)?;
    if let Some(name) = &index {
        // `IF NOT EXISTS` succeeds on an index another run left INVALID; the build must be real.
        if drop_invalid_index(client, name)? {
            return client.batch_execute(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'index % was built INVALID and has been dropped; run the stage again', {}; END $$",
                quote_literal(name)
            ));
        }
    }
    Ok(())
}

/// One batch: find where it ends, then fill its pending rows in one short transaction.
/// `None` when the walk is past the last row.
fn batch(
    client: &mut Client,
    spec: &BackfillSpec,
    after: &str,
    next_sql: &str,
    observer: &mut dyn Observer,
) -> Result<Option<(String, i64, u64)>, postgres::Error> {
    let Some(row) = client.query_opt(next_sql, &[])? else {
        return Ok(None);
    };
    let end: String = row.get(0);
    let walked: i64 = row.get(1);
    let sql = format!(
        "UPDATE {} SET {} = {} WHERE {after} AND {} AND ({})",
        spec.table,
        spec.column,
        spec.value,
        key_bound(spec, "<=", &end),
        spec.pending
    );
    client.batch_execute("BEGIN")?;
    let result = (|| {
        let _ = observer.before(client);
        let updated = client.execute(sql.as_str(), &[])?;
        let _ = observer.after(client, &sql);
        client.batch_execute("COMMIT")?;
        Ok(updated)
    })();
    match result {
        Ok(updated) => Ok(Some((end, walked, updated))),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

/// `key OP value` for a batch end or a resume point. A key of several columns compares as a row
/// value, `("tenant_id", "id") > ('7', '42')`: PostgreSQL resolves each untyped literal to its
/// column's type, and the primary key's index serves the comparison. Its value is a JSON array of
/// the columns' text (what `next_sql` returns); one that does not read as such (a resume point
/// written by a walk of the first column only) starts the walk over, which only costs a re-scan.
fn key_bound(spec: &BackfillSpec, op: &str, value: &str) -> String {
    if spec.key_columns.len() < 2 {
        return format!("{} {op} {}", spec.key, quote_literal(value));
    }
    match serde_json::from_str::<Vec<String>>(value) {
        Ok(parts) if parts.len() == spec.key_columns.len() => format!(
            "{} {op} ({})",
            spec.key,
            parts
                .iter()
                .map(|p| quote_literal(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "true".to_string(),
    }
}

/// After a walk by heap blocks: the rows still pending (an update moved them past the walk),
/// a batch at a time, each batch its own transaction, pausing before each as the walk does.
fn sweep(
    client: &mut Client,
    spec: &BackfillSpec,
    batch_size: u64,
    throttle: &mut super::throttle::PgThrottle,
    observer: &mut dyn Observer,
) -> Result<u64, RunError> {
    let sql = format!(
        "UPDATE {t} SET {c} = {v} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {t} WHERE {p} LIMIT {batch_size})) AND ({p})",
        t = spec.table,
        c = spec.column,
        v = spec.value,
        p = spec.pending
    );
    let mut updated = 0;
    loop {
        throttle.wait(client, observer)?;
        let n = client
            .execute(sql.as_str(), &[])
            .map_err(|e| RunError::server(None, &sql, &e))?;
        if n == 0 {
            return Ok(updated);
        }
        updated += n;
    }
}

/// Walks the table in key order, one short transaction per batch, filling rows where `pending`
/// holds. `resume` is the last key of an earlier, interrupted run. Each batch is retried on a
/// lock timeout like any statement.
pub fn run_backfill(
    client: &mut Client,
    spec: &BackfillSpec,
    opts: &RunOptions,
    resume: Option<String>,
    observer: &mut dyn Observer,
) -> Result<BackfillDone, RunError> {
    let BackfillSpec {
        table,
        key,
        column,
        batch_size,
        ..
    } = spec;
    let label = format!("{table}.{column}");
    let fail = |statement: &str, e: &postgres::Error| RunError::server(None, statement, e);
    let timeout = opts.lock_timeout.unwrap_or(DEFAULT_BATCH_LOCK_TIMEOUT);
    // A batch need not wait for its WAL flush: a crash loses at most the last batches, which the
    // re-run fills again (rows already filled are skipped). Measured by scripts/bench-stall, the
    // flushes of a backfill's commits are what the app's own commits queue behind.
    let set = format!(
        "{}; SET synchronous_commit = off",
        lock_timeout_sql(false, timeout)
    );
    client.batch_execute(&set).map_err(|e| fail(&set, &e))?;
    let estimate_sql = format!(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass({})",
        quote_literal(table)
    );
    let estimate = client
        .query_opt(&estimate_sql, &[])
        .map_err(|e| fail(&estimate_sql, &e))?
        .map(|row| row.get::<_, i64>(0))
        .filter(|&n| n > 0)
        .map(|n| n as u64);
    observer.backfill_start(&label, estimate, resume.as_deref());
    // A table without a key is walked by heap blocks: the blocks it had when the walk began,
    // about batch_size rows at a time, then a sweep for rows moved past the walk meanwhile.
    let blocks = match key.as_str() {
        crate::plan::BLOCK_WALK => {
            let sql = format!(
                "SELECT pg_relation_size({table_literal}) / current_setting('block_size')::bigint, \
                 greatest(1, {batch_size} / greatest(1, (reltuples / greatest(relpages, 1))::bigint)) \
                 FROM pg_class WHERE oid = {table_literal}::regclass",
                table_literal = quote_literal(table)
            );
            let row = client.query_one(&sql, &[]).map_err(|e| fail(&sql, &e))?;
            Some((row.get::<_, i64>(0), row.get::<_, i64>(1)))
        }
        _ => None,
    };
    let mut walker = PgWalk {
        client,
        spec,
        blocks,
        throttle: super::throttle::PgThrottle::new(table, opts),
    };
    super::engine::walk(&mut walker, spec, opts, &label, resume, observer)
}

/// PostgreSQL's batches of a backfill walk.
struct PgWalk<'a> {
    client: &'a mut Client,
    spec: &'a BackfillSpec,
    /// A walk by heap blocks: the table's blocks when the walk began, and the blocks a batch
    /// takes.
    blocks: Option<(i64, i64)>,
    throttle: super::throttle::PgThrottle,
}

impl PgWalk<'_> {
    /// The block a walk by heap blocks goes on at after `last` (its `(block,0)`).
    fn block_after(last: Option<&str>) -> i64 {
        last.and_then(|k| k.trim_start_matches('(').split(',').next())
            .and_then(|b| b.parse::<i64>().ok())
            .unwrap_or(0)
    }

    /// The query that finds where the batch ends, and how many rows it walks.
    fn next_sql(&self, after: &str, last: Option<&str>, batch_size: u64) -> String {
        let BackfillSpec { table, key, .. } = self.spec;
        match self.blocks {
            Some((_, step)) => {
                // `(b,0)` is no row (offsets start at 1): `ctid > '(b,0)'` starts at block b.
                let at = Self::block_after(last);
                // About batch_size rows a step (from the statistics), for the progress line.
                format!("SELECT '({},0)'::text, {batch_size}::bigint", at + step)
            }
            None if self.spec.key_columns.len() > 1 => {
                let columns = &self.spec.key_columns;
                let list = |f: &dyn Fn(usize, &String) -> String| {
                    columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| f(i, c))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "SELECT json_build_array({})::text AS batch_end, count(*) OVER () FROM (SELECT {} FROM {table} WHERE {after} ORDER BY {} LIMIT {batch_size}) AS batch ORDER BY {} LIMIT 1",
                    list(&|i, _| format!("batch.k{i}::text")),
                    list(&|i, c| format!("{c} AS k{i}")),
                    list(&|_, c| c.clone()),
                    list(&|i, _| format!("batch.k{i} DESC")),
                )
            }
            None => format!(
                "SELECT batch.k::text AS batch_end, count(*) OVER () FROM (SELECT {key} AS k FROM {table} WHERE {after} ORDER BY {key} LIMIT {batch_size}) AS batch ORDER BY batch.k DESC LIMIT 1"
            ),
        }
    }
}

impl super::engine::Walk for PgWalk<'_> {
    type Error = postgres::Error;

    fn after(&self, last: Option<&str>) -> String {
        last.map(|k| key_bound(self.spec, ">", k))
            .unwrap_or_else(|| "true".to_string())
    }

    fn wait(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        self.throttle.wait(self.client, observer)
    }

    fn finished(
        &mut self,
        last: Option<&str>,
        size: u64,
        observer: &mut dyn Observer,
    ) -> Result<Option<u64>, RunError> {
        match self.blocks {
            Some((pages, _)) if Self::block_after(last) > pages => {
                sweep(self.client, self.spec, size, &mut self.throttle, observer).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn batch(
        &mut self,
        after: &str,
        last: Option<&str>,
        size: u64,
        observer: &mut dyn Observer,
    ) -> Result<Option<(String, u64, u64)>, postgres::Error> {
        let next_sql = self.next_sql(after, last, size);
        Ok(batch(self.client, self.spec, after, &next_sql, observer)?
            .map(|(end, walked, updated)| (end, walked.max(0) as u64, updated)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified() {
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(classify("START TRANSACTION"), Kind::Begin);
        assert_eq!(classify("COMMIT"), Kind::Commit);
        assert_eq!(
            classify("SET LOCAL lock_timeout = '2s'"),
            Kind::SetLockTimeout { local: true }
        );
        assert_eq!(
            classify("SET lock_timeout TO 5000"),
            Kind::SetLockTimeout { local: false }
        );
        assert_eq!(classify("SET statement_timeout = 0"), Kind::Set);
        assert_eq!(
            classify("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c)"),
            Kind::Concurrently
        );
        assert_eq!(classify("ALTER TABLE t ADD COLUMN c int"), Kind::Other);
    }

    #[test]
    fn concurrent_index_names_take_the_table_schema() {
        assert_eq!(
            concurrent_index_name("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t (c)")
                .as_deref(),
            Some("s.i")
        );
        assert_eq!(
            concurrent_index_name(r#"CREATE INDEX CONCURRENTLY "We""ird" ON t (c)"#).as_deref(),
            Some(r#""We""ird""#)
        );
        assert_eq!(concurrent_index_name("CREATE INDEX i ON t (c)"), None);
    }
}
