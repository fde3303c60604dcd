//! The `lint`, `gate`, `rules` and `explain` commands end to end: formats, exit codes, config,
//! directories, git history.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, contents).unwrap();
    path
}

/// A migrations directory: a safe first migration, then a risky one (in numeric, not text, order).
fn migrations() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "migrations/2_create.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\nCREATE INDEX users_email_idx ON users (email);\n",
    );
    write(
        dir.path(),
        "migrations/10_index.sql",
        "SET lock_timeout = '2s';\n\nCREATE INDEX users_email2_idx\n  ON users (email);\n",
    );
    write(
        dir.path(),
        "migrations/10_index.down.sql",
        "DROP INDEX users_email2_idx;\n",
    );
    dir
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("valid JSON")
}

#[test]
fn human_output_points_at_the_statement_and_fails_with_1() {
    let dir = migrations();
    safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[non-concurrent-index]"))
        .stdout(predicate::str::contains("migrations/10_index.sql:3:1"))
        .stdout(predicate::str::contains(
            "3 | / CREATE INDEX users_email2_idx",
        ))
        .stdout(predicate::str::contains("4 | |   ON users (email)"))
        .stdout(predicate::str::contains(
            "takes SHARE on users: blocks writes (reads continue)",
        ))
        .stdout(predicate::str::contains(
            "staged plan: safeshift plan migrations/10_index.sql",
        ))
        // not a terminal: no colour codes
        .stdout(predicate::str::contains("\u{1b}[").not())
        .stdout(predicate::str::contains(
            "1 error (4 statements in 2 files checked)",
        ));
}

#[test]
fn json_findings_have_the_documented_fields() {
    let dir = migrations();
    let out = safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let findings = json(&out);
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["file"], "migrations/10_index.sql");
    assert_eq!(f["line"], 3);
    assert_eq!(f["column"], 1);
    assert_eq!(f["end_line"], 4);
    assert_eq!(f["rule"], "non-concurrent-index");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["lock"], "SHARE");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("blocks every write")
    );
    assert!(
        f["help"]
            .as_str()
            .unwrap()
            .contains("Run `safeshift plan migrations/10_index.sql` for the staged plan.")
    );
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let dir = migrations();
    write(
        dir.path(),
        "migrations/11 odd name.sql",
        "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN x text NOT NULL;\nSELEC 1;\nDROP INDEX users_email_idx;\nVACUUM users;\n",
    );
    let out = safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations", "--format", "sarif"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let log = json(&out);
    if let Err(errors) = support::sarif::validate_sarif(&log) {
        panic!("invalid SARIF:\n{}", errors.join("\n"));
    }
    let results = log["runs"][0]["results"].as_array().unwrap();
    let levels: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        [
            ("non-concurrent-index", "error"),
            ("adding-required-column", "error"),
            ("syntax-error", "error"),
            ("non-concurrent-index-drop", "warning"),
            ("unrecognised-statement", "note"),
        ]
    );
    let uri = &results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(uri, "migrations/11%20odd%20name.sql");
    // every result points at a rule descriptor
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
    }
}

#[test]
fn github_format_writes_workflow_commands() {
    let dir = migrations();
    safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations", "--format", "github"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "::error file=migrations/10_index.sql,line=3,col=1,endLine=4,title=safeshift non-concurrent-index::CREATE INDEX blocks every write",
        ))
        .stdout(predicate::str::contains("%0A"));
}

#[test]
fn fail_on_warning_and_clean_files() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(
        dir.path(),
        "w.sql",
        "DROP INDEX CONCURRENTLY i;\nALTER TABLE t ADD COLUMN c text;\n",
    );
    // only a missing-lock-timeout warning: passes by default, fails with --fail-on warning
    safeshift()
        .args(["lint"])
        .arg(&warn)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("warning[missing-lock-timeout]"));
    safeshift()
        .args(["lint", "--fail-on", "warning"])
        .arg(&warn)
        .assert()
        .code(1);
    let clean = write(
        dir.path(),
        "c.sql",
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c text;\n",
    );
    safeshift()
        .args(["lint"])
        .arg(&clean)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "safeshift lint: no findings (2 statements in 1 file checked)",
        ));
}

#[test]
fn stdin_is_linted_as_a_file() {
    safeshift()
        .args(["lint", "-", "--format", "json"])
        .write_stdin("CREATE INDEX i ON t (c);")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"file\": \"<stdin>\""));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    safeshift()
        .args(["lint", "no/such/file.sql"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/file.sql"));
    safeshift()
        .arg("lint")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no .sql files found"));
    safeshift()
        .args(["lint", "--format", "xml", "x.sql"])
        .assert()
        .code(2);
    safeshift().args(["lint"]).assert().code(2);
}

#[test]
fn config_file_is_found_upwards_and_checked() {
    let dir = migrations();
    write(
        dir.path(),
        "safeshift.toml",
        "fail-on = \"warning\"\n[rules]\ndisable = [\"non-concurrent-index\"]\nseverity = { missing-lock-timeout = \"error\" }\n",
    );
    let sub = dir.path().join("migrations");
    // from a subdirectory: the file above applies, the only error is switched off
    safeshift()
        .current_dir(&sub)
        .args(["lint", "."])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no findings"));

    write(
        dir.path(),
        "bad.toml",
        "[rules]\ndisable = [\"non-concurent-index\"]\n",
    );
    safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations", "--config", "bad.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.toml:2:13: unknown rule `non-concurent-index`",
        ))
        .stderr(predicate::str::contains("did you mean"));

    write(dir.path(), "typo.toml", "fail_on = \"error\"\n");
    safeshift()
        .current_dir(dir.path())
        .args(["lint", "migrations", "--config", "typo.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("typo.toml:1:1"))
        .stderr(predicate::str::contains("unknown field `fail_on`"));
}

#[test]
fn dbmate_down_sections_and_down_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "db/20240101_x.sql",
        "-- migrate:up\nSET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c text;\n\n-- migrate:down\nALTER TABLE t DROP COLUMN c;\n",
    );
    write(dir.path(), "db/1_y.down.sql", "DROP TABLE t;\n");
    safeshift()
        .current_dir(dir.path())
        .args(["lint", "db"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("2 statements in 1 file"));
}

#[test]
fn rules_and_explain() {
    safeshift()
        .arg("rules")
        .assert()
        .success()
        .stdout(predicate::str::contains("non-concurrent-index "))
        .stdout(predicate::str::contains("missing-lock-timeout"));
    let out = safeshift()
        .args(["rules", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rules = json(&out);
    assert!(rules.as_array().unwrap().len() >= 20);
    safeshift()
        .args(["explain", "adding-foreign-key"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Why it hurts"))
        .stdout(predicate::str::contains("SHARE ROW EXCLUSIVE"))
        .stdout(predicate::str::contains("NOT VALID"))
        .stdout(predicate::str::contains("REFERENCES users"));
    safeshift()
        .args(["explain", "foreign-key"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean"))
        .stderr(predicate::str::contains("adding-foreign-key"));
}

// ------------------------------------------------------------------ gate

fn gate(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let output = safeshift()
        .current_dir(dir)
        .args(["gate", "migrations", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (code, json(&output.stdout))
}

#[test]
fn gate_decisions_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir_all(&m).unwrap();

    write(
        dir.path(),
        "migrations/1.sql",
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c text;\n",
    );
    let (code, v) = gate(dir.path(), &[]);
    assert_eq!((code, v["decision"].as_str()), (10, Some("safe")));
    assert_eq!(v["deploy"], true);

    write(dir.path(), "migrations/2.sql", "CREATE INDEX i ON t (c);\n");
    let (code, v) = gate(dir.path(), &[]);
    assert_eq!((code, v["decision"].as_str()), (20, Some("staged")));
    assert_eq!(v["deploy"], false);
    assert_eq!(v["reasons"][0]["rule"], "non-concurrent-index");
    assert_eq!(
        v["reasons"][0]["plan_command"],
        "safeshift plan migrations/2.sql"
    );

    // an ignore directive accepts a staged risk...
    write(
        dir.path(),
        "migrations/2.sql",
        "-- safeshift: ignore non-concurrent-index  40 rows\nCREATE INDEX i ON t (c);\n",
    );
    let (code, _) = gate(dir.path(), &[]);
    assert_eq!(code, 10);

    // ...but not a destructive one
    write(
        dir.path(),
        "migrations/3.sql",
        "-- safeshift: ignore dropping-column\nALTER TABLE t DROP COLUMN c;\n",
    );
    let (code, v) = gate(dir.path(), &[]);
    assert_eq!((code, v["decision"].as_str()), (30, Some("destructive")));
    assert!(
        v["advice"]
            .as_str()
            .unwrap()
            .contains("no maintenance window")
    );

    write(
        dir.path(),
        "safeshift.toml",
        "[gate]\nwindow = \"Sat 02:00-05:00 UTC\"\n",
    );
    // Saturday 2026-11-21 03:00 UTC is inside the window
    let (code, v) = gate(dir.path(), &["--now", "2026-11-21T03:00:00Z"]);
    assert_eq!((code, v["deploy"].as_bool()), (31, Some(true)));
    // Saturday 06:00 is after it: blocked until next Saturday 02:00
    let (code, v) = gate(dir.path(), &["--now", "2026-11-21T06:00:00Z"]);
    assert_eq!(code, 30);
    assert_eq!(v["window"]["next_start"], "2026-11-28T02:00:00Z");

    // a new table created and indexed by the new migrations deploys together: safe
    let empty = tempfile::tempdir().unwrap();
    write(
        empty.path(),
        "migrations/1.sql",
        "CREATE TABLE n (id bigint);\n",
    );
    write(
        empty.path(),
        "migrations/2.sql",
        "CREATE INDEX n_id ON n (id);\n",
    );
    let (code, _) = gate(empty.path(), &[]);
    assert_eq!(code, 10);
}

#[test]
fn gate_with_no_migrations_and_with_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "migrations/1.sql", "-- nothing yet\n");
    let (code, v) = gate(dir.path(), &[]);
    assert_eq!((code, v["decision"].as_str()), (0, Some("none")));

    write(
        dir.path(),
        "migrations/2.sql",
        "ALTER TABLE t ADD COLUMN;\n",
    );
    safeshift()
        .current_dir(dir.path())
        .args(["gate", "migrations"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("migrations/2.sql:1:"))
        .stderr(predicate::str::contains("cannot decide"));
}

fn git(dir: &Path, args: &[&str]) {
    let status = Process::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn gate_since_a_revision_only_weighs_new_migrations() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    // an old, already deployed migration that would be staged today
    write(
        dir.path(),
        "migrations/1.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, c text);\n",
    );
    write(
        dir.path(),
        "migrations/2.sql",
        "CREATE INDEX t_c ON t (c);\n",
    );
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "old"]);

    let (code, v) = gate(dir.path(), &["--since", "HEAD"]);
    assert_eq!((code, v["decision"].as_str()), (0, Some("none")));

    // a new, untracked migration on a table the old ones created
    write(
        dir.path(),
        "migrations/3.sql",
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN d text;\n",
    );
    let (code, v) = gate(dir.path(), &["--since", "HEAD"]);
    assert_eq!((code, v["decision"].as_str()), (10, Some("safe")));
    assert_eq!(v["files"], serde_json::json!(["migrations/3.sql"]));

    // committed on a branch: still new since the first commit
    write(
        dir.path(),
        "migrations/4.sql",
        "ALTER TABLE t RENAME COLUMN c TO e;\n",
    );
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "new"]);
    let (code, v) = gate(dir.path(), &["--since", "HEAD~1"]);
    assert_eq!((code, v["decision"].as_str()), (20, Some("staged")));
    assert_eq!(v["reasons"][0]["rule"], "renaming-column");

    safeshift()
        .current_dir(dir.path())
        .args(["gate", "migrations", "--since", "no-such-rev"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--since no-such-rev: not a commit",
        ));
}

#[test]
fn an_unterminated_string_is_reported_where_it_starts() {
    safeshift()
        .args(["lint", "-"])
        .write_stdin("SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c text DEFAULT 'oops;\nDROP TABLE x;\n")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("<stdin>:2:41"))
        .stdout(predicate::str::contains("Unterminated string literal"))
        .stdout(predicate::str::contains("the rest of the file was not checked"));
}
