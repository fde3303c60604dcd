//! `safeshift apply` and `status` on a real PostgreSQL: stages run in order and are recorded;
//! out-of-order, repeated and unconfirmed stages are refused; a stage waits and retries behind a
//! conflicting lock; a failed stage is rolled back and recorded; an interrupted backfill resumes;
//! an INVALID index left by an interrupted build is rebuilt.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use support::ScratchDb;

const SCHEMA: &str = "CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    name text
);";

const CHANGE: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower text NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";

fn safeshift() -> Command {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.env_remove("DATABASE_URL");
    cmd
}

/// A scratch database with `rows` users, and the plan for CHANGE written in `dir`.
fn setup(tag: &str, rows: u32, dir: &Path) -> Option<ScratchDb> {
    let db = ScratchDb::create(tag)?;
    db.execute(SCHEMA);
    db.execute(&format!(
        "INSERT INTO users SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, {rows}) g"
    ));
    fs::write(dir.join("schema.sql"), SCHEMA).unwrap();
    fs::write(dir.join("change.sql"), CHANGE).unwrap();
    safeshift()
        .current_dir(dir)
        .args([
            "plan",
            "change.sql",
            "--schema",
            "schema.sql",
            "--server-version",
            &support::server_version(),
        ])
        .args(["--batch-size", "100", "--out", "plan"])
        .assert()
        .success();
    Some(db)
}

fn apply(db: &ScratchDb, dir: &Path, stage: u32, extra: &[&str]) -> (i32, String) {
    let out = safeshift()
        .arg("apply")
        .arg(dir.join("plan"))
        .args(["--stage", &stage.to_string(), "--database-url", &db.url])
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

fn status(db: &ScratchDb, dir: &Path) -> serde_json::Value {
    let out = safeshift()
        .arg("status")
        .arg(dir.join("plan"))
        .args(["--database-url", &db.url, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn states(db: &ScratchDb, dir: &Path) -> Vec<String> {
    status(db, dir)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

fn value(db: &ScratchDb, sql: &str) -> String {
    let rows = db.client().simple_query(sql).unwrap();
    rows.iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn stages_run_in_order_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_order", 1000, dir.path()) else {
        return;
    };
    assert_eq!(states(&db, dir.path())[0], "ready");
    assert_eq!(states(&db, dir.path())[1], "pending");

    // Stage 2 (the backfill) needs stage 1 first.
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("needs stage(s) 1 done first"), "{out}");

    for stage in 1..=2 {
        let (code, out) = apply(&db, dir.path(), stage, &[]);
        assert_eq!(code, 0, "stage {stage}: {out}");
    }
    assert_eq!(
        value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );

    // Done stages are not run again unless asked.
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("already done"), "{out}");

    // The deploy is a person's job: refused until confirmed.
    let (code, out) = apply(&db, dir.path(), 3, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("--confirm"), "{out}");
    let (code, out) = apply(&db, dir.path(), 3, &["--confirm"]);
    assert_eq!(code, 0, "{out}");

    for stage in 4..=5 {
        let (code, out) = apply(&db, dir.path(), stage, &[]);
        assert_eq!(code, 0, "stage {stage}: {out}");
    }
    assert_eq!(states(&db, dir.path()), vec!["done"; 5]);
    assert_eq!(
        value(
            &db,
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_lower'"
        ),
        "t"
    );
    let human = safeshift()
        .arg("status")
        .arg(dir.path().join("plan"))
        .args(["--database-url", &db.url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("every stage is done"));
}

#[test]
fn a_stage_waits_behind_a_conflicting_lock_and_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_lock", 100, dir.path()) else {
        return;
    };
    // Another session reads the table inside a long transaction: ADD COLUMN cannot get its lock.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        holder.batch_execute("COMMIT").unwrap();
    });
    let started = Instant::now();
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &[
            "--lock-timeout",
            "100ms",
            "--retry-delay",
            "100ms",
            "--max-retry-delay",
            "400ms",
            "--retries",
            "30",
        ],
    );
    release.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("retry 1/30"), "{out}");
    assert!(out.contains("lock timeout"), "{out}");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(states(&db, dir.path())[0], "done");
}

#[test]
fn out_of_retries_fails_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_giveup", 100, dir.path()) else {
        return;
    };
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .unwrap();
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &[
            "--lock-timeout",
            "50ms",
            "--retry-delay",
            "10ms",
            "--retries",
            "2",
        ],
    );
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolled back: nothing changed"), "{out}");
    assert!(out.contains("pg_blocking_pids"), "{out}");
    assert_eq!(states(&db, dir.path())[0], "failed");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_lower'"
        ),
        "0"
    );
}

/// A one-stage plan whose statements commit one by one, the second of which fails.
fn failing_plan(dir: &Path) {
    let stage = dir.join("plan/01-fails");
    fs::create_dir_all(&stage).unwrap();
    fs::write(
        stage.join("up.sql"),
        "CREATE TABLE made_by_stage (id int);\nSELECT 1 / 0;\n",
    )
    .unwrap();
    fs::write(
        stage.join("down.sql"),
        "DROP TABLE IF EXISTS made_by_stage;\n",
    )
    .unwrap();
    let plan = serde_json::json!({
        "version": 1, "dialect": "postgres", "server_version": "15", "source": "x.sql",
        "stages": [{"index": 1, "name": "fails halfway", "dir": "01-fails", "phase": "expand",
                    "kind": "database", "up": "01-fails/up.sql", "down": "01-fails/down.sql",
                    "transactional": false, "depends_on": [], "steps": []}]
    });
    fs::write(dir.join("plan/plan.json"), plan.to_string()).unwrap();
}

#[test]
fn a_failed_stage_is_rolled_back_and_recorded() {
    let Some(db) = ScratchDb::create("apply_rollback") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    failing_plan(dir.path());
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("division by zero"), "{out}");
    assert!(out.contains("Rolled back"), "{out}");
    assert_eq!(
        value(&db, "SELECT to_regclass('made_by_stage') IS NULL"),
        "t"
    );
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][0]["state"], "rolled-back");
    assert!(
        report["stages"][0]["record"]["message"]
            .as_str()
            .unwrap()
            .contains("Rolled back")
    );

    // Without rollback the finished statement stays, and the stage can be run again.
    let (code, out) = apply(&db, dir.path(), 1, &["--no-rollback"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Not rolled back"), "{out}");
    assert_eq!(
        value(&db, "SELECT to_regclass('made_by_stage') IS NOT NULL"),
        "t"
    );
    assert_eq!(states(&db, dir.path())[0], "failed");
}

#[test]
fn an_interrupted_backfill_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_resume", 3000, dir.path()) else {
        return;
    };
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
    // 30 batches of 100 rows, 100 ms apart: Ctrl-C lands in the middle.
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args([
            "--stage",
            "2",
            "--database-url",
            &db.url,
            "--pause",
            "100ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{text}");
    assert!(text.contains("resumes where it stopped"), "{text}");
    let left: i64 = value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL")
        .parse()
        .unwrap();
    assert!(left > 0 && left < 3000, "{left} rows left");
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][1]["state"], "interrupted");
    let key = report["stages"][1]["record"]["resume_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("0:"), "{key}");

    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    let last = key.trim_start_matches("0:");
    assert!(out.contains(&format!("resuming after key {last}")), "{out}");
    assert_eq!(
        value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
}

#[test]
fn an_invalid_index_from_an_interrupted_build_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_invalid", 200, dir.path()) else {
        return;
    };
    // The unique index is built after the backfill (stage 2) and the deploy (stage 3), in stage 4.
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    assert_eq!(apply(&db, dir.path(), 2, &[]).0, 0);
    assert_eq!(apply(&db, dir.path(), 3, &["--confirm"]).0, 0);
    // A build that failed halfway (here: on duplicates) leaves an INVALID index behind.
    db.execute("UPDATE users SET email_lower = 'dup' WHERE id <= 2");
    let failed = db.try_execute(
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (email_lower)",
    );
    assert!(failed.is_err());
    assert_eq!(
        value(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_lower_key'::regclass"
        ),
        "f"
    );
    db.execute("UPDATE users SET email_lower = lower(email) WHERE id <= 2");
    // `IF NOT EXISTS` alone would skip the build and leave the index INVALID.
    let (code, out) = apply(&db, dir.path(), 4, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_lower_key'::regclass"
        ),
        "t"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    safeshift()
        .args([
            "apply",
            "--stage",
            "1",
            "--database-url",
            "postgres://127.0.0.1:1/x",
        ])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a plan directory"));
    failing_plan(dir.path());
    safeshift()
        .args([
            "apply",
            "--stage",
            "7",
            "--database-url",
            "postgres://127.0.0.1:1/x",
        ])
        .arg(dir.path().join("plan"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("there is no stage 7"));
    safeshift()
        .args([
            "apply",
            "--stage",
            "1",
            "--database-url",
            "postgres://127.0.0.1:1/x",
        ])
        .arg(dir.path().join("plan"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot connect"));
    safeshift()
        .args(["apply", "--stage", "1", "--pause", "soon"])
        .arg(dir.path().join("plan"))
        .args(["--database-url", "x"])
        .assert()
        .code(2);
}

/// `lower(email)` gives two rows the same value: the unique index on `email_lower` could never be
/// built. The first stage refuses before it changes anything, and says which value.
#[test]
fn duplicates_of_the_backfill_expression_are_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_dups", 50, dir.path()) else {
        return;
    };
    db.execute(
        "UPDATE users SET email = 'Bob@x.com' WHERE id = 7; UPDATE users SET email = 'bob@x.com' WHERE id = 31;",
    );
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("bob@x.com"), "{out}");
    assert!(out.contains("users_email_lower_key"), "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email_lower'"
        ),
        "0"
    );
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass"
        ),
        "0"
    );
    assert_eq!(states(&db, dir.path())[0], "ready");

    // With the duplicate gone, the same stage runs.
    db.execute("UPDATE users SET email = 'robert@x.com' WHERE id = 31");
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
}
