//! Regression tests for defects found by fuzzing and review (issue 7). Each names what went wrong.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn plan(dir: &Path, sql: &str, dialect: &str) -> Value {
    let input = dir.join("change.sql");
    fs::write(&input, sql).unwrap();
    let out = dir.join(format!("plan-{dialect}"));
    let output = Command::cargo_bin("safeshift")
        .unwrap()
        .arg("plan")
        .arg(&input)
        .args(["--dialect", dialect, "--force", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{sql}: {stderr}");
    serde_json::from_slice(&fs::read(out.join("plan.json")).unwrap()).unwrap()
}

/// A UNIQUE / PRIMARY KEY over an expression used to become a key over the plain columns among
/// its parts (or over none: an empty column list). It is passed through as written instead.
#[test]
fn key_on_an_expression_is_passed_through_not_emptied() {
    let dir = tempfile::tempdir().unwrap();
    for (dialect, sql) in [
        (
            "postgres",
            "ALTER TABLE users ADD CONSTRAINT u UNIQUE ((lower(email)));",
        ),
        (
            "postgres",
            "ALTER TABLE users ADD CONSTRAINT u UNIQUE (id, (lower(email)));",
        ),
        (
            "mysql",
            "ALTER TABLE users ADD UNIQUE KEY k ((lower(email)));",
        ),
        ("mysql", "ALTER TABLE users ADD PRIMARY KEY ((id + 1));"),
    ] {
        let plan = plan(dir.path(), sql, dialect);
        let changes = plan["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{sql}");
        assert_eq!(changes[0]["kind"], "other", "{sql}: {:#}", changes[0]);
    }
}

/// Found by tests/properties.rs: two type changes (or a rename and a type change) of one column in
/// one file built the same shadow column, copy trigger and function twice, the second while the
/// first's were still in use (its stage failed: the column already existed). Refused instead.
#[test]
fn a_column_is_rewritten_through_a_shadow_column_once_per_plan() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.sql");
    fs::write(
        &schema,
        "CREATE TABLE n (id bigint PRIMARY KEY, c integer);\n",
    )
    .unwrap();
    for change in [
        "ALTER TABLE n ALTER COLUMN c TYPE bigint;\nALTER TABLE n ALTER COLUMN c TYPE text;\n",
        "ALTER TABLE n RENAME COLUMN c TO d;\nALTER TABLE n ALTER COLUMN d TYPE text;\n",
    ] {
        let input = dir.path().join("change.sql");
        fs::write(&input, change).unwrap();
        let output = Command::cargo_bin("safeshift")
            .unwrap()
            .arg("plan")
            .arg(&input)
            .arg("--schema")
            .arg(&schema)
            .arg("--out")
            .arg(dir.path().join("plan"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{change}: {stderr}");
        assert!(stderr.contains("change.sql:2:1: "), "{stderr}");
        assert!(stderr.contains("only once"), "{stderr}");
    }
    // One rewrite and other changes of the same column still plan.
    let input = dir.path().join("change.sql");
    fs::write(
        &input,
        "ALTER TABLE n ALTER COLUMN c TYPE bigint;\nCREATE INDEX n_c_idx ON n (c);\n",
    )
    .unwrap();
    Command::cargo_bin("safeshift")
        .unwrap()
        .arg("plan")
        .arg(&input)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(dir.path().join("plan2"))
        .assert()
        .code(0);
}

/// Found by tests/properties.rs (MySQL): a column made NOT NULL through a fill trigger, dropped, and
/// added again with a backfill in one file created the second fill trigger under the first one's name
/// while the first was still in place (its stage failed: the trigger already existed). Refused.
#[test]
fn a_column_is_filled_through_a_trigger_once_per_plan() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.sql");
    fs::write(
        &schema,
        "CREATE TABLE `users` (`id` bigint NOT NULL PRIMARY KEY, `a` bigint, `b` bigint);\n",
    )
    .unwrap();
    let input = dir.path().join("change.sql");
    fs::write(
        &input,
        "-- safeshift: backfill = 0\nALTER TABLE `users` MODIFY COLUMN `a` bigint NOT NULL;\nALTER TABLE `users` DROP COLUMN `a`;\n-- safeshift: backfill = 0\nALTER TABLE `users` ADD COLUMN `a` integer NOT NULL;\n",
    )
    .unwrap();
    let output = Command::cargo_bin("safeshift")
        .unwrap()
        .arg("plan")
        .arg(&input)
        .args(["--dialect", "mariadb", "--schema"])
        .arg(&schema)
        .arg("--out")
        .arg(dir.path().join("plan"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("change.sql:5:1: "), "{stderr}");
    assert!(stderr.contains("already installs"), "{stderr}");
}

/// A dump of an empty database is a schema (a project's first migration plans against it); a file
/// with no schema statements that is not a dump is still refused.
#[test]
fn a_dump_of_an_empty_database_is_a_schema() {
    let dump = "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n";
    let catalog = safeshift::load_schema("empty.sql", dump).expect("an empty dump is a schema");
    assert!(catalog.is_empty());
    assert!(safeshift::load_schema("notes.sql", "SELECT 1;").is_err());
}

/// lemmy (2025-08-01-000019): `UPDATE pg_index SET indisready = …` was refused as "table
/// `pg_index` is not in the schema" once data changes were batched; a data change of a table the
/// schema does not hold runs as written, with the reason, as it did before.
#[test]
fn a_data_change_of_a_system_catalog_runs_as_written() {
    let schema = "CREATE TABLE public.t1 (id bigint NOT NULL, v text);\nALTER TABLE ONLY public.t1 ADD CONSTRAINT t1_pkey PRIMARY KEY (id);\n";
    let plan = safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "UPDATE pg_index SET indisready = false WHERE indrelid = 't1'::regclass;\nUPDATE t1 SET v = upper(v);",
        schema: Some(("schema.sql", schema)),
        dialect: safeshift::dialect::Dialect::default(),
        options: safeshift::ops::Options::default(),
    })
    .expect("plans");
    let titles: Vec<&str> = plan
        .stages
        .iter()
        .flat_map(|s| s.steps.iter().map(|step| step.title.as_str()))
        .collect();
    assert!(titles.contains(&"update pg_index as written"), "{titles:?}");
    assert!(
        titles.iter().any(|t| t.starts_with("update t1 in batches")),
        "{titles:?}"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("pg_index is not a table of the schema")),
        "{:?}",
        plan.warnings
    );
}

/// lemmy (2025-08-01-000039): an `UPDATE pg_index` run as written reaches every table; it must
/// keep its place among the file's statements like any statement of unknown reach (as a data
/// change of two tables it was reordered, and a later stage's down no longer matched).
#[test]
fn a_data_change_of_a_system_catalog_keeps_its_place() {
    let schema = "CREATE TABLE public.t1 (id bigint NOT NULL, v text);\nALTER TABLE ONLY public.t1 ADD CONSTRAINT t1_pkey PRIMARY KEY (id);\nCREATE TABLE public.t2 (id bigint NOT NULL, w text);\nALTER TABLE ONLY public.t2 ADD CONSTRAINT t2_pkey PRIMARY KEY (id);\n";
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "-- safeshift: backfill = 1\nALTER TABLE t2 ADD COLUMN x integer NOT NULL;\nUPDATE pg_index SET indisready = false WHERE indrelid = (SELECT oid FROM pg_class WHERE relname = 't1');\nALTER TABLE t2 ADD COLUMN y integer;",
        schema: Some(("schema.sql", schema)),
        dialect: safeshift::dialect::Dialect::default(),
        options: safeshift::ops::Options::default(),
    };
    let plan = safeshift::plan(&input).expect("plans");
    let order: Vec<String> = plan
        .stages
        .iter()
        .flat_map(|s| s.steps.iter().map(|step| step.title.clone()))
        .collect();
    let at = |needle: &str| {
        order
            .iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {order:?}"))
    };
    // Every step of the multi-stage change before it comes first (its NOT NULL last).
    let last_of_x = order
        .iter()
        .rposition(|t| t.contains("t2.x") || t.contains("backfill"))
        .unwrap_or_else(|| panic!("{order:?}"));
    assert!(last_of_x < at("pg_index"), "{order:?}");
    assert!(at("pg_index") < at("t2.y"), "{order:?}");
}
