//! `plan --dialect mariadb --database-url mysql://…/DB` reads the schema from the live server
//! (SHOW CREATE TABLE) and plans exactly what `--schema` with a dump of that database plans.

mod support;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use support::mysql::ScratchMysql;

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn stage_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        let name = entry.strip_prefix(dir).unwrap().display().to_string();
        if name.ends_with(".sql") && name.contains('/') {
            files.push((name, fs::read_to_string(&entry).unwrap()));
        }
    }
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The `--dialect` of the test server and its version number (`10.11.19` of `10.11.19-MariaDB-…`).
fn engine(server: &support::mysql::Server) -> (&'static str, String) {
    let full = server.version();
    let dialect = if full.to_ascii_lowercase().contains("mariadb") {
        "mariadb"
    } else {
        "mysql"
    };
    let number = full
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (dialect, number)
}

#[test]
fn plan_from_a_live_mariadb_equals_plan_from_its_dump() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "introspect");
    // A hostile table name too: SHOW CREATE TABLE is sent quoted.
    let schema = format!(
        "{}\nCREATE TABLE `we``ird; name` (id bigint NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;\n",
        fs::read_to_string("examples/mysql/schema.sql").unwrap()
    );
    db.execute(&schema);
    let (dialect, version) = engine(&server);
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let dumped = dir.path().join("dumped");
    safeshift()
        .args(["plan", "examples/mysql/change.sql", "--dialect", dialect])
        .args(["--database-url", &db.url(), "--out"])
        .arg(&live)
        .assert()
        .success()
        .stdout(predicate::str::contains(&version));
    fs::write(dir.path().join("schema.sql"), &schema).unwrap();
    safeshift()
        .args(["plan", "examples/mysql/change.sql", "--dialect", dialect])
        .args(["--server-version", &version, "--schema"])
        .arg(dir.path().join("schema.sql"))
        .arg("--out")
        .arg(&dumped)
        .assert()
        .success();
    let (a, b) = (stage_files(&live), stage_files(&dumped));
    assert!(!a.is_empty());
    assert_eq!(a, b, "the live read planned differently from the dump");
    let plan_md = fs::read_to_string(live.join("PLAN.md")).unwrap();
    assert!(
        plan_md.contains("information_schema.TABLES.TABLE_ROWS"),
        "{plan_md}"
    );
}

#[test]
fn live_reads_name_the_right_engine_and_a_database() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "introspect_refusals");
    db.execute("CREATE TABLE users (id bigint NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;");
    let dir = tempfile::tempdir().unwrap();
    let change = dir.path().join("change.sql");
    fs::write(&change, "ALTER TABLE users ADD COLUMN note text;\n").unwrap();
    let run = |args: &[&str]| {
        let mut cmd = safeshift();
        cmd.arg("plan")
            .arg(&change)
            .arg("--out")
            .arg(dir.path().join("p"))
            .args(args);
        cmd.assert()
    };
    // No --dialect: a mysql:// URL is not read as PostgreSQL.
    run(&["--database-url", &db.url()])
        .code(2)
        .stderr(predicate::str::contains(
            "add --dialect mysql or --dialect mariadb",
        ));
    // The wrong one of the two engines.
    let (dialect, _) = engine(&server);
    let wrong = if dialect == "mariadb" {
        "mysql"
    } else {
        "mariadb"
    };
    run(&["--dialect", wrong, "--database-url", &db.url()])
        .code(2)
        .stderr(predicate::str::contains("pass --dialect"));
    // A URL without a database.
    run(&["--dialect", dialect, "--database-url", &server.url("")])
        .code(2)
        .stderr(predicate::str::contains("names no database"));
}
