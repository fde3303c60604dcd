//! The `safeshift` binary with `--dialect mysql|mariadb`: what plan writes, what lint and gate
//! decide, and what the PostgreSQL-only commands refuse.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/mysql")
        .join(file)
}

fn plan(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = safeshift();
    cmd.arg("plan")
        .arg(example("change.sql"))
        .arg("--schema")
        .arg(example("schema.sql"))
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

#[test]
fn plan_for_mariadb_names_the_engine_and_writes_client_ready_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    plan(&out, &["--dialect", "mariadb", "--server-version", "10.11"])
        .assert()
        .success()
        .stdout(predicate::str::contains("MariaDB 10.11"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(json["dialect"], "mariadb");
    assert_eq!(json["server_version"], "10.11");
    for stage in json["stages"].as_array().unwrap() {
        assert_eq!(stage["transactional"], false, "{stage}");
        if let Some(up) = stage["up"].as_str() {
            let sql = fs::read_to_string(out.join(up)).unwrap();
            assert!(sql.contains("SET SESSION lock_wait_timeout = 2;"), "{sql}");
            assert!(sql.contains("mariadb --batch"), "{sql}");
            assert!(!sql.contains("BEGIN;"), "{sql}");
            // Every ALTER names its algorithm, so the server refuses rather than copies.
            for line in sql.lines().filter(|l| l.starts_with("ALTER TABLE")) {
                assert!(line.contains("ALGORITHM="), "{line}");
            }
        }
    }
    let plan_md = fs::read_to_string(out.join("PLAN.md")).unwrap();
    assert!(plan_md.contains("MariaDB 10.11"), "{plan_md}");
}

#[test]
fn online_tool_stage_carries_the_command_and_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    plan(
        &out,
        &[
            "--dialect",
            "mysql",
            "--server-version",
            "8.0.35",
            "--online-tool",
            "gh-ost",
        ],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("tool run"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let tool = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tool")
        .expect("a tool stage");
    assert_eq!(tool["up"], Value::Null);
    assert_eq!(tool["reversible"], false);
    let command = tool["steps"][0]["command"].as_str().unwrap();
    for flag in [
        "gh-ost",
        "--table=users",
        "--max-lag-millis",
        "--cut-over",
        "--postpone-cut-over-flag-file",
        "MODIFY COLUMN `score` BIGINT",
    ] {
        assert!(command.contains(flag), "{flag} missing from {command}");
    }
    let checklist =
        fs::read_to_string(out.join(tool["dir"].as_str().unwrap()).join("CHECKLIST.md")).unwrap();
    assert!(checklist.contains("```sh\ngh-ost"), "{checklist}");
    assert!(
        checklist.contains("information_schema.COLUMNS"),
        "{checklist}"
    );
}

#[test]
fn mysql_only_flags_and_old_versions_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    plan(&dir.path().join("a"), &["--online-tool", "pt-osc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--online-tool is for MySQL and MariaDB",
        ));
    plan(
        &dir.path().join("b"),
        &["--dialect", "mysql", "--server-version", "5.7"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("MySQL 5.7 is not supported"));
    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .args([
            "--dialect",
            "mariadb",
            "--database-url",
            "postgres://x@127.0.0.1/x",
        ])
        .arg("--out")
        .arg(dir.path().join("c"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be a mysql:// URL"));
}

#[test]
fn apply_rehearse_and_status_refuse_a_mysql_plan_on_a_postgres_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    plan(&out, &["--dialect", "mariadb"]).assert().success();
    for command in [&["apply", "--stage", "1"][..], &["rehearse"], &["status"]] {
        safeshift()
            .args(command)
            .args(["--database-url", "postgres://nobody@127.0.0.1:1/x"])
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "a mariadb plan needs a mysql://user@host:3306/DATABASE URL",
            ));
    }
}

#[test]
fn lint_and_gate_read_the_dialect_from_the_flag_or_safeshift_toml() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    fs::create_dir(&migrations).unwrap();
    fs::write(
        migrations.join("1_add.sql"),
        "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users ADD COLUMN nickname varchar(20);\n",
    )
    .unwrap();
    // Instant and with a timeout: nothing to say, and safe to deploy.
    safeshift()
        .args(["lint", "--dialect", "mariadb", "migrations"])
        .current_dir(dir.path())
        .assert()
        .code(0);
    safeshift()
        .args(["gate", "--dialect", "mariadb", "migrations"])
        .current_dir(dir.path())
        .assert()
        .code(10);
    fs::write(
        migrations.join("2_retype.sql"),
        "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users MODIFY COLUMN score bigint NOT NULL DEFAULT 0;\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("safeshift.toml"),
        format!(
            "dialect = \"mysql\"\nserver-version = \"8.0.35\"\nschema = \"{}\"\n",
            example("schema.sql").display()
        ),
    )
    .unwrap();
    safeshift()
        .args(["lint", "migrations", "--format", "json"])
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("changing-column-type"))
        .stdout(predicate::str::contains("SHARED_NO_WRITE"));
    let gate = safeshift()
        .args(["gate", "migrations", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        gate.status.code(),
        Some(20),
        "{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    let verdict = String::from_utf8_lossy(&gate.stdout);
    assert!(verdict.contains("--dialect mysql"), "{verdict}");
    // An instant change with the copy forced by hand is not deployable on its own either.
    fs::remove_file(migrations.join("2_retype.sql")).unwrap();
    fs::write(
        migrations.join("3_forced.sql"),
        "SET SESSION lock_wait_timeout = 2;\nALTER TABLE users ADD COLUMN note varchar(20), ALGORITHM=COPY;\n",
    )
    .unwrap();
    safeshift()
        .args(["gate", "migrations"])
        .current_dir(dir.path())
        .assert()
        .code(20)
        .stdout(predicate::str::contains("forcing-table-copy"));
}

/// A type change ends in a swap under `LOCK TABLES`, which must be metadata only: before instant
/// DROP COLUMN (MySQL 8.0.29) it would rebuild the table while reads and writes wait, so the plan
/// is refused with the ways out; from 8.0.29 the swap drops and renames indexes with INPLACE (MySQL
/// has no NOCOPY) and the columns with INSTANT, inside the lock.
#[test]
fn mysql_type_change_needs_instant_drop_column_or_an_online_tool() {
    let dir = tempfile::tempdir().unwrap();
    plan(
        &dir.path().join("old"),
        &["--dialect", "mysql", "--server-version", "8.0.28"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "cannot drop a column without rebuilding the table",
    ))
    .stderr(predicate::str::contains("--online-tool"));
    let out = dir.path().join("new");
    plan(&out, &["--dialect", "mysql", "--server-version", "8.0.29"])
        .assert()
        .success();
    let swap = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path().join("up.sql"))
        .filter(|p| p.is_file())
        .map(|p| fs::read_to_string(p).unwrap())
        .find(|sql| sql.contains("LOCK TABLES"))
        .expect("a stage with the locked swap");
    let locked = &swap[swap.find("LOCK TABLES `users` WRITE;").unwrap()..];
    let unlock = locked.find("UNLOCK TABLES;").unwrap();
    let (inside, _) = locked.split_at(unlock);
    assert!(
        inside.contains("DROP INDEX `users_score_idx`, ALGORITHM=INPLACE"),
        "{inside}"
    );
    assert!(inside.contains("DROP COLUMN `score`, CHANGE COLUMN `safeshift_users_score_new` `score` BIGINT NOT NULL DEFAULT 0, ALGORITHM=INSTANT"), "{inside}");
    assert!(
        inside.contains("DROP TRIGGER IF EXISTS `safeshift_users_score_copy_u`"),
        "{inside}"
    );
    assert!(
        !inside.contains("LOCK=NONE") && !inside.contains("NOCOPY"),
        "{inside}"
    );
}

/// A stage's CHECKLIST.md and up.sql agree on what to do when it stopped half way: on MySQL (no
/// `IF [NOT] EXISTS` for columns and indexes, no transactional DDL) running the file again fails at
/// the first statement that already ran, so neither may say "safe to re-run"; on MariaDB every
/// statement is written to run again, and both say so.
#[test]
fn checklists_say_what_running_a_stage_again_does_per_engine() {
    for (dialect, version, rerunnable) in [("mysql", "8.0.35", false), ("mariadb", "10.11", true)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plan");
        plan(&out, &["--dialect", dialect, "--server-version", version])
            .assert()
            .success();
        let json: Value =
            serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
        let page = fs::read_to_string(out.join("plan.html")).unwrap();
        assert!(!page.contains("psql"), "{dialect}: plan.html names psql");
        let mut sql_stages = 0;
        for stage in json["stages"].as_array().unwrap() {
            let Some(up) = stage["up"].as_str() else {
                continue;
            };
            sql_stages += 1;
            let dir = out.join(stage["dir"].as_str().unwrap());
            let up = fs::read_to_string(out.join(up)).unwrap();
            let checklist = fs::read_to_string(dir.join("CHECKLIST.md")).unwrap();
            assert_eq!(stage["transactional"], false, "{stage}");
            if rerunnable {
                assert!(up.contains("Each statement is safe to re-run"), "{up}");
                assert!(
                    checklist.contains("each statement is safe to re-run): run it again"),
                    "{checklist}"
                );
            } else {
                for text in [&up, &checklist] {
                    assert!(!text.to_lowercase().contains("safe to re-run"), "{text}");
                    assert!(!text.contains("re-run the stage"), "{text}");
                }
                assert!(up.contains("MySQL has no IF [NOT] EXISTS"), "{up}");
                assert!(
                    checklist.contains("Run the file from the statement that gave up"),
                    "{checklist}"
                );
                assert!(checklist.contains("mysql --batch"), "{checklist}");
            }
        }
        assert!(sql_stages >= 3, "{dialect}: {sql_stages} SQL stages");
        if !rerunnable {
            assert!(
                page.contains("go on from the one that gave up"),
                "plan.html tells MySQL users to run the stage again"
            );
        }
    }
}

/// `--dialect mysql` alone plans for the current long-term-support release (8.4), where adding a
/// column anywhere in the row is instant, and says so in the plan's assumptions; a given version
/// is taken as it is.
#[test]
fn mysql_without_a_server_version_plans_for_the_current_lts() {
    let dir = tempfile::tempdir().unwrap();
    let change = dir.path().join("change.sql");
    fs::write(
        &change,
        "ALTER TABLE users ADD COLUMN nickname varchar(40) AFTER email;\n",
    )
    .unwrap();
    let run = |out: &Path, extra: &[&str]| {
        safeshift()
            .arg("plan")
            .arg(&change)
            .arg("--schema")
            .arg(example("schema.sql"))
            .arg("--out")
            .arg(out)
            .args(["--dialect", "mysql"])
            .args(extra)
            .assert()
            .success()
    };
    let out = dir.path().join("default");
    run(&out, &[]).stdout(predicate::str::contains("MySQL 8.4 ·"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(json["server_version"], "8.4");
    let up = fs::read_to_string(out.join(json["stages"][0]["up"].as_str().unwrap())).unwrap();
    assert!(up.contains("AFTER `email`, ALGORITHM=INSTANT;"), "{up}");
    let plan_md = fs::read_to_string(out.join("PLAN.md")).unwrap();
    assert!(
        plan_md.contains("No --server-version was given: planned for MySQL 8.4"),
        "{plan_md}"
    );

    // 8.0.28 cannot add a column in the middle of the row instantly: the version given counts.
    let old = dir.path().join("old");
    run(&old, &["--server-version", "8.0.28"]).stdout(predicate::str::contains("MySQL 8.0.28 ·"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(old.join("plan.json")).unwrap()).unwrap();
    let up = fs::read_to_string(old.join(json["stages"][0]["up"].as_str().unwrap())).unwrap();
    assert!(
        up.contains("AFTER `email`, ALGORITHM=INPLACE, LOCK=NONE;"),
        "{up}"
    );
    let plan_md = fs::read_to_string(old.join("PLAN.md")).unwrap();
    assert!(!plan_md.contains("No --server-version"), "{plan_md}");
}
