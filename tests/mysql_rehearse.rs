//! `safeshift rehearse` on a real MariaDB (SAFESHIFT_TEST_MYSQL): the plans of the example and
//! of the MySQL-capable change kinds (tests/fixtures/ops/*.sql against
//! tests/fixtures/schema-mysql.sql, `--dialect mariadb`) pass — old and new app versions keep
//! working at every stage, no ALTER copies a table under the app, every down.sql restores the
//! schema, and the end state equals the naive change — while the naive change run as one stage
//! fails, with the reason.

mod support;

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use mysql::prelude::Queryable;
use serde_json::Value;

fn safeshift() -> Command {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.env_remove("DATABASE_URL");
    cmd
}

/// The server's URL without a database (rehearse makes its own), or `None` when there is none.
fn server_url() -> Option<String> {
    Some(support::mysql::server()?.url(""))
}

/// Rehearses `plan_dir` and returns the JSON report and the exit code.
fn rehearse(url: &str, plan_dir: &Path) -> (Value, i32) {
    let out = safeshift()
        .args([
            "rehearse",
            "--format",
            "json",
            "--seed-rows",
            "2000",
            "--window",
            "400ms",
        ])
        .arg(plan_dir)
        .args(["--database-url", url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}"));
    (report, out.status.code().unwrap_or(-1))
}

/// Every problem the report lists, for assertion messages.
fn problems(report: &Value) -> String {
    let mut out = String::new();
    for stage in report["stages"].as_array().unwrap() {
        for p in stage["problems"].as_array().unwrap() {
            out.push_str(&format!(
                "stage {}: {}\n",
                stage["index"],
                p.as_str().unwrap()
            ));
        }
        if stage["down"]["ok"] == false {
            out.push_str(&format!(
                "stage {} down: {}\n",
                stage["index"], stage["down"]["detail"]
            ));
        }
    }
    out.push_str(&format!("end state: {}\n", report["end_state"]["detail"]));
    for app in report["after"].as_array().unwrap() {
        out.push_str(&format!("after: {}\n", app["error_samples"]));
    }
    out
}

fn plan_and_rehearse(name: &str, change: &str, schema: &Path) {
    let Some(url) = server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    fs::write(dir.path().join("change.sql"), change).unwrap();
    safeshift()
        .arg("plan")
        .arg(dir.path().join("change.sql"))
        .arg("--schema")
        .arg(schema)
        .args(["--dialect", "mariadb", "--batch-size", "500", "--out"])
        .arg(&plan_dir)
        .assert()
        .success();
    let (report, code) = rehearse(&url, &plan_dir);
    assert_eq!(
        report["passed"],
        true,
        "{name}: rehearsal failed:\n{}",
        problems(&report)
    );
    assert_eq!(code, 0);
    assert!(
        report["engine"] == "MariaDB" || report["engine"] == "MySQL",
        "{}",
        report["engine"]
    );
    assert_eq!(
        report["end_state"]["checked"], true,
        "{name}: {}",
        report["end_state"]
    );
    assert!(
        report["seeded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[1] == 2000),
        "{name}: nothing seeded: {}",
        report["seeded"]
    );
    let stages = report["stages"].as_array().unwrap();
    assert!(!stages.is_empty());
    // Values were checked: foreign keys' rows at the end, and the copy or derived column of
    // the kinds that keep one.
    assert!(
        report["end_values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["kind"] == "constraints" && v["ok"] == true),
        "{name}: {}",
        report["end_values"]
    );
    let kept = stages
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .filter(|v| (v["kind"] == "copy" || v["kind"] == "derived") && v["checked"] == true)
        .count();
    if [
        "rename_column",
        "change_column_type",
        "add_required_column",
        "type_changes",
    ]
    .contains(&name)
    {
        assert!(kept > 0, "{name}: no copy or derived value checked");
    }
    for stage in stages {
        assert_eq!(stage["ran"], true);
        // Every stage had an app version live, and it did real work.
        let apps = stage["apps"].as_array().unwrap();
        assert!(
            !apps.is_empty(),
            "{name}: stage {} ran without traffic",
            stage["index"]
        );
        for app in apps {
            assert!(app["statements"].as_u64().unwrap() > 0, "{name}: {app}");
        }
        if stage["kind"] != "application"
            && stage["down"]["detail"] != "a point of no return: the stage has no down.sql"
        {
            assert_eq!(stage["down"]["checked"], true, "{name}: {stage}");
        }
    }
}

macro_rules! passes {
    ($($name:ident $(= $change:expr)?,)*) => {$(
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            let change = fs::read_to_string(concat!("tests/fixtures/ops/", stringify!($name), ".sql")).unwrap();
            $(let change = $change.to_string();)?
            plan_and_rehearse(
                stringify!($name),
                &change,
                Path::new("tests/fixtures/schema-mysql.sql"),
            );
        }
    )*};
}

// The kinds whose fixture is MySQL SQL, or the same change in MySQL's spelling. Not here:
// add_enum_value, create_enum, add_volatile_column and other (PostgreSQL-only statements).
// modify_column widens a VARCHAR across the 255-byte length prefix from 200 bytes, which MariaDB
// copies: it takes the type-change path (shadow column, copy triggers, locked swap).
passes! {
    add_column,
    add_required_column,
    add_unique,
    add_foreign_key,
    add_primary_key,
    add_check,
    catalog_only,
    change_column_type = "ALTER TABLE orders MODIFY COLUMN amount bigint NOT NULL;",
    modify_column,
    create_index,
    create_table,
    drop_column,
    drop_index = "DROP INDEX users_name_idx ON users;",
    drop_table,
    rename_column,
    rename_table,
    set_not_null = "-- safeshift: backfill = 0\nALTER TABLE users MODIFY COLUMN n int(11) NOT NULL;",
    data_change,
}

/// Two type changes on one table: an indexed column with a default (the index is copied and
/// takes the old name in the swap) and a NOT NULL column without one (its copy carries a
/// placeholder default until the swap).
#[test]
fn type_changes_of_an_indexed_column_and_one_without_default() {
    plan_and_rehearse(
        "type_changes",
        "ALTER TABLE users MODIFY COLUMN name char(100) NOT NULL DEFAULT 'anon';\nALTER TABLE users MODIFY COLUMN legacy char(20) NOT NULL;\n",
        Path::new("tests/fixtures/schema-mysql.sql"),
    );
}

/// Renaming a NOT NULL column without a default (the plan gains a step that makes the old column
/// nullable before the contract) passes rehearsal. The window this step closes is short, so
/// rehearsal traffic rarely lands in it; tests/mysql_ops.rs
/// `rename_of_a_required_column_keeps_new_app_inserts_working_through_the_contract` writes
/// between every two statements and fails without the step.
#[test]
fn rename_of_a_required_column_without_default() {
    plan_and_rehearse(
        "rename_required",
        "ALTER TABLE users RENAME COLUMN legacy TO old_code;\n",
        Path::new("tests/fixtures/schema-mysql.sql"),
    );
}

const SCHEMA: &str = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT NULL,
  n int DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
";

/// A plan directory holding the change as written, as one stage (what a developer would run).
fn naive_plan(dir: &Path, up: &str, down: &str, changes: &[&str]) {
    fs::create_dir_all(dir.join("01-naive")).unwrap();
    fs::write(dir.join("schema.sql"), SCHEMA).unwrap();
    fs::write(dir.join("01-naive/up.sql"), up).unwrap();
    fs::write(dir.join("01-naive/down.sql"), down).unwrap();
    let changes: Vec<Value> = changes
        .iter()
        .enumerate()
        .map(|(i, sql)| serde_json::json!({"index": i, "kind": "other", "line": i + 1, "sql": sql}))
        .collect();
    let plan = serde_json::json!({
        "version": 1, "dialect": "mariadb", "server_version": "10.11", "source": "naive.sql",
        "changes": changes,
        "stages": [{
            "index": 1, "name": "the change as written", "dir": "01-naive", "phase": "expand",
            "kind": "database", "up": "01-naive/up.sql", "down": "01-naive/down.sql",
            "transactional": false, "depends_on": [],
            "steps": [{"title": "as written", "kind": "database",
                       "locks": [{"table": "users", "mode": "METADATA_EXCLUSIVE"}]}]
        }]
    });
    fs::write(
        dir.join("plan.json"),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
    .unwrap();
}

fn naive_fails(up: &str, down: &str, expect: &str) {
    let Some(url) = server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let statements: Vec<&str> = up
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    naive_plan(dir.path(), up, down, &statements);
    let (report, code) = rehearse(&url, dir.path());
    assert_eq!(report["passed"], false, "the naive change passed: {report}");
    assert_eq!(code, 1);
    let found = problems(&report);
    assert!(
        found.contains(expect),
        "expected a problem containing {expect:?}, got:\n{found}"
    );
}

#[test]
fn naive_required_column_breaks_the_old_apps_inserts() {
    naive_fails(
        "ALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;",
        "ALTER TABLE users DROP COLUMN IF EXISTS email_lower;",
        "doesn't have a default value",
    );
}

#[test]
fn naive_type_change_copies_the_table_under_the_app() {
    naive_fails(
        "ALTER TABLE users MODIFY COLUMN n bigint;",
        "ALTER TABLE users MODIFY COLUMN n int;",
        "row(s) of users (a table copy, ALGORITHM=COPY), which blocks the app's writes",
    );
}

#[test]
fn naive_drop_column_breaks_the_running_app() {
    naive_fails(
        "ALTER TABLE users DROP COLUMN name;",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS name varchar(100) DEFAULT NULL;",
        "the old app version got",
    );
}

#[test]
fn the_example_plan_passes_and_reads_the_same_in_every_format() {
    let Some(url) = server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg("examples/mysql/change.sql")
        .args([
            "--schema",
            "examples/mysql/schema.sql",
            "--dialect",
            "mariadb",
        ])
        .arg("--out")
        .arg(&plan_dir)
        .assert()
        .success();
    let (report, code) = rehearse(&url, &plan_dir);
    assert_eq!(report["passed"], true, "{}", problems(&report));
    assert_eq!(code, 0);
    let human = safeshift()
        .args(["rehearse", "--seed-rows", "500", "--window", "200ms"])
        .arg(&plan_dir)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{text}");
    assert!(text.starts_with("rehearsal of "), "{text}");
    assert!(
        text.contains(" on MariaDB ") || text.contains(" on MySQL "),
        "{text}"
    );
    assert!(text.contains("· PASSED"), "{text}");
    assert!(
        text.contains("down:  ✓ down.sql restores the schema; up.sql runs again after it"),
        "{text}"
    );
    assert!(
        text.contains("end state: ✓ the schema after the last stage equals the naive change's"),
        "{text}"
    );
}

#[test]
fn scratch_databases_are_dropped_also_when_a_stage_fails() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    naive_plan(
        dir.path(),
        "ALTER TABLE users ADD COLUMN bio text;\nSELECT * FROM no_such_table;",
        "ALTER TABLE users DROP COLUMN IF EXISTS bio;",
        &["ALTER TABLE users ADD COLUMN bio text"],
    );
    let out = safeshift()
        .args(["rehearse", "--seed-rows", "10", "--window", "100ms"])
        .arg(dir.path())
        .args(["--database-url", &server.url("")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("no_such_table' doesn't exist"), "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let names: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("scratch databases "))
        .flat_map(|l| l.split(" and "))
        .collect();
    assert_eq!(names.len(), 2, "{stderr}");
    for name in names {
        let left = server
            .run(
                None,
                &format!(
                    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}';"
                ),
            )
            .unwrap();
        assert_eq!(left.trim(), "0", "{name} was left behind");
    }
}

/// On MariaDB too, a later rehearsal drops the scratch databases of rehearsals that died (old
/// enough, and their named lock free: a live rehearsal holds it for each of its databases),
/// and leaves a young one and one whose lock a session holds.
#[test]
fn scratch_databases_of_dead_rehearsals_are_dropped() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let url = server.url("");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pid = std::process::id();
    let dead = format!("safeshift_rehearse_{}_{pid}_0_1", now - 3600);
    let young = format!("safeshift_naive_{}_{pid}_0_2", now - 10);
    let busy = format!("safeshift_rehearse_{}_{pid}_0_3", now - 3600);
    for name in [&dead, &young, &busy] {
        server
            .run(None, &format!("CREATE DATABASE `{name}`;"))
            .unwrap();
    }
    let mut holder = safeshift::db::mysql::connect(&url).unwrap();
    let got: Option<i64> = holder
        .exec_first(
            "SELECT GET_LOCK(CONCAT('safeshift-scratch:', LEFT(SHA2(?, 256), 40)), 0)",
            (&busy,),
        )
        .unwrap();
    assert_eq!(got, Some(1));

    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    fs::write(
        dir.path().join("schema.sql"),
        "CREATE TABLE users (id bigint NOT NULL PRIMARY KEY, email varchar(200) NOT NULL) ENGINE=InnoDB;\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "CREATE INDEX users_email_idx ON users (email);\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args(["--dialect", "mariadb", "--out"])
        .arg(&plan_dir)
        .assert()
        .success();
    let out = safeshift()
        .args(["rehearse", "--rows", "50", "--window", "100ms"])
        .arg(&plan_dir)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let exists = |name: &str| -> bool {
        server
            .run(
                None,
                &format!(
                    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}';"
                ),
            )
            .unwrap_or_default()
            .trim()
            .ends_with('1')
    };
    let gone = !exists(&dead);
    let kept = exists(&young) && exists(&busy);
    drop(holder);
    for name in [&dead, &young, &busy] {
        let _ = server.run(None, &format!("DROP DATABASE IF EXISTS `{name}`;"));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        gone,
        "the dead rehearsal's database is still there:\n{stderr}"
    );
    assert!(
        kept,
        "a young or busy scratch database was dropped:\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// The old app changes the source of the example's derived column, `email`, at every stage it
/// is live.
const OLD_APP_CHANGES_EMAIL: &str =
    "UPDATE users SET email = concat('U{n}.', email) WHERE id = {n} % 2000 + 1;\n";

fn rehearse_changing_emails(url: &str, dir: &Path, plan_dir: &Path, format: &str) -> (String, i32) {
    let out = safeshift()
        .args([
            "rehearse",
            "--format",
            format,
            "--seed-rows",
            "2000",
            "--window",
            "400ms",
        ])
        .arg(plan_dir)
        .args(["--database-url", url, "--allow-edited", "--old-app"])
        .arg(dir.join("old.sql"))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// The MySQL example (a derived column and a type change) passes with its values checked while
/// the old app changes `email`; its fill trigger edited not to recompute on UPDATE is caught,
/// naming the stale rows.
#[test]
fn values_are_checked_and_a_stale_fill_trigger_is_caught() {
    let Some(url) = server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg("examples/mysql/change.sql")
        .args([
            "--schema",
            "examples/mysql/schema.sql",
            "--dialect",
            "mariadb",
            "--out",
        ])
        .arg(&plan_dir)
        .assert()
        .success();
    fs::write(dir.path().join("old.sql"), OLD_APP_CHANGES_EMAIL).unwrap();

    let (json, code) = rehearse_changing_emails(&url, dir.path(), &plan_dir, "json");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["passed"], true, "{}", problems(&report));
    assert_eq!(code, 0);
    let checks: Vec<&Value> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .collect();
    for what in [
        "users.email_lower = lower(email)",
        "users.safeshift_users_score_new = `score`",
        "the plan adds or removes no rows",
    ] {
        assert!(
            checks
                .iter()
                .any(|v| v["what"] == what && v["checked"] == true && v["ok"] == true),
            "{what}: {checks:?}"
        );
    }
    assert!(
        report["end_values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["what"] == "users.email_lower = lower(email)" && v["ok"] == true),
        "{}",
        report["end_values"]
    );

    let up = plan_dir.join("01-add-column-users-email_lower/up.sql");
    let sql = fs::read_to_string(&up).unwrap();
    let broken: Vec<String> = sql
        .lines()
        .map(|l| {
            if l.starts_with("CREATE TRIGGER") && l.contains("_fill_u`") {
                "CREATE TRIGGER `safeshift_users_email_lower_fill_u` BEFORE UPDATE ON `users` FOR EACH ROW SET NEW.`email_lower` = COALESCE(NEW.`email_lower`, lower(NEW.email));".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(
        broken.join("\n"),
        sql.trim_end(),
        "the update trigger was found"
    );
    fs::write(&up, broken.join("\n")).unwrap();
    let (json, code) = rehearse_changing_emails(&url, dir.path(), &plan_dir, "json");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["passed"], false, "{json}");
    assert_eq!(code, 1);
    let stale = report["end_values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["what"] == "users.email_lower = lower(email)")
        .unwrap()
        .clone();
    assert_eq!(stale["ok"], false, "{stale}");
    let rows = stale["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 5, "{stale}");
    for row in rows {
        let row = row.as_str().unwrap();
        assert!(
            row.starts_with("id ")
                && row.contains(": email_lower is ")
                && row.contains(", lower(email) is u"),
            "{row}"
        );
    }
    let (human, _) = rehearse_changing_emails(&url, dir.path(), &plan_dir, "human");
    assert!(
        human.contains("end values: ✗ users.email_lower = lower(email): ")
            && human.contains("          id "),
        "{human}"
    );
    let (markdown, _) = rehearse_changing_emails(&url, dir.path(), &plan_dir, "markdown");
    assert!(
        markdown.contains("- ❌ users.email_lower = lower(email): ")
            && markdown.contains("<br>`id "),
        "{markdown}"
    );
}

/// A foreign key added with `foreign_key_checks = 0` is never checked against existing rows by
/// the server: a plan edited to break it (and stripped of its own orphan checks) is caught at the
/// end, naming the key and the orphan's value.
#[test]
fn a_row_that_breaks_a_foreign_key_is_named() {
    let Some(url) = server_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg("tests/fixtures/ops/add_foreign_key.sql")
        .args([
            "--schema",
            "tests/fixtures/schema-mysql.sql",
            "--dialect",
            "mariadb",
            "--out",
        ])
        .arg(&plan_dir)
        .assert()
        .success();
    let mut plan: Value =
        serde_json::from_str(&fs::read_to_string(plan_dir.join("plan.json")).unwrap()).unwrap();
    for stage in plan["stages"].as_array_mut().unwrap() {
        for step in stage["steps"].as_array_mut().unwrap() {
            step["before"] = serde_json::json!([]);
            step["verify"] = serde_json::json!([]);
        }
    }
    fs::write(plan_dir.join("plan.json"), plan.to_string()).unwrap();
    let up = plan_dir.join("01-add-foreign-key-orders_user_id_fkey/up.sql");
    let sql = fs::read_to_string(&up).unwrap();
    let checks_on = "SET SESSION foreign_key_checks = 1;";
    assert!(sql.contains(checks_on), "{sql}");
    fs::write(
        &up,
        sql.replacen(
            checks_on,
            &format!("UPDATE orders SET user_id = 987654321 ORDER BY id LIMIT 1;\n{checks_on}"),
            1,
        ),
    )
    .unwrap();
    let out = safeshift()
        .args([
            "rehearse",
            "--format",
            "json",
            "--seed-rows",
            "500",
            "--window",
            "300ms",
        ])
        .arg(&plan_dir)
        .args(["--database-url", &url, "--allow-edited"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], false, "{report}");
    let constraints = report["end_values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "constraints")
        .unwrap()
        .clone();
    assert_eq!(constraints["ok"], false, "{constraints}");
    assert_eq!(
        constraints["rows"][0],
        "foreign key orders_user_id_fkey on orders: no users row for (user_id) = (987654321)",
        "{constraints}"
    );
}
