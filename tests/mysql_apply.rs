//! `safeshift apply` and `status` on a real MariaDB (SAFESHIFT_TEST_MYSQL): stages run in order
//! and are recorded in `safeshift`.`applied_stages`; out-of-order, repeated and unconfirmed
//! stages are refused; a stage waits and retries while another session's open transaction holds
//! the table's metadata lock (error 1205), and succeeds once it is released; a failed stage is
//! rolled back with its down.sql and recorded; an interrupted backfill resumes.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mysql::prelude::Queryable;
use support::mysql::ScratchMysql;

const SCHEMA: &str = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
";

const CHANGE: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";

fn safeshift() -> Command {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.env_remove("DATABASE_URL");
    cmd
}

/// A scratch database with `rows` users, and the MariaDB plan for CHANGE written in `dir`.
fn setup(tag: &str, rows: u32, dir: &Path) -> Option<ScratchMysql> {
    let server = support::mysql::server()?;
    let db = ScratchMysql::create(&server, tag);
    db.execute(SCHEMA);
    if rows > 0 {
        db.execute(&format!(
            "INSERT INTO users (id, email)
             WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
               g (n) AS (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + e.n + 1 FROM d a, d b, d c, d e)
             SELECT n, CONCAT('User', n, '@Example.com') FROM g WHERE n <= {rows};"
        ));
    }
    fs::write(dir.join("schema.sql"), SCHEMA).unwrap();
    fs::write(dir.join("change.sql"), CHANGE).unwrap();
    safeshift()
        .current_dir(dir)
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args([
            "--dialect",
            "mariadb",
            "--batch-size",
            "100",
            "--out",
            "plan",
        ])
        .assert()
        .success();
    Some(db)
}

fn apply(db: &ScratchMysql, dir: &Path, stage: u32, extra: &[&str]) -> (i32, String) {
    let out = safeshift()
        .arg("apply")
        .arg(dir.join("plan"))
        .args(["--stage", &stage.to_string(), "--database-url", &db.url()])
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

fn status(db: &ScratchMysql, dir: &Path) -> serde_json::Value {
    let out = safeshift()
        .arg("status")
        .arg(dir.join("plan"))
        .args(["--database-url", &db.url(), "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn states(db: &ScratchMysql, dir: &Path) -> Vec<String> {
    status(db, dir)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

fn value(db: &ScratchMysql, sql: &str) -> String {
    db.first_value(sql).unwrap_or_default()
}

/// The history lives in the server-wide `safeshift` database, one row per database, plan and
/// stage: the scratch database's rows go with it.
struct ForgetHistory<'a>(&'a ScratchMysql);

impl Drop for ForgetHistory<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_execute(&format!(
            "DELETE FROM safeshift.applied_stages WHERE database_name = '{}';",
            self.0.name
        ));
    }
}

#[test]
fn stages_run_in_order_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_order", 1000, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
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
        value(&db, "SELECT COUNT(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM users WHERE email_lower = LOWER(email)"
        ),
        "1000"
    );

    // Done stages are not run again unless asked.
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("already done"), "{out}");
    let (code, out) = apply(&db, dir.path(), 1, &["--rerun"]);
    assert_eq!(code, 0, "{out}");

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
            "SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'"
        ),
        "NO"
    );
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        ),
        "0"
    );
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][0]["record"]["attempts"], 2);
    assert!(
        report["stages"][0]["record"]["finished_at"]
            .as_str()
            .unwrap()
            .ends_with("UTC")
    );
    let human = safeshift()
        .arg("status")
        .arg(dir.path().join("plan"))
        .args(["--database-url", &db.url()])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("every stage is done"), "{human}");
    assert!(human.contains(" 1. done "), "{human}");
}

/// Opens a transaction that reads `users` on its own connection: until it ends, the session
/// holds the table's shared metadata lock, which every ALTER must wait for.
fn hold_metadata_lock(db: &ScratchMysql) -> mysql::Conn {
    let mut conn = safeshift::db::mysql::connect(&db.url()).unwrap();
    conn.query_drop("START TRANSACTION").unwrap();
    let _: Option<u64> = conn.query_first("SELECT COUNT(*) FROM users").unwrap();
    conn
}

#[test]
fn a_stage_waits_behind_a_metadata_lock_and_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_lock", 100, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    let mut holder = hold_metadata_lock(&db);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        holder.query_drop("COMMIT").unwrap();
    });
    let started = Instant::now();
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &[
            "--lock-timeout",
            "1s",
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
    assert!(out.contains("Lock wait timeout exceeded"), "{out}");
    assert!(out.contains("error 1205"), "{out}");
    assert!(started.elapsed() >= Duration::from_millis(2400));
    assert_eq!(states(&db, dir.path())[0], "done");
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'"
        ),
        "1"
    );
}

/// D5 on MariaDB: the stage gave up on the lock before any statement took effect, so nothing
/// changed and its down.sql (which would wait for the same lock) is not run.
#[test]
fn out_of_retries_fails_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_giveup", 100, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    let mut holder = hold_metadata_lock(&db);
    let (code, out) = apply(
        &db,
        dir.path(),
        1,
        &[
            "--lock-timeout",
            "1s",
            "--retry-delay",
            "10ms",
            "--retries",
            "1",
        ],
    );
    holder.query_drop("COMMIT").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("retry 1/1"), "{out}");
    assert!(out.contains("Nothing changed"), "{out}");
    assert!(out.contains("down.sql was not run"), "{out}");
    assert!(!out.contains("half applied"), "{out}");
    assert!(out.contains("information_schema.PROCESSLIST"), "{out}");
    assert_eq!(states(&db, dir.path())[0], "failed");
    let report = status(&db, dir.path());
    let message = report["stages"][0]["record"]["message"].as_str().unwrap();
    assert!(message.contains("Lock wait timeout exceeded"), "{message}");
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'"
        ),
        "0"
    );
}

/// A one-stage MariaDB plan whose statements commit one by one: it creates a table, fills it
/// through a stored procedure (a `DELIMITER` block, as backfill files have), then fails.
fn failing_plan(dir: &Path) {
    let stage = dir.join("plan/01-fails");
    fs::create_dir_all(&stage).unwrap();
    fs::write(
        stage.join("up.sql"),
        "-- a stage that fails half way\nSET SESSION lock_wait_timeout = 2;\nCREATE TABLE made_by_stage (id int);\nDROP PROCEDURE IF EXISTS made_by_stage_fill;\nDELIMITER $$\nCREATE PROCEDURE made_by_stage_fill()\nBEGIN\n  INSERT INTO made_by_stage VALUES (1);\n  INSERT INTO made_by_stage VALUES (2); -- two; statements\nEND$$\nDELIMITER ;\nCALL made_by_stage_fill();\nDROP PROCEDURE made_by_stage_fill;\nSELECT * FROM no_such_table;\n",
    )
    .unwrap();
    fs::write(
        stage.join("down.sql"),
        "DROP TABLE IF EXISTS made_by_stage;\n",
    )
    .unwrap();
    let plan = serde_json::json!({
        "version": 1, "dialect": "mariadb", "server_version": "10.11", "source": "x.sql",
        "stages": [{"index": 1, "name": "fails halfway", "dir": "01-fails", "phase": "expand",
                    "kind": "database", "up": "01-fails/up.sql", "down": "01-fails/down.sql",
                    "transactional": false, "depends_on": [], "steps": []}]
    });
    fs::write(dir.join("plan/plan.json"), plan.to_string()).unwrap();
}

#[test]
fn a_failed_stage_is_rolled_back_and_recorded() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "apply_rollback");
    let dir = tempfile::tempdir().unwrap();
    failing_plan(dir.path());
    let _forget = ForgetHistory(&db);
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no_such_table' doesn't exist"), "{out}");
    assert!(out.contains("(line 14)"), "{out}");
    assert!(out.contains("Rolled back"), "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'made_by_stage'"
        ),
        "0"
    );
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][0]["state"], "rolled-back");
    assert!(
        report["stages"][0]["record"]["message"]
            .as_str()
            .unwrap()
            .contains("Rolled back")
    );

    // Without rollback the finished statements stay (the procedure ran: both rows are there),
    // and the message says how to undo it with the client.
    let (code, out) = apply(&db, dir.path(), 1, &["--no-rollback"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Not rolled back"), "{out}");
    assert!(out.contains("mariadb --batch"), "{out}");
    assert_eq!(value(&db, "SELECT COUNT(*) FROM made_by_stage"), "2");
    assert_eq!(states(&db, dir.path())[0], "failed");
}

#[test]
fn an_interrupted_backfill_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_resume", 3000, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    // 30 batches of 100 rows, 100 ms apart: Ctrl-C lands in the middle.
    let child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args([
            "--stage",
            "2",
            "--database-url",
            &db.url(),
            "--pause",
            "100ms",
        ])
        .env_remove("DATABASE_URL")
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
    let left: i64 = value(&db, "SELECT COUNT(*) FROM users WHERE email_lower IS NULL")
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
        value(&db, "SELECT COUNT(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
}

#[test]
fn a_plan_and_a_server_of_different_engines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    failing_plan(dir.path());
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
        .stderr(predicates::str::contains("needs a mysql://"));
    safeshift()
        .args(["status", "--database-url", "mysql://root@127.0.0.1:1/x"])
        .arg(dir.path().join("plan"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot connect"));
    // A PostgreSQL-only setting is refused before connecting, not silently ignored.
    safeshift()
        .args([
            "apply",
            "--stage",
            "1",
            "--parallel-workers",
            "2",
            "--database-url",
            "mysql://root@127.0.0.1:1/x",
        ])
        .arg(dir.path().join("plan"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--parallel-workers works on PostgreSQL only",
        ));
}

#[test]
fn a_backfill_walks_text_keys_with_quotes_and_backslashes() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "apply_text_keys");
    let _forget = ForgetHistory(&db);
    let schema = "CREATE TABLE tags (
  code varchar(20) NOT NULL,
  label varchar(50) NOT NULL,
  PRIMARY KEY (code)
) ENGINE=InnoDB;
";
    db.execute(schema);
    // Keys that break a naively quoted literal; the backfill resumes after each one (batches
    // of 1), so every one goes back to the server as a literal.
    db.execute(
        r"INSERT INTO tags VALUES ('a\\b', 'one'), ('it''s', 'two'), ('x'';--', 'three'), ('\\''', 'four'), ('z', 'five');",
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("schema.sql"), schema).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "-- safeshift: backfill = upper(label)\nALTER TABLE tags ADD COLUMN label_upper varchar(50) NOT NULL;\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args(["--dialect", "mariadb", "--batch-size", "1", "--out", "plan"])
        .assert()
        .success();
    for stage in 1..=2 {
        let (code, out) = apply(&db, dir.path(), stage, &[]);
        assert_eq!(code, 0, "stage {stage}: {out}");
        if stage == 2 {
            assert!(out.contains("walked 5 rows"), "{out}");
        }
    }
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM tags WHERE label_upper = UPPER(label)"
        ),
        "5"
    );
}

/// A stage that fails while it holds `LOCK TABLES … WRITE` leaves no table locked: the runner
/// unlocks before rolling back and recording (were `users` still locked on that connection,
/// writing the history would fail), and another session writes the table at once.
#[test]
fn a_stage_failing_under_lock_tables_leaves_nothing_locked() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "apply_unlock");
    db.execute(SCHEMA);
    db.execute("CREATE TABLE other (id int);");
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("plan/01-locks");
    fs::create_dir_all(&stage).unwrap();
    fs::write(
        stage.join("up.sql"),
        "SET SESSION lock_wait_timeout = 2;\nLOCK TABLES users WRITE;\nINSERT INTO users (id, email) VALUES (1, 'a@b.c');\nSELECT * FROM no_such_table;\nUNLOCK TABLES;\n",
    )
    .unwrap();
    // The down.sql writes another table: under a lock left behind that would fail ("was not
    // locked with LOCK TABLES").
    fs::write(
        stage.join("down.sql"),
        "DELETE FROM users WHERE id = 1;\nINSERT INTO other VALUES (1);\n",
    )
    .unwrap();
    let plan = serde_json::json!({
        "version": 1, "dialect": "mariadb", "server_version": "10.11", "source": "x.sql",
        "stages": [{"index": 1, "name": "fails while locked", "dir": "01-locks", "phase": "contract",
                    "kind": "database", "up": "01-locks/up.sql", "down": "01-locks/down.sql",
                    "transactional": false, "depends_on": [], "steps": []}]
    });
    fs::write(dir.path().join("plan/plan.json"), plan.to_string()).unwrap();
    let _forget = ForgetHistory(&db);
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("was not locked with LOCK TABLES"), "{out}");
    assert!(out.contains("Rolled back"), "{out}");
    assert_eq!(states(&db, dir.path())[0], "rolled-back");
    // The down.sql ran after the unlock, on the same connection.
    assert_eq!(value(&db, "SELECT COUNT(*) FROM users"), "0");
    assert_eq!(value(&db, "SELECT COUNT(*) FROM other"), "1");
    db.execute(
        "SET SESSION lock_wait_timeout = 1; INSERT INTO users (id, email) VALUES (2, 'x@y.z');",
    );
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
    assert!(out.to_lowercase().contains("bob@x.com"), "{out}");
    assert!(out.contains("users_email_lower_key"), "{out}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'"
        ),
        "0"
    );
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        ),
        "0"
    );
    assert_eq!(states(&db, dir.path())[0], "ready");

    db.execute("UPDATE users SET email = 'robert@x.com' WHERE id = 31;");
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
}

/// D4 on MariaDB: a `--rerun` of a finished index or NOT NULL stage that gives up on a
/// metadata lock never runs down.sql (which would drop the unique index or the NOT NULL); the
/// stages stay done and the history says why the rerun failed.
#[test]
fn a_failed_rerun_never_undoes_a_finished_stage() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_rerun", 300, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    // 1 add + fill triggers, 2 backfill, 3 deploy, 4 NOT NULL + unique index, 5 drop triggers.
    for stage in 1..=2 {
        assert_eq!(apply(&db, dir.path(), stage, &[]).0, 0, "stage {stage}");
    }
    assert_eq!(apply(&db, dir.path(), 3, &["--confirm"]).0, 0);
    for stage in 4..=5 {
        assert_eq!(apply(&db, dir.path(), stage, &[]).0, 0, "stage {stage}");
    }
    let index = "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND INDEX_NAME = 'users_email_lower_key'";
    let nullable = "SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'";
    assert_eq!(value(&db, index), "1");
    assert_eq!(value(&db, nullable), "NO");

    let mut holder = hold_metadata_lock(&db);
    {
        let stage = 4;
        let (code, out) = apply(
            &db,
            dir.path(),
            stage,
            &[
                "--rerun",
                "--lock-timeout",
                "1s",
                "--retry-delay",
                "10ms",
                "--retries",
                "1",
            ],
        );
        assert_eq!(code, 1, "stage {stage}: {out}");
        assert!(out.contains("Nothing was rolled back"), "{out}");
        assert!(out.contains("stays done"), "{out}");
        assert!(!out.contains("rolling back"), "{out}");
    }
    holder.query_drop("COMMIT").unwrap();
    assert_eq!(value(&db, index), "1");
    assert_eq!(value(&db, nullable), "NO");
    let report = status(&db, dir.path());
    assert_eq!(report["stages"][3]["state"], "done", "{report}");
    let message = report["stages"][3]["record"]["message"].as_str().unwrap();
    assert!(message.contains("Lock wait timeout exceeded"), "{message}");
    assert_eq!(states(&db, dir.path()), vec!["done"; 5]);
}

/// `status` tells a live run from a dead one on MariaDB too: `running` while the apply holds
/// its named lock, `dead` after a kill -9; the same command then resumes the backfill.
#[test]
fn status_tells_a_live_run_from_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_dead", 3000, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let mut child = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args([
            "--stage",
            "2",
            "--database-url",
            &db.url(),
            "--pause",
            "100ms",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(states(&db, dir.path())[1], "running");
    child.kill().unwrap();
    child.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while states(&db, dir.path())[1] != "dead" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(states(&db, dir.path())[1], "dead");
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("resuming after key"), "{out}");
    assert_eq!(states(&db, dir.path())[1], "done");
}

/// `--target-batch-time` adapts the backfill's batch size on MariaDB too; `--max-replica-lag`
/// without `--replica-url` is refused there (the primary does not show its replicas' lag).
#[test]
fn a_backfill_adapts_its_batch_size_to_a_target_time() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_adaptive", 3000, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    let (code, out) = apply(&db, dir.path(), 2, &["--max-replica-lag", "1s"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--replica-url"), "{out}");
    let (code, out) = apply(
        &db,
        dir.path(),
        2,
        &["--batch-size", "10", "--target-batch-time", "5s"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("batch size now 20 rows"), "{out}");
    assert_eq!(
        value(&db, "SELECT COUNT(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
}

/// D6 on MariaDB: the stage's checks run under the lock timeout: behind `LOCK TABLES … WRITE`
/// (which blocks even reads) apply retries them and gives up, changing nothing, instead of
/// waiting in silence.
#[test]
fn checks_give_up_on_a_held_lock_like_statements() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_checklock", 100, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    // Stage 4 (NOT NULL and the unique index) checks the table before it changes anything.
    assert_eq!(apply(&db, dir.path(), 1, &[]).0, 0);
    assert_eq!(apply(&db, dir.path(), 2, &[]).0, 0);
    assert_eq!(apply(&db, dir.path(), 3, &["--confirm"]).0, 0);
    let mut holder = safeshift::db::mysql::connect(&db.url()).unwrap();
    holder.query_drop("LOCK TABLES users WRITE").unwrap();
    let started = Instant::now();
    let (code, out) = apply(
        &db,
        dir.path(),
        4,
        &[
            "--lock-timeout",
            "1s",
            "--retry-delay",
            "10ms",
            "--retries",
            "1",
        ],
    );
    let took = started.elapsed();
    holder.query_drop("UNLOCK TABLES").unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("retry 1/1 of check"), "{out}");
    assert!(out.contains("could not run"), "{out}");
    assert!(took < Duration::from_secs(8), "{took:?}: {out}");
    assert_eq!(states(&db, dir.path())[3], "ready");
}

/// The history is keyed by an id kept in the database itself (a marker table the first apply
/// makes): a database dropped and made again under the same name has none of the old history.
#[test]
fn a_database_made_again_under_its_name_starts_with_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_recreated", 10, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(states(&db, dir.path())[0], "done");
    let marker = |db: &ScratchMysql| value(db, "SELECT id FROM safeshift_database_id");
    let first_id = marker(&db);
    assert_eq!(first_id.len(), 36, "a UUID: {first_id}");

    db.execute(&format!(
        "DROP DATABASE `{0}`; CREATE DATABASE `{0}`; USE `{0}`;",
        db.name
    ));
    db.execute(SCHEMA);
    assert_eq!(
        states(&db, dir.path())[..2],
        ["ready", "pending"],
        "the dropped database's history shows on the new one"
    );
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "stage 1 runs again on the new database: {out}");
    assert_eq!(
        value(
            &db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email_lower'"
        ),
        "1"
    );
    assert_ne!(marker(&db), first_id, "the new database has its own id");
    assert_eq!(states(&db, dir.path())[0], "done");
    // Both databases' rows are kept, each under its own id.
    assert_eq!(
        value(
            &db,
            &format!(
                "SELECT COUNT(DISTINCT database_id) FROM safeshift.applied_stages WHERE database_name = '{}'",
                db.name
            )
        ),
        "2"
    );
}

/// Rows written before databases had ids (database_id '') belong to the database of that name
/// until its first apply gives them its id: `status` shows them, `apply` goes on after them.
#[test]
fn history_written_before_database_ids_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = setup("apply_legacy_rows", 10, dir.path()) else {
        return;
    };
    let _forget = ForgetHistory(&db);
    // The plan's id, and the history table in its current shape, from a first status/apply.
    let (code, out) = apply(&db, dir.path(), 1, &[]);
    assert_eq!(code, 0, "{out}");
    // Made as an older safeshift left it: no marker table, the row's id empty.
    db.execute(&format!(
        "DROP TABLE safeshift_database_id; UPDATE safeshift.applied_stages SET database_id = '' WHERE database_name = '{}';",
        db.name
    ));
    assert_eq!(states(&db, dir.path())[..2], ["done", "ready"]);
    let (code, out) = apply(&db, dir.path(), 2, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(states(&db, dir.path())[..2], ["done", "done"]);
    assert_eq!(
        value(
            &db,
            &format!(
                "SELECT COUNT(*) FROM safeshift.applied_stages WHERE database_name = '{}' AND database_id = (SELECT id FROM safeshift_database_id)",
                db.name
            )
        ),
        "2",
        "the old row now carries the database's id"
    );
}
