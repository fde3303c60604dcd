//! `safeshift apply` pauses a backfill while the application suffers (src/apply/throttle.rs):
//! an app session held waiting on a lock makes the walk wait before its next batch and say so,
//! and when the wait ends the walk goes on and fills every row; the same for a VACUUM working on
//! the walked table (PostgreSQL), and on MySQL/MariaDB for an app session waiting on a row lock.
//! The replica-lag pause needs servers of its own: scripts/check-throttle-replica (which also
//! holds a large backfill `apply` walks itself to a WAL rate) and
//! scripts/check-throttle-replica-mariadb (also the throttle lock `apply` holds for the walks on
//! the server while a replica lags; here a test session holds that lock).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mysql::prelude::Queryable;
use support::ScratchDb;
use support::mysql::ScratchMysql;

const PG_SCHEMA: &str = "CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    name text
);
CREATE TABLE other (id int PRIMARY KEY, v int);";

const MY_SCHEMA: &str = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE other (id int NOT NULL, v int, PRIMARY KEY (id)) ENGINE=InnoDB;
";

const PG_CHANGE: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower text NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";

const MY_CHANGE: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";

/// The backfill stage of both plans (1 adds the column and its fill trigger).
const BACKFILL_STAGE: &str = "2";

fn safeshift() -> Command {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.env_remove("DATABASE_URL");
    cmd
}

fn plan(dir: &Path, schema: &str, change: &str, dialect: &[&str]) {
    fs::write(dir.join("schema.sql"), schema).unwrap();
    fs::write(dir.join("change.sql"), change).unwrap();
    safeshift()
        .current_dir(dir)
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args(dialect)
        .args(["--batch-size", "100", "--out", "plan"])
        .assert()
        .success();
}

fn apply(dir: &Path, url: &str, stage: &str, extra: &[&str]) -> (i32, String) {
    let out = safeshift()
        .arg("apply")
        .arg(dir.join("plan"))
        .args(["--stage", stage, "--database-url", url])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn spawn_apply(dir: &Path, url: &str, extra: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("safeshift"))
        .env_remove("DATABASE_URL")
        .arg("apply")
        .arg(dir.join("plan"))
        .args(["--stage", BACKFILL_STAGE, "--database-url", url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child to end (at most a minute) and returns its exit code and output.
fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// `safeshift status --format json` of the plan in `dir`: the record of stage `stage`.
fn recorded(dir: &Path, url: &str, stage: &str) -> serde_json::Value {
    let out = safeshift()
        .arg("status")
        .arg(dir.join("plan"))
        .args(["--database-url", url, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["index"].as_u64().map(|n| n.to_string()).as_deref() == Some(stage))
        .cloned()
        .unwrap_or_else(|| panic!("no stage {stage}: {report}"))
}

/// Polls `done` (at most 20 s) until it holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A scratch database with the schema and `rows` users, and `change` planned against it for
/// `server_version` (the server under test's where `None`).
fn pg_planned(
    tag: &str,
    rows: u32,
    dir: &Path,
    change: &str,
    server_version: Option<&str>,
) -> Option<ScratchDb> {
    let db = ScratchDb::create(tag)?;
    db.execute(PG_SCHEMA);
    db.execute(&format!(
        "INSERT INTO users SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, {rows}) g;
         INSERT INTO other VALUES (1, 1);"
    ));
    let version = server_version.map_or_else(support::server_version, str::to_string);
    plan(dir, PG_SCHEMA, change, &["--server-version", &version]);
    Some(db)
}

fn pg_setup(tag: &str, rows: u32, dir: &Path) -> Option<ScratchDb> {
    let db = pg_planned(tag, rows, dir, PG_CHANGE, None)?;
    let (code, out) = apply(dir, &db.url, "1", &[]);
    assert_eq!(code, 0, "{out}");
    Some(db)
}

fn pg_count(db: &ScratchDb, sql: &str) -> i64 {
    db.first_value(sql).unwrap().parse().unwrap()
}

fn pg_filled(db: &ScratchDb) -> i64 {
    pg_count(
        db,
        "SELECT count(*) FROM users WHERE email_lower IS NOT NULL",
    )
}

fn pg_wrong(db: &ScratchDb) -> i64 {
    pg_count(
        db,
        "SELECT count(*) FROM users WHERE email_lower IS DISTINCT FROM lower(email)",
    )
}

/// A MariaDB scratch database with 1,000 users and `change` planned into `dir`.
fn my_setup(tag: &str, dir: &Path, change: &str) -> Option<ScratchMysql> {
    let server = support::mysql::server()?;
    let db = ScratchMysql::create(&server, tag);
    db.execute(MY_SCHEMA);
    db.execute(
        "INSERT INTO users (id, email)
         WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000)
         SELECT n, CONCAT('User', n, '@Example.com') FROM g;
         INSERT INTO other VALUES (1, 1);",
    );
    plan(dir, MY_SCHEMA, change, &["--dialect", "mariadb"]);
    Some(db)
}

/// An app session waiting on a row lock another session holds, until [`MyLockWait::release`].
struct MyLockWait {
    holder: mysql::Conn,
    waiter: std::thread::JoinHandle<()>,
}

impl MyLockWait {
    fn start(db: &ScratchMysql) -> MyLockWait {
        let mut holder = mysql::Conn::new(mysql::Opts::from_url(&db.url()).unwrap()).unwrap();
        holder
            .query_drop("START TRANSACTION; SELECT * FROM other WHERE id = 1 FOR UPDATE")
            .unwrap();
        let url = db.url();
        let waiter = std::thread::spawn(move || {
            let mut app = mysql::Conn::new(mysql::Opts::from_url(&url).unwrap()).unwrap();
            app.query_drop("SET SESSION innodb_lock_wait_timeout = 30")
                .unwrap();
            app.query_drop("UPDATE other SET v = v + 1 WHERE id = 1")
                .unwrap();
        });
        MyLockWait { holder, waiter }
    }

    /// The holder commits; the app's statement then runs and ends.
    fn release(mut self) {
        self.holder.query_drop("COMMIT").unwrap();
        self.waiter.join().unwrap();
    }
}

#[test]
fn pg_a_backfill_pauses_while_an_app_session_waits_on_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_setup("throttle_lock", 2000, dir.path()) else {
        return;
    };
    // The app: one session holds a lock, another (named `app`) queues behind it.
    let wait = PgLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(800));

    let child = spawn_apply(dir.path(), &db.url, &["--max-app-lock-wait", "300ms"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        pg_filled(&db),
        0,
        "the walk went on while the app waited on a lock"
    );
    let released = Instant::now();
    wait.release();
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting: 1 app session waiting on locks"),
        "{out}"
    );
    let paused = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("paused ")?
                .split_once("s: 1 app session waiting on locks")
                .map(|(secs, _)| secs.parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no `paused …` line:\n{out}"));
    assert!(paused >= 2.5, "paused only {paused}s:\n{out}");
    assert!(released.elapsed() < Duration::from_secs(60));
    assert_eq!(pg_filled(&db), 2000, "{out}");
    assert_eq!(pg_wrong(&db), 0, "{out}");
}

/// `--max-pause`: a pause longer than it stops the walk between two batches (exit 1, as for a
/// stage that gave up on a lock); the batches done stay, the history records why, and the same
/// command resumes the walk after the last batch.
#[test]
fn pg_a_backfill_paused_longer_than_max_pause_stops_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_setup("throttle_max_pause", 2000, dir.path()) else {
        return;
    };
    // 20 batches of 100 rows, 200 ms apart: the app's trouble starts once some are done.
    let child = spawn_apply(
        dir.path(),
        &db.url,
        &[
            "--pause",
            "200ms",
            "--max-app-lock-wait",
            "300ms",
            "--max-pause",
            "1s",
        ],
    );
    wait_until("the walk did not start", || pg_filled(&db) > 0);
    let wait = PgLockWait::start(&db);
    let (code, out) = finish(child);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED after")
            && out.contains(
                ", longer than --max-pause 1s, for: 1 app session waiting on locks (longest"
            ),
        "{out}"
    );
    assert!(out.contains("every batch done is kept"), "{out}");
    assert!(out.contains("nothing was rolled back"), "{out}");
    // Whole batches only, each right: the rows filled are the first ones by key.
    let filled = pg_filled(&db);
    assert!(filled > 0 && filled < 2000, "{filled} rows filled:\n{out}");
    assert_eq!(filled % 100, 0, "{out}");
    assert_eq!(
        pg_count(
            &db,
            "SELECT coalesce(max(id), 0) FROM users WHERE email_lower IS NOT NULL"
        ),
        filled,
        "{out}"
    );
    assert_eq!(
        pg_count(
            &db,
            "SELECT count(*) FROM users WHERE email_lower <> lower(email)"
        ),
        0
    );
    let stage = recorded(dir.path(), &db.url, BACKFILL_STAGE);
    assert_eq!(stage["state"], "failed", "{stage}");
    let message = stage["record"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("longer than --max-pause 1s, for: 1 app session waiting on locks"),
        "{stage}"
    );
    let key = stage["record"]["resume_key"].as_str().unwrap_or_default();
    assert_eq!(key, format!("0:{filled}"), "{stage}");

    // The app is calm again: the same command goes on after the last batch.
    wait.release();
    let (code, out) = apply(dir.path(), &db.url, BACKFILL_STAGE, &["--max-pause", "1s"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("resuming after key {filled}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("walked {} rows", 2000 - filled)),
        "{out}"
    );
    assert_eq!(pg_filled(&db), 2000, "{out}");
    assert_eq!(pg_wrong(&db), 0, "{out}");
}

#[test]
fn pg_a_backfill_pauses_while_a_vacuum_works_on_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_setup("throttle_vacuum", 2000, dir.path()) else {
        return;
    };
    // A VACUUM slowed to a crawl (it sleeps 100 ms after every page) stands in for autovacuum.
    let url = db.url.clone();
    let vacuum = std::thread::spawn(move || {
        let mut session = support::connect(&url).unwrap();
        // DISABLE_PAGE_SKIPPING: autovacuum may have marked every page all-visible already.
        session
            .batch_execute("SET application_name = 'vacuum'; SET vacuum_cost_delay = '100ms'; SET vacuum_cost_limit = 1")
            .unwrap();
        if let Err(e) = session.batch_execute("VACUUM (DISABLE_PAGE_SKIPPING) users") {
            eprintln!("VACUUM: {}", support::describe_pg_error(&e));
        }
    });
    let started = Instant::now();
    while pg_count(
        &db,
        "SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'users'::regclass",
    ) == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the VACUUM did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = spawn_apply(dir.path(), &db.url, &["--max-app-lock-wait", "off"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pg_filled(&db), 0, "the walk went on during the VACUUM");
    db.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'vacuum' AND datname = current_database()",
    );
    vacuum.join().unwrap();
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting: a VACUUM is working on the table"),
        "{out}"
    );
    assert!(out.contains("s: a VACUUM is working on the table"), "{out}");
    assert_eq!(pg_filled(&db), 2000, "{out}");
    assert_eq!(pg_wrong(&db), 0, "{out}");

    // --no-vacuum-pause: the same walk does not wait (a second VACUUM, same crawl).
    db.execute("UPDATE users SET email_lower = NULL");
    let url = db.url.clone();
    let vacuum = std::thread::spawn(move || {
        let mut session = support::connect(&url).unwrap();
        // DISABLE_PAGE_SKIPPING: autovacuum may have marked every page all-visible already.
        session
            .batch_execute("SET application_name = 'vacuum'; SET vacuum_cost_delay = '100ms'; SET vacuum_cost_limit = 1")
            .unwrap();
        if let Err(e) = session.batch_execute("VACUUM (DISABLE_PAGE_SKIPPING) users") {
            eprintln!("VACUUM: {}", support::describe_pg_error(&e));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let (code, out) = apply(
        dir.path(),
        &db.url,
        BACKFILL_STAGE,
        &["--rerun", "--no-vacuum-pause"],
    );
    db.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'vacuum' AND datname = current_database()",
    );
    vacuum.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("VACUUM"), "{out}");
    assert_eq!(pg_wrong(&db), 0, "{out}");
}

#[test]
fn flags_that_do_not_fit_the_engine_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    plan(
        dir.path(),
        PG_SCHEMA,
        PG_CHANGE,
        &["--server-version", "15"],
    );
    let (code, out) = apply(
        dir.path(),
        "postgres://nobody@127.0.0.1:1/none",
        "1",
        &["--replica-url", "mysql://r@127.0.0.1:3307/app"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--replica-url is for MySQL/MariaDB"), "{out}");
    let (code, out) = apply(
        dir.path(),
        "postgres://nobody@127.0.0.1:1/none",
        "1",
        &["--max-wal-rate", "fast"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not a rate"), "{out}");
}

#[test]
fn max_pause_is_explained_and_checked() {
    let out = safeshift().args(["apply", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let flag = help
        .find("--max-pause <DURATION>")
        .unwrap_or_else(|| panic!("no --max-pause:\n{help}"));
    let text = help[flag..].split("\n\n").next().unwrap_or_default();
    for words in [
        "pauses before its next batch while the app suffers",
        "exits 1",
        "every batch done is kept",
        "resumes the walk",
        "`off`",
        "[default: 10m]",
    ] {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(words), "{words}:\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    plan(
        dir.path(),
        PG_SCHEMA,
        PG_CHANGE,
        &["--server-version", "15"],
    );
    let (code, out) = apply(
        dir.path(),
        "postgres://nobody@127.0.0.1:1/none",
        "1",
        &["--max-pause", "forever"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--max-pause"), "{out}");
}

#[test]
fn mysql_a_backfill_pauses_while_an_app_session_waits_on_a_row_lock() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = my_setup("throttle_lock", dir.path(), MY_CHANGE) else {
        return;
    };
    let (code, out) = apply(dir.path(), &db.url(), "1", &[]);
    assert_eq!(code, 0, "{out}");
    let filled = || -> i64 {
        db.first_value(
            "SELECT COUNT(*) FROM users WHERE email_lower IS NOT NULL AND email_lower <> ''",
        )
        .unwrap()
        .parse()
        .unwrap()
    };
    let before = filled();

    let lock_wait = MyLockWait::start(&db);
    // InnoDB records a wait's start in whole seconds.
    std::thread::sleep(Duration::from_millis(1500));
    let child = spawn_apply(dir.path(), &db.url(), &["--max-app-lock-wait", "300ms"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        filled(),
        before,
        "the walk went on while the app waited on a lock"
    );
    lock_wait.release();
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting: 1 app session waiting on locks"),
        "{out}"
    );
    assert!(out.contains("s: 1 app session waiting on locks"), "{out}");
    let wrong: i64 = db
        .first_value("SELECT COUNT(*) FROM users WHERE NOT (email_lower <=> LOWER(email))")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(wrong, 0, "{out}");
}

/// `--max-pause` on MariaDB: the same stop between batches, record and resume as on PostgreSQL.
#[test]
fn mysql_a_backfill_paused_longer_than_max_pause_stops_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = my_setup("throttle_max_pause", dir.path(), MY_CHANGE) else {
        return;
    };
    let (code, out) = apply(dir.path(), &db.url(), "1", &[]);
    assert_eq!(code, 0, "{out}");
    let count = |sql: &str| -> i64 { db.first_value(sql).unwrap().parse().unwrap() };
    let filled_sql = "SELECT COUNT(*) FROM users WHERE email_lower = LOWER(email)";
    let before = count(filled_sql);

    // 20 batches of 50 rows, 300 ms apart: the app's trouble starts once some are done.
    let child = spawn_apply(
        dir.path(),
        &db.url(),
        &[
            "--batch-size",
            "50",
            "--pause",
            "300ms",
            "--max-app-lock-wait",
            "300ms",
            "--max-pause",
            "1s",
        ],
    );
    wait_until("the walk did not start", || count(filled_sql) > before);
    let lock_wait = MyLockWait::start(&db);
    let (code, out) = finish(child);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(", longer than --max-pause 1s, for: 1 app session waiting on locks (longest"),
        "{out}"
    );
    assert!(out.contains("every batch done is kept"), "{out}");
    // Whole batches only: the rows filled are the first ones by key.
    let filled = count(filled_sql);
    assert!(filled > 0 && filled < 1000, "{filled} rows filled:\n{out}");
    assert_eq!(
        count("SELECT COALESCE(MAX(id), 0) FROM users WHERE email_lower = LOWER(email)"),
        filled,
        "{out}"
    );
    let stage = recorded(dir.path(), &db.url(), BACKFILL_STAGE);
    assert_eq!(stage["state"], "failed", "{stage}");
    assert!(
        stage["record"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than --max-pause 1s"),
        "{stage}"
    );
    assert_eq!(
        stage["record"]["resume_key"].as_str().unwrap_or_default(),
        format!("0:{filled}"),
        "{stage}"
    );

    lock_wait.release();
    let (code, out) = apply(dir.path(), &db.url(), BACKFILL_STAGE, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("resuming after key {filled}")),
        "{out}"
    );
    assert_eq!(count(filled_sql), 1000, "{out}");
}

#[test]
fn mysql_max_replica_lag_needs_the_replicas() {
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), MY_SCHEMA, MY_CHANGE, &["--dialect", "mariadb"]);
    let (code, out) = apply(
        dir.path(),
        "mysql://nobody@127.0.0.1:1/none",
        "1",
        &["--max-replica-lag", "5s"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--replica-url"), "{out}");
}

// The walks that run on the server (a batched data change's DO block or stored procedure) pause
// the same way, from inside the stage file: under `psql -f` / `mariadb <` alone with the limits
// the plan baked in, and under `safeshift apply` with its options.

const PG_UPDATE: &str = "UPDATE users SET name = 'n' || id;\n";
const MY_UPDATE: &str = "UPDATE users SET name = CONCAT('n', id);\n";

/// The plan's batched data-change stage: its number and its up.sql.
fn walk_stage(dir: &Path) -> (String, std::path::PathBuf) {
    let mut stages: Vec<_> = fs::read_dir(dir.join("plan"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("up.sql").exists())
        .collect();
    stages.sort();
    for stage in stages {
        let up = stage.join("up.sql");
        if fs::read_to_string(&up)
            .unwrap()
            .contains("safeshift_progress")
        {
            let name = stage.file_name().unwrap().to_string_lossy().into_owned();
            let number: String = name.chars().take_while(char::is_ascii_digit).collect();
            return (number.trim_start_matches('0').to_string(), up);
        }
    }
    panic!("no batched data-change stage in {}", dir.display());
}

fn spawn_apply_stage(dir: &Path, url: &str, stage: &str, extra: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("safeshift"))
        .env_remove("DATABASE_URL")
        .arg("apply")
        .arg(dir.join("plan"))
        .args(["--stage", stage, "--database-url", url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// An app session (named `app`) waiting on a lock another session holds on `other`, until
/// released.
struct PgLockWait {
    holder: postgres::Client,
    waiter: std::thread::JoinHandle<()>,
}

impl PgLockWait {
    fn start(db: &ScratchDb) -> PgLockWait {
        let mut holder = db.client();
        holder
            .batch_execute("BEGIN; LOCK TABLE other IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let url = db.url.clone();
        let waiter = std::thread::spawn(move || {
            let mut app = support::connect(&url).unwrap();
            app.batch_execute(
                "SET application_name = 'app'; UPDATE other SET v = v + 1 WHERE id = 1",
            )
            .unwrap();
        });
        PgLockWait { holder, waiter }
    }

    fn release(mut self) {
        self.holder.batch_execute("COMMIT").unwrap();
        self.waiter.join().unwrap();
    }
}

/// The walk of a batched data-change stage, as the engine's test sees it.
struct Walk {
    /// Rows the walk changes.
    rows: i64,
    /// How long an app session must wait before the engine reports the wait as over 300 ms.
    settle: Duration,
    /// How the stage's pause line writes `--max-app-lock-wait 300ms`.
    limit_shown: &'static str,
}

/// `safeshift apply` of a batched data-change stage (`stage`, failed or not yet run) while an app
/// session waits on a lock (`lock_wait` starts one and returns its release): with
/// `--max-app-lock-wait 300ms` the walk in the file changes nothing until the wait ends, and the
/// pause is shown as it happens; then, the rows reset, with `--max-app-lock-wait off` it does
/// not wait.
fn apply_pauses_the_walk_unless_off<'a>(
    dir: &Path,
    url: &str,
    stage: &str,
    walk: Walk,
    lock_wait: impl Fn() -> Box<dyn FnOnce() + 'a>,
    reset: impl Fn(),
    done: &dyn Fn() -> i64,
) {
    let release = lock_wait();
    std::thread::sleep(walk.settle.min(Duration::from_millis(1500)));
    let child = spawn_apply_stage(dir, url, stage, &["--max-app-lock-wait", "300ms"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    release();
    let (code, out) = finish(child);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("  paused: 1 app session waiting on locks (longest"),
        "{out}"
    );
    assert!(
        out.contains(&format!("above the limit {}", walk.limit_shown)),
        "{out}"
    );
    assert!(out.contains("  resumed after pausing "), "{out}");
    assert_eq!(done(), walk.rows, "{out}");

    reset();
    let release = lock_wait();
    std::thread::sleep(walk.settle);
    let (code, out) = apply(dir, url, stage, &["--rerun", "--max-app-lock-wait", "off"]);
    assert_eq!(done(), walk.rows, "{out}");
    release();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("paused"), "{out}");
}

#[test]
fn pg_a_batched_data_change_pauses_on_the_server_while_an_app_session_waits_on_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_planned("throttle_walk", 2000, dir.path(), PG_UPDATE, None) else {
        return;
    };
    let (stage, up) = walk_stage(dir.path());
    let done = || pg_count(&db, "SELECT count(*) FROM users WHERE name = 'n' || id");

    // psql alone: the limit the plan baked in (1s). A pause longer than safeshift.max_pause
    // (set on the session, the file unchanged) stops the walk with an error.
    let wait = PgLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(1300));
    let stopped = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(&up)
        .env("PGOPTIONS", "-c safeshift.max_pause=1s")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stopped.stderr);
    assert!(!stopped.status.success(), "{text}");
    assert!(
        text.contains(
            "stopped: the walk paused longer than safeshift.max_pause (1s): 1 app session"
        ),
        "{text}"
    );
    assert!(text.contains("Run the stage again"), "{text}");
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    let psql = std::process::Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(&up)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    wait.release();
    let (code, out) = finish(psql);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("NOTICE:  paused: 1 app session waiting on locks (longest"),
        "{out}"
    );
    assert!(out.contains("NOTICE:  resumed after pausing "), "{out}");
    assert_eq!(done(), 2000, "{out}");

    // safeshift apply, called as a library with a writer of its own: its max_pause
    // (--max-pause) is the walk's safeshift.max_pause, and the walk's NOTICEs come through that
    // writer, before the failure they lead to.
    db.execute("UPDATE users SET name = NULL");
    let wait = PgLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(1300));
    let plan_dir = safeshift::plan_dir::PlanDir::open(&dir.path().join("plan")).unwrap();
    let request = safeshift::apply::ApplyRequest {
        plan: &plan_dir,
        database_url: &db.url,
        stage: stage.parse().unwrap(),
        run: safeshift::apply::RunOptions {
            throttle: safeshift::apply::throttle::Limits {
                max_app_lock_wait: Some(Duration::from_secs(1)),
                vacuum_pause: true,
                max_pause: Some(Duration::from_secs(1)),
                ..Default::default()
            },
            ..Default::default()
        },
        rollback: true,
        rerun: false,
        confirm: false,
        progress: false,
        allow_edited: false,
    };
    let mut written = Vec::new();
    let outcome = safeshift::apply::apply(&request, &mut written).unwrap();
    let out = String::from_utf8(written).unwrap();
    assert_eq!(outcome.exit_code(), 1, "{out}");
    let paused = out
        .find("\n  paused: 1 app session waiting on locks (longest")
        .unwrap_or_else(|| panic!("no pause line:\n{out}"));
    let failed = out
        .find("FAILED after")
        .unwrap_or_else(|| panic!("no FAILED line:\n{out}"));
    assert!(paused < failed, "{out}");
    assert!(
        out.contains("stopped: the walk paused longer than safeshift.max_pause (1s)"),
        "{out}"
    );
    assert!(out.contains("nothing was rolled back"), "{out}");
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    let record = recorded(dir.path(), &db.url, &stage);
    assert_eq!(record["state"], "failed", "{record}");
    wait.release();

    // safeshift apply again: its --max-app-lock-wait governs the walk in the file, and the pause
    // is shown as it happens; the stage failed above, so no --rerun.
    apply_pauses_the_walk_unless_off(
        dir.path(),
        &db.url,
        &stage,
        Walk {
            rows: 2000,
            settle: Duration::from_millis(1300),
            limit_shown: "300ms",
        },
        || {
            let wait = PgLockWait::start(&db);
            Box::new(move || wait.release())
        },
        || db.execute("UPDATE users SET name = NULL"),
        &done,
    );
}

/// A stage file planned for PostgreSQL 15 runs on whatever major the server under test is
/// (`scripts/pg-majors test` runs this on 11 and 13): its pause asks the server whether
/// pg_locks.waitstart exists (14+) instead of the plan deciding it, so on 11 to 13 it times the
/// wait from the waiting statement's start, and the walk pauses, resumes and finishes.
#[test]
fn pg_a_batched_data_change_planned_for_15_pauses_and_finishes_on_the_server_under_test() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_planned("throttle_walk_15", 500, dir.path(), PG_UPDATE, Some("15")) else {
        return;
    };
    let (_, up) = walk_stage(dir.path());
    let done = || pg_count(&db, "SELECT count(*) FROM users WHERE name = 'n' || id");

    let wait = PgLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(400));
    let psql = std::process::Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
        .arg(&up)
        .env("PGOPTIONS", "-c safeshift.max_app_lock_wait=200ms")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    wait.release();
    let (code, out) = finish(psql);
    assert_eq!(code, 0, "PostgreSQL {}:\n{out}", support::server_version());
    assert!(
        out.contains("NOTICE:  paused: 1 app session waiting on locks (longest")
            && out.contains("above the limit 200ms"),
        "{out}"
    );
    assert!(out.contains("NOTICE:  resumed after pausing "), "{out}");
    assert_eq!(done(), 500, "{out}");
}

/// Three runs of one batched data-change stage by hand (`psql -f`, at once): each waits for the
/// progress row while another runs a batch, and none takes the others for app sessions waiting
/// on a lock (the walk names its session `safeshift` while it walks, as `apply`'s sessions are,
/// and the pause look leaves those out). Before, on 11 to 13, where a wait's age is its
/// statement's (the whole walk's), the runs paused for each other. Every row is changed once, and
/// the progress table is gone at the end (runs ending together made it race, deadlock or fail on
/// a table another run had just dropped).
#[test]
fn pg_runs_of_one_walk_by_hand_do_not_pause_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_planned("throttle_walk_runs", 900, dir.path(), PG_UPDATE, None) else {
        return;
    };
    let (_, up) = walk_stage(dir.path());
    // Every changed row costs 3 ms: a batch of 100 holds the progress row for about 0.3 s.
    db.execute(
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.003); RETURN NEW; END $$;
         CREATE TRIGGER slow_row BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION slow_row();",
    );
    let runs: Vec<Child> = (0..3)
        .map(|_| {
            std::process::Command::new("psql")
                .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
                .arg(&up)
                .env(
                    "PGOPTIONS",
                    "-c safeshift.max_app_lock_wait=100ms -c safeshift.max_pause=60s",
                )
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let walking = pg_count(
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'safeshift' AND position('safeshift_progress' in query) > 0",
    );
    for run in runs {
        let (code, out) = finish(run);
        assert_eq!(code, 0, "PostgreSQL {}:\n{out}", support::server_version());
        assert!(
            !out.contains("paused:"),
            "PostgreSQL {}: a run took another for the app:\n{out}",
            support::server_version()
        );
    }
    assert!(walking >= 2, "{walking} session(s) walking as safeshift");
    assert_eq!(
        pg_count(&db, "SELECT count(*) FROM users WHERE name = 'n' || id"),
        900
    );
    assert_eq!(
        pg_count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'safeshift_progress'"
        ),
        0,
        "the walk's progress table is left behind"
    );
}

/// Rows of a kilobyte: each batch of 100 writes over 100 kB of WAL, faster than 128kB a second
/// even on a loaded machine.
const WIDE_UPDATE: &str = "UPDATE users SET name = repeat('n', 1000) || id;\n";

/// `safeshift apply --max-wal-rate` governs the walks in the stage's file too
/// (`safeshift.max_wal_rate`): each batch writes WAL far faster than 128kB a second, so the walk
/// pauses after it until the rate since the batch began is back under the limit (the walk's
/// average rate is held to it), and still changes every row right. Without the option (the plan's default, off), no pause.
#[test]
fn pg_a_walk_on_the_server_pauses_while_wal_is_written_faster_than_max_wal_rate() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = pg_planned("throttle_walk_wal", 500, dir.path(), WIDE_UPDATE, None) else {
        return;
    };
    let (stage, _) = walk_stage(dir.path());
    let done = || {
        pg_count(
            &db,
            "SELECT count(*) FROM users WHERE name = repeat('n', 1000) || id",
        )
    };

    // --max-pause bounds the test should the server stay busy (it is shared with other tests).
    // Generously: the limit counts the whole server's WAL, and another test's CREATE DATABASE
    // (about 3 MB of WAL on 15) holds the walk some 23 s at 128kB a second.
    let wal = || {
        pg_count(
            &db,
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint",
        )
    };
    let (wal_before, started) = (wal(), Instant::now());
    let (code, out) = apply(
        dir.path(),
        &db.url,
        &stage,
        &["--max-wal-rate", "128kB", "--max-pause", "120s"],
    );
    let (written, took) = ((wal() - wal_before) as f64, started.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{out}");
    // The walk holds its average rate to the limit: after each batch it waits until the WAL
    // written since the batch began, over the time since, is under the limit, so the server's WAL
    // during the walk (its own, and any other test's, which holds it too) takes at least about
    // that long at 128kB a second. Only what apply writes before the walk's first look and after
    // its last escapes the limit.
    let at_limit = written / (128.0 * 1024.0);
    eprintln!("{written} bytes of WAL in {took:.2}s ({at_limit:.2}s at the limit)");
    assert!(
        took >= 0.7 * at_limit,
        "{written} bytes of WAL in {took:.2}s, faster than the limit ({at_limit:.2}s):\n{out}"
    );
    assert!(out.contains("  paused: WAL written at "), "{out}");
    assert!(
        out.contains(" is above the limit 128kB (safeshift.max_wal_rate)"),
        "{out}"
    );
    assert!(out.contains("  resumed after pausing "), "{out}");
    assert_eq!(done(), 500, "{out}");

    db.execute("UPDATE users SET name = NULL");
    let (code, out) = apply(dir.path(), &db.url, &stage, &["--rerun"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("paused"), "{out}");
    assert_eq!(done(), 500, "{out}");

    // A role that may not call pg_current_wal_insert_lsn() (revoked in this database only): the
    // look sees no position and the walk goes on, as where the replica lag cannot be read.
    db.execute("UPDATE users SET name = NULL");
    let role = DropRole::create(&db, "walker");
    db.execute(&format!(
        "REVOKE EXECUTE ON FUNCTION pg_current_wal_insert_lsn() FROM PUBLIC;
         GRANT CREATE ON SCHEMA public TO {0}; GRANT ALL ON users TO {0};",
        role.name
    ));
    let (_, up) = walk_stage(dir.path());
    let psql = std::process::Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &db.url])
        .args(["-c", &format!("SET ROLE {}", role.name), "-f"])
        .arg(&up)
        .env("PGOPTIONS", "-c safeshift.max_wal_rate=1kB")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&psql.stdout),
        String::from_utf8_lossy(&psql.stderr)
    );
    assert!(psql.status.success(), "{out}");
    assert!(!out.contains("paused"), "{out}");
    assert_eq!(done(), 500, "{out}");
}

/// A role made for one test in its scratch database, dropped with what it was granted there.
struct DropRole<'a> {
    db: &'a ScratchDb,
    name: String,
}

impl<'a> DropRole<'a> {
    fn create(db: &'a ScratchDb, suffix: &str) -> DropRole<'a> {
        let name = format!("{}_{suffix}", db.name);
        db.execute(&format!("CREATE ROLE {name} NOLOGIN"));
        DropRole { db, name }
    }
}

impl Drop for DropRole<'_> {
    fn drop(&mut self) {
        if let Ok(mut client) = support::connect(&self.db.url) {
            let _ = client.batch_execute(&format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name));
        }
    }
}

#[test]
fn mysql_a_batched_data_change_pauses_in_its_procedure_while_an_app_session_waits_on_a_row_lock() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = my_setup("throttle_walk", dir.path(), MY_UPDATE) else {
        return;
    };
    // Its walks must not pause for the throttle lock another test holds.
    let _turn = THROTTLE_LOCK_TURN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (stage, up) = walk_stage(dir.path());
    let done = || -> i64 {
        db.first_value("SELECT COUNT(*) FROM users WHERE name <=> CONCAT('n', id)")
            .unwrap()
            .parse()
            .unwrap()
    };

    // `mariadb < up.sql` alone: the limit the plan baked in (1s); InnoDB records a wait's start
    // in whole seconds.
    let lock_wait = MyLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(2000));
    let sql = fs::read_to_string(&up).unwrap();
    // A pause longer than @safeshift_max_pause (set on the session) stops the walk.
    let stopped = db
        .try_execute(&format!("SET @safeshift_max_pause = 1;\n{sql}"))
        .expect_err("the walk must stop after @safeshift_max_pause");
    assert!(
        stopped.contains(
            "stopped: the walk paused longer than @safeshift_max_pause (1s): 1 app session"
        ),
        "{stopped}"
    );
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    let out = std::thread::scope(|scope| {
        let run = scope.spawn(|| db.try_execute(&sql));
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
        lock_wait.release();
        run.join().unwrap()
    });
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains("paused: 1 app session waiting on locks (longest"),
        "{out}"
    );
    assert!(out.contains("resumed after pausing "), "{out}");
    assert_eq!(done(), 1000, "{out}");

    // safeshift apply: its --max-pause is the procedure's @safeshift_max_pause.
    db.execute("UPDATE users SET name = NULL;");
    let lock_wait = MyLockWait::start(&db);
    std::thread::sleep(Duration::from_millis(2000));
    let (code, out) = apply(dir.path(), &db.url(), &stage, &["--max-pause", "1s"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the walk paused longer than @safeshift_max_pause (1s)"),
        "{out}"
    );
    assert!(out.contains("nothing was rolled back"), "{out}");
    assert_eq!(done(), 0, "the walk went on while the app waited on a lock");
    lock_wait.release();

    // safeshift apply again: its --max-app-lock-wait governs the procedure's walk (InnoDB
    // records a wait's start in whole seconds, hence the longer settle).
    apply_pauses_the_walk_unless_off(
        dir.path(),
        &db.url(),
        &stage,
        Walk {
            rows: 1000,
            settle: Duration::from_millis(2000),
            limit_shown: "0.3s",
        },
        || {
            let wait = MyLockWait::start(&db);
            Box::new(move || wait.release())
        },
        || {
            db.execute("UPDATE users SET name = NULL;");
        },
        &done,
    );
}

// MySQL/MariaDB: a primary does not know its replicas' lag, so the walks on the server hear of it
// through a server-wide named lock (src/apply/throttle_lock.rs): while another session holds
// `safeshift_throttle`, they wait before their next batch. `apply --replica-url …
// --max-replica-lag …` holds it while a replica lags (scripts/check-throttle-replica-mariadb, which
// needs a replica of its own); here a test session holds it, as a person may. The tests that run
// the file with `mariadb <` look at a lock named after their scratch database
// (`@safeshift_throttle_lock`), so that walks of other tests on the shared server never wait for
// them.

/// Tests of this file that hold the plans' own lock, or whose walks on the server must not pause
/// for it, take turns.
static THROTTLE_LOCK_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A session holding a named lock until dropped (its end releases the lock).
struct MyNamedLock {
    conn: mysql::Conn,
}

impl MyNamedLock {
    fn take(db: &ScratchMysql, name: &str) -> MyNamedLock {
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&db.url()).unwrap()).unwrap();
        let got: Option<i64> = conn
            .exec_first("SELECT GET_LOCK(?, 0)", (name,))
            .unwrap()
            .flatten();
        assert_eq!(got, Some(1), "the lock {name} is held elsewhere");
        MyNamedLock { conn }
    }

    fn connection_id(&self) -> u32 {
        self.conn.connection_id()
    }
}

/// The batched data change's walk, rows it changed as planned.
fn my_named(db: &ScratchMysql) -> i64 {
    db.first_value("SELECT COUNT(*) FROM users WHERE name <=> CONCAT('n', id)")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn mysql_a_batched_data_change_run_by_the_client_pauses_while_another_session_holds_the_throttle_lock()
 {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = my_setup("throttle_lock", dir.path(), MY_UPDATE) else {
        return;
    };
    let (_, up) = walk_stage(dir.path());
    let sql = fs::read_to_string(&up).unwrap();
    assert!(
        sql.contains("IS_USED_LOCK(safeshift_throttle_lock)")
            && sql.contains("@safeshift_throttle_lock AS CHAR), ''), 'safeshift_throttle')"),
        "the walk looks at the lock safeshift_throttle unless told another:\n{sql}"
    );
    let lock = db.name.clone();
    let sql = format!("SET @safeshift_throttle_lock = '{lock}';\n{sql}");

    let held = MyNamedLock::take(&db, &lock);
    let holder = held.connection_id();
    let out = std::thread::scope(|scope| {
        let run = scope.spawn(|| db.try_execute(&sql));
        // The walk waits before its first batch; nothing is written while the lock is held.
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(my_named(&db), 0, "the walk went on while the lock was held");
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(my_named(&db), 0, "the walk went on while the lock was held");
        assert!(!run.is_finished(), "the walk ended while the lock was held");
        drop(held);
        run.join().unwrap()
    });
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains(&format!(
            "paused: connection {holder} holds the lock {lock} (safeshift apply holds it while a replica is behind more than --max-replica-lag; a person may hold it to pause the walks)"
        )),
        "{out}"
    );
    assert!(out.contains("resumed after pausing "), "{out}");
    assert_eq!(my_named(&db), 1000, "{out}");
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM users WHERE NOT (name <=> CONCAT('n', id))")
            .unwrap(),
        "0",
        "{out}"
    );

    // The walk's own session holding the lock does not pause it.
    let file = sql.split_once('\n').unwrap().1;
    db.execute("UPDATE users SET name = NULL;");
    let out = db.execute(&format!(
        "SELECT GET_LOCK('{lock}', 0);\nSET @safeshift_throttle_lock = '{lock}';\n{file}"
    ));
    assert!(!out.contains("paused"), "{out}");
    assert_eq!(my_named(&db), 1000, "{out}");

    // Nor does another's with @safeshift_throttle_lock = 'off'.
    db.execute("UPDATE users SET name = NULL;");
    let held = MyNamedLock::take(&db, &lock);
    let out = db.execute(&format!("SET @safeshift_throttle_lock = 'off';\n{file}"));
    drop(held);
    assert!(!out.contains("paused"), "{out}");
    assert_eq!(my_named(&db), 1000, "{out}");
}

#[test]
fn mysql_a_walk_on_the_server_held_by_the_throttle_lock_longer_than_max_pause_stops() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = my_setup("throttle_lock_max_pause", dir.path(), MY_UPDATE) else {
        return;
    };
    let (stage, up) = walk_stage(dir.path());
    let sql = fs::read_to_string(&up).unwrap();

    // `mariadb <`: @safeshift_max_pause bounds the wait.
    let lock = db.name.clone();
    let held = MyNamedLock::take(&db, &lock);
    let holder = held.connection_id();
    let started = Instant::now();
    let stopped = db
        .try_execute(&format!(
            "SET @safeshift_throttle_lock = '{lock}', @safeshift_max_pause = 1;\n{sql}"
        ))
        .expect_err("the walk must stop after @safeshift_max_pause");
    assert!(
        stopped.contains(&format!(
            "stopped: the walk paused longer than @safeshift_max_pause (1s): connection {holder} holds the lock {lock}"
        )),
        "{stopped}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "{stopped}");
    assert_eq!(my_named(&db), 0, "the walk went on while the lock was held");

    // KILL QUERY (what the client's Ctrl-C sends, and `apply`'s) ends a paused walk at once (a
    // `DO SLEEP()` spent the kill and went on pausing). @safeshift_max_pause: should it not end,
    // the test fails in half a minute rather than ten.
    let out = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            db.try_execute(&format!(
                "SET @safeshift_throttle_lock = '{lock}', @safeshift_max_pause = 30;\n{sql}"
            ))
        });
        let mut admin = mysql::Conn::new(mysql::Opts::from_url(&db.url()).unwrap()).unwrap();
        // The session pausing: the PROCESSLIST shows the procedure's statement running now.
        let mut walker: Option<u64> = None;
        wait_until("the walk does not pause", || {
            walker = admin
                .exec_first(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT SLEEP(%) INTO safeshift_slept'",
                    (&db.name,),
                )
                .unwrap();
            walker.is_some()
        });
        admin
            .query_drop(format!("KILL QUERY {}", walker.unwrap()))
            .unwrap();
        let started = Instant::now();
        let out = run.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{out:?}");
        out
    });
    let killed = out.expect_err("the walk must end when its statement is killed");
    assert!(killed.contains("ERROR 1317"), "{killed}");
    assert_eq!(my_named(&db), 0, "the walk went on while the lock was held");
    drop(held);

    // `safeshift apply --max-pause 1s`, its walk's @safeshift_max_pause, with the plans' own lock
    // held (briefly: every walk on the server waits for it).
    let _turn = THROTTLE_LOCK_TURN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let held = MyNamedLock::take(&db, "safeshift_throttle");
    let holder = held.connection_id();
    let (code, out) = apply(
        dir.path(),
        &db.url(),
        &stage,
        &["--max-pause", "1s", "--max-app-lock-wait", "off"],
    );
    drop(held);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "  paused: connection {holder} holds the lock safeshift_throttle (safeshift apply holds it"
        )),
        "{out}"
    );
    assert!(
        out.contains("the walk paused longer than @safeshift_max_pause (1s)"),
        "{out}"
    );
    assert_eq!(my_named(&db), 0, "the walk went on while the lock was held");

    // Released, the stage runs again and goes on to the end.
    let (code, out) = apply(dir.path(), &db.url(), &stage, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(my_named(&db), 1000, "{out}");
}
