//! Derived values follow their sources while the old application version keeps running.
//!
//! The README's change (`-- safeshift: backfill = lower(email)` for a new NOT NULL `email_lower`,
//! with a unique index on it) is applied stage by stage on a real PostgreSQL and a real MariaDB,
//! while between every pair of stages the old application version UPDATEs the source column
//! alone, another column alone, and both, and inserts rows without the new column; the new
//! version (from its deploy on) writes both. After every stage no row may hold a stale
//! `email_lower`, and at the end the rows equal what the naive change gives on the same rows.

mod support;

use std::path::Path;

use safeshift::dialect::{Dialect, Engine};
use safeshift::ops::Options;
use safeshift::plan::{Phase, StepKind};
use support::ScratchDb;
use support::mysql::ScratchMysql;
use support::stages::StageDb;

const CHANGE: &str = include_str!("../examples/add-required-column/change.sql");

/// What the old application version runs after stage `k`: it does not know `email_lower`.
fn old_app(k: usize) -> Vec<String> {
    vec![
        // the source column alone
        format!(
            "UPDATE users SET email = concat('A{k}.', email) WHERE id % 10 = {}",
            k % 10
        ),
        // another column alone
        format!(
            "UPDATE users SET name = 'other {k}' WHERE id % 10 = {}",
            (k + 3) % 10
        ),
        // both
        format!(
            "UPDATE users SET email = concat('B{k}.', upper(email)), name = 'both {k}' WHERE id % 10 = {}",
            (k + 6) % 10
        ),
        // a source update that leaves the value as it was
        format!(
            "UPDATE users SET email = email WHERE id % 10 = {}",
            (k + 8) % 10
        ),
        "INSERT INTO users (id, email) SELECT max(id) + 1, concat('Old', max(id) + 1, '@App.io') FROM users"
            .to_string(),
    ]
}

/// What the new version runs after stage `k` (from its deploy on): it writes `email_lower` itself.
fn new_app(k: usize) -> Vec<String> {
    vec![
        format!(
            // email_lower first: MySQL evaluates SET left to right with the values already set
            "UPDATE users SET email_lower = lower(concat('N{k}.', email)), email = concat('N{k}.', email) WHERE id % 10 = {}",
            (k + 1) % 10
        ),
        "INSERT INTO users (id, email, email_lower) SELECT max(id) + 1, concat('New', max(id) + 1, '@App.io'), concat('new', max(id) + 1, '@app.io') FROM users"
            .to_string(),
    ]
}

fn plan(dialect: Dialect, schema: &str, change: &str) -> safeshift::Plan {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect,
        options: Options {
            batch_size: 100,
            ..Options::default()
        },
    };
    safeshift::plan(&input).unwrap_or_else(|e| panic!("planning failed: {e}"))
}

/// Applies every stage with the engine's client, the old app's writes after every stage until
/// the deploy is done and the new app's from the deploy on; after each stage, no row holds a
/// value of `email_lower` other than `lower(email)` (rows not backfilled yet hold NULL).
fn walk(name: &str, db: &impl StageDb, plan: &safeshift::Plan, dir: &Path) -> usize {
    let deploy = plan
        .stages
        .iter()
        .find(|s| s.kind == StepKind::Application)
        .map(|s| s.index)
        .unwrap_or_else(|| panic!("{name}: the plan has no deploy stage"));
    // The trigger that keeps email_lower current for the old app is gone in the contract stage:
    // the old app may run only before it.
    assert!(
        plan.stages
            .iter()
            .filter(|s| s.phase == Phase::Contract)
            .all(|s| s.index > deploy),
        "{name}: a contract stage runs before the deploy"
    );
    let mut writes = 0;
    let run = |sql: &str| {
        db.app(sql)
            .unwrap_or_else(|e| panic!("{name}: app statement failed: {sql}\n{e}"))
    };
    for sql in old_app(0) {
        run(&sql);
        writes += 1;
    }
    for stage in &plan.stages {
        if let Some(up) = &stage.up {
            db.run_file(&dir.join(up))
                .unwrap_or_else(|e| panic!("{name}: stage {} up.sql failed:\n{e}", stage.index));
        }
        if stage.index <= deploy {
            for sql in old_app(stage.index) {
                run(&sql);
                writes += 1;
            }
        }
        if stage.index >= deploy {
            for sql in new_app(stage.index) {
                run(&sql);
                writes += 1;
            }
        }
        {
            let stale = db.first_value(
                "SELECT count(*) FROM users WHERE email_lower IS NOT NULL AND email_lower <> lower(email)",
            );
            assert_eq!(
                stale.as_deref(),
                Some("0"),
                "{name}: after stage {} ({}), rows hold a stale email_lower",
                stage.index,
                stage.name
            );
        }
    }
    writes
}

const PG_SCHEMA: &str = include_str!("../examples/add-required-column/schema.sql");

fn pg_rows(db: &ScratchDb, with_derived: bool) -> String {
    db.first_value(&format!(
        "SELECT string_agg(concat_ws('|', id, email, coalesce(name, '-'){}), E'\\n' ORDER BY id) FROM users",
        if with_derived { ", email_lower" } else { "" }
    ))
    .unwrap_or_default()
}

/// The rows of the original columns as one INSERT, to give the naive change the same rows.
fn insert_of(rows: &str) -> String {
    let values: Vec<String> = rows
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            let name = match f[2] {
                "-" => "NULL".to_string(),
                n => format!("'{}'", n.replace('\'', "''")),
            };
            format!("({}, '{}', {name})", f[0], f[1].replace('\'', "''"))
        })
        .collect();
    format!(
        "INSERT INTO users (id, email, name) VALUES {};",
        values.join(", ")
    )
}

#[test]
fn postgres_old_app_updates_keep_the_derived_column_current() {
    let Some(db) = ScratchDb::create("derived_pg") else {
        return;
    };
    let Some(naive) = ScratchDb::create("derived_pg_naive") else {
        return;
    };
    let plan = plan(support::server_dialect().into(), PG_SCHEMA, CHANGE);
    let dir = support::stages::write_plan(&plan);
    db.execute(PG_SCHEMA);
    db.execute(
        "INSERT INTO users (id, email, name) SELECT g, 'User' || g || '@Example.com', CASE WHEN g % 3 = 0 THEN NULL ELSE 'name ' || g END FROM generate_series(1, 1000) g",
    );
    let writes = walk("derived_pg", &db, &plan, dir.path());
    assert!(writes > 20);
    // The old app's writes happened: emails it prefixed are there.
    assert_ne!(
        db.first_value("SELECT count(*) FROM users WHERE email LIKE 'A1.%' OR email LIKE 'B1.%'")
            .as_deref(),
        Some("0")
    );

    // The naive change, on the same rows: add, fill with the expression, NOT NULL, unique index.
    naive.execute(PG_SCHEMA);
    naive.execute(&insert_of(&pg_rows(&db, false)));
    naive.execute(
        "ALTER TABLE users ADD COLUMN email_lower text;
         UPDATE users SET email_lower = lower(email);
         ALTER TABLE users ALTER COLUMN email_lower SET NOT NULL;
         CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);",
    );
    let (actual, expected) = (pg_rows(&db, true), pg_rows(&naive, true));
    assert!(
        actual == expected,
        "end data differs from the naive change's:\n{}",
        first_difference(&expected, &actual)
    );
    assert_eq!(
        db.first_value("SELECT count(*) FROM users WHERE email_lower IS NULL")
            .as_deref(),
        Some("0")
    );
}

const MY_SCHEMA: &str = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
";

const MY_CHANGE: &str = "-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";

/// The naive change with its backfill spelled out, as a person would run it.
const MY_CHANGE_NAIVE: &str = "ALTER TABLE users ADD COLUMN email_lower varchar(200);
UPDATE users SET email_lower = lower(email);
ALTER TABLE users MODIFY email_lower varchar(200) NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);";

fn my_rows(db: &ScratchMysql, with_derived: bool) -> String {
    db.execute(&format!(
        "SELECT CONCAT_WS('|', id, email, IFNULL(name, '-'){}) FROM users ORDER BY id;",
        if with_derived { ", email_lower" } else { "" }
    ))
}

#[test]
fn mariadb_old_app_updates_keep_the_derived_column_current() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "derived_my");
    let naive = ScratchMysql::create(&server, "derived_my_naive");
    let plan = plan(
        Dialect::new(Engine::Mariadb, Some("10.11")).unwrap(),
        MY_SCHEMA,
        MY_CHANGE,
    );
    let dir = support::stages::write_plan(&plan);
    db.execute(MY_SCHEMA);
    db.execute(
        "INSERT INTO users (id, email, name)
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000)
         SELECT i, CONCAT('User', i, '@Example.com'), IF(i % 3 = 0, NULL, CONCAT('name ', i)) FROM g;",
    );
    let writes = walk("derived_my", &db, &plan, dir.path());
    assert!(writes > 20);
    assert_ne!(
        db.first_value("SELECT count(*) FROM users WHERE email LIKE 'A1.%' OR email LIKE 'B1.%'")
            .as_deref(),
        Some("0")
    );
    naive.execute(MY_SCHEMA);
    naive.execute(&insert_of(&my_rows(&db, false)));
    naive.execute(MY_CHANGE_NAIVE);
    let (actual, expected) = (my_rows(&db, true), my_rows(&naive, true));
    assert!(
        actual == expected,
        "end data differs from the naive change's:\n{}",
        first_difference(&expected, &actual)
    );
    // Binary comparison: a case-insensitive collation would hide a stale 'Bob@…'.
    assert_eq!(
        db.first_value("SELECT count(*) FROM users WHERE BINARY email_lower <> BINARY lower(email) OR email_lower IS NULL")
            .as_deref(),
        Some("0")
    );
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (e, a) in expected.lines().zip(actual.lines()) {
        if e != a {
            return format!("expected {e}\n     got {a}");
        }
    }
    format!(
        "{} rows expected, {} rows got",
        expected.lines().count(),
        actual.lines().count()
    )
}

/// The ORM order (add, UPDATE every row, SET NOT NULL, SET DEFAULT) with a value computed per
/// row, planned as one added NOT NULL column: while the old app inserts rows without the column
/// and updates others between the stages, every row ends with the value the naive change gives
/// it on the same rows, and the column ends NOT NULL with its default.
#[test]
fn postgres_orm_pattern_fills_every_row_like_the_naive_change() {
    let Some(db) = ScratchDb::create("derived_orm") else {
        return;
    };
    let change = "ALTER TABLE users ADD COLUMN locale text;
UPDATE users SET locale = split_part(lower(email), '@', 2);
ALTER TABLE users ALTER COLUMN locale SET NOT NULL;
ALTER TABLE users ALTER COLUMN locale SET DEFAULT 'en';
";
    let plan = plan(support::server_dialect().into(), PG_SCHEMA, change);
    assert!(
        plan.assumptions
            .iter()
            .any(|a| a.contains("are one intent") && a.contains("2:1")),
        "the merge is said: {:?}",
        plan.assumptions
    );
    assert!(
        !plan
            .stages
            .iter()
            .any(|s| s.name.contains("run as written")),
        "the UPDATE is not run whole: {}",
        safeshift::render::summary(&plan, None)
    );
    let dir = support::stages::write_plan(&plan);
    db.execute(PG_SCHEMA);
    db.execute(
        "INSERT INTO users (id, email) SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, 1000) g",
    );
    let deploy = plan
        .stages
        .iter()
        .find(|s| s.kind == StepKind::Application)
        .map(|s| s.index)
        .unwrap_or(usize::MAX);
    for stage in &plan.stages {
        if let Some(up) = &stage.up {
            db.psql_file(&dir.path().join(up))
                .unwrap_or_else(|e| panic!("stage {} up.sql failed:\n{e}", stage.index));
        }
        if stage.index <= deploy {
            for sql in old_app(stage.index) {
                db.try_execute(&sql)
                    .unwrap_or_else(|e| panic!("old app after stage {}: {sql}\n{e}", stage.index));
            }
        }
    }
    assert_eq!(
        db.first_value(
            "SELECT count(*) FROM users WHERE id <= 1000 AND locale IS DISTINCT FROM split_part(lower(email), '@', 2)"
        )
        .as_deref(),
        Some("0"),
        "the rows the change found hold what the naive change gives them"
    );
    // Rows the old app inserted during the rollout: filled by the trigger, or (once the default
    // for new rows is set, as after the naive change) the default.
    assert_eq!(
        db.first_value(
            "SELECT count(*) FROM users WHERE id > 1000 AND locale IS DISTINCT FROM split_part(lower(email), '@', 2) AND locale IS DISTINCT FROM 'en'"
        )
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        db.first_value(
            "SELECT attnotnull::text || ' ' || pg_get_expr(adbin, adrelid) FROM pg_attribute JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum WHERE attrelid = 'users'::regclass AND attname = 'locale'"
        )
        .as_deref(),
        Some("true 'en'::text")
    );
}

/// A backfill that reads a column added earlier in the same file: the first stage cannot look at
/// that column before it exists, so its NULL and duplicate checks are left to the stages that
/// build the NOT NULL and the unique index (which check again, after the backfill).
#[test]
fn checks_before_the_first_stage_read_only_columns_that_exist_then() {
    let change = "ALTER TABLE users ADD COLUMN domain text DEFAULT 'x.io';
-- safeshift: backfill = lower(email) || domain
ALTER TABLE users ADD COLUMN handle text NOT NULL;
CREATE UNIQUE INDEX users_handle_key ON users (handle);
-- safeshift: backfill = lower(email)
ALTER TABLE users ADD COLUMN email_lower text NOT NULL;
CREATE UNIQUE INDEX users_email_lower_key ON users (email_lower);
";
    let plan = plan(
        Dialect::new(Engine::Postgres, Some("15")).unwrap(),
        PG_SCHEMA,
        change,
    );
    let before: Vec<&safeshift::plan::Check> = plan
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.before)
        .collect();
    assert!(
        before.iter().all(|c| !c.query.contains("domain")),
        "{before:#?}"
    );
    // The column that reads only existing ones keeps both checks.
    assert!(
        before
            .iter()
            .any(|c| c.query.contains("GROUP BY (lower(email))")),
        "{before:#?}"
    );
    assert!(
        before
            .iter()
            .any(|c| c.query.contains("WHERE (lower(email)) IS NULL")),
        "{before:#?}"
    );
}
