//! Proves the real-database harness in `tests/support` does what the other
//! integration tests rely on: isolated scratch databases that disappear,
//! a deterministic catalog snapshot, and a real `psql` runner.

mod support;

use std::io::Write;

use support::{ScratchDb, admin_url, connect, pg_major, url_with_dbname};

/// Counts databases with this name, seen from a separate admin session.
fn database_exists(name: &str) -> bool {
    let mut admin = connect(&admin_url()).expect("admin connection");
    let row = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .expect("query pg_database");
    let n: i64 = row.get(0);
    n == 1
}

fn sql_file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".sql")
        .tempfile()
        .expect("create temp sql file");
    f.write_all(contents.as_bytes())
        .expect("write temp sql file");
    f.flush().expect("flush temp sql file");
    f
}

#[test]
fn scratch_db_is_created_isolated_and_dropped() {
    let Some(db) = ScratchDb::create("Self Test!") else {
        return;
    };
    let name = db.name.clone();
    assert!(name.starts_with("safeshift_test_self_test__"), "{name}");
    assert!(name.len() <= 63, "{name} is {} bytes", name.len());
    assert_eq!(name, name.to_lowercase());
    assert!(database_exists(&name), "{name} should exist after create");

    // The URL really points at the scratch database.
    let row = db
        .client()
        .query_one("SELECT current_database()::text", &[])
        .expect("current_database");
    let current: String = row.get(0);
    assert_eq!(current, name);

    // A fresh database has an empty public schema.
    assert_eq!(db.catalog(), "");

    // An open session must not prevent the drop (WITH (FORCE)).
    let _open_session = db.client();
    drop(db);
    assert!(!database_exists(&name), "{name} should be gone after drop");
}

#[test]
fn long_tags_are_truncated_but_names_stay_unique() {
    let tag = "a_really_long_tag_that_would_blow_the_identifier_limit_on_its_own";
    let Some(a) = ScratchDb::create(tag) else {
        return;
    };
    let Some(b) = ScratchDb::create(tag) else {
        return;
    };
    assert!(a.name.len() <= 63, "{}", a.name);
    assert!(b.name.len() <= 63, "{}", b.name);
    assert_ne!(a.name, b.name);
    assert!(database_exists(&a.name) && database_exists(&b.name));
}

#[test]
fn catalog_lists_columns_by_name_and_other_objects() {
    let Some(db) = ScratchDb::create("catalog") else {
        return;
    };
    db.execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
         CREATE TABLE users (
             zeta text,
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             email text NOT NULL DEFAULT 'x@example.com',
             m mood,
             email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
             gone int
         );
         ALTER TABLE users DROP COLUMN gone;
         ALTER TABLE users ADD CONSTRAINT email_len CHECK (length(email) > 0) NOT VALID;
         CREATE UNIQUE INDEX users_email_idx ON users (email);
         CREATE VIEW active_users AS SELECT id,
                email FROM users WHERE email <> '';
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN RETURN NEW; END $$;
         CREATE TRIGGER users_touch BEFORE UPDATE ON users
             FOR EACH ROW EXECUTE FUNCTION touch();",
    );
    let cat = db.catalog();
    let lines: Vec<&str> = cat.lines().collect();

    // Columns are listed sorted by name, not in attnum order; dropped and
    // system columns do not appear.
    let columns: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("column public.users."))
        .collect();
    assert_eq!(
        columns,
        [
            "column public.users.email text NOT NULL DEFAULT 'x@example.com'::text",
            "column public.users.email_lower text GENERATED ALWAYS AS (lower(email)) STORED",
            "column public.users.id bigint NOT NULL IDENTITY ALWAYS",
            "column public.users.m mood",
            "column public.users.zeta text",
        ],
        "full catalog:\n{cat}"
    );
    assert!(!cat.contains("gone"), "{cat}");
    assert!(!cat.contains("ctid"), "{cat}");

    for expected in [
        "relation public.active_users view",
        "relation public.users table",
        "constraint public.users.email_len c NOT_VALIDATED CHECK ((length(email) > 0)) NOT VALID",
        "constraint public.users.users_pkey p validated PRIMARY KEY (id)",
        "index public.users.users_email_idx valid CREATE UNIQUE INDEX users_email_idx ON public.users USING btree (email)",
        "function public.touch() kind=f",
        "enum public.mood ('sad', 'meh', 'ok', 'happy')",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{cat}");
    }
    // pg_get_viewdef's exact text varies by major version; it must be one line.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("viewdef public.active_users SELECT ")
                && l.contains("FROM users")),
        "{cat}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "trigger public.users.users_touch enabled=O CREATE TRIGGER users_touch BEFORE UPDATE ON public.users"
        )),
        "{cat}"
    );

    // Deterministic: same schema, same text.
    assert_eq!(cat, db.catalog());

    // Column order is ignored: the same columns in another order compare
    // equal, while a real difference shows up in catalog_diff.
    let Some(left) = ScratchDb::create("catalog_left") else {
        return;
    };
    let Some(right) = ScratchDb::create("catalog_right") else {
        return;
    };
    left.execute("CREATE TABLE t (b int, a text NOT NULL)");
    right.execute("CREATE TABLE t (a text NOT NULL, b int)");
    let (l, r) = (left.catalog(), right.catalog());
    assert_eq!(l, r, "diff:\n{}", ScratchDb::catalog_diff(&l, &r));
    right.execute("ALTER TABLE t ALTER COLUMN b TYPE bigint");
    assert_eq!(
        ScratchDb::catalog_diff(&l, &right.catalog()),
        "- column public.t.b integer\n+ column public.t.b bigint\n"
    );
}

#[test]
fn catalog_diff_shows_both_sides() {
    let a = "relation public.t table\ncolumn public.t.a int\ncolumn public.t.b int\n";
    let b = "relation public.t table\ncolumn public.t.a bigint\ncolumn public.t.b int\n";
    assert_eq!(
        ScratchDb::catalog_diff(a, b),
        "- column public.t.a int\n+ column public.t.a bigint\n"
    );
    assert_eq!(ScratchDb::catalog_diff(a, a), "");
}

#[test]
fn execute_and_try_execute_report_errors() {
    let Some(db) = ScratchDb::create("exec") else {
        return;
    };
    db.execute("CREATE TABLE t (id int)");
    let err = db
        .try_execute("CREATE TABLE t (id int)")
        .expect_err("duplicate table must fail");
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("42P07"), "{err}");

    let panic = std::panic::catch_unwind(|| db.execute("SELECT * FROM nope"))
        .expect_err("execute must panic on error");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("SELECT * FROM nope"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn psql_file_runs_real_psql() {
    let Some(db) = ScratchDb::create("psql") else {
        return;
    };
    let ok = sql_file(
        "CREATE TABLE from_psql (id int PRIMARY KEY);\n\
         INSERT INTO from_psql VALUES (1), (2);\n\
         SELECT count(*) AS n FROM from_psql;\n",
    );
    let out = db.psql_file(ok.path()).expect("valid file should apply");
    assert!(out.contains('2'), "psql stdout: {out}");
    assert!(db.catalog().contains("relation public.from_psql table"));

    // ON_ERROR_STOP: the first error stops the file and yields Err; the
    // statement before it stays applied (no implicit transaction).
    let bad = sql_file(
        "CREATE TABLE before_error (id int);\n\
         ALTER TABLE no_such_table ADD COLUMN x int;\n\
         CREATE TABLE after_error (id int);\n",
    );
    let err = db.psql_file(bad.path()).expect_err("bad file must fail");
    assert!(err.contains("no_such_table"), "{err}");
    let cat = db.catalog();
    assert!(cat.contains("relation public.before_error table"), "{cat}");
    assert!(!cat.contains("after_error"), "{cat}");
}

#[test]
fn pg_major_matches_server() {
    let Some(db) = ScratchDb::create("version") else {
        return;
    };
    let major = pg_major(&db);
    assert!(
        major >= 13,
        "WITH (FORCE) needs PostgreSQL 13+, got {major}"
    );
    let row = db
        .client()
        .query_one("SELECT current_setting('server_version')", &[])
        .expect("server_version");
    let version: String = row.get(0);
    assert!(version.starts_with(&format!("{major}.")), "{version}");
}

#[test]
fn url_with_dbname_keeps_everything_else() {
    assert_eq!(
        url_with_dbname("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        url_with_dbname("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        url_with_dbname("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
    assert_eq!(
        url_with_dbname("host=h user=u dbname=d", "x"),
        "host=h user=u dbname=d dbname=x"
    );
    assert_eq!(
        support::redact_url("postgres://u:secret@h/db"),
        "postgres://u:***@h/db"
    );
}

// --- `support::sarif`: validation against the official SARIF 2.1.0 schema ---

/// A small SARIF 2.1.0 log with every field `safeshift lint` relies on: tool.driver with one
/// fully described rule, and one result pointing at a line/column in a file.
fn minimal_sarif_log() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "safeshift",
                    "informationUri": "https://example.com/safeshift",
                    "rules": [{
                        "id": "missing-lock-timeout",
                        "shortDescription": { "text": "DDL without a lock_timeout" },
                        "fullDescription": {
                            "text": "A blocked ALTER TABLE queues every later query on the table."
                        },
                        "helpUri": "https://example.com/safeshift/rules/missing-lock-timeout",
                        "defaultConfiguration": { "level": "error" }
                    }]
                }
            },
            "results": [{
                "ruleId": "missing-lock-timeout",
                "level": "error",
                "message": { "text": "ALTER TABLE runs without SET lock_timeout" },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": "migrations/0001_add_column.sql" },
                        "region": { "startLine": 3, "startColumn": 1 }
                    }
                }]
            }]
        }]
    })
}

/// The violations reported for `log`, failing the test if it unexpectedly validates.
fn sarif_violations(log: &serde_json::Value) -> Vec<String> {
    match support::sarif::validate_sarif(log) {
        Ok(()) => panic!("expected SARIF schema violations, but the log is valid:\n{log:#}"),
        Err(violations) => violations,
    }
}

/// Asserts that some violation is reported at exactly the JSON Pointer `path`.
fn assert_violation_at(violations: &[String], path: &str) {
    let prefix = format!("{path}: ");
    assert!(
        violations.iter().any(|v| v.starts_with(&prefix)),
        "expected a violation at {path}, got:\n{}",
        violations.join("\n")
    );
}

#[test]
fn sarif_minimal_log_is_valid() {
    if let Err(violations) = support::sarif::validate_sarif(&minimal_sarif_log()) {
        panic!("minimal SARIF log rejected:\n{}", violations.join("\n"));
    }
}

#[test]
fn sarif_missing_version_is_rejected() {
    let mut log = minimal_sarif_log();
    log.as_object_mut()
        .expect("log is an object")
        .remove("version");
    let violations = sarif_violations(&log);
    assert_violation_at(&violations, "(root)");
    assert!(
        violations.iter().any(|v| v.contains("\"version\"")),
        "{violations:?}"
    );
}

#[test]
fn sarif_wrong_version_is_rejected() {
    let mut log = minimal_sarif_log();
    log["version"] = serde_json::json!("2.0.0");
    assert_violation_at(&sarif_violations(&log), "/version");
}

#[test]
fn sarif_unknown_level_is_rejected() {
    let mut log = minimal_sarif_log();
    log["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    let violations = sarif_violations(&log);
    assert_violation_at(&violations, "/runs/0/results/0/level");
    assert!(
        violations.iter().any(|v| v.contains("fatal")),
        "{violations:?}"
    );
}

#[test]
fn sarif_start_line_zero_is_rejected() {
    let mut log = minimal_sarif_log();
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        serde_json::json!(0);
    assert_violation_at(
        &sarif_violations(&log),
        "/runs/0/results/0/locations/0/physicalLocation/region/startLine",
    );
}

#[test]
fn sarif_reports_every_violation_not_just_the_first() {
    let mut log = minimal_sarif_log();
    log["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] =
        serde_json::json!("fatal");
    log["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    let violations = sarif_violations(&log);
    assert_violation_at(
        &violations,
        "/runs/0/tool/driver/rules/0/defaultConfiguration/level",
    );
    assert_violation_at(&violations, "/runs/0/results/0/level");
}

#[test]
fn sarif_uri_formats_are_checked() {
    // Guards the explicit `should_validate_formats(true)`: `helpUri` is `"format": "uri"`.
    let mut log = minimal_sarif_log();
    log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = serde_json::json!("not a uri");
    assert_violation_at(
        &sarif_violations(&log),
        "/runs/0/tool/driver/rules/0/helpUri",
    );
}

#[test]
fn sarif_unknown_property_is_rejected() {
    // The schema closes its objects (`additionalProperties: false`), so typos are caught.
    let mut log = minimal_sarif_log();
    log["runs"][0]["results"][0]["rule_id"] = serde_json::json!("missing-lock-timeout");
    assert_violation_at(&sarif_violations(&log), "/runs/0/results/0");
}
