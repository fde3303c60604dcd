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

/// The same change with a plain index: it does not wait for the backfill, so the plan has the
/// six stages the tests of apply's failure handling walk through (1 add + trigger, 2 index,
/// 3 backfill, 4 deploy, 5 NOT NULL, 6 drop the trigger).
const CHANGE_PLAIN_INDEX: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower text NOT NULL;
CREATE INDEX users_email_lower_key ON users (email_lower);
";

/// A scratch database with `rows` users, and the plan for CHANGE written in `dir`.
fn setup(tag: &str, rows: u32, dir: &Path) -> Option<ScratchDb> {
    setup_with(tag, rows, dir, CHANGE)
}

/// [`setup`] with the six-stage plan of [`CHANGE_PLAIN_INDEX`].
fn setup_plain(tag: &str, rows: u32, dir: &Path) -> Option<ScratchDb> {
    setup_with(tag, rows, dir, CHANGE_PLAIN_INDEX)
}

fn setup_with(tag: &str, rows: u32, dir: &Path, change: &str) -> Option<ScratchDb> {
    let db = ScratchDb::create(tag)?;
    db.execute(SCHEMA);
    db.execute(&format!(
        "INSERT INTO users SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, {rows}) g"
    ));
    fs::write(dir.join("schema.sql"), SCHEMA).unwrap();
    fs::write(dir.join("change.sql"), change).unwrap();
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

/// `[apply]` in safeshift.toml fills the flags not given: the same give-up as above, with the
/// timeouts and retries from the file (a flag still wins: `--retries 0`).
#[test]
fn apply_takes_its_defaults_from_safeshift_toml() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_config", 100, dir.path()) else {
        return;
    };
    let config = dir.path().join("team.toml");
    fs::write(
        &config,
        "[apply]\nlock-timeout = \"50ms\"\nretry-delay = \"10ms\"\nretries = 3\n",
    )
    .unwrap();
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .unwrap();
    let config_arg = config.to_string_lossy().to_string();
    let (code, out) = apply(&db, dir.path(), 1, &["--config", &config_arg]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("retry 3/3"), "{out}");
    assert!(out.contains("lock timeout"), "{out}");
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &["--config", &config_arg, "--retries", "0"],
    );
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("retry 1/"), "{out}");
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

/// The fast flags of a run that gives up on a lock after a moment.
const GIVE_UP: [&str; 6] = [
    "--lock-timeout",
    "100ms",
    "--retry-delay",
    "10ms",
    "--retries",
    "1",
];

fn index_is_valid(db: &ScratchDb) -> String {
    value(
        db,
        "SELECT coalesce((SELECT indisvalid::text FROM pg_index WHERE indexrelid = to_regclass('users_email_lower_key')), 'missing')",
    )
}

fn not_null(db: &ScratchDb) -> String {
    value(
        db,
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_lower'",
    )
}

/// D4: a `--rerun` of a finished stage that fails (here: behind a lock) never runs down.sql,
/// which would drop the valid unique index or remove the NOT NULL an earlier run made; the
/// history keeps the stage done and records why the rerun failed.
#[test]
fn a_failed_rerun_never_undoes_a_finished_stage() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_rerun", 300, dir.path()) else {
        return;
    };
    for stage in 1..=3 {
        assert_eq!(apply(&db, dir.path(), stage, &[]).0, 0, "stage {stage}");
    }
    assert_eq!(apply(&db, dir.path(), 4, &["--confirm"]).0, 0);
    for stage in 5..=6 {
        assert_eq!(apply(&db, dir.path(), stage, &[]).0, 0, "stage {stage}");
    }
    assert_eq!(index_is_valid(&db), "true");
    assert_eq!(not_null(&db), "t");

    // A session holds a lock that CREATE INDEX CONCURRENTLY and ALTER TABLE wait for, but
    // plain reads (the stage's checks) do not.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE")
        .unwrap();
    for stage in [2, 5] {
        let mut args = vec!["--rerun"];
        args.extend(GIVE_UP);
        let (code, out) = apply(&db, dir.path(), stage, &args);
        assert_eq!(code, 1, "stage {stage}: {out}");
        assert!(out.contains("Nothing was rolled back"), "{out}");
        assert!(out.contains("stays done"), "{out}");
        assert!(out.contains("pg_blocking_pids"), "{out}");
        assert!(!out.contains("rolling back"), "{out}");
        assert!(!out.contains("half applied"), "{out}");
    }
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(index_is_valid(&db), "true");
    assert_eq!(not_null(&db), "t");
    let report = status(&db, dir.path());
    for i in [1, 4] {
        assert_eq!(report["stages"][i]["state"], "done", "{report}");
        let message = report["stages"][i]["record"]["message"].as_str().unwrap();
        assert!(message.contains("lock timeout"), "{message}");
        assert!(message.contains("--rerun"), "{message}");
    }
    assert_eq!(states(&db, dir.path()), vec!["done"; 6]);
}

/// D3: a `--rerun` of the finished ADD COLUMN stage fails (the column exists), but its
/// transaction changed nothing: the stage stays done, the filled column is kept, and the
/// later stages are not refused.
#[test]
fn a_failed_rerun_of_add_column_keeps_the_stage_done() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_rerun_add", 200, dir.path()) else {
        return;
    };
    for stage in 1..=3 {
        assert_eq!(apply(&db, dir.path(), stage, &[]).0, 0, "stage {stage}");
    }
    let (code, out) = apply(&db, dir.path(), 1, &["--rerun"]);
    if code == 0 {
        // The stage's file is idempotent: nothing more to prove.
        return;
    }
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Nothing was rolled back"), "{out}");
    assert!(!out.contains("DROP COLUMN"), "{out}");
    assert_eq!(
        value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
    assert_eq!(&states(&db, dir.path())[..3], ["done", "done", "done"]);
    assert_eq!(apply(&db, dir.path(), 4, &["--confirm"]).0, 0);
    let (code, out) = apply(&db, dir.path(), 5, &[]);
    assert_eq!(code, 0, "{out}");
}

/// D5: a non-transactional stage that gave up on a lock before any statement took effect says
/// "nothing changed" and does not run its down.sql (which would only queue behind the same lock
/// and then claim the stage is half applied).
#[test]
fn a_stage_that_changed_nothing_is_not_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_nothing", 100, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE")
        .unwrap();
    let (code, out) = apply(&db, dir.path(), 2, &GIVE_UP);
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Nothing changed"), "{out}");
    assert!(out.contains("down.sql was not run"), "{out}");
    assert!(!out.contains("half applied"), "{out}");
    assert!(!out.contains("rolling back"), "{out}");
    assert_eq!(index_is_valid(&db), "missing");
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][1]["state"], "failed");
    let message = report["stages"][1]["record"]["message"].as_str().unwrap();
    assert!(message.contains("lock timeout"), "{message}");
    assert!(message.contains("Nothing changed"), "{message}");
    // Once the lock is gone the same command finishes the stage.
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(index_is_valid(&db), "true");
}

/// D6: the stage's checks run under the stage's lock timeout: behind a lock that blocks even
/// reads, `apply` gives up after its retries instead of waiting in silence, and changes nothing.
#[test]
fn checks_give_up_on_a_held_lock_like_statements() {
    let dir = tempfile::tempdir().unwrap();
    // Stage 1 checks the backfill expression (no NULL, no duplicate for the unique index)
    // before it changes anything.
    let Some(db) = setup("apply_checklock", 100, dir.path()) else {
        return;
    };
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let started = Instant::now();
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &[
            "--lock-timeout",
            "200ms",
            "--retry-delay",
            "10ms",
            "--retries",
            "2",
        ],
    );
    let took = started.elapsed();
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("retry 1/2 of check"), "{out}");
    assert!(out.contains("could not run"), "{out}");
    assert!(took < Duration::from_secs(5), "{took:?}: {out}");
    // Not started: the stage is still ready.
    assert_eq!(states(&db, dir.path())[0], "ready");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email_lower'"
        ),
        "0"
    );
}

/// D1: applies racing on a database safeshift never touched: one runs the stage, every other
/// is refused with "another apply is running" or "already done" (exit 3), never a catalog
/// error from creating the history schema twice (exit 2).
#[test]
fn applies_racing_on_a_fresh_database_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_race", 100, dir.path()) else {
        return;
    };
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&bin)
                .arg("apply")
                .arg(dir.path().join("plan"))
                .args(["--stage", "1", "--database-url", &db.url])
                .env_remove("DATABASE_URL")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut codes = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let code = output.status.code().unwrap_or(-1);
        assert!(code == 0 || code == 3, "exit {code}: {text}");
        if code == 3 {
            assert!(
                text.contains("another `safeshift apply` is running")
                    || text.contains("already done"),
                "{text}"
            );
        }
        codes.push(code);
    }
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    assert_eq!(states(&db, dir.path())[0], "done");
}

/// D2: a server that closes idle sessions (`idle_session_timeout`) does not take away the
/// apply lock while a stage waits: a second apply meanwhile is refused, and the first one ends
/// done (not exit 2 with the history stuck at running).
#[test]
fn an_idle_session_timeout_does_not_drop_the_apply_lock() {
    if support::server_major() < 14 {
        // idle_session_timeout arrived in PostgreSQL 14: nothing to guard against before.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_idle", 100, dir.path()) else {
        return;
    };
    let name = value(&db, "SELECT current_database()");
    db.execute(&format!(
        "ALTER DATABASE \"{name}\" SET idle_session_timeout = '300ms'"
    ));
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let first = std::process::Command::new(&bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args(["--stage", "1", "--database-url", &db.url])
        .args([
            "--lock-timeout",
            "100ms",
            "--retry-delay",
            "500ms",
            "--max-retry-delay",
            "800ms",
            "--retries",
            "40",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("another `safeshift apply` is running"),
        "{out}"
    );
    holder.batch_execute("COMMIT").unwrap();
    let output = first.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(states(&db, dir.path())[0], "done");
}

/// `status` tells a live run from a dead one: while an apply runs, its stage is `running`;
/// after a kill -9 (no chance to record anything) it is `dead`, and the same command resumes.
#[test]
fn status_tells_a_live_run_from_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_dead", 3000, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let mut child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args([
            "--stage",
            "3",
            "--database-url",
            &db.url,
            "--pause",
            "100ms",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(states(&db, dir.path())[2], "running");
    child.kill().unwrap();
    child.wait().unwrap();
    // The server notices the closed connection (and drops its lock) a moment later.
    let until = Instant::now() + Duration::from_secs(10);
    while states(&db, dir.path())[2] != "dead" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(states(&db, dir.path())[2], "dead");
    let human = safeshift()
        .arg("status")
        .arg(dir.path().join("plan"))
        .args(["--database-url", &db.url])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("the run died"), "{human}");
    let (code, out) = apply(&db, dir.path(), 3, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("resuming after key"), "{out}");
    assert_eq!(states(&db, dir.path())[2], "done");
}

/// A session ended by the server while the stage waits (`pg_terminate_backend`, as a restart
/// or a DBA would): its own exit code (4), no rollback attempted on a dead session, and the
/// history records the cause instead of staying at running.
#[test]
fn a_lost_connection_has_its_own_exit_code_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_lost", 100, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE")
        .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args(["--stage", "2", "--database-url", &db.url])
        .args(["--lock-timeout", "30s"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The stage's session, waiting for its lock.
    let name = value(&db, "SELECT current_database()");
    let until = Instant::now() + Duration::from_secs(10);
    let terminated = loop {
        let done = value(
            &db,
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'safeshift' AND wait_event_type = 'Lock'"
            ),
        );
        if done != "0" || Instant::now() > until {
            break done;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(terminated, "1");
    let output = child.wait_with_output().unwrap();
    holder.batch_execute("COMMIT").unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(text.contains("connection to the server was lost"), "{text}");
    assert!(text.contains("Nothing was rolled back"), "{text}");
    assert!(!text.contains("rolling back"), "{text}");
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][1]["state"], "failed", "{report}");
    let message = report["stages"][1]["record"]["message"].as_str().unwrap();
    assert!(message.contains("connection"), "{message}");
    // The same command then finishes the stage.
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(index_is_valid(&db), "true");
}

/// plan.json holds every stage file's SHA-256: an edited file is refused unless the user says
/// so, and an edited backfill always (apply runs plan.json's description, not the file).
#[test]
fn an_edited_stage_file_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_edited", 100, dir.path()) else {
        return;
    };
    let plan = dir.path().join("plan");
    let up = plan.join("02-create-index-users_email_lower_key/up.sql");
    let text = fs::read_to_string(&up).unwrap();
    fs::write(&up, format!("{text}\n-- edited by hand\n")).unwrap();
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("02-create-index-users_email_lower_key/up.sql was edited"),
        "{out}"
    );
    assert!(out.contains("--allow-edited"), "{out}");
    assert_eq!(index_is_valid(&db), "missing");
    assert_eq!(states(&db, dir.path())[1], "ready");
    let (code, out) = apply(&db, dir.path(), 2, &["--allow-edited"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning (--allow-edited)"), "{out}");

    let backfill = plan.join("03-backfill-users-email_lower/up.sql");
    let text = fs::read_to_string(&backfill).unwrap();
    fs::write(&backfill, text.replace("lower(email)", "upper(email)")).unwrap();
    let (code, out) = apply(&db, dir.path(), 3, &["--allow-edited"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("re-plan"), "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM users WHERE email_lower IS NOT NULL"
        ),
        "0"
    );
}

/// apply's session runs a stage with parallel workers off unless told otherwise: on a busy
/// server a parallel scan or index build takes the CPU the app is using.
#[test]
fn a_stage_runs_without_parallel_workers_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_parallel", 100, dir.path()) else {
        return;
    };
    db.execute("CREATE TABLE parallel_seen (run serial, gather text, maintenance text)");
    let up = dir
        .path()
        .join("plan/02-create-index-users_email_lower_key/up.sql");
    let text = fs::read_to_string(&up).unwrap();
    fs::write(
        &up,
        format!(
            "{text}\nINSERT INTO parallel_seen (gather, maintenance) VALUES (current_setting('max_parallel_workers_per_gather'), current_setting('max_parallel_maintenance_workers'));\n"
        ),
    )
    .unwrap();
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let (code, out) = apply(&db, dir.path(), 2, &["--allow-edited"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = apply(
        &db,
        dir.path(),
        2,
        &["--allow-edited", "--rerun", "--parallel-workers", "3"],
    );
    assert_eq!(code, 0, "{out}");
    let config = dir.path().join("safeshift.toml");
    fs::write(&config, "[apply]\nparallel-workers = 1\n").unwrap();
    let config = config.to_string_lossy();
    let (code, out) = apply(
        &db,
        dir.path(),
        2,
        &["--allow-edited", "--rerun", "--config", &config],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT string_agg(gather || '/' || maintenance, ' ' ORDER BY run) FROM parallel_seen"
        ),
        "0/0 3/3 1/1"
    );
}

/// The plan id does not depend on where the plan was made from: the same change planned from
/// another directory finds the history. A history an older safeshift recorded under the id of
/// plan.json's bytes is found and taken over.
#[test]
fn the_plan_id_does_not_depend_on_where_it_was_planned_from() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_planid", 100, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let sub = dir.path().join("elsewhere");
    fs::create_dir_all(&sub).unwrap();
    safeshift()
        .current_dir(&sub)
        .args([
            "plan",
            "../change.sql",
            "--schema",
            "../schema.sql",
            "--server-version",
            &support::server_version(),
        ])
        .args(["--batch-size", "100", "--out", "plan"])
        .assert()
        .success();
    let states_of = |plan: &Path| -> Vec<String> {
        let out = safeshift()
            .arg("status")
            .arg(plan)
            .args(["--database-url", &db.url, "--format", "json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap().to_string())
            .collect()
    };
    let elsewhere = sub.join("plan");
    assert_eq!(states_of(&elsewhere)[0], "done");

    // An older safeshift's history: keyed by the first 16 hex digits of plan.json's SHA-256.
    let bytes = fs::read(dir.path().join("plan/plan.json")).unwrap();
    let legacy: String = Sha256::digest(&bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    db.execute(&format!(
        "UPDATE safeshift.applied_stages SET plan_id = '{legacy}'"
    ));
    assert_eq!(states(&db, dir.path())[0], "done");
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        value(
            &db,
            &format!("SELECT count(*) FROM safeshift.applied_stages WHERE plan_id = '{legacy}'")
        ),
        "0"
    );
    assert_eq!(&states_of(&elsewhere)[..2], ["done", "done"]);
}

/// `--target-batch-time` adapts the backfill's batch size (quick batches grow it), and
/// `--max-replica-lag` lets the backfill run when no replica lags (none here).
#[test]
fn a_backfill_adapts_its_batch_size_to_a_target_time() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_adaptive", 3000, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let (code, out) = apply(
        &db,
        dir.path(),
        3,
        &[
            "--batch-size",
            "10",
            "--target-batch-time",
            "5s",
            "--max-replica-lag",
            "10s",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("batch size now 20 rows"), "{out}");
    assert!(out.contains("batch size now 40 rows"), "{out}");
    assert!(!out.contains("waiting: replica"), "{out}");
    assert_eq!(
        value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
}

/// A batch holds its rows until it commits, and the pause between batches cannot see an app
/// session waiting for one of them: a batch that took longer than half of
/// `--max-app-lock-wait` is followed by a smaller one, with no `--target-batch-time` given.
#[test]
fn a_backfill_batch_slower_than_half_the_app_lock_wait_limit_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_lock_ceiling", 600, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    // Every updated row costs 2 ms: a batch of 200 rows holds its rows for about 0.4 s.
    db.execute(
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$;
         CREATE TRIGGER slow_row BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION slow_row();",
    );
    let (code, out) = apply(
        &db,
        dir.path(),
        3,
        &["--batch-size", "200", "--max-app-lock-wait", "400ms"],
    );
    assert_eq!(code, 0, "{out}");
    let sizes: Vec<u64> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("batch size now "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        sizes
            .first()
            .is_some_and(|&first| (50..200).contains(&first)),
        "the first slow batch shrinks the next (by at most a quarter): {sizes:?}\n{out}"
    );
    assert_eq!(
        value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
    // Off: the plan's size stays, however long a batch takes.
    db.execute("UPDATE users SET email_lower = NULL WHERE id > 400");
    db.execute("DELETE FROM safeshift.applied_stages WHERE stage = 3");
    let (code, out) = apply(
        &db,
        dir.path(),
        3,
        &["--batch-size", "200", "--max-app-lock-wait", "off"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("batch size now"), "{out}");
}

/// A transaction holding an old snapshot would make `CREATE INDEX CONCURRENTLY` give up on its
/// lock timeout after building the whole index (left INVALID, rebuilt by every retry): apply
/// waits for such transactions before the build instead, and the build runs once.
#[test]
fn a_concurrent_build_waits_for_old_snapshots_instead_of_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_snapshots", 2000, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM users")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2000));
        holder.batch_execute("COMMIT").unwrap();
    });
    let (code, out) = apply(
        &db,
        dir.path(),
        2,
        &[
            "--lock-timeout",
            "300ms",
            "--retry-delay",
            "100ms",
            "--max-retry-delay",
            "500ms",
            "--retries",
            "20",
        ],
    );
    release.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("older than the index build"), "{out}");
    assert!(!out.contains("retry"), "{out}");
    assert_eq!(index_is_valid(&db), "true");
}

/// The history's own session is ended (as by a restart of a pooler or a DBA) while the stage
/// runs: apply connects again, retakes the plan's lock and records the stage as done, instead
/// of exiting 2 with the history stuck at running.
#[test]
fn a_lost_history_session_is_reconnected_to_record_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_relog", 100, dir.path()) else {
        return;
    };
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE")
        .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args(["--stage", "1", "--database-url", &db.url])
        .args(["--lock-timeout", "30s"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let name = value(&db, "SELECT current_database()");
    let until = Instant::now() + Duration::from_secs(10);
    // Once the stage waits for its lock, end the other (idle) safeshift session: the history's.
    let terminated = loop {
        let waiting = value(
            &db,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'safeshift' AND wait_event_type = 'Lock'"
            ),
        );
        if waiting == "1" {
            break value(
                &db,
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'safeshift' AND state = 'idle'"
                ),
            );
        }
        assert!(Instant::now() < until, "the stage never waited");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(terminated, "1");
    holder.batch_execute("COMMIT").unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("connecting again"), "{text}");
    assert_eq!(states(&db, dir.path())[0], "done");
}

/// A lock holder during the rollback: the statement that took effect is named, the rollback
/// that gave up on the lock is reported as such ("half applied"), and the history keeps the
/// cause of the failure.
#[test]
fn a_rollback_behind_a_lock_reports_what_took_effect() {
    let Some(db) = ScratchDb::create("apply_rblock") else {
        return;
    };
    db.execute("CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100)");
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("plan/01-fails");
    fs::create_dir_all(&stage).unwrap();
    fs::write(
        stage.join("up.sql"),
        "SET lock_timeout = '100ms';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_x_idx ON t (x);\nSELECT 1 / 0;\n",
    )
    .unwrap();
    fs::write(
        stage.join("down.sql"),
        "SET lock_timeout = '100ms';\nDROP INDEX IF EXISTS t_x_idx;\n",
    )
    .unwrap();
    let plan = serde_json::json!({
        "version": 1, "dialect": "postgres", "server_version": "15", "source": "x.sql",
        "stages": [{"index": 1, "name": "fails after an index", "dir": "01-fails", "phase": "expand",
                    "kind": "database", "up": "01-fails/up.sql", "down": "01-fails/down.sql",
                    "transactional": false, "depends_on": [], "steps": []}]
    });
    fs::write(dir.path().join("plan/plan.json"), plan.to_string()).unwrap();
    // Reads of t: no obstacle to the concurrent build, but DROP INDEX must wait for them.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE")
        .unwrap();
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &["--retries", "1", "--retry-delay", "10ms"],
    );
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("division by zero"), "{out}");
    assert!(
        out.contains("statement 2 of the stage's file took effect"),
        "{out}"
    );
    assert!(out.contains("rollback failed too"), "{out}");
    assert!(out.contains("half applied"), "{out}");
    assert_eq!(value(&db, "SELECT to_regclass('t_x_idx') IS NOT NULL"), "t");
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][0]["state"], "failed");
    let message = report["stages"][0]["record"]["message"].as_str().unwrap();
    assert!(message.contains("division by zero"), "{message}");
    assert!(message.contains("half applied"), "{message}");
}

/// The apply lock is checked before every batch: when its session is lost and another apply
/// takes the lock meanwhile, the run stops (exit 4) instead of going on beside the other one,
/// and leaves the history to the lock's holder.
#[test]
fn a_run_whose_lock_was_taken_stops() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup_plain("apply_locklost", 3000, dir.path()) else {
        return;
    };
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let plan_id = status(&db, dir.path())["plan_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args([
            "--stage",
            "3",
            "--database-url",
            &db.url,
            "--pause",
            "200ms",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // End the session holding the lock, and take the lock as "another apply" would.
    let mut thief = db.client();
    let name = value(&db, "SELECT current_database()");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let holder: Option<i32> = thief
            .query_opt(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
                &[&name],
            )
            .unwrap()
            .map(|row| row.get(0));
        if let Some(pid) = holder {
            thief
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .unwrap();
            let got: bool = thief
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended('safeshift:' || $1, 0))",
                    &[&plan_id],
                )
                .unwrap()
                .get(0);
            if got {
                break;
            }
        }
        assert!(Instant::now() < until, "could not take the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(
        text.contains("another `safeshift apply` holds it now"),
        "{text}"
    );
    let left: i64 = value(&db, "SELECT count(*) FROM users WHERE email_lower IS NULL")
        .parse()
        .unwrap();
    assert!(left > 0, "the run went on without its lock");
    drop(thief);
}

/// A table without a primary key (PostgreSQL 14+): `apply` walks it by heap blocks, resumes by
/// block, and sweeps rows an update moved past the walk; every row ends filled.
#[test]
fn apply_backfills_a_table_without_a_key_by_blocks() {
    if support::server_major() < 14 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = ScratchDb::create("apply_keyless") else {
        return;
    };
    let schema = "CREATE TABLE hits (path text NOT NULL, n integer);";
    db.execute(schema);
    db.execute(
        "INSERT INTO hits SELECT '/p/' || g, g FROM generate_series(1, 20000) g; ANALYZE hits;",
    );
    fs::write(dir.path().join("schema.sql"), schema).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "-- safeshift: backfill = upper(path)\nALTER TABLE hits ADD COLUMN upper_path text NOT NULL;\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args([
            "plan",
            "change.sql",
            "--schema",
            "schema.sql",
            "--server-version",
        ])
        .arg(support::server_version())
        .args(["--batch-size", "1000", "--out", "plan"])
        .assert()
        .success();
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    // Rows moved after the walk began are found by the sweep (the trigger fills them too).
    db.execute("UPDATE hits SET n = n + 1 WHERE n % 97 = 0");
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM hits WHERE upper_path IS DISTINCT FROM upper(path)"
        ),
        "0"
    );
}

/// A composite key is walked by row value, and an interrupted walk resumes after the row it
/// stopped at (its resume key is the key's columns as a JSON array).
#[test]
fn apply_walks_and_resumes_a_composite_key() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = ScratchDb::create("apply_composite") else {
        return;
    };
    let schema = "CREATE TABLE memberships (tenant_id integer NOT NULL, id bigint NOT NULL, role text NOT NULL, PRIMARY KEY (tenant_id, id));";
    db.execute(schema);
    db.execute(
        "INSERT INTO memberships SELECT t, g, 'role ' || g FROM generate_series(1, 3) t, generate_series(1, 1000) g;",
    );
    fs::write(dir.path().join("schema.sql"), schema).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "-- safeshift: backfill = upper(role)\nALTER TABLE memberships ADD COLUMN role_code text NOT NULL;\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .arg("--server-version")
        .arg(support::server_version())
        .args(["--batch-size", "100", "--out", "plan"])
        .assert()
        .success();
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args(["--stage", "2", "--database-url", &db.url])
        .args(["--pause", "100ms"])
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
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let left: i64 = value(
        &db,
        "SELECT count(*) FROM memberships WHERE role_code IS NULL",
    )
    .parse()
    .unwrap();
    assert!(left > 0 && left < 3000, "{left} rows left");
    let report = status(&db, dir.path());
    let key = report["stages"][1]["record"]["resume_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("0:[\""), "{key}");
    // The rows before the resume key are filled, none after it: the walk followed the whole key.
    let last: Vec<String> = serde_json::from_str(key.trim_start_matches("0:")).unwrap();
    let filled_after = value(
        &db,
        &format!(
            "SELECT count(*) FROM memberships WHERE (tenant_id, id) > ({}, {}) AND role_code IS NOT NULL",
            last[0], last[1]
        ),
    );
    assert_eq!(filled_after, "0");

    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM memberships WHERE role_code IS DISTINCT FROM upper(role)"
        ),
        "0"
    );
}

/// Issue 14: a stage over unrelated tables commits table by table. When the last table's lock
/// cannot be had, the tables before it stay changed (each transaction is the whole change of its
/// tables), the history says so, and the next run goes on from the table that failed instead of
/// running the others again (their ADD COLUMN would fail with "already exists").
#[test]
fn a_stage_that_commits_per_table_goes_on_from_the_table_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = ScratchDb::create("apply_per_table") else {
        return;
    };
    let schema = "CREATE TABLE a (id bigint PRIMARY KEY);
CREATE TABLE b (id bigint PRIMARY KEY);
CREATE TABLE c (id bigint PRIMARY KEY);";
    db.execute(schema);
    fs::write(dir.path().join("schema.sql"), schema).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "ALTER TABLE a ADD COLUMN note text;\nALTER TABLE b ADD COLUMN note text;\nALTER TABLE c ADD COLUMN note text;\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args([
            "plan",
            "change.sql",
            "--schema",
            "schema.sql",
            "--out",
            "plan",
        ])
        .args(["--server-version", &support::server_version()])
        .assert()
        .success();
    let columns = || {
        value(
            &db,
            "SELECT string_agg(table_name::text, ',' ORDER BY table_name) FROM information_schema.columns WHERE column_name = 'note' AND table_schema = 'public'",
        )
    };

    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE c IN ACCESS SHARE MODE")
        .unwrap();
    let fast = [
        "--lock-timeout",
        "50ms",
        "--retry-delay",
        "10ms",
        "--retries",
        "1",
    ];
    let (code, out) = apply(&db, dir.path(), 1, &fast);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("one transaction per table (3)"), "{out}");
    assert!(
        out.contains("committed and stay")
            && out.contains("goes on from the transaction that failed"),
        "{out}"
    );
    assert_eq!(columns(), "a,b", "a and b committed, c rolled back");
    assert_eq!(states(&db, dir.path())[0], "failed");

    holder.batch_execute("COMMIT").unwrap();
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("going on after statement"), "{out}");
    assert_eq!(columns(), "a,b,c");
    assert_eq!(states(&db, dir.path())[0], "done");

    // Done is done: the resume point is gone, and down.sql undoes every table.
    let down = dir.path().join("plan").join(
        fs::read_dir(dir.path().join("plan"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("01-"))
            .unwrap(),
    );
    db.psql_file(&down.join("down.sql")).unwrap();
    assert_eq!(columns(), "NULL");
}
