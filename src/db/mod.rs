//! Talking to a real PostgreSQL: connections, readable errors, scratch databases, running a SQL
//! file statement by statement, and catalog snapshots. Shared by `apply`, `rehearse` and `status`.
//! The same for MySQL and MariaDB lives in [`mysql`]; [`engine`] puts both behind one interface.

pub mod engine;
pub mod mysql;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

use crate::error::Pos;

/// An unreachable host fails within this bound instead of hanging the command.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL limits identifiers (and so database names) to 63 bytes.
const MAX_IDENT_BYTES: usize = 63;

/// SQLSTATE of a statement that gave up waiting for a lock (`lock_timeout`).
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE of a statement cancelled by `statement_timeout` or a cancel request.
pub const QUERY_CANCELED: &str = "57014";
/// SQLSTATE of a deadlock; PostgreSQL aborted us to let the other side go on: safe to retry.
pub const DEADLOCK_DETECTED: &str = "40P01";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{0}")]
    Query(String),
}

/// Connects with a bounded connect timeout. Accepts URLs (`postgres://…`) and key/value strings.
pub fn connect(url: &str) -> Result<Client, DbError> {
    connect_with(url, None)
}

/// The walks that run on the server (a stage's DO blocks, templates/sql/pause.sql) say when they
/// pause, go on, or stop for a pause too long with a line (a NOTICE on PostgreSQL, a `progress`
/// row on MySQL/MariaDB) that starts with one of these.
pub const WALK_PAUSE_NOTICES: [&str; 3] = [
    "paused: ",
    "resumed after pausing ",
    "stopped: the walk paused",
];

/// As [`connect`], for `apply`'s stage session: the NOTICEs in which a walk running on the server
/// says it pauses or goes on reach whoever runs a statement with [`run_relaying`] (other notices,
/// and these outside [`run_relaying`], are dropped).
pub fn connect_relaying_pauses(url: &str) -> Result<Client, DbError> {
    connect_with(url, Some(relay_walk_notice))
}

thread_local! {
    /// Where [`run_relaying`] wants the walk notices of the statement this thread runs.
    static WALK_NOTICES: std::cell::RefCell<Option<mpsc::Sender<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// The session's notice callback. The client calls it on the thread that waits for the
/// statement, while it waits, which is the only moment a long DO block lets anything be said;
/// it must be `'static`, so it finds its listener through that thread.
fn relay_walk_notice(notice: &str) {
    if WALK_PAUSE_NOTICES.iter().any(|p| notice.starts_with(p)) {
        WALK_NOTICES.with(|sink| {
            if let Some(sink) = sink.borrow().as_ref() {
                let _ = sink.send(notice.to_string());
            }
        });
    }
}

/// Runs `sql` (as `batch_execute`), handing `relay`, as each arrives, every walk notice it raises
/// on a session made with [`connect_relaying_pauses`]. The statement runs on a helper thread
/// while this one calls `relay`, so the lines reach the caller's output while the statement
/// still runs (a walk may pause for minutes), and in order with the rest of it: nothing else
/// is said meanwhile.
pub fn run_relaying(
    client: &mut Client,
    sql: &str,
    relay: &mut dyn FnMut(&str),
) -> Result<(), postgres::Error> {
    let (sink, notices) = mpsc::channel();
    std::thread::scope(|scope| {
        let run = scope.spawn(move || {
            WALK_NOTICES.with(|listener| *listener.borrow_mut() = Some(sink));
            let result = client.batch_execute(sql);
            // The channel closes here, which ends the loop below.
            WALK_NOTICES.with(|listener| listener.borrow_mut().take());
            result
        });
        for line in notices {
            relay(&line);
        }
        run.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn connect_with(url: &str, relay: Option<fn(&str)>) -> Result<Client, DbError> {
    let fail = |message: String| DbError::Connect {
        url: redact_url(url),
        message,
    };
    let mut config = postgres::Config::from_str(url).map_err(|e| fail(describe(&e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("safeshift");
    }
    if let Some(relay) = relay {
        config.notice_callback(move |notice| relay(notice.message()));
    }
    config.connect(NoTls).map_err(|e| fail(describe(&e)))
}

/// The session is gone: the server ended it (`pg_terminate_backend`, a shutdown or restart:
/// SQLSTATE class 57P0x) or the connection broke. Nothing more can run on this client.
pub fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if matches!(sqlstate(e), Some("57P01") | Some("57P02") | Some("57P03")) {
        return true;
    }
    e.as_db_error().is_none()
        && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// The server's message, SQLSTATE, detail and hint: `postgres::Error`'s own Display only says
/// "db error", which tells a user nothing.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            s.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("; hint: {hint}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(cause) = cur {
        s.push_str(&format!(": {cause}"));
        cur = cause.source();
    }
    s
}

/// The SQLSTATE of a server error, if it is one.
pub fn sqlstate(e: &postgres::Error) -> Option<&str> {
    e.as_db_error().map(|db| db.code().code())
}

/// Hides the password of `scheme://user:password@host/…` so messages never print credentials.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// `url` with its database name replaced, keeping host, user, password and parameters, so a
/// scratch database is reached exactly the way the given one is.
pub fn url_with_dbname(url: &str, dbname: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // key/value conninfo: a later `dbname=` overrides an earlier one.
        return format!("{url} dbname={dbname}");
    };
    let (before_query, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let search_from = before_query[authority_start..]
        .rfind('@')
        .map(|at| authority_start + at + 1)
        .unwrap_or(authority_start);
    let path_start = before_query[search_from..]
        .find('/')
        .map(|p| search_from + p)
        .unwrap_or(before_query.len());
    format!("{}/{}{}", &before_query[..path_start], dbname, query)
}

/// Double-quotes an identifier; embedded quotes are doubled, so no name can break out.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A string literal (standard_conforming_strings, on by default since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One statement of a SQL file, ready to send on its own.
#[derive(Clone, Debug)]
pub struct FileStatement {
    pub pos: Pos,
    pub text: String,
}

/// Splits SQL text at top-level semicolons with safeshift's own tokenizer-based splitter (dollar
/// quotes, comments and strings are respected; psql meta-commands such as `\restrict` are
/// skipped). Statements are sent one at a time because a multi-statement simple query runs as
/// one implicit transaction, which `CREATE INDEX CONCURRENTLY` and batched backfills must avoid.
pub fn statements(text: &str) -> Result<Vec<FileStatement>, crate::PlanError> {
    Ok(crate::parse::parse(text)?
        .into_iter()
        .map(|s| FileStatement {
            pos: s.pos,
            text: s.text,
        })
        .collect())
}

/// Distinguishes scratch databases made by one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh scratch database name: `prefix` (a plain lower-case word), the Unix time in seconds
/// (so a later run can tell an old leftover, see [`abandoned_scratch`]), the pid, a counter and
/// the nanoseconds, cut to `max_len` bytes (all ASCII).
pub(crate) fn scratch_name(prefix: &str, max_len: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!(
        "{prefix}_{}_{}_{counter}_{}",
        now.as_secs(),
        std::process::id(),
        now.subsec_nanos()
    );
    name.truncate(max_len);
    name
}

/// The prefixes of the scratch databases `rehearse` makes.
pub const SCRATCH_PREFIXES: [&str; 2] = ["safeshift_rehearse", "safeshift_naive"];

/// A scratch database younger than this is never taken for a leftover: it may be between its
/// CREATE DATABASE and its first connection.
const SCRATCH_GRACE_SECS: u64 = 300;

/// Whether `name` is a scratch database `rehearse` made (in the current naming) more than
/// [`SCRATCH_GRACE_SECS`] ago. Whether its run is dead is the caller's question (no session
/// holds it).
pub(crate) fn abandoned_scratch(name: &str) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SCRATCH_PREFIXES.iter().any(|prefix| {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
            return false;
        };
        let parts: Vec<&str> = rest.split('_').collect();
        if parts.len() != 4 || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
        // Older names started with the pid: a plausible Unix time tells the two apart.
        let Ok(secs) = parts[0].parse::<u64>() else {
            return false;
        };
        secs >= 1_500_000_000 && secs + SCRATCH_GRACE_SECS < now
    })
}

/// Drops the scratch databases of rehearsals that died (kill -9, a double Ctrl-C): old enough,
/// and with no session connected (a live rehearsal keeps one open on each of its databases for
/// its whole life). The DROP is without FORCE, so a database someone connects to meanwhile
/// stays. Returns the names dropped; best effort.
pub fn drop_abandoned_scratch(admin_url: &str) -> Vec<String> {
    let Ok(mut admin) = connect(admin_url) else {
        return Vec::new();
    };
    let Ok(rows) = admin.query(
        "SELECT d.datname FROM pg_database d
         WHERE (d.datname LIKE 'safeshift\\_rehearse\\_%' OR d.datname LIKE 'safeshift\\_naive\\_%')
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
        &[],
    ) else {
        return Vec::new();
    };
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        if !abandoned_scratch(&name) {
            continue;
        }
        let sql = format!("DROP DATABASE IF EXISTS {}", quote_ident(&name));
        if admin.batch_execute(&sql).is_ok() {
            dropped.push(name);
        }
    }
    dropped
}

/// A throwaway database on the server of `admin_url`, dropped (`WITH (FORCE)`) when this value is
/// dropped, so a failed rehearsal leaves nothing behind.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
    /// A session on the database for as long as it lives: what tells a later run's
    /// [`drop_abandoned_scratch`] that this one is not a leftover.
    guard: Option<Client>,
}

impl std::fmt::Debug for ScratchDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDatabase")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

impl ScratchDatabase {
    /// `prefix` must be a plain lower-case word; the name gets the time, the pid and a counter.
    pub fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, DbError> {
        let mut admin = connect(admin_url)?;
        let name = scratch_name(prefix, MAX_IDENT_BYTES);
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(&name)
            ))
            .map_err(|e| {
                DbError::Query(format!(
                    "cannot create a scratch database on {}: {}",
                    redact_url(admin_url),
                    describe(&e)
                ))
            })?;
        let url = url_with_dbname(admin_url, &name);
        let guard = connect(&url).ok();
        Ok(ScratchDatabase {
            url,
            name,
            admin_url: admin_url.to_string(),
            guard,
        })
    }

    pub fn connect(&self) -> Result<Client, DbError> {
        connect(&self.url)
    }

    /// Drops the database now (also done on drop); the error is returned for reporting.
    pub fn drop_now(&mut self) -> Result<(), DbError> {
        if self.name.is_empty() {
            return Ok(());
        }
        if let Some(guard) = self.guard.take() {
            let _ = guard.close();
        }
        let mut admin = connect(&self.admin_url)?;
        drop_database(&mut admin, &self.name)?;
        self.name.clear();
        Ok(())
    }

    /// The SQL that drops this database, for a Ctrl-C handler that cannot hold `self`.
    pub fn drop_sql(&self) -> String {
        format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        )
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = self.drop_now();
    }
}

/// A deterministic text snapshot of the user-visible schema in `public`, one fact per line:
/// relations, columns, constraints, indexes, triggers, view definitions, sequences (type and
/// owning column), partitions and inheritance, functions, enums.
/// Columns are listed by name, not position: an expand/contract plan legitimately ends with a
/// different column order than a one-shot `ALTER TABLE`.
pub fn snapshot(client: &mut Client) -> Result<String, DbError> {
    let major = server_major(client)?;
    let mut out = String::new();
    for (section, sql) in SNAPSHOT_QUERIES {
        let rows = client
            .query(catalog_sql(sql, major).as_ref(), &[])
            .map_err(|e| DbError::Query(format!("catalog query `{section}`: {}", describe(&e))))?;
        for row in rows {
            let line: String = row.get(0);
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Lines only in `a` (prefixed `- `) and only in `b` (`+ `); empty when the snapshots agree.
pub fn snapshot_diff(a: &str, b: &str) -> String {
    use std::collections::BTreeSet;
    let in_a: BTreeSet<&str> = a.lines().collect();
    let in_b: BTreeSet<&str> = b.lines().collect();
    let mut out = String::new();
    for line in a.lines().filter(|l| !in_b.contains(l)) {
        out.push_str("- ");
        out.push_str(line);
        out.push('\n');
    }
    for line in b.lines().filter(|l| !in_a.contains(l)) {
        out.push_str("+ ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Drops database `name` even while sessions are still connected to it: `WITH (FORCE)` from
/// PostgreSQL 13; before 13, which lacks it, by ending those sessions first.
pub fn drop_database(admin: &mut Client, name: &str) -> Result<(), DbError> {
    let drop = format!("DROP DATABASE IF EXISTS {}", quote_ident(name));
    let run = |admin: &mut Client, sql: &str| {
        admin
            .batch_execute(sql)
            .map_err(|e| DbError::Query(describe(&e)))
    };
    if server_major(admin)? >= 13 {
        return run(admin, &format!("{drop} WITH (FORCE)"));
    }
    run(
        admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = {} AND pid <> pg_backend_pid()",
            quote_literal(name)
        ),
    )?;
    run(admin, &drop)
}

/// Catalog SQL in this crate is written for PostgreSQL 13 and later and adapted here for 11 and 12,
/// by the spelling the queries use:
/// - `a.attgenerated` (`pg_attribute`, from 12): 11 has no generated columns, so it reads `''`;
/// - `t.tgparentid = 0` (`pg_trigger`, from 13): before 13 a partition's clone of its parent's
///   trigger is `tgisinternal`, which the queries already leave out, so it reads `true`.
///
/// (Names sort with `::text COLLATE "C"`: type `name` takes a collation only from 12.)
pub fn catalog_sql(sql: &str, major: u32) -> Cow<'_, str> {
    let mut sql = Cow::Borrowed(sql);
    if major < 12 && sql.contains("a.attgenerated") {
        sql = Cow::Owned(sql.replace("a.attgenerated", "''::\"char\""));
    }
    if major < 13 && sql.contains("t.tgparentid = 0") {
        sql = Cow::Owned(sql.replace("t.tgparentid = 0", "true"));
    }
    sql
}

/// Server major version (15 for 15.4), from `server_version_num`.
pub fn server_major(client: &mut Client) -> Result<u32, DbError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .map_err(|e| DbError::Query(describe(&e)))?;
    let major: i32 = row.get(0);
    Ok(major.max(0) as u32)
}

/// The snapshot queries. Each returns one `text` column, one fact per row, already ordered.
const SNAPSHOT_QUERIES: &[(&str, &str)] = &[
    (
        "relations",
        r#"
SELECT format('relation public.%s %s', c.relname,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned_table'
                      WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view'
                      WHEN 'f' THEN 'foreign_table' ELSE c.relkind::text END)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname::text COLLATE "C"
"#,
    ),
    (
        "columns",
        r#"
SELECT concat_ws(' ',
         format('column public.%s.%s', c.relname, a.attname),
         format_type(a.atttypid, a.atttypmod),
         CASE WHEN a.attcollation <> t.typcollation
              THEN 'COLLATE ' || (SELECT CASE WHEN pg_collation_is_visible(co.oid) THEN quote_ident(co.collname)
                                          ELSE format('%I.%I', cn.nspname, co.collname) END
                                FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                WHERE co.oid = a.attcollation) END,
         CASE WHEN a.attnotnull THEN 'NOT NULL' END,
         CASE WHEN a.atthasdef AND a.attgenerated = ''
              THEN 'DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) END,
         CASE a.attidentity WHEN 'a' THEN 'IDENTITY ALWAYS'
                            WHEN 'd' THEN 'IDENTITY BY DEFAULT' END,
         CASE WHEN a.attgenerated = 's'
              THEN 'GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED' END,
         'COMMENT ' || quote_literal(col_description(c.oid, a.attnum)))
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','f')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname::text COLLATE "C", a.attname::text COLLATE "C"
"#,
    ),
    (
        "constraints",
        r#"
SELECT format('constraint public.%s.%s %s %s %s', c.relname, k.conname, k.contype,
              CASE WHEN k.convalidated THEN 'validated' ELSE 'NOT_VALIDATED' END,
              pg_get_constraintdef(k.oid))
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname::text COLLATE "C", k.conname::text COLLATE "C"
"#,
    ),
    (
        "indexes",
        r#"
SELECT format('index public.%s.%s %s %s', t.relname, i.relname,
              CASE WHEN x.indisvalid THEN 'valid' ELSE 'INVALID' END,
              pg_get_indexdef(x.indexrelid))
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.relname::text COLLATE "C", i.relname::text COLLATE "C"
"#,
    ),
    (
        "triggers",
        r#"
SELECT format('trigger public.%s.%s enabled=%s %s', c.relname, g.tgname, g.tgenabled,
              pg_get_triggerdef(g.oid))
FROM pg_trigger g
JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT g.tgisinternal
ORDER BY c.relname::text COLLATE "C", g.tgname::text COLLATE "C"
"#,
    ),
    (
        "view definitions",
        r#"
SELECT format('viewdef public.%s %s', c.relname,
              btrim(regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g')))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v','m')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname::text COLLATE "C"
"#,
    ),
    (
        "sequences",
        r#"
SELECT concat_ws(' ', format('sequence public.%s %s', c.relname, format_type(s.seqtypid, NULL)),
                 (SELECT format('owned by %s.%s', t.relname, a.attname)
                  FROM pg_depend d
                  JOIN pg_class t ON t.oid = d.refobjid
                  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname::text COLLATE "C"
"#,
    ),
    (
        "partitions",
        r#"
SELECT format('partition public.%s of %s %s', c.relname, p.relname,
              pg_get_expr(c.relpartbound, c.oid))
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname::text COLLATE "C", p.relname::text COLLATE "C"
"#,
    ),
    (
        "functions",
        r#"
SELECT format('function public.%s(%s) kind=%s', p.proname,
              pg_get_function_identity_arguments(p.oid), p.prokind)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.proname::text COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C"
"#,
    ),
    (
        "enums",
        r#"
SELECT format('enum public.%s (%s)', t.typname,
              (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
               FROM pg_enum e WHERE e.enumtypid = t.oid))
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'public' AND t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.typname::text COLLATE "C"
"#,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbname_is_swapped_and_password_hidden() {
        assert_eq!(
            url_with_dbname("postgres://u:pw@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:pw@h:5432/x?sslmode=disable"
        );
        assert_eq!(url_with_dbname("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            url_with_dbname("host=h user=u", "x"),
            "host=h user=u dbname=x"
        );
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn quoting_cannot_be_escaped() {
        assert_eq!(
            quote_ident(r#"a"; DROP TABLE x; --"#),
            r#""a""; DROP TABLE x; --""#
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn statements_respect_dollar_quotes() {
        let s =
            statements("SET a = 1;\nDO $x$ BEGIN PERFORM 1; COMMIT; END $x$;\nSELECT 2").unwrap();
        assert_eq!(s.len(), 3);
        assert!(s[1].text.ends_with("END $x$"));
        assert_eq!(s[2].pos.line, 3);
    }
}
