//! Real-database test harness shared by integration tests (`mod support;`).
//!
//! safeshift's promises are about what PostgreSQL actually does, so the tests
//! run generated SQL against a real server instead of mocking it. Every test
//! gets its own throwaway database ([`ScratchDb`]) so tests can run in
//! parallel and never see each other's schema.
//!
//! Configuration:
//! - `SAFESHIFT_TEST_PG`: admin connection URL (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`). It must be allowed to
//!   `CREATE DATABASE` / `DROP DATABASE`.
//! - `CI`: when `true`/`1`, a missing server or missing `psql` is a hard
//!   failure; locally those tests are skipped with a message on stderr so
//!   that `cargo test` still works on a machine without PostgreSQL.

#![allow(dead_code)] // not every test binary uses every helper

pub mod mysql;
pub mod sarif;
pub mod stages;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default admin URL, matching the PostgreSQL that `.ci/run` provides.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// PostgreSQL limits identifiers (and so database names) to 63 bytes.
const MAX_IDENT_BYTES: usize = 63;

/// Bounds how long a test waits on an unreachable host, so a firewalled
/// address fails (or skips) quickly instead of hanging the whole run.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Distinguishes scratch databases created by one test process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Admin connection URL from `SAFESHIFT_TEST_PG`, or [`DEFAULT_PG_URL`].
pub fn admin_url() -> String {
    match std::env::var("SAFESHIFT_TEST_PG") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => DEFAULT_PG_URL.to_string(),
    }
}

/// Tells the person running `cargo test` why database tests did not run. Written to stderr
/// directly (the test harness captures `eprintln!` of passing tests), once per test binary.
pub fn say_skipping(message: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{message}");
    });
}

/// True when running under CI (`CI=true` or `CI=1`), where skipping a
/// database test would silently hide a broken environment.
pub fn is_ci() -> bool {
    std::env::var("CI")
        .map(|v| {
            let v = v.trim();
            v == "1" || v.eq_ignore_ascii_case("true")
        })
        .unwrap_or(false)
}

/// Connects to `url` with a bounded connect timeout (see [`CONNECT_TIMEOUT`]).
/// Accepts both URL (`postgres://...`) and key/value (`host=... user=...`) forms.
pub fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config = postgres::Config::from_str(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.connect(postgres::NoTls)
}

/// Renders a `postgres::Error` with the server's message, SQLSTATE, detail,
/// hint and position; the crate's own `Display` only says "db error".
pub fn describe_pg_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            s.push_str(&format!("\nDETAIL: {detail}"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("\nHINT: {hint}"));
        }
        if let Some(pos) = db.position() {
            s.push_str(&format!("\nPOSITION: {pos:?}"));
        }
        return s;
    }
    // Non-server errors (I/O, config, ...) keep the useful part in `source()`.
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(cause) = cur {
        s.push_str(&format!(": {cause}"));
        cur = cause.source();
    }
    s
}

// The library's own URL helpers and quoting, so the tests reach and name databases exactly the
// way safeshift does (and test that code, not a copy of it).
pub use safeshift::db::{quote_ident, redact_url, url_with_dbname};

/// Lowercase `[a-z0-9_]` version of a tag so it is a valid, unquoted-safe
/// part of a database name.
fn sanitize_tag(tag: &str) -> String {
    let s: String = tag
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '_' }
        })
        .collect();
    if s.is_empty() { "t".to_string() } else { s }
}

/// Builds `safeshift_test_<tag>_<pid>_<counter>_<nanos>`, truncating only
/// the tag so the uniqueness suffix always survives the 63-byte limit.
fn scratch_name(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = "safeshift_test_";
    let suffix = format!("_{}_{}_{}", std::process::id(), counter, nanos);
    let room = MAX_IDENT_BYTES.saturating_sub(prefix.len() + suffix.len());
    let mut tag = sanitize_tag(tag);
    tag.truncate(room); // ASCII only, so byte truncation is char-safe
    format!("{prefix}{tag}{suffix}")
}

/// A throwaway database, dropped (with `FORCE`) when this value is dropped.
///
/// Usage: `let Some(db) = ScratchDb::create("my_test") else { return };`
#[derive(Debug)]
pub struct ScratchDb {
    /// Database name, e.g. `safeshift_test_x_1234_0_1700000000000000000`.
    pub name: String,
    /// Connection URL for this database (admin URL with the dbname swapped).
    pub url: String,
    /// Admin URL, kept so `Drop` can connect elsewhere to drop the database.
    admin_url: String,
}

impl ScratchDb {
    /// Creates a fresh, empty database from `template0` (so nothing someone
    /// installed into `template1` leaks into catalog snapshots).
    ///
    /// Returns `None` (after printing a skip message to stderr) when the
    /// server is unreachable and we are not in CI; panics in CI, because a
    /// CI run that skips every database test would prove nothing.
    pub fn create(tag: &str) -> Option<ScratchDb> {
        let admin_url = admin_url();
        let mut admin = match connect(&admin_url) {
            Ok(c) => c,
            Err(e) => {
                let shown = redact_url(&admin_url);
                let err = describe_pg_error(&e);
                if is_ci() {
                    panic!("CI=true and PostgreSQL is not reachable at {shown}: {err}");
                }
                say_skipping(&format!(
                    "skipping database tests: PostgreSQL not reachable at {shown} ({err}); set SAFESHIFT_TEST_PG"
                ));
                return None;
            }
        };
        let name = scratch_name(tag);
        let sql = format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(&name));
        // Reachable but unable to create a database is a misconfiguration,
        // not an absent server: fail loudly everywhere.
        if let Err(e) = admin.batch_execute(&sql) {
            panic!(
                "could not create scratch database with `{sql}` at {}: {}",
                redact_url(&admin_url),
                describe_pg_error(&e)
            );
        }
        let url = url_with_dbname(&admin_url, &name);
        Some(ScratchDb {
            name,
            url,
            admin_url,
        })
    }

    /// A new connection to the scratch database. Each call opens a fresh
    /// session, so session state (SET, temp tables) never leaks between
    /// helpers.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url).unwrap_or_else(|e| {
            panic!(
                "cannot connect to scratch database {}: {}",
                self.name,
                describe_pg_error(&e)
            )
        })
    }

    /// Runs `sql` (may contain several statements) in a fresh session;
    /// panics with the SQL and the server's error on failure.
    pub fn execute(&self, sql: &str) {
        if let Err(e) = self.try_execute(sql) {
            panic!("SQL failed in {}:\n{sql}\n--- error ---\n{e}", self.name);
        }
    }

    /// Like [`ScratchDb::execute`] but returns the error text, for tests that
    /// expect PostgreSQL to reject something.
    pub fn try_execute(&self, sql: &str) -> Result<(), String> {
        self.client()
            .batch_execute(sql)
            .map_err(|e| describe_pg_error(&e))
    }

    /// Runs a SQL file through the real `psql` client
    /// (`psql -X -q -v ON_ERROR_STOP=1 -d <url> -f <path>`), without
    /// safeshift involved, exactly as an operator would apply a generated
    /// file. Returns `Ok(stdout)` on success, `Err(stderr + stdout)` on a
    /// non-zero exit.
    ///
    /// If `psql` is not on PATH: panics under CI (the environment is broken),
    /// otherwise returns `Err` starting with `psql not found on PATH` so the
    /// caller's assertion fails with a clear reason.
    pub fn psql_file(&self, path: &Path) -> Result<String, String> {
        let output = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            // Same bound as our own connections; an explicit env value wins.
            .env(
                "PGCONNECT_TIMEOUT",
                std::env::var("PGCONNECT_TIMEOUT")
                    .unwrap_or_else(|_| CONNECT_TIMEOUT.as_secs().to_string()),
            )
            .output();
        let output = match output {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let msg = format!(
                    "psql not found on PATH ({e}); install the PostgreSQL client \
                     (e.g. apt-get install postgresql-client)"
                );
                if is_ci() {
                    panic!("CI=true and {msg}");
                }
                return Err(msg);
            }
            Err(e) => return Err(format!("failed to run psql: {e}")),
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "psql -f {} exited with {}\n{stderr}{stdout}",
                path.display(),
                output.status
            ))
        }
    }

    /// A normalized, deterministic text snapshot of the user-visible schema
    /// in schema `public`, one fact per line, for comparing e.g. "schema
    /// after the plan" with "schema after the naive change", or "schema after
    /// down.sql" with "schema before the stage".
    ///
    /// Sections, in this order, each sorted by name (byte order, `COLLATE
    /// "C"`): relations (tables, partitioned tables, views, materialized
    /// views, foreign tables), columns, constraints, indexes, triggers, view
    /// definitions, functions, enum types. Columns are sorted BY NAME, not by
    /// `attnum`: physical column order is deliberately ignored, because an
    /// expand/contract plan legitimately ends with a different column order
    /// than a one-shot `ALTER TABLE`. Dropped and system columns are
    /// excluded. Sequences are not listed on their own; they show up
    /// through column defaults (`nextval(...)`) and identity flags.
    /// Objects that belong to an extension are excluded.
    pub fn catalog(&self) -> String {
        let mut client = self.client();
        safeshift::db::snapshot(&mut client)
            .unwrap_or_else(|e| panic!("catalog snapshot of {} failed: {e}", self.name))
    }

    /// First column of the first row as text (`None` for no rows), like a person reading psql
    /// output.
    pub fn first_value(&self, sql: &str) -> Option<String> {
        let mut client = self.client();
        let messages = client
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("query failed: {sql}: {e:?}"));
        messages.into_iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => {
                Some(row.get(0).unwrap_or("NULL").to_string())
            }
            _ => None,
        })
    }

    /// Readable line diff of two [`ScratchDb::catalog`] snapshots for
    /// assertion messages: lines only in `a` prefixed `- `, lines only in
    /// `b` prefixed `+ `, each in their original order. Empty when both
    /// contain the same lines. (A set difference is enough because catalog
    /// lines are unique and deterministically ordered.)
    pub fn catalog_diff(a: &str, b: &str) -> String {
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
}

impl Drop for ScratchDb {
    /// Drops the database even if sessions are still open (the library's
    /// `drop_database`: `WITH (FORCE)` from 13, ending the sessions first
    /// before). Errors are ignored: Drop also runs while a failing test
    /// unwinds, and a leftover scratch database is harmless.
    fn drop(&mut self) {
        if let Ok(mut admin) = connect(&self.admin_url) {
            let _ = safeshift::db::drop_database(&mut admin, &self.name);
        }
    }
}

/// Server major version (e.g. 15), from `SHOW server_version_num`
/// (`150020` -> 15), for tests whose expectations depend on the version.
pub fn pg_major(db: &ScratchDb) -> u32 {
    let row = db
        .client()
        .query_one("SHOW server_version_num", &[])
        .unwrap_or_else(|e| panic!("SHOW server_version_num failed: {}", describe_pg_error(&e)));
    let num: String = row.get(0);
    let num: u32 = num
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("unexpected server_version_num {num:?}: {e}"));
    num / 10000
}

/// The major version of the server at [`admin_url`]: the tests plan for it (`--server-version`),
/// so each suite proves its plans on the version it runs on. `scripts/pg-majors test` runs the
/// PostgreSQL suites once per major (11 to 18) and names the major in `SAFESHIFT_TEST_PG_MAJOR`,
/// which must then agree with the server. When no server answers, 15 (the tests skip anyway).
pub fn server_major() -> u32 {
    static MAJOR: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAJOR.get_or_init(|| {
        let expected = std::env::var("SAFESHIFT_TEST_PG_MAJOR")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .unwrap_or_else(|e| panic!("SAFESHIFT_TEST_PG_MAJOR={v:?}: {e}"))
            });
        let Ok(mut client) = connect(&admin_url()) else {
            return expected.unwrap_or(15);
        };
        let major = safeshift::db::server_major(&mut client)
            .unwrap_or_else(|e| panic!("cannot read the server's version: {e}"));
        match expected {
            Some(expected) => assert_eq!(
                major,
                expected,
                "SAFESHIFT_TEST_PG_MAJOR={expected} but {} is PostgreSQL {major}",
                redact_url(&admin_url())
            ),
            None => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "PostgreSQL {major} only: the other majors (11 to 18) are not tested here; \
                     `scripts/pg-majors test` runs these suites on each of them, as CI does"
                );
            }
        }
        major
    })
}

/// [`server_major`] as `--server-version` takes it.
pub fn server_version() -> String {
    server_major().to_string()
}

/// [`server_major`] as the planner's dialect.
pub fn server_dialect() -> safeshift::dialect::Postgres {
    safeshift::dialect::Postgres::parse_version(&server_version()).unwrap_or_else(|e| panic!("{e}"))
}

/// False (after saying so on stderr) when the server is older than `min`: for a test of
/// something only newer versions have. The suites run on every major, so the test runs on those.
pub fn server_has(min: u32, test: &str) -> bool {
    let major = server_major();
    if major < min {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipping {test}: needs PostgreSQL {min} or later, the server is {major}"
        );
        return false;
    }
    true
}

/// The admin URL when a PostgreSQL answers there; `None` (with a skip message) when it does not
/// and we are not in CI. Panics in CI, where a missing database is a broken environment.
pub fn reachable_admin_url() -> Option<String> {
    let url = admin_url();
    match connect(&url) {
        Ok(_) => Some(url),
        Err(e) => {
            let shown = redact_url(&url);
            let err = describe_pg_error(&e);
            if is_ci() {
                panic!("CI=true and PostgreSQL is not reachable at {shown}: {err}");
            }
            say_skipping(&format!(
                "skipping database tests: PostgreSQL not reachable at {shown} ({err}); set SAFESHIFT_TEST_PG"
            ));
            None
        }
    }
}
