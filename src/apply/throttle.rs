//! Pauses a backfill while the application suffers. Before each batch the walk asks
//! [`PgThrottle::wait`] / [`MyThrottle::wait`], which return at once when all is well and
//! otherwise wait, polling, until every signal is back under its limit:
//!
//! - app sessions of the walked database waiting on a lock longer than `--max-app-lock-wait`
//!   (safeshift's own sessions, named `safeshift`, and this backend are not counted);
//! - PostgreSQL: WAL written faster than `--max-wal-rate`, measured from `pg_current_wal_insert_lsn()`
//!   over the batch and the wait that follow it, so the walk's own WAL counts too and the rate
//!   is held on average;
//! - PostgreSQL: a vacuum (autovacuum or a manual one) working on the table being walked, as
//!   GitLab's batched migrations do: the walk's dead rows would only grow the vacuum's work;
//! - replica replay lag above `--max-replica-lag`: on PostgreSQL from `pg_stat_replication`, on
//!   MySQL/MariaDB from `SHOW REPLICA STATUS` on the replicas named with `--replica-url` (a
//!   primary does not know its replicas' lag; the walks that run on the server hear of it through
//!   a named lock, see `throttle_lock.rs`).
//!
//! A signal the server will not show (no privilege) counts as well: the walk does not stop for
//! what it cannot see. The observer hears when a pause starts (and every 10 s while it lasts) and
//! how long it took when it ends. A pause longer than `--max-pause` ([`Limits::max_pause`]) stops
//! the walk with [`RunError::PausedTooLong`], before its next batch: an app that has suffered
//! that long needs a person, and the batches done stay done for the re-run to go on from.

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use postgres::Client;

use super::run::{Observer, RunError, RunOptions, sleep};
use crate::db::{self, quote_literal};

/// What a backfill pauses for. `Limits::default()` pauses for nothing (the library's default,
/// which `rehearse` uses); `safeshift apply` turns the lock and vacuum pauses on by default.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Pause while an app session has waited on a lock longer than this.
    pub max_app_lock_wait: Option<Duration>,
    /// PostgreSQL: pause while the server writes more WAL than this many bytes a second.
    pub max_wal_rate: Option<u64>,
    /// PostgreSQL: pause while a vacuum works on the table being walked.
    pub vacuum_pause: bool,
    /// MySQL/MariaDB: replicas whose lag `--max-replica-lag` bounds.
    pub replica_urls: Vec<String>,
    /// MySQL/MariaDB: the server the stage runs on (`apply` sets it), for the session that holds
    /// the throttle lock while a replica lags, so that the walks running on the server pause
    /// (`throttle_lock.rs`). `None`: those walks do not hear of replica lag.
    pub primary_url: Option<String>,
    /// The longest one pause may last before the walk stops (`None`: as long as its cause).
    /// Also the `safeshift.max_pause` / `@safeshift_max_pause` of the walks on the server.
    pub max_pause: Option<Duration>,
}

/// The default of `safeshift apply --max-app-lock-wait`.
pub const DEFAULT_MAX_APP_LOCK_WAIT: Duration = Duration::from_secs(1);

/// The default of `safeshift apply --max-pause`, and the limit the plans bake into their walks
/// on the server (templates/sql/pause.sql, templates/mysql/pause.sql).
pub const DEFAULT_MAX_PAUSE: Duration = Duration::from_secs(600);

/// How often a pause looks again.
const POLL: Duration = Duration::from_millis(250);
/// How often a long pause says it is still waiting.
const TELL_EVERY: Duration = Duration::from_secs(10);

/// Waits while `check` gives a reason, telling the observer; gives up once the wait has lasted
/// longer than `max_pause`.
fn pause_while(
    observer: &mut dyn Observer,
    max_pause: Option<Duration>,
    mut check: impl FnMut() -> Option<String>,
) -> Result<(), RunError> {
    let Some(mut why) = check() else {
        return Ok(());
    };
    let started = Instant::now();
    let mut told = Instant::now();
    observer.throttled(&why);
    loop {
        sleep(POLL)?;
        match check() {
            None => {
                observer.paused(started.elapsed(), &why);
                return Ok(());
            }
            Some(now) => {
                why = now;
                if let Some(limit) = max_pause
                    && started.elapsed() > limit
                {
                    return Err(RunError::PausedTooLong {
                        why,
                        paused: started.elapsed(),
                        limit,
                    });
                }
                if told.elapsed() >= TELL_EVERY {
                    told = Instant::now();
                    observer.throttled(&format!(
                        "{why} (paused {:.0}s so far)",
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
        }
    }
}

/// A duration as the throttle's lines show it (`300ms`, `2s`, `1.5s`).
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", (s * 10.0).round() / 10.0)
    }
}

fn sessions(n: i64) -> String {
    if n == 1 {
        "1 app session".to_string()
    } else {
        format!("{n} app sessions")
    }
}

/// A rate in bytes a second as people read it (`12.3 MB/s`, powers of 1024 as PostgreSQL's
/// units are).
pub fn format_rate(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}/s", UNITS[unit])
}

/// `--max-wal-rate`: bytes a second, written `20MB`, `512kB`, `1GB` (`/s` optional; units are
/// powers of 1024, as in PostgreSQL's settings) or a plain number of bytes. `0` or `off`: none.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(0);
    }
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a rate (write it like 20MB, 512kB or 1GB)"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{}` (use B, kB, MB or GB)",
                unit.trim()
            ));
        }
    };
    Ok((number * factor) as u64)
}

/// A rate as [`parse_rate`] reads it back exactly, in the largest unit that divides it (`20MB`,
/// `1536kB`, `1000B`): the `safeshift.max_wal_rate` of the walks that run on the server, which
/// their pause line shows as the limit.
pub fn rate_setting(bytes: u64) -> String {
    for (unit, factor) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("kB", 1 << 10)] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// A limit as PostgreSQL reads an interval (`1s`, `300ms`), for the `safeshift.*` settings of
/// the walks that run on the server.
pub fn setting(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `--max-app-lock-wait`, `--max-pause`: a duration, or `off` (also `0`).
pub fn parse_limit(text: &str) -> Result<Duration, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Duration::ZERO);
    }
    crate::cli::parse_duration(text)
}

/// The pauses of one PostgreSQL backfill.
pub struct PgThrottle {
    limits: Limits,
    max_replica_lag: Option<Duration>,
    table_literal: String,
    /// The WAL position and time the current rate window started at.
    wal_window: Option<(i64, Instant)>,
    /// `pg_locks.waitstart` exists (PostgreSQL 14+).
    waitstart: Option<bool>,
}

impl PgThrottle {
    pub fn new(table: &str, opts: &RunOptions) -> PgThrottle {
        PgThrottle {
            limits: opts.throttle.clone(),
            max_replica_lag: opts.max_replica_lag,
            table_literal: quote_literal(table),
            wal_window: None,
            waitstart: None,
        }
    }

    /// Before a batch: waits while the app suffers.
    pub fn wait(
        &mut self,
        client: &mut Client,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let max_pause = self.limits.max_pause;
        let result = pause_while(observer, max_pause, || self.reason(client));
        // The next window starts now: what was written while paused was the app's.
        self.wal_window = wal_position(client).map(|lsn| (lsn, Instant::now()));
        result
    }

    /// Why the walk should not go on now, if it should not.
    fn reason(&mut self, client: &mut Client) -> Option<String> {
        let mut why = Vec::new();
        if let Some(limit) = self.limits.max_app_lock_wait
            && let Some(waits) = self.lock_waits(client, limit)
        {
            why.push(waits);
        }
        if self.limits.vacuum_pause
            && let Some(vacuum) = self.vacuum(client)
        {
            why.push(vacuum);
        }
        if let Some(limit) = self.limits.max_wal_rate
            && let Some((start, at)) = self.wal_window
            && let Some(now) = wal_position(client)
        {
            let elapsed = at.elapsed().as_secs_f64().max(0.001);
            let rate = (now - start).max(0) as f64 / elapsed;
            if rate > limit as f64 {
                why.push(format!(
                    "WAL written at {} since the last batch began, above --max-wal-rate {}",
                    format_rate(rate),
                    format_rate(limit as f64)
                ));
            }
        }
        if let Some(max) = self.max_replica_lag {
            let lag = client
                .query_one(
                    "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication",
                    &[],
                )
                .map(|row| row.get::<_, f64>(0))
                .unwrap_or(0.0);
            if lag > max.as_secs_f64() {
                why.push(format!(
                    "replica replay lag {lag:.1}s is above --max-replica-lag {}",
                    seconds(max)
                ));
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    fn lock_waits(&mut self, client: &mut Client, limit: Duration) -> Option<String> {
        let waitstart = *self.waitstart.get_or_insert_with(|| {
            client
                .query_one("SELECT current_setting('server_version_num')::int", &[])
                .map(|row| row.get::<_, i32>(0) >= 140000)
                .unwrap_or(false)
        });
        // Since when a session waits: pg_locks.waitstart where the server has it, else the start
        // of its statement (an upper bound).
        let since = if waitstart {
            "coalesce(l.waitstart, now())"
        } else {
            "coalesce(a.query_start, now())"
        };
        let sql = format!(
            "SELECT count(DISTINCT a.pid), coalesce(extract(epoch FROM max(now() - {since})), 0)::float8 \
             FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted \
             WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' \
             AND a.datname = current_database() AND a.application_name <> 'safeshift' AND a.wait_event_type = 'Lock' \
             AND now() - {since} > make_interval(secs => {})",
            limit.as_secs_f64()
        );
        let row = client.query_one(&sql, &[]).ok()?;
        let count: i64 = row.get(0);
        let longest: f64 = row.get(1);
        (count > 0).then(|| {
            format!(
                "{} waiting on locks (longest {longest:.1}s, above --max-app-lock-wait {})",
                sessions(count),
                seconds(limit)
            )
        })
    }

    fn vacuum(&mut self, client: &mut Client) -> Option<String> {
        let sql = format!(
            "SELECT a.backend_type = 'autovacuum worker', p.phase, a.pid \
             FROM pg_stat_progress_vacuum p JOIN pg_stat_activity a ON a.pid = p.pid \
             WHERE p.relid = to_regclass({}) LIMIT 1",
            self.table_literal
        );
        let row = client.query_opt(&sql, &[]).ok()??;
        let auto: bool = row.get(0);
        let phase: String = row.get(1);
        let pid: i32 = row.get(2);
        Some(format!(
            "{} is working on the table ({phase}, pid {pid})",
            if auto { "autovacuum" } else { "a VACUUM" }
        ))
    }
}

/// The server's current WAL insert position in bytes (`None` on a replica or on error). The
/// insert position, not the write position: batches commit with `synchronous_commit` off, so
/// the write position trails them and a rate read from it lags the walk.
fn wal_position(client: &mut Client) -> Option<i64> {
    client
        .query_one(
            "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint",
            &[],
        )
        .ok()
        .map(|row| row.get::<_, i64>(0))
}

/// A MySQL/MariaDB replica named with `--replica-url`.
struct Replica {
    name: String,
    conn: mysql::Conn,
}

/// The MySQL/MariaDB replicas named with `--replica-url`, whose lag `--max-replica-lag` bounds (a
/// primary does not know its replicas' lag): read before each batch of `apply`'s own walks
/// ([`MyThrottle`]), and by the watcher that pauses the walks running on the server
/// (`throttle_lock.rs`).
pub(crate) struct Replicas {
    max: Duration,
    list: Vec<Replica>,
}

impl Replicas {
    /// Connects to the replicas when `--max-replica-lag` is set (`None` otherwise). A replica
    /// that cannot be reached, or is not one, is an error: the walk would otherwise run blind.
    pub(crate) fn connect(opts: &RunOptions) -> Result<Option<Replicas>, RunError> {
        let Some(max) = opts.max_replica_lag else {
            return Ok(None);
        };
        let mut list = Vec::new();
        for url in &opts.throttle.replica_urls {
            let name = db::redact_url(url);
            let failed = |message: String| RunError::Failed {
                pos: None,
                statement: format!("SHOW REPLICA STATUS on {name}"),
                message,
                code: None,
            };
            let mut conn = db::mysql::connect(url).map_err(|e| failed(e.to_string()))?;
            replica_lag(&mut conn).map_err(failed)?;
            list.push(Replica { name, conn });
        }
        Ok(Some(Replicas { max, list }))
    }

    /// What is wrong now, one reason per replica behind more than `--max-replica-lag`, not
    /// replicating, or whose lag cannot be read (the walk does not go on for what it cannot
    /// see); empty when every replica is within the limit.
    pub(crate) fn behind(&mut self) -> Vec<String> {
        let max = self.max;
        let mut why = Vec::new();
        for replica in &mut self.list {
            match replica_lag(&mut replica.conn) {
                Ok(Some(lag)) if lag as f64 <= max.as_secs_f64() => {}
                Ok(Some(lag)) => why.push(format!(
                    "replica {} is {lag}s behind, above --max-replica-lag {}",
                    replica.name,
                    seconds(max)
                )),
                Ok(None) => why.push(format!(
                    "replica {} is not replicating (Seconds_Behind_Master is NULL)",
                    replica.name
                )),
                Err(e) => why.push(format!(
                    "replica {}: its lag cannot be read: {e}",
                    replica.name
                )),
            }
        }
        why
    }
}

/// The pauses of one MySQL/MariaDB backfill.
pub struct MyThrottle {
    max_app_lock_wait: Option<Duration>,
    max_pause: Option<Duration>,
    replicas: Option<Replicas>,
}

impl MyThrottle {
    /// Connects to the replicas (see [`Replicas::connect`]).
    pub fn new(opts: &RunOptions) -> Result<MyThrottle, RunError> {
        Ok(MyThrottle {
            max_app_lock_wait: opts.throttle.max_app_lock_wait,
            max_pause: opts.throttle.max_pause,
            replicas: Replicas::connect(opts)?,
        })
    }

    /// Before a batch: waits while the app suffers.
    pub fn wait(
        &mut self,
        conn: &mut mysql::Conn,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let max_pause = self.max_pause;
        pause_while(observer, max_pause, || self.reason(conn))
    }

    fn reason(&mut self, conn: &mut mysql::Conn) -> Option<String> {
        let mut why = Vec::new();
        if let Some(limit) = self.max_app_lock_wait
            && let Some(waits) = my_lock_waits(conn, limit)
        {
            why.push(waits);
        }
        if let Some(replicas) = &mut self.replicas {
            why.extend(replicas.behind());
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// App sessions waiting on an InnoDB row lock (`information_schema.INNODB_TRX`) or a metadata
/// lock (`PROCESSLIST`, whose time is whole seconds) longer than `limit`. Needs the PROCESS
/// privilege to see other users' sessions.
fn my_lock_waits(conn: &mut mysql::Conn, limit: Duration) -> Option<String> {
    let micros = limit.as_micros();
    let sql = format!(
        "SELECT COUNT(*), COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, trx_wait_started, NOW(6))), 0) / 1e6 \
         FROM information_schema.INNODB_TRX JOIN information_schema.PROCESSLIST ON ID = trx_mysql_thread_id \
         WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id <> CONNECTION_ID() AND DB <=> DATABASE() \
         AND TIMESTAMPDIFF(MICROSECOND, trx_wait_started, NOW(6)) > {micros} \
         UNION ALL \
         SELECT COUNT(*), COALESCE(MAX(TIME), 0) FROM information_schema.PROCESSLIST \
         WHERE ID <> CONNECTION_ID() AND DB <=> DATABASE() AND STATE LIKE 'Waiting for%metadata lock' \
         AND TIME * 1000000 > {micros}"
    );
    let rows = db::mysql::rows(conn, &sql).ok()?;
    let mut count = 0i64;
    let mut longest = 0f64;
    for row in rows {
        count += row.first().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
        longest = longest.max(row.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.0));
    }
    (count > 0).then(|| {
        format!(
            "{} waiting on locks (longest {longest:.1}s, above --max-app-lock-wait {})",
            sessions(count),
            seconds(limit)
        )
    })
}

/// A replica's `Seconds_Behind_Source` (MySQL 8.0.22+) or `Seconds_Behind_Master`; `None` when
/// replication is not running. Not a replica: an error.
fn replica_lag(conn: &mut mysql::Conn) -> Result<Option<u64>, String> {
    let row: Option<mysql::Row> = match conn.query_first("SHOW REPLICA STATUS") {
        Ok(row) => row,
        Err(_) => conn
            .query_first("SHOW SLAVE STATUS")
            .map_err(|e| db::mysql::describe(&e))?,
    };
    let Some(row) = row else {
        return Err("the server is not a replica (SHOW REPLICA STATUS shows nothing)".into());
    };
    let columns = row.columns_ref();
    let index = columns
        .iter()
        .position(|c| {
            let name = c.name_str();
            name == "Seconds_Behind_Source" || name == "Seconds_Behind_Master"
        })
        .ok_or("SHOW REPLICA STATUS has no Seconds_Behind_Master column")?;
    Ok(row
        .as_ref(index)
        .map(db::mysql::value_text)
        .and_then(|v| v.parse::<u64>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_postgresql_sizes() {
        assert_eq!(parse_rate("20MB"), Ok(20 * 1024 * 1024));
        assert_eq!(parse_rate("512kB/s"), Ok(512 * 1024));
        assert_eq!(parse_rate("1.5GB"), Ok(3 * 512 * 1024 * 1024));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert_eq!(parse_rate("off"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10 parsecs").is_err());
        assert_eq!(format_rate(12.5 * 1024.0 * 1024.0), "12.5 MB/s");
        for (bytes, shown) in [
            (20 * 1024 * 1024, "20MB"),
            (3 * 512 * 1024 * 1024, "1536MB"),
            (2 << 30, "2GB"),
            (1536, "1536B"),
            (3072, "3kB"),
            (1000, "1000B"),
        ] {
            assert_eq!(rate_setting(bytes), shown);
            assert_eq!(parse_rate(shown), Ok(bytes));
        }
    }

    #[test]
    fn limits_can_be_off() {
        assert_eq!(parse_limit("off"), Ok(Duration::ZERO));
        assert_eq!(parse_limit("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_limit("soon").is_err());
    }
}
