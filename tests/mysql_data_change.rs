//! UPDATE, DELETE and INSERT … SELECT planned as batched stages, on a real MariaDB (the same
//! proof as `tests/pg_data_change.rs`): every stage runs with the `mariadb` client alone
//! (`mariadb < up.sql`) and through `safeshift apply`, the end data equals the naive statement's
//! on an identical copy, a run stopped half way (a batch that waits past the lock timeout, a batch
//! that fails, Ctrl-C of `apply`) resumes without applying any batch twice, `SET n = n + 1`
//! included, and the old app keeps writing while the walk runs.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use safeshift::dialect::{Dialect, Engine};
use safeshift::ops::Options;
use support::mysql::{ScratchMysql, Server};

fn target() -> Dialect {
    Dialect::new(Engine::Mariadb, Some("10.11")).unwrap()
}

fn plan(schema: &str, change: &str, batch_size: u64) -> safeshift::Plan {
    safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect: target(),
        options: Options {
            batch_size,
            ..Options::default()
        },
    })
    .unwrap_or_else(|e| panic!("planning failed: {e}"))
}

/// A table's data as one checksum: two tables of the same definition hold the same rows when it
/// is equal (`CHECKSUM TABLE` does not depend on the order the rows were written in).
fn checksum(db: &ScratchMysql, table: &str) -> String {
    let out = db.execute(&format!("CHECKSUM TABLE `{table}` EXTENDED;"));
    out.split('\t')
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Seeds count with recursive CTEs; MariaDB stops them at 1000 rows by default.
fn seed(db: &ScratchMysql, sql: &str) {
    db.execute(&format!(
        "SET SESSION max_recursive_iterations = 1000000;\n{sql}"
    ));
}

struct Case {
    name: &'static str,
    schema: &'static str,
    seed: &'static str,
    change: &'static str,
    /// Tables whose data must equal the naive change's.
    compare: &'static [&'static str],
}

/// Plans `case`, applies every stage with the `mariadb` client through the shared walk (verify
/// queries, re-runs), and compares schema and data with the naive change run on an identical
/// copy. Returns the database and the plan at the end state.
fn run(case: &Case) -> Option<(ScratchMysql, safeshift::Plan)> {
    let server = support::mysql::server()?;
    let db = ScratchMysql::create(&server, case.name);
    let naive = ScratchMysql::create(&server, &format!("{}_naive", case.name));
    let plan = plan(case.schema, case.change, 1000);
    let dir = support::stages::write_plan(&plan);
    for d in [&db, &naive] {
        d.execute(case.schema);
        seed(d, case.seed);
    }
    naive
        .try_execute(case.change)
        .unwrap_or_else(|e| panic!("{}: the naive change fails:\n{e}", case.name));
    support::stages::walk_mysql_reruns();
    support::stages::apply_stages(case.name, &db, &plan, dir.path(), &[], &[]);
    let (expected, actual) = (naive.catalog(), db.catalog());
    assert!(
        expected == actual,
        "{}: schema differs from the naive change:\n{}",
        case.name,
        support::ScratchDb::catalog_diff(&expected, &actual)
    );
    assert!(
        !actual.contains("safeshift_"),
        "{}: helper objects left behind:\n{actual}",
        case.name
    );
    for table in case.compare {
        assert_eq!(
            checksum(&db, table),
            checksum(&naive, table),
            "{}: the data of {table} differs from the naive change's",
            case.name
        );
    }
    Some((db, plan))
}

/// The stage of `plan` that holds the batched walk; a point of no return.
fn batched_stage(plan: &safeshift::Plan) -> &safeshift::plan::stage::Stage {
    let stage = plan
        .stages
        .iter()
        .find(|s| s.kind == safeshift::plan::StepKind::Backfill)
        .unwrap_or_else(|| {
            panic!(
                "no batched stage:\n{}",
                safeshift::render::summary(plan, None)
            )
        });
    assert!(stage.down.is_none() && !stage.reversible);
    assert!(
        stage
            .steps
            .iter()
            .all(|s| s.rule == "unbatched-data-change"),
        "{:?}",
        stage.steps.iter().map(|s| s.rule).collect::<Vec<_>>()
    );
    stage
}

const ORDERS: &str = "CREATE TABLE orders (
  id bigint NOT NULL,
  coupon varchar(50) DEFAULT NULL,
  amount int NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;";

const ORDERS_SEED: &str = "INSERT INTO orders (id, coupon, amount)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 5000)
SELECT i, IF(i % 4 = 0, NULL, CONCAT('Save', i)), i FROM g;";

#[test]
fn an_update_runs_in_batches_and_ends_with_the_naive_data() {
    let case = Case {
        name: "mdc_update",
        schema: ORDERS,
        seed: ORDERS_SEED,
        change: "UPDATE orders SET coupon = upper(coupon) WHERE coupon IS NOT NULL;",
        compare: &["orders"],
    };
    let Some((db, plan)) = run(&case) else {
        return;
    };
    assert_eq!(
        plan.stages.len(),
        1,
        "{}",
        safeshift::render::summary(&plan, None)
    );
    let stage = batched_stage(&plan);
    assert!(!stage.transactional);
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM orders WHERE BINARY coupon LIKE 'SAVE%'")
            .as_deref(),
        Some("3750")
    );
}

#[test]
fn a_delete_runs_in_batches_and_ends_with_the_naive_data() {
    let case = Case {
        name: "mdc_delete",
        schema: "CREATE TABLE events (
  id bigint NOT NULL,
  at datetime NOT NULL,
  kind varchar(10) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;",
        seed: "INSERT INTO events (id, at, kind)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 6000)
SELECT i, TIMESTAMP('2023-09-01') + INTERVAL i HOUR, CONCAT('k', i % 7) FROM g;",
        change: "DELETE FROM events WHERE at < '2024-01-01';",
        compare: &["events"],
    };
    let Some((db, plan)) = run(&case) else {
        return;
    };
    batched_stage(&plan);
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM events").as_deref(),
        Some("3073")
    );
}

#[test]
fn composite_text_and_binary_keys_are_walked_in_key_order() {
    let case = Case {
        name: "mdc_keys",
        // Few tenants, many rows each: a walk of the first key column alone would put a whole
        // tenant in one batch. The text key has a collation other than the database's, and the
        // binary key holds bytes no character set reads: the last key done goes through the
        // progress row and back without changing.
        schema: "CREATE TABLE memberships (
  tenant_id int NOT NULL,
  id int NOT NULL,
  n int NOT NULL,
  PRIMARY KEY (tenant_id, id)
) ENGINE=InnoDB;
CREATE TABLE tokens (
  id char(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  label varchar(50) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE blobs (
  id binary(16) NOT NULL,
  region varchar(10) NOT NULL,
  seen int NOT NULL,
  PRIMARY KEY (region, id)
) ENGINE=InnoDB;",
        seed: "INSERT INTO memberships (tenant_id, id, n)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 4500)
SELECT i % 3, i, i FROM g;
INSERT INTO tokens (id, label)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3500)
SELECT CONCAT(IF(i % 2 = 0, 'A', 'a'), MD5(i)), CONCAT('label ', i) FROM g;
INSERT INTO blobs (id, region, seen)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3200)
SELECT UNHEX(MD5(i)), CONCAT('r', i % 2), 0 FROM g;",
        change: "UPDATE memberships SET n = n + 1 WHERE tenant_id <> 1;
UPDATE tokens SET label = upper(label);
UPDATE blobs SET seen = seen + 1;",
        compare: &["memberships", "tokens", "blobs"],
    };
    let Some((db, plan)) = run(&case) else {
        return;
    };
    assert_eq!(batched_stage(&plan).steps.len(), 3);
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM blobs WHERE seen = 1")
            .as_deref(),
        Some("3200"),
        "every row once"
    );
}

#[test]
fn an_insert_select_with_on_duplicate_key_runs_in_batches() {
    let case = Case {
        name: "mdc_insert_dup",
        schema: "CREATE TABLE orders (
  id bigint NOT NULL,
  coupon varchar(50) DEFAULT NULL,
  amount int NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE totals (
  id bigint NOT NULL,
  amount int NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;",
        seed: "INSERT INTO orders (id, coupon, amount)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 4000)
SELECT i, NULL, i FROM g;
INSERT INTO totals (id, amount)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 2000)
SELECT i * 2, 7 FROM g;",
        change: "INSERT INTO totals (id, amount) SELECT id, amount FROM orders WHERE amount > 10 ON DUPLICATE KEY UPDATE amount = totals.amount + VALUES(amount);",
        compare: &["totals"],
    };
    let Some((_, plan)) = run(&case) else {
        return;
    };
    batched_stage(&plan);
}

#[test]
fn a_data_change_after_an_added_column_runs_after_the_column_is_there() {
    let case = Case {
        name: "mdc_after_add",
        schema: ORDERS,
        seed: ORDERS_SEED,
        change: "ALTER TABLE orders ADD COLUMN note varchar(50) DEFAULT NULL;
UPDATE orders SET note = CONCAT('big ', amount) WHERE amount > 1000;",
        compare: &["orders"],
    };
    let Some((_, plan)) = run(&case) else {
        return;
    };
    assert_eq!(
        plan.stages.len(),
        2,
        "{}",
        safeshift::render::summary(&plan, None)
    );
}

#[test]
fn shapes_a_walk_would_change_run_as_written_with_the_reason() {
    let schema = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE orders (
  id bigint NOT NULL,
  user_id bigint DEFAULT NULL,
  amount int NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE events (
  id bigint DEFAULT NULL,
  payload text
) ENGINE=InnoDB;";
    for (change, why) in [
        (
            "UPDATE orders o JOIN users u ON u.id = o.user_id SET o.amount = 0;",
            "join",
        ),
        (
            "UPDATE orders SET amount = 0 ORDER BY id LIMIT 10;",
            "clause safeshift does not batch",
        ),
        (
            "DELETE FROM orders ORDER BY id LIMIT 10;",
            "clause safeshift does not batch",
        ),
        (
            "UPDATE orders SET id = id + 1000;",
            "part of the primary key",
        ),
        (
            "UPDATE events SET payload = lower(payload);",
            "no primary key",
        ),
        (
            "DELETE o FROM orders o JOIN users u ON u.id = o.user_id;",
            "not batch",
        ),
        (
            "INSERT INTO orders (id, user_id, amount) SELECT id + 100000, user_id, amount FROM orders;",
            "reads orders while changing it",
        ),
    ] {
        let plan = plan(schema, change, 1000);
        assert!(
            plan.stages
                .iter()
                .all(|s| s.kind != safeshift::plan::StepKind::Backfill),
            "{change}: batched\n{}",
            safeshift::render::summary(&plan, None)
        );
        assert!(
            plan.warnings.iter().any(|w| w.contains(why)),
            "{change}: no warning about {why}: {:?}",
            plan.warnings
        );
    }
}

const COUNTERS: &str = "CREATE TABLE counters (
  tenant_id int NOT NULL,
  id int NOT NULL,
  n int NOT NULL,
  PRIMARY KEY (tenant_id, id)
) ENGINE=InnoDB;";

const COUNTERS_SEED: &str = "INSERT INTO counters (tenant_id, id, n)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000)
SELECT i DIV 1000, i, 0 FROM g;";

/// A session that holds the row lock of one row until released: a batch that reaches it waits
/// past the stage's lock timeout and fails, after the batches before it committed.
struct RowLock(Child);

impl RowLock {
    fn take(server: &Server, db: &ScratchMysql, select_for_update: &str) -> RowLock {
        let mut child = server.session(&db.name);
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "START TRANSACTION;\n{select_for_update};\nSELECT 'locked';"
        )
        .unwrap();
        child.stdin = Some(stdin);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Only once the client printed the marker is the lock held.
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.trim() == "locked")),
            "the locking session ended early"
        );
        RowLock(child)
    }

    fn release(mut self) {
        let mut stdin = self.0.stdin.take().unwrap();
        writeln!(stdin, "ROLLBACK;").unwrap();
        drop(stdin);
        let status = self.0.wait().unwrap();
        assert!(status.success());
    }
}

fn left_behind(db: &ScratchMysql) -> String {
    db.first_value(
        "SELECT CONCAT((SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'safeshift_progress'), ' tables, ', (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()), ' routines')",
    )
    .unwrap_or_default()
}

#[test]
fn a_non_idempotent_update_stopped_half_way_resumes_and_applies_each_row_once() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "mdc_counters");
    db.execute(COUNTERS);
    seed(&db, COUNTERS_SEED);
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 100);
    let dir = support::stages::write_plan(&plan);
    let stage = batched_stage(&plan);
    let up = dir.path().join(stage.up.as_deref().unwrap());
    let text = fs::read_to_string(&up).unwrap();
    assert!(
        text.contains("SET SESSION lock_wait_timeout = 2;"),
        "{text}"
    );
    // The shortest wait MariaDB has (whole seconds), so the test does not wait 2 s per run.
    fs::write(
        dir.path().join("fast.sql"),
        text.replace(
            "SET SESSION lock_wait_timeout = 2;",
            "SET SESSION lock_wait_timeout = 1;",
        ),
    )
    .unwrap();
    let fast = dir.path().join("fast.sql");

    // Row (1, 1500) is locked: the batches before it commit, the one that holds it fails.
    let lock = RowLock::take(
        &server,
        &db,
        "SELECT * FROM counters WHERE tenant_id = 1 AND id = 1500 FOR UPDATE",
    );
    let failed = db
        .run_file(&fast)
        .expect_err("the locked row must stop the walk");
    assert!(failed.contains("Lock wait timeout"), "{failed}");
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM counters WHERE n > 1")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM counters WHERE n = 1")
            .as_deref(),
        Some("1400"),
        "rows before (1, 1500) in key order, in whole batches"
    );
    // The composite key's last row done, each column's bytes in hex: (1, 1400).
    assert_eq!(
        db.first_value("SELECT CONCAT(last_key, ' ', `rows`) FROM safeshift_progress")
            .as_deref(),
        Some("31,31343030 1400")
    );

    // Run again while still locked: it resumes after the recorded key and stops at the same row.
    assert!(db.run_file(&fast).is_err());
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM counters WHERE n = 1")
            .as_deref(),
        Some("1400")
    );
    lock.release();
    let out = db.run_file(&up).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains("update counters: 3000 rows so far, up to (`tenant_id`, `id`) (3, 3000)"),
        "the progress lines: {out}"
    );
    assert_eq!(
        db.first_value("SELECT CONCAT(SUM(n = 1), '/', COUNT(*)) FROM counters")
            .as_deref(),
        Some("3000/3000"),
        "every row incremented exactly once"
    );
    assert_eq!(left_behind(&db), "0 tables, 0 routines");
}

#[test]
fn an_insert_select_that_failed_half_way_copies_each_row_once() {
    // The archive has no key, so a second copy of a row would not be refused: only the
    // progress keeps the count right. A trigger fails the batch that reaches row 2500.
    let schema = "CREATE TABLE events (
  id bigint NOT NULL,
  at datetime NOT NULL,
  kind varchar(10) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE archive (
  id bigint NOT NULL,
  at datetime NOT NULL,
  kind varchar(10) DEFAULT NULL
) ENGINE=InnoDB;";
    let change =
        "INSERT INTO archive (id, at, kind) SELECT id, at, kind FROM events WHERE kind <> 'k0';";
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "mdc_insert");
    let naive = ScratchMysql::create(&server, "mdc_insert_naive");
    let events = "INSERT INTO events (id, at, kind)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 4000)
SELECT i, TIMESTAMP('2023-09-01') + INTERVAL i HOUR, CONCAT('k', i % 7) FROM g;";
    for d in [&db, &naive] {
        d.execute(schema);
        seed(d, events);
    }
    naive.execute(change);
    let plan = plan(schema, change, 500);
    let dir = support::stages::write_plan(&plan);
    let stage = batched_stage(&plan);
    assert_eq!(plan.stages.len(), 1);
    let up = dir.path().join(stage.up.as_deref().unwrap());
    db.execute(
        "CREATE TABLE stop_at (id bigint);
INSERT INTO stop_at VALUES (2500);
DELIMITER //
CREATE TRIGGER stop BEFORE INSERT ON archive FOR EACH ROW
BEGIN
  IF (SELECT COUNT(*) FROM stop_at WHERE id = NEW.id) > 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stopped at the stop row';
  END IF;
END//
DELIMITER ;",
    );
    let failed = db
        .run_file(&up)
        .expect_err("the trigger must stop the walk");
    assert!(failed.contains("stopped at the stop row"), "{failed}");
    assert_eq!(
        db.first_value("SELECT MAX(id) FROM archive").as_deref(),
        Some("2000"),
        "the batches before the failing one are committed, the failing one is not"
    );
    db.execute("DELETE FROM stop_at;");
    db.run_file(&up).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        db.first_value("SELECT COUNT(*) - COUNT(DISTINCT id) FROM archive")
            .as_deref(),
        Some("0"),
        "no row copied twice"
    );
    assert_eq!(checksum(&db, "archive"), checksum(&naive, "archive"));
    assert_eq!(left_behind(&db), "0 tables, 0 routines");
}

#[test]
fn the_old_app_keeps_writing_while_the_walk_runs() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "mdc_live");
    db.execute(COUNTERS);
    seed(
        &db,
        "INSERT INTO counters (tenant_id, id, n)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 40000)
SELECT i DIV 10000, i, 0 FROM g;",
    );
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 50);
    let dir = support::stages::write_plan(&plan);
    let up = dir.path().join(batched_stage(&plan).up.as_deref().unwrap());
    let walk = {
        let db_name = db.name.clone();
        let server = server.clone();
        let up = up.clone();
        std::thread::spawn(move || {
            let sql = fs::read_to_string(&up).unwrap();
            server.run(Some(&db_name), &sql)
        })
    };
    // The old app: updates of rows behind and ahead of the walk (each row once, by 10) and
    // inserts of new rows after every existing key, in short transactions of their own.
    let mut app = server.session(&db.name);
    let mut stdin = app.stdin.take().unwrap();
    let mut updated = 0;
    for k in 0..200 {
        let id = 1 + k * 199;
        writeln!(
            stdin,
            "UPDATE counters SET n = n + 10 WHERE tenant_id = {} AND id = {id};\nINSERT INTO counters (tenant_id, id, n) VALUES (9, {}, 0);",
            id / 10000,
            100000 + k
        )
        .unwrap();
        updated += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stdin);
    let app_out = app.wait_with_output().unwrap();
    assert!(
        app_out.status.success(),
        "the old app failed: {}",
        String::from_utf8_lossy(&app_out.stderr)
    );
    walk.join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the walk failed: {e}"));
    assert_eq!(
        db.first_value(
            "SELECT CONCAT(SUM(n = 1), '/', SUM(n = 11), '/', COUNT(*)) FROM counters WHERE tenant_id < 9"
        )
        .as_deref(),
        Some(format!("{}/{updated}/40000", 40000 - updated).as_str()),
        "every existing row once by the walk, and once by the app where it updated it"
    );
    assert_eq!(
        db.first_value(
            "SELECT CONCAT(SUM(n IN (0, 1)), '/', COUNT(*)) FROM counters WHERE tenant_id = 9"
        )
        .as_deref(),
        Some("200/200"),
        "rows the app inserted: changed by the walk at most once"
    );
}

fn apply(db: &ScratchMysql, plan_dir: &Path, extra: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("safeshift"))
        .env_remove("DATABASE_URL")
        .arg("apply")
        .arg(plan_dir)
        .args(["--stage", "1", "--database-url", &db.url()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn apply_interrupted_in_a_data_change_resumes_without_applying_a_batch_twice() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "mdc_apply");
    db.execute(COUNTERS);
    seed(&db, COUNTERS_SEED);
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 100);
    for (path, text) in safeshift::render::plan_files(&plan).unwrap() {
        let full = plan_dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    // The batch that reaches the locked row waits, gives up at the lock timeout, and apply
    // retries the stage's walk, which resumes after the last batch done; Ctrl-C then stops it.
    let lock = RowLock::take(
        &server,
        &db,
        "SELECT * FROM counters WHERE tenant_id = 2 AND id = 2050 FOR UPDATE",
    );
    let child = apply(&db, &plan_dir, &["--lock-timeout", "1s", "--retries", "50"]);
    std::thread::sleep(Duration::from_millis(4500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (code, out) = output(child);
    assert_eq!(code, Some(130), "{out}");
    assert!(
        out.contains("retry"),
        "the walk was retried behind the lock: {out}"
    );
    assert_eq!(
        db.first_value("SELECT CONCAT(SUM(n = 1), '/', SUM(n > 1)) FROM counters")
            .as_deref(),
        Some("2000/0"),
        "the batches before the locked row are done once, however often the walk was retried"
    );
    lock.release();
    let (code, out) = output(apply(&db, &plan_dir, &[]));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        db.first_value("SELECT CONCAT(SUM(n = 1), '/', COUNT(*)) FROM counters")
            .as_deref(),
        Some("3000/3000"),
        "every row incremented exactly once"
    );
    assert_eq!(left_behind(&db), "0 tables, 0 routines");
}

#[test]
fn a_walk_whose_session_was_killed_resumes_and_applies_each_row_once() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "mdc_killed");
    db.execute(COUNTERS);
    seed(
        &db,
        "INSERT INTO counters (tenant_id, id, n)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 40000)
SELECT i DIV 10000, i, 0 FROM g;",
    );
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 50);
    let dir = support::stages::write_plan(&plan);
    let up = dir.path().join(batched_stage(&plan).up.as_deref().unwrap());
    let mut client = server.session(&db.name);
    let mut stdin = client.stdin.take().unwrap();
    writeln!(stdin, "SELECT CONNECTION_ID();").unwrap();
    stdin
        .write_all(fs::read_to_string(&up).unwrap().as_bytes())
        .unwrap();
    drop(stdin);
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let id = lines.next().unwrap().unwrap();
    // Once some batches are done, the session running the walk is killed, as a crashed client,
    // a restart or an operator's KILL would end it: the batch in flight is rolled back.
    let mut killed = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        // Until the file has created it, the progress table is missing: not yet.
        let progress =
            db.try_execute("SELECT COALESCE(MAX(`rows`), 0) > 2000 FROM safeshift_progress;");
        if progress.is_ok_and(|out| out.trim() == "1") {
            db.execute(&format!("KILL CONNECTION {id};"));
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = client.wait_with_output().unwrap();
    assert!(killed, "the walk ended before it could be killed");
    assert!(!out.status.success(), "the killed client must fail");
    let done = db
        .first_value("SELECT `rows` FROM safeshift_progress")
        .unwrap();
    assert_eq!(
        db.first_value("SELECT CONCAT(SUM(n = 1), '/', SUM(n > 1)) FROM counters")
            .as_deref(),
        Some(format!("{done}/0").as_str()),
        "exactly the rows of the batches recorded as done"
    );
    assert!(done.parse::<u64>().unwrap() < 40000);
    db.run_file(&up).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        db.first_value("SELECT CONCAT(SUM(n = 1), '/', COUNT(*)) FROM counters")
            .as_deref(),
        Some("40000/40000"),
        "every row incremented exactly once"
    );
    assert_eq!(left_behind(&db), "0 tables, 0 routines");
}
