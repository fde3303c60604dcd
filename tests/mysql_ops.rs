//! The proof that MySQL/MariaDB plans do what they say, on a real MariaDB, for every kind of
//! change — the same way `tests/pg_ops.rs` proves the PostgreSQL plans:
//!
//! 1. plan the naive change against the schema (pure, no database);
//! 2. on a seeded scratch database, apply every stage's `up.sql` with the real `mariadb` client;
//! 3. after each stage: run its `down.sql` and check the schema is back to the stage before, then
//!    re-apply (stages are safe to re-run); run the checklist's verify queries; run the statements
//!    the old and the new application versions would run while they are live;
//! 4. at the end, compare the schema with the naive change applied to a copy, and check that no
//!    safeshift helper object (trigger, procedure, column, view) is left behind.
//!
//! Every `ALGORITHM=INSTANT` / `ALGORITHM=INPLACE, LOCK=NONE` in a plan is a claim the server
//! checks: it refuses the statement rather than copy the table, so a passing stage proves it.

mod support;

use safeshift::dialect::{Dialect, Engine};
use safeshift::ops::{DualWrite, Options};
use support::mysql::{ScratchMysql, Server};

struct Case {
    name: &'static str,
    schema: &'static str,
    seed: &'static str,
    change: &'static str,
    old_app: &'static [&'static str],
    new_app: &'static [&'static str],
    dual_write: DualWrite,
    stages: usize,
}

const USERS: &str = "CREATE TABLE users (
  id bigint NOT NULL,
  email varchar(200) NOT NULL,
  name varchar(100) DEFAULT NULL,
  n int DEFAULT NULL,
  created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY users_name_idx (name)
) ENGINE=InnoDB;
";

const SEED: &str = "INSERT INTO users (id, email, name, n)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 2500)
SELECT i, CONCAT('User', i, '@Example.com'), IF(i % 3 = 0, NULL, CONCAT('name ', i)), i FROM g;";

fn case(name: &'static str, change: &'static str, stages: usize) -> Case {
    Case {
        name,
        schema: USERS,
        seed: SEED,
        change,
        old_app: &[],
        new_app: &[],
        dual_write: DualWrite::Trigger,
        stages,
    }
}

fn target() -> Dialect {
    Dialect::new(Engine::Mariadb, Some("10.11")).unwrap()
}

fn plan_for(case: &Case, options: Options) -> safeshift::Plan {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: case.change,
        schema: Some(("schema.sql", case.schema)),
        dialect: target(),
        options,
    };
    safeshift::plan(&input).unwrap_or_else(|e| panic!("{}: planning failed: {e}", case.name))
}

fn run(case: Case) {
    let Some(server) = support::mysql::server() else {
        return;
    };
    run_on(&server, case);
}

fn run_on(server: &Server, case: Case) {
    support::stages::walk_mysql_reruns();
    let db = ScratchMysql::create(server, case.name);
    let naive = ScratchMysql::create(server, &format!("{}_naive", case.name));
    let plan = plan_for(
        &case,
        Options {
            dual_write: case.dual_write,
            batch_size: 1000,
            ..Options::default()
        },
    );
    assert_eq!(plan.dialect, "mariadb");
    assert_eq!(
        plan.stages.len(),
        case.stages,
        "{}: stages were\n{}",
        case.name,
        safeshift::render::summary(&plan, None)
    );
    assert!(
        plan.stages.iter().all(|s| !s.transactional),
        "{}: MySQL DDL commits implicitly: no stage may claim to be one transaction",
        case.name
    );
    let dir = support::stages::write_plan(&plan);

    naive.execute(case.schema);
    naive
        .try_execute(case.change)
        .unwrap_or_else(|e| panic!("{}: the naive change itself fails:\n{e}", case.name));
    let expected = naive.catalog();

    db.execute(case.schema);
    // Seeds count with recursive CTEs; MariaDB stops them at 1000 rows by default.
    db.execute(&format!(
        "SET SESSION max_recursive_iterations = 1000000;\n{}",
        case.seed
    ));
    support::stages::apply_stages(
        case.name,
        &db,
        &plan,
        dir.path(),
        case.old_app,
        case.new_app,
    );
    let actual = db.catalog();
    assert!(
        actual == expected,
        "{}: final schema differs from the naive change:\n{}",
        case.name,
        support::ScratchDb::catalog_diff(&expected, &actual)
    );
    assert!(
        !actual.contains("safeshift_"),
        "{}: helper objects left behind:\n{actual}",
        case.name
    );
}

const OLD_INSERT: &str = "INSERT INTO users (id, email) SELECT MAX(id) + 1, CONCAT('Old', MAX(id) + 1, '@App.io') FROM users";

#[test]
fn add_nullable_column_is_one_instant_stage() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, nickname) SELECT MAX(id) + 1, 'a@b.c', 'nick' FROM users",
        ],
        ..case(
            "add_nullable",
            "ALTER TABLE users ADD COLUMN nickname varchar(50);",
            1,
        )
    });
}

#[test]
fn add_column_with_constant_default_is_one_instant_stage() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &["SELECT COUNT(*) FROM users WHERE active"],
        ..case(
            "add_default",
            "ALTER TABLE users ADD COLUMN active tinyint(1) NOT NULL DEFAULT 1 AFTER email;",
            1,
        )
    });
}

#[test]
fn add_required_column_with_fill_triggers() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET email = 'Changed@App.io' WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) SELECT MAX(id) + 1, 'New@App.io', 'new@app.io' FROM users",
        ],
        ..case(
            "add_required_trigger",
            "-- safeshift: backfill = lower(email)\nALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;",
            5,
        )
    });
}

#[test]
fn add_required_column_with_app_dual_write() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) SELECT MAX(id) + 1, 'New@App.io', 'new@app.io' FROM users",
        ],
        dual_write: DualWrite::App,
        ..case(
            "add_required_app",
            "-- safeshift: backfill = lower(email)\nALTER TABLE users ADD COLUMN email_lower varchar(200) NOT NULL;",
            4,
        )
    });
}

#[test]
fn add_column_with_computed_default() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &["SELECT token FROM users WHERE id = 1"],
        ..case(
            "add_computed",
            "ALTER TABLE users ADD COLUMN token char(36) NOT NULL DEFAULT (uuid());",
            3,
        )
    });
}

#[test]
fn modify_to_not_null_with_backfill() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, name) SELECT MAX(id) + 1, 'n@a.io', 'named' FROM users",
        ],
        ..case(
            "not_null_backfill",
            "-- safeshift: backfill = 'anonymous'\nALTER TABLE users MODIFY COLUMN name varchar(100) NOT NULL;",
            5,
        )
    });
}

#[test]
fn modify_to_not_null_without_nulls() {
    run(Case {
        old_app: &["INSERT INTO users (id, email, n) SELECT MAX(id) + 1, 'a@b.c', 1 FROM users"],
        ..case("not_null", "ALTER TABLE users MODIFY n int NOT NULL;", 1)
    });
}

#[test]
fn create_index_in_place() {
    run(Case {
        old_app: &[OLD_INSERT, "SELECT id FROM users WHERE email = 'x'"],
        ..case(
            "create_index",
            "CREATE INDEX users_email_idx ON users (email);",
            1,
        )
    });
}

#[test]
fn add_unique_index_in_place() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case(
            "add_unique_index",
            "ALTER TABLE users ADD UNIQUE KEY users_email_key (email);",
            1,
        )
    });
}

#[test]
fn add_unique_constraint_in_place() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case(
            "add_unique",
            "ALTER TABLE users ADD CONSTRAINT users_email_uq UNIQUE (email);",
            1,
        )
    });
}

#[test]
fn drop_index_in_place() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case("drop_index", "DROP INDEX users_name_idx ON users;", 1)
    });
}

#[test]
fn add_primary_key_in_place() {
    run(Case {
        schema: "CREATE TABLE events (id bigint, payload varchar(20)) ENGINE=InnoDB;",
        seed: "INSERT INTO events WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500) SELECT i, 'p' FROM g;",
        old_app: &["INSERT INTO events (id, payload) SELECT MAX(id) + 1, 'x' FROM events"],
        ..case(
            "add_primary_key",
            "ALTER TABLE events ADD PRIMARY KEY (id);",
            1,
        )
    });
}

/// A re-run guard skips only what the plan would have made: a primary key on other columns is
/// not taken as done — the statement runs and the server refuses it, and the file stops there.
#[test]
fn rerun_guards_refuse_what_the_plan_did_not_make() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let schema = "CREATE TABLE events (id bigint NOT NULL, other bigint NOT NULL, payload varchar(20)) ENGINE=InnoDB;";
    let plan = plan_for(
        &Case {
            schema,
            ..case(
                "guard_conflicts",
                "ALTER TABLE events ADD PRIMARY KEY (id);",
                1,
            )
        },
        Options::default(),
    );
    let dir = support::stages::write_plan(&plan);
    let db = ScratchMysql::create(&server, "guard_conflicts");
    db.execute(schema);
    // Made outside the plan: a key on another column.
    db.execute("ALTER TABLE events ADD PRIMARY KEY (other);");
    let up = dir.path().join(plan.stages[0].up.as_ref().unwrap());
    let err = db
        .run_file(&up)
        .expect_err("a key on other columns is not the planned one");
    assert!(err.contains("Multiple primary key"), "{err}");
    // The planned key already there: skipped, the file runs through.
    db.execute("ALTER TABLE events DROP PRIMARY KEY, ADD PRIMARY KEY (id);");
    db.run_file(&up).unwrap();
    db.run_file(&up).unwrap();

    // Columns are compared name by name: a key on `a` and `b` is not the planned key on the one
    // column named `a,b` (joined with commas, the two lists read the same).
    let schema = "CREATE TABLE pairs (a bigint NOT NULL, b bigint NOT NULL, `a,b` bigint NOT NULL) ENGINE=InnoDB;";
    let plan = plan_for(
        &Case {
            schema,
            ..case(
                "guard_conflicts",
                "ALTER TABLE pairs ADD PRIMARY KEY (`a,b`);",
                1,
            )
        },
        Options::default(),
    );
    let dir = support::stages::write_plan(&plan);
    db.execute(schema);
    db.execute("ALTER TABLE pairs ADD PRIMARY KEY (a, b);");
    let up = dir.path().join(plan.stages[0].up.as_ref().unwrap());
    let err = db
        .run_file(&up)
        .expect_err("a key on `a` and `b` is not a key on `a,b`");
    assert!(err.contains("Multiple primary key"), "{err}");
    db.execute("ALTER TABLE pairs DROP PRIMARY KEY, ADD PRIMARY KEY (`a,b`);");
    db.run_file(&up).unwrap();
}

const ORDERS: &str = "CREATE TABLE users (id bigint NOT NULL, email varchar(100) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;
CREATE TABLE orders (id bigint NOT NULL, user_id bigint DEFAULT NULL, amount int NOT NULL DEFAULT 0, PRIMARY KEY (id), KEY orders_amount_idx (amount)) ENGINE=InnoDB;
";
const ORDERS_SEED: &str = "INSERT INTO users WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 100) SELECT i, CONCAT('u', i) FROM g;
INSERT INTO orders WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000) SELECT i, 1 + i % 100, i FROM g;";

#[test]
fn add_foreign_key_with_checks_off_in_place() {
    run(Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        old_app: &["INSERT INTO orders (id, user_id) SELECT MAX(id) + 1, 1 FROM orders"],
        ..case(
            "add_foreign_key",
            "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
            1,
        )
    });
}

#[test]
fn add_check_through_a_table_copy_with_triggers() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET name = 'changed' WHERE id = 2",
            "DELETE FROM users WHERE id = 3",
        ],
        new_app: &["SELECT COUNT(*) FROM users"],
        ..case(
            "add_check",
            "ALTER TABLE users ADD CONSTRAINT users_email_at CHECK (email LIKE '%@%');",
            3,
        )
    });
}

#[test]
fn add_check_without_a_primary_key_is_a_pinned_copy() {
    run(Case {
        schema: "CREATE TABLE events (id bigint DEFAULT NULL, payload varchar(20) DEFAULT NULL) ENGINE=InnoDB;",
        seed: "INSERT INTO events VALUES (1, 'a'), (2, 'b');",
        old_app: &["INSERT INTO events VALUES (3, 'c')"],
        ..case(
            "add_check_pinned",
            "ALTER TABLE events ADD CONSTRAINT events_id CHECK (id > 0);",
            1,
        )
    });
}

#[test]
fn change_column_type_through_a_new_column() {
    run(Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        old_app: &[
            "INSERT INTO orders (id, user_id, amount) SELECT MAX(id) + 1, 1, 5 FROM orders",
            "UPDATE orders SET amount = amount + 1 WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO orders (id, user_id, amount) SELECT MAX(id) + 1, 1, 5000000000 FROM orders",
        ],
        ..case(
            "change_type",
            "ALTER TABLE orders MODIFY COLUMN amount bigint NOT NULL DEFAULT 0;",
            4,
        )
    });
}

/// The swap that ends a type change misses no write, however writes and its statements
/// interleave: after each of its statements (taken one by one on one connection, as `apply` runs
/// them) another session inserts a row through `INSERT … SELECT` (leaving the copy to the
/// trigger) and updates the old column of an existing row. A write that the stage's table lock
/// holds back runs after `UNLOCK TABLES`, on the new column. At the end every update is there,
/// every inserted row has its value, and running the stage again changes nothing.
#[test]
fn type_change_swap_misses_no_write_between_its_statements() {
    use mysql::prelude::Queryable;
    use std::time::Duration;

    let Some(server) = support::mysql::server() else {
        return;
    };
    let case = Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        ..case(
            "swap_race",
            "ALTER TABLE orders MODIFY COLUMN amount bigint NOT NULL;",
            4,
        )
    };
    let db = ScratchMysql::create(&server, case.name);
    let plan = plan_for(&case, Options::default());
    let dir = support::stages::write_plan(&plan);
    db.execute(case.schema);
    db.execute(&format!(
        "SET SESSION max_recursive_iterations = 1000000;\n{}",
        case.seed
    ));
    let (swap, rest) = plan.stages.split_last().unwrap();
    for stage in rest {
        if let Some(up) = &stage.up {
            db.run_file(&dir.path().join(up))
                .unwrap_or_else(|e| panic!("stage {}: {e}", stage.index));
        }
    }
    let up_path = dir.path().join(swap.up.as_ref().unwrap());
    let text = std::fs::read_to_string(&up_path).unwrap();
    assert!(text.contains("LOCK TABLES `orders` WRITE"), "{text}");
    let statements = safeshift::db::mysql::statements(&text).unwrap();
    let mut conn = safeshift::db::mysql::connect(&db.url()).unwrap();
    let mut writers = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        conn.query_drop(&statement.text)
            .unwrap_or_else(|e| panic!("{}: {e}", statement.text));
        let url = db.url();
        let writer = std::thread::spawn(move || -> Result<(), String> {
            let mut app = safeshift::db::mysql::connect(&url).map_err(|e| e.to_string())?;
            app.query_drop(format!(
                "INSERT INTO orders (id, user_id, amount) SELECT {}, 1, {}",
                100_000 + i,
                7 * i
            ))
            .map_err(|e| format!("insert after statement {i}: {e}"))?;
            app.query_drop(format!(
                "UPDATE orders SET amount = amount + 1000 WHERE id = {}",
                i + 1
            ))
            .map_err(|e| format!("update after statement {i}: {e}"))
        });
        // Give the writes the chance to land right here, between two statements of the stage;
        // under the stage's table lock they wait for UNLOCK TABLES instead.
        let waited = std::time::Instant::now();
        while !writer.is_finished() && waited.elapsed() < Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(5));
        }
        writers.push(writer);
    }
    let n = writers.len();
    for writer in writers {
        writer.join().unwrap().unwrap();
    }
    let wrong = db.execute(&format!(
        "SELECT id, amount FROM orders WHERE (id <= {n} AND amount <> id + 1000) OR (id > {n} AND id < 100000 AND amount <> id) OR (id >= 100000 AND amount <> 7 * (id - 100000));"
    ));
    assert_eq!(
        wrong.trim(),
        "",
        "rows with a lost or wrong value (id, amount)"
    );
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM orders WHERE id >= 100000")
            .as_deref(),
        Some(n.to_string().as_str())
    );
    let before = db.catalog();
    db.run_file(&up_path)
        .unwrap_or_else(|e| panic!("the swap stage does not run again: {e}"));
    assert_eq!(
        db.catalog(),
        before,
        "running the swap again changed the schema"
    );
    assert!(!before.contains("safeshift_"), "{before}");
    assert!(before.contains("`amount` bigint(20) NOT NULL"), "{before}");
}

/// A type-change swap that stopped half way — the client gone after any statement inside the
/// lock — runs again to the right end: the session's end released the lock, every write in
/// between either went through the copy triggers or failed loudly (never lost), and the re-run
/// skips what was done.
#[test]
fn type_change_swap_stopped_half_way_runs_again() {
    use mysql::prelude::Queryable;

    let Some(server) = support::mysql::server() else {
        return;
    };
    let case = Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        ..case(
            "swap_resume",
            "ALTER TABLE orders MODIFY COLUMN amount bigint NOT NULL;",
            4,
        )
    };
    let plan = plan_for(&case, Options::default());
    let dir = support::stages::write_plan(&plan);
    let (swap, rest) = plan.stages.split_last().unwrap();
    let up_path = dir.path().join(swap.up.as_ref().unwrap());
    let text = std::fs::read_to_string(&up_path).unwrap();
    let statements = safeshift::db::mysql::statements(&text).unwrap();
    let stops: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.text.starts_with("LOCK TABLES")
                || s.text.starts_with("EXECUTE")
                || s.text.starts_with("DROP TRIGGER")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(stops.len() >= 5, "{text}");
    for stop in stops {
        let db = ScratchMysql::create(&server, &format!("swap_resume_{stop}"));
        db.execute(case.schema);
        db.execute(&format!(
            "SET SESSION max_recursive_iterations = 1000000;\n{}",
            case.seed
        ));
        for stage in rest {
            if let Some(up) = &stage.up {
                db.run_file(&dir.path().join(up)).unwrap();
            }
        }
        {
            let mut conn = safeshift::db::mysql::connect(&db.url()).unwrap();
            for statement in &statements[..=stop] {
                conn.query_drop(&statement.text).unwrap();
            }
            // The client is gone here, holding the lock: its session's end releases it.
        }
        // The app writes while the stage is half done: through the triggers, or refused.
        let update = db.try_execute("SET SESSION lock_wait_timeout = 5; UPDATE orders SET amount = amount + 1000 WHERE id = 1;");
        db.run_file(&up_path)
            .unwrap_or_else(|e| panic!("stopped after statement {stop}: the re-run failed: {e}"));
        let catalog = db.catalog();
        assert!(
            !catalog.contains("safeshift_"),
            "stopped after {stop}:\n{catalog}"
        );
        assert!(
            catalog.contains("`amount` bigint(20) NOT NULL"),
            "{catalog}"
        );
        assert!(
            catalog.contains("KEY `orders_amount_idx` (`amount`)"),
            "{catalog}"
        );
        let amount = db
            .first_value("SELECT amount FROM orders WHERE id = 1")
            .unwrap();
        let expect = if update.is_ok() { "1001" } else { "1" };
        assert_eq!(amount, expect, "stopped after {stop}: update {update:?}");
        assert_eq!(
            db.first_value("SELECT COUNT(*) FROM orders WHERE amount <> id AND id > 1")
                .as_deref(),
            Some("0")
        );
    }
}

#[test]
fn widening_a_varchar_is_instant() {
    run(case(
        "widen_varchar",
        "ALTER TABLE users MODIFY COLUMN name varchar(150) DEFAULT NULL;",
        1,
    ));
}

const MOODS: &str = "CREATE TABLE people (id bigint NOT NULL, mood enum('sad','happy') DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;";

#[test]
fn appending_an_enum_member_is_instant() {
    run(Case {
        schema: MOODS,
        seed: "INSERT INTO people VALUES (1, 'sad');",
        new_app: &["INSERT INTO people VALUES (2, 'ok')"],
        ..case(
            "enum_append",
            "ALTER TABLE people MODIFY mood enum('sad','happy','ok') DEFAULT NULL;",
            1,
        )
    });
}

#[test]
fn inserting_an_enum_member_copies_the_column() {
    run(Case {
        schema: MOODS,
        seed: "INSERT INTO people VALUES (1, 'sad'), (2, 'happy');",
        old_app: &["INSERT INTO people (id, mood) SELECT MAX(id) + 1, 'happy' FROM people"],
        new_app: &["INSERT INTO people (id, mood) SELECT MAX(id) + 1, 'ok' FROM people"],
        ..case(
            "enum_insert",
            "ALTER TABLE people MODIFY mood enum('sad','ok','happy') DEFAULT NULL;",
            3,
        )
    });
}

const RENAME_SCHEMA: &str = "CREATE TABLE users (id bigint NOT NULL, email varchar(100) NOT NULL, name varchar(100) NOT NULL DEFAULT 'anon', PRIMARY KEY (id), KEY users_name_idx (name)) ENGINE=InnoDB;";
const RENAME_SEED: &str = "INSERT INTO users WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 2000) SELECT i, CONCAT('u', i), CONCAT('name ', i) FROM g;";

#[test]
fn rename_column_with_sync_triggers() {
    run(Case {
        schema: RENAME_SCHEMA,
        seed: RENAME_SEED,
        old_app: &[
            "INSERT INTO users (id, email, name) SELECT MAX(id) + 1, 'o@a.io', 'old' FROM users",
            "INSERT INTO users (id, email) SELECT MAX(id) + 1, 'o2@a.io' FROM users",
            "UPDATE users SET name = 'renamed by old' WHERE id = 1",
            "SELECT name FROM users WHERE name = 'old'",
        ],
        new_app: &[
            "INSERT INTO users (id, email, display_name) SELECT MAX(id) + 1, 'n@a.io', 'new' FROM users",
            "INSERT INTO users (id, email) SELECT MAX(id) + 1, 'n2@a.io' FROM users",
            "SELECT display_name FROM users WHERE display_name = 'renamed by old'",
        ],
        ..case(
            "rename_column_trigger",
            "ALTER TABLE users RENAME COLUMN name TO display_name;",
            5,
        )
    });
}

#[test]
fn rename_column_with_app_dual_write() {
    run(Case {
        schema: RENAME_SCHEMA,
        seed: RENAME_SEED,
        old_app: &["SELECT name FROM users WHERE id = 1"],
        new_app: &[
            "INSERT INTO users (id, email, display_name) SELECT MAX(id) + 1, 'n@a.io', 'new' FROM users",
        ],
        dual_write: DualWrite::App,
        ..case(
            "rename_column_app",
            "ALTER TABLE users RENAME COLUMN name TO display_name;",
            8,
        )
    });
}

#[test]
fn rename_table_behind_a_view_and_an_atomic_swap() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET name = 'x' WHERE id = 1",
            "SELECT COUNT(*) FROM users",
        ],
        new_app: &["INSERT INTO accounts (id, email) SELECT MAX(id) + 1, 'a@b.c' FROM accounts"],
        ..case("rename_table", "RENAME TABLE users TO accounts;", 3)
    });
}

#[test]
fn drop_not_null_column_after_deploy() {
    run(Case {
        schema: "CREATE TABLE users (id bigint NOT NULL, email varchar(10) NOT NULL, legacy varchar(10) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;",
        seed: "INSERT INTO users WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 100) SELECT i, 'u', 'l' FROM g;",
        old_app: &["INSERT INTO users (id, email, legacy) SELECT MAX(id) + 1, 'a', 'l' FROM users"],
        new_app: &["INSERT INTO users (id, email) SELECT MAX(id) + 1, 'a' FROM users"],
        ..case("drop_column", "ALTER TABLE users DROP COLUMN legacy;", 3)
    });
}

#[test]
fn drop_table_after_deploy() {
    run(Case {
        schema: "CREATE TABLE users (id bigint PRIMARY KEY) ENGINE=InnoDB; CREATE TABLE audit (id bigint PRIMARY KEY, what varchar(10)) ENGINE=InnoDB;",
        seed: "INSERT INTO audit VALUES (1, 'x');",
        old_app: &["INSERT INTO audit SELECT MAX(id) + 1, 'y' FROM audit"],
        new_app: &["SELECT COUNT(*) FROM users"],
        ..case("drop_table", "DROP TABLE audit;", 2)
    });
}

#[test]
fn new_table_and_its_index_share_one_stage() {
    run(case(
        "create_table",
        "CREATE TABLE teams (id bigint PRIMARY KEY, name varchar(20) NOT NULL) ENGINE=InnoDB;\nCREATE INDEX teams_name_idx ON teams (name);\nALTER TABLE teams ADD COLUMN slug varchar(20) NOT NULL;",
        1,
    ));
}

/// Names that try to break out of backticks, comments and stored-program bodies; the canary table
/// must survive and the end state must equal the naive change's.
const HOSTILE: &str = "CREATE TABLE canary (x int) ENGINE=InnoDB;
CREATE TABLE `Tab``le; DROP TABLE canary; --` (
  id bigint NOT NULL,
  `select` varchar(20) NOT NULL DEFAULT 'd',
  `$$ x` varchar(20) DEFAULT NULL,
  `Ünï cödé` int DEFAULT NULL,
  PRIMARY KEY (id),
  KEY `idx; DROP TABLE canary` (`select`)
) ENGINE=InnoDB;
";

#[test]
fn hostile_names_change_only_the_named_objects() {
    // (The fill trigger's expression must not name a column the same plan renames: MySQL checks
    // a trigger's columns when it is created, so re-creating it after the rename would fail.)
    let change = "-- safeshift: backfill = CONCAT_WS('-', `$$ x`, id)
ALTER TABLE `Tab``le; DROP TABLE canary; --` ADD COLUMN `new``; DROP TABLE canary; --` varchar(30) NOT NULL;
ALTER TABLE `Tab``le; DROP TABLE canary; --` RENAME COLUMN `select` TO `$$; DROP TABLE canary; --`;
-- safeshift: backfill = 0
ALTER TABLE `Tab``le; DROP TABLE canary; --` MODIFY `Ünï cödé` int NOT NULL;
CREATE INDEX `i; DROP TABLE canary` ON `Tab``le; DROP TABLE canary; --` (`$$ x`);";
    run(Case {
        schema: HOSTILE,
        seed: "INSERT INTO `Tab``le; DROP TABLE canary; --` (id, `select`) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT i, CONCAT('v', i) FROM g; INSERT INTO canary VALUES (1);",
        old_app: &[
            "INSERT INTO `Tab``le; DROP TABLE canary; --` (id, `select`) SELECT MAX(id) + 1, 'old' FROM `Tab``le; DROP TABLE canary; --`",
            "SELECT x FROM canary",
        ],
        new_app: &["SELECT x FROM canary"],
        ..case("hostile", change, 6)
    });
}

#[test]
fn plan_files_say_they_are_not_transactional() {
    let plan = plan_for(
        &case(
            "files",
            "ALTER TABLE users ADD COLUMN nickname varchar(50);",
            1,
        ),
        Options::default(),
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["dialect"], "mariadb");
    assert_eq!(json["server_version"], "10.11");
    assert_eq!(json["stages"][0]["transactional"], false);
    let files = safeshift::render::plan_files(&plan).unwrap();
    let up = files
        .iter()
        .find(|(p, _)| p.ends_with("up.sql"))
        .map(|(_, t)| t.clone())
        .unwrap();
    assert!(up.contains("no transactional DDL"), "{up}");
    assert!(up.contains("SET SESSION lock_wait_timeout = 2;"), "{up}");
    assert!(!up.contains("BEGIN"), "{up}");
    assert!(up.contains("ALGORITHM=INSTANT"), "{up}");
}

#[test]
fn example_mysql() {
    run(Case {
        schema: include_str!("../examples/mysql/schema.sql"),
        seed: "INSERT INTO users (email, score) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000) SELECT CONCAT('User', i, '@Example.com'), i FROM g;",
        old_app: &[
            "INSERT INTO users (email, score) VALUES ('Old@App.io', 7)",
            "UPDATE users SET score = score + 1 WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO users (email, email_lower, score) VALUES ('New@App.io', 'new@app.io', 5)",
        ],
        ..case(
            "example_mysql",
            include_str!("../examples/mysql/change.sql"),
            6,
        )
    });
}

/// Renaming a NOT NULL column without a default: after the deploy the new app writes only the
/// new name. Its inserts must keep working between every two statements of the contract stage
/// (the triggers that filled the old column are dropped before the ALTER that drops it), which
/// is why the plan first makes the old column nullable in place.
#[test]
fn rename_of_a_required_column_keeps_new_app_inserts_working_through_the_contract() {
    use mysql::prelude::Queryable;

    let Some(server) = support::mysql::server() else {
        return;
    };
    let case = Case {
        schema: "CREATE TABLE orders (id bigint NOT NULL, code varchar(20) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;\n",
        seed: "INSERT INTO orders WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500) SELECT i, CONCAT('c', i) FROM g;",
        ..case(
            "rename_required",
            "ALTER TABLE orders RENAME COLUMN code TO sku;",
            5,
        )
    };
    let db = ScratchMysql::create(&server, case.name);
    let plan = plan_for(&case, Options::default());
    let dir = support::stages::write_plan(&plan);
    db.execute(case.schema);
    db.execute(case.seed);
    let (contract, rest) = plan.stages.split_last().unwrap();
    assert!(
        rest.iter().any(|s| s.name.contains("be NULL")),
        "no step relaxes the old column: {:?}",
        plan.stages.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for stage in rest {
        if let Some(up) = &stage.up {
            db.run_file(&dir.path().join(up))
                .unwrap_or_else(|e| panic!("stage {}: {e}", stage.index));
        }
    }
    let text = std::fs::read_to_string(dir.path().join(contract.up.as_ref().unwrap())).unwrap();
    let statements = safeshift::db::mysql::statements(&text).unwrap();
    let mut conn = safeshift::db::mysql::connect(&db.url()).unwrap();
    let mut app = safeshift::db::mysql::connect(&db.url()).unwrap();
    app.query_drop("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        .unwrap();
    for (i, statement) in statements.iter().enumerate() {
        conn.query_drop(&statement.text)
            .unwrap_or_else(|e| panic!("{}: {e}", statement.text));
        app.query_drop(format!(
            "INSERT INTO orders (id, sku) VALUES ({}, 'new{i}')",
            10_000 + i
        ))
        .unwrap_or_else(|e| panic!("new app insert after `{}`: {e}", statement.text));
    }
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM orders WHERE sku IS NULL OR sku = ''")
            .as_deref(),
        Some("0")
    );
}

/// Found in issue 7: the index was built on the old column before the swap dropped it.
#[test]
fn index_on_a_column_whose_type_changes_in_the_same_file() {
    run(case(
        "type_then_index",
        "ALTER TABLE users MODIFY COLUMN n bigint DEFAULT NULL;\nCREATE INDEX users_n_idx ON users (n);",
        4,
    ));
}

/// Found in issue 7: the backfill procedure's local variables were named `last_key` and
/// `batch_end`, and MySQL reads a name that is both a variable and a column as the variable.
#[test]
fn backfill_of_columns_named_like_its_variables() {
    run(Case {
        schema: "CREATE TABLE users (id bigint NOT NULL, last_key int DEFAULT NULL, batch_end int DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;",
        seed: "INSERT INTO users (id, batch_end) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 2500) SELECT i, i FROM g;",
        ..case(
            "variable_names",
            "-- safeshift: backfill = batch_end + 1\nALTER TABLE users MODIFY COLUMN last_key int NOT NULL;",
            5,
        )
    });
}

/// Issue 18's tables, as `mariadb-dump --no-data` writes them: a JSON column (MariaDB's alias for
/// LONGTEXT … COLLATE utf8mb4_bin CHECK (json_valid(…))), a CHECK written on a column, and a
/// UNIQUE KEY.
const FORMS: &str = "CREATE TABLE `forms` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `code` varchar(32) NOT NULL,
  `form` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(`form`)),
  `meta` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`meta`)),
  `name` varchar(255) DEFAULT NULL CHECK (`name` <> ''),
  PRIMARY KEY (`id`),
  UNIQUE KEY `forms_code_uq` (`code`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
";

const FORMS_SEED: &str = "INSERT INTO forms (code, form, meta, name)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1500)
SELECT CONCAT('c', i), CONCAT('{\"i\": ', i, '}'), '[]', CONCAT('n', i) FROM g;";

fn forms(name: &'static str, change: &'static str, stages: usize) -> Case {
    Case {
        schema: FORMS,
        seed: FORMS_SEED,
        ..case(name, change, stages)
    }
}

/// Issue 18: a CHECK written on an added column was planned as a separate table-level
/// constraint (`forms_chk_1`, through a table copy); MariaDB keeps it on the column, and adds it
/// with the column in one INSTANT statement.
#[test]
fn mariadb_check_written_on_an_added_column_stays_on_it() {
    run(Case {
        old_app: &["INSERT INTO forms (code, form) SELECT CONCAT('old', MAX(id)), '{}' FROM forms"],
        new_app: &[
            "INSERT INTO forms (code, form, external_id) SELECT CONCAT('new', MAX(id)), '{}', 'x1' FROM forms",
        ],
        ..forms(
            "added_column_check",
            "ALTER TABLE forms ADD COLUMN external_id VARCHAR(64) NULL CHECK (external_id IS NULL OR external_id != '');",
            1,
        )
    });
}

/// Issue 18: dropping a NOT NULL JSON column first lets it be NULL; restating it as LONGTEXT
/// without its collation is a type change MariaDB refuses in place. It stays JSON.
#[test]
fn mariadb_dropping_a_json_column_relaxes_it_as_json() {
    run(Case {
        old_app: &["INSERT INTO forms (code, form) SELECT CONCAT('old', MAX(id)), '{}' FROM forms"],
        new_app: &["INSERT INTO forms (code) SELECT CONCAT('new', MAX(id)) FROM forms"],
        ..forms("drop_json", "ALTER TABLE forms DROP COLUMN form;", 3)
    });
}

/// Issue 18: `MODIFY … JSON` of a JSON column was refused: its own json_valid check was taken
/// for a constraint on the column.
#[test]
fn mariadb_modify_json_column_to_not_null() {
    run(forms(
        "json_not_null",
        "ALTER TABLE forms MODIFY meta JSON NOT NULL;",
        1,
    ));
}

/// A MODIFY that restates a column's CHECK (spelled as the migration writes it, not as the dump
/// does) keeps it; one that leaves it out drops it, as MariaDB does.
#[test]
fn mariadb_modify_restates_or_drops_a_column_check() {
    run(forms(
        "modify_keeps_check",
        "ALTER TABLE forms MODIFY name varchar(300) DEFAULT NULL CHECK (name <> '');",
        1,
    ));
    run(forms(
        "modify_drops_check",
        "ALTER TABLE forms MODIFY name varchar(300) DEFAULT NULL;",
        1,
    ));
}

/// Issue 18: a UNIQUE KEY of the dump was not found as an index: `DROP INDEX` was refused.
#[test]
fn mariadb_drop_index_of_a_unique_key() {
    run(forms(
        "drop_unique_key",
        "DROP INDEX forms_code_uq ON forms;",
        1,
    ));
    run(forms(
        "alter_drop_unique_key",
        "ALTER TABLE forms DROP INDEX forms_code_uq;",
        1,
    ));
    // Found replaying stamhoofd: the down.sql lost a dump's trailing `USING BTREE`.
    run(Case {
        schema: "CREATE TABLE `r` (
  `id` int NOT NULL,
  `a` int NOT NULL,
  `b` int NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ab` (`a`,`b`) USING BTREE,
  KEY `bb` (`b`) USING BTREE
) ENGINE=InnoDB;\n",
        seed: "INSERT INTO r VALUES (1, 1, 1), (2, 1, 2);",
        ..case(
            "drop_keys_using_btree",
            "ALTER TABLE r DROP INDEX ab;\nDROP INDEX bb ON r;",
            2,
        )
    });
}

/// Issue 18: the BINARY column attribute (`VARCHAR(255) BINARY`) was a parse error; it is the
/// column's binary collation, and a plan keeps it.
#[test]
fn mariadb_binary_column_attribute() {
    run(forms(
        "binary_add",
        "ALTER TABLE forms ADD COLUMN slug VARCHAR(255) BINARY NOT NULL DEFAULT '';",
        1,
    ));
    // BINARY changes the collation (utf8mb4_bin): the values are rewritten, through a copy.
    run(case(
        "binary_modify",
        "ALTER TABLE users MODIFY name varchar(100) BINARY DEFAULT NULL;",
        4,
    ));
    // A column with a CHECK of its own is not copied: the copy would carry an expression that
    // names the old column.
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "ALTER TABLE forms MODIFY name VARCHAR(255) BINARY DEFAULT NULL;",
        schema: Some(("schema.sql", FORMS)),
        dialect: target(),
        options: Options::default(),
    };
    let err = safeshift::plan(&input).expect_err("check").to_string();
    assert!(err.contains("has a CHECK of its own"), "{err}");
}

/// Issue 18: a stage that passes a statement through as written tightened sql_mode to strict
/// first, so an `INSERT … SELECT` that runs in the session's own mode (here a server whose
/// sql_mode is empty, where a long value is cut to the column's length) failed inside the plan.
#[test]
fn mariadb_statement_passed_through_runs_in_the_sessions_sql_mode() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let case = Case {
        schema: "CREATE TABLE src (id int NOT NULL, v varchar(20) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;
CREATE TABLE dst (id int NOT NULL, v varchar(5) DEFAULT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;\n",
        seed: "INSERT INTO src VALUES (1, 'a long value'), (2, 'ok');",
        ..case(
            "as_written_sql_mode",
            "INSERT INTO dst (id, v) SELECT id, v FROM src;\nALTER TABLE dst ADD COLUMN note varchar(10);",
            2,
        )
    };
    let session = "SET SESSION sql_mode = '';\n";
    let db = ScratchMysql::create(&server, case.name);
    let naive = ScratchMysql::create(&server, "as_written_sql_mode_naive");
    let plan = plan_for(&case, Options::default());
    assert_eq!(plan.stages.len(), case.stages);
    let dir = support::stages::write_plan(&plan);
    for twin in [&db, &naive] {
        twin.execute(case.schema);
        twin.execute(case.seed);
    }
    naive.execute(&format!("{session}{}", case.change));
    for stage in &plan.stages {
        let up = std::fs::read_to_string(dir.path().join(stage.up.as_ref().unwrap())).unwrap();
        db.try_execute(&format!("{session}{up}"))
            .unwrap_or_else(|e| {
                panic!("stage {} fails in the session's sql_mode: {e}", stage.index)
            });
    }
    assert_eq!(db.catalog(), naive.catalog());
    let rows = "SELECT GROUP_CONCAT(id, '=', v ORDER BY id) FROM dst";
    assert_eq!(db.first_value(rows), naive.first_value(rows));
    assert_eq!(db.first_value(rows).as_deref(), Some("1=a lon,2=ok"));
}

/// Issue 18: a rename of a column in a foreign key, on either side (InnoDB lets a foreign key
/// reference any indexed column, so the referenced side is found through the other tables), is
/// refused with the reason; what the help says of the naive RENAME holds on the server.
#[test]
fn mariadb_rename_of_a_foreign_key_column_is_refused_with_why() {
    let schema = "CREATE TABLE `t3` (`id` bigint NOT NULL, `n` varchar(20) NOT NULL, PRIMARY KEY (`id`), KEY `t3_n` (`n`)) ENGINE=InnoDB;
CREATE TABLE `orders` (`id` bigint NOT NULL, `user_code` varchar(20) NOT NULL, PRIMARY KEY (`id`), KEY `orders_uc` (`user_code`), CONSTRAINT `orders_uc_fk` FOREIGN KEY (`user_code`) REFERENCES `t3` (`n`)) ENGINE=InnoDB;\n";
    for (change, on) in [
        (
            "ALTER TABLE orders RENAME COLUMN user_code TO c;",
            "orders_uc_fk:",
        ),
        (
            "ALTER TABLE t3 RENAME COLUMN n TO m;",
            "orders_uc_fk (on orders)",
        ),
    ] {
        let input = safeshift::PlanInput {
            change_name: "change.sql",
            change_sql: change,
            schema: Some(("schema.sql", schema)),
            dialect: target(),
            options: Options::default(),
        };
        let err = safeshift::plan(&input).expect_err(change).to_string();
        assert!(
            err.contains(&format!("in foreign key(s) {on}")),
            "{change}: {err}"
        );
    }
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "fk_rename_facts");
    db.execute(schema);
    db.execute("ALTER TABLE orders RENAME COLUMN user_code TO c, ALGORITHM=INSTANT;");
    db.execute("ALTER TABLE t3 RENAME COLUMN n TO m, ALGORITHM=INSTANT;");
    let catalog = db.catalog();
    assert!(
        catalog.contains("FOREIGN KEY (`c`) REFERENCES `t3` (`m`)"),
        "{catalog}"
    );
}

/// Issue 18: `INT(10) UNSIGNED ZEROFILL`, as `mariadb-dump` writes it, was a syntax error, so a
/// dump's CREATE TABLE holding one was skipped whole and its table unknown. It is read and kept
/// through a MODIFY and an ADD COLUMN.
#[test]
fn mariadb_zerofill_columns_are_read_and_kept() {
    run(Case {
        schema: "CREATE TABLE `parts` (
  `id` int(11) NOT NULL,
  `serial` int(10) unsigned zerofill DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;\n",
        seed: "INSERT INTO parts WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT i, i FROM g;",
        ..case(
            "zerofill",
            "ALTER TABLE parts MODIFY serial int(10) unsigned zerofill NOT NULL;\nALTER TABLE parts ADD COLUMN lot smallint(5) unsigned zerofill DEFAULT NULL;",
            1,
        )
    });
}

/// FULLTEXT and SPATIAL keys of a dump are indexes too: dropping one is planned (in place), and
/// its down.sql builds it again with the shared lock InnoDB needs for them; a column in one is
/// dropped in place.
const DOCS: &str = "CREATE TABLE `docs` (
  `id` int(11) NOT NULL,
  `title` varchar(200) DEFAULT NULL,
  `body` text DEFAULT NULL,
  `g` point NOT NULL,
  PRIMARY KEY (`id`),
  SPATIAL KEY `docs_g` (`g`),
  FULLTEXT KEY `docs_ft` (`title`,`body`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
";

#[test]
fn mariadb_fulltext_and_spatial_keys_of_a_dump() {
    let docs = |name, change, stages| Case {
        schema: DOCS,
        seed: "INSERT INTO docs WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT i, CONCAT('t', i), CONCAT('body ', i), POINT(i, i) FROM g;",
        ..case(name, change, stages)
    };
    run(docs(
        "drop_fulltext",
        "ALTER TABLE docs DROP INDEX docs_ft;",
        1,
    ));
    run(docs("drop_spatial", "DROP INDEX docs_g ON docs;", 1));
    run(docs(
        "drop_fulltext_column",
        "ALTER TABLE docs DROP COLUMN body;",
        2,
    ));
    for change in [
        "ALTER TABLE docs RENAME COLUMN body TO content;",
        "ALTER TABLE docs MODIFY body mediumtext;",
    ] {
        let input = safeshift::PlanInput {
            change_name: "change.sql",
            change_sql: change,
            schema: Some(("schema.sql", DOCS)),
            dialect: target(),
            options: Options::default(),
        };
        let err = safeshift::plan(&input).expect_err(change).to_string();
        assert!(err.contains("FULLTEXT index docs_ft"), "{change}: {err}");
    }
}

/// Found replaying stamhoofd on MariaDB 10.11: a MODIFY that changes a column's character set
/// (ascii to utf8mb4) was pinned INSTANT, which the server refuses; a new encoding rewrites the
/// values, so the column is copied. And a table with a FULLTEXT key is rebuilt (and has columns
/// added or dropped) only with LOCK=SHARED: those ALTERs pin it instead of LOCK=NONE/INSTANT.
#[test]
fn mariadb_charset_change_and_tables_with_a_fulltext_key() {
    let schema = "CREATE TABLE `regs` (
  `id` varchar(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  `orgId` varchar(36) CHARACTER SET ascii COLLATE ascii_general_ci DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE `orgs` (
  `id` varchar(36) NOT NULL,
  `publicKey` varchar(250) NOT NULL,
  `searchIndex` text NOT NULL,
  PRIMARY KEY (`id`),
  FULLTEXT KEY `searchIndex` (`searchIndex`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
";
    let seed = "INSERT INTO regs WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT CONCAT('r', i), CONCAT('o', i) FROM g;
INSERT INTO orgs WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT CONCAT('o', i), 'k', CONCAT('search ', i) FROM g;";
    let with = |name, change, stages| Case {
        schema,
        seed,
        ..case(name, change, stages)
    };
    run(with(
        "charset_change",
        "ALTER TABLE `regs` CHANGE `orgId` `orgId` varchar(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL;",
        4,
    ));
    run(with(
        "fulltext_drop_column",
        "ALTER TABLE `orgs` DROP COLUMN `publicKey`;",
        3,
    ));
    run(with(
        "fulltext_add_column",
        "ALTER TABLE `orgs` ADD COLUMN `note` varchar(20) DEFAULT NULL;",
        1,
    ));
}

/// Found replaying stamhoofd: a file that opens with `SET FOREIGN_KEY_CHECKS=0` (as dumps do)
/// and creates a table whose foreign key names a table created after it. The SETs were dropped
/// as session noise, so the plan's CREATE TABLE failed; a stage that runs the file's statements
/// as written now runs its opening SETs first (up and down).
#[test]
fn mariadb_file_opening_sets_run_before_its_statements() {
    run(case(
        "opening_sets",
        "SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0;
SET NAMES utf8mb4;
CREATE TABLE `a` (`id` int NOT NULL, `bId` int DEFAULT NULL, PRIMARY KEY (`id`), KEY `bId` (`bId`), CONSTRAINT `a_ibfk_1` FOREIGN KEY (`bId`) REFERENCES `b` (`id`)) ENGINE=InnoDB;
CREATE TABLE `b` (`id` int NOT NULL, `aId` int DEFAULT NULL, PRIMARY KEY (`id`), KEY `aId` (`aId`), CONSTRAINT `b_ibfk_1` FOREIGN KEY (`aId`) REFERENCES `a` (`id`)) ENGINE=InnoDB;
SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS;",
        1,
    ));
}

/// Found replaying stamhoofd: an unnamed `ADD FOREIGN KEY` was planned as `ADD CONSTRAINT
/// <table>_ibfk_1 …`, which collides with a table's first foreign key and names the new index
/// after the constraint; the server names it one past the table's highest `_ibfk_N` and its index
/// after the column. The plan now leaves the naming to the server, and its down.sql uses the
/// names the server gives.
#[test]
fn mariadb_unnamed_foreign_key_is_named_by_the_server() {
    run(Case {
        schema: "CREATE TABLE `periods` (`id` varchar(36) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;
CREATE TABLE `orgs` (`id` varchar(36) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;
CREATE TABLE `groups` (
  `id` varchar(36) NOT NULL,
  `orgId` varchar(36) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `orgId` (`orgId`),
  CONSTRAINT `groups_ibfk_1` FOREIGN KEY (`orgId`) REFERENCES `orgs` (`id`)
) ENGINE=InnoDB;\n",
        seed: "INSERT INTO orgs VALUES ('o1'); INSERT INTO periods VALUES ('p1'); INSERT INTO `groups` VALUES ('g1', 'o1'), ('g2', 'o1');",
        ..case(
            "unnamed_fk",
            "ALTER TABLE `groups` ADD COLUMN `periodId` varchar(36) NULL;
ALTER TABLE `groups` ADD FOREIGN KEY (`periodId`) REFERENCES `periods` (`id`) ON UPDATE CASCADE ON DELETE RESTRICT;",
            2,
        )
    });
    // The same file with foreign key checks off, as stamhoofd writes it: its ADD FOREIGN KEY is
    // in place too, and MariaDB records the RESTRICT as NO ACTION; so does the plan.
    run(Case {
        schema: "CREATE TABLE `periods` (`id` varchar(36) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;
CREATE TABLE `groups` (`id` varchar(36) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;\n",
        seed: "INSERT INTO periods VALUES ('p1'); INSERT INTO `groups` VALUES ('g1'), ('g2');",
        ..case(
            "unnamed_fk_checks_off",
            "SET FOREIGN_KEY_CHECKS=0;
ALTER TABLE `groups` ADD COLUMN `periodId` varchar(36) NULL;
ALTER TABLE `groups` ADD FOREIGN KEY (`periodId`) REFERENCES `periods` (`id`) ON UPDATE CASCADE ON DELETE RESTRICT;
SET FOREIGN_KEY_CHECKS=1;",
            2,
        )
    });
}

/// Found replaying stamhoofd: `ALTER TABLE t CHARACTER SET … COLLATE …` (a new default for new
/// columns, metadata only) was refused as a statement safeshift could read only in part; it runs
/// as written. One that converts or rebuilds the table is still refused, saying so.
#[test]
fn mariadb_table_default_charset_runs_as_written() {
    run(forms(
        "table_default_charset",
        "ALTER TABLE `forms` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\nALTER TABLE `forms` COMMENT 'forms';",
        2,
    ));
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "ALTER TABLE forms CONVERT TO CHARACTER SET utf8mb4;",
        schema: Some(("schema.sql", FORMS)),
        dialect: target(),
        options: Options::default(),
    };
    let err = safeshift::plan(&input).expect_err("convert").to_string();
    assert!(err.contains("may rebuild or copy the table"), "{err}");
}

/// Found replaying stamhoofd: `ADD UNIQUE INDEX name (a DESC, b DESC) USING BTREE` was planned
/// over the bare columns, losing DESC and USING BTREE; the key is built as written.
#[test]
fn mariadb_unique_index_keeps_its_order_and_type() {
    run(Case {
        seed: "INSERT INTO users (id, email) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300) SELECT i, CONCAT('u', i) FROM g;",
        ..case(
            "unique_desc_btree",
            "ALTER TABLE `users`\nADD UNIQUE INDEX `order_by_email_desc` (`email` DESC, `id` DESC) USING BTREE;",
            1,
        )
    });
}

const CLIENTS: &str = "CREATE TABLE `clients` (
  `id` varchar(255) NOT NULL,
  `client_name` text NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
";

/// Issue 18 (ory/hydra's MySQL history): a surrogate AUTO_INCREMENT key added in place of a
/// text key. The ADD COLUMN runs as written (InnoDB wants the key in the same statement) and
/// carries its PRIMARY KEY with it; later statements see the column (it was refused as
/// "column `pk` does not exist").
#[test]
fn mariadb_auto_increment_primary_key_added_as_written() {
    run(Case {
        schema: CLIENTS,
        seed: "INSERT INTO clients (id, client_name)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500)
SELECT CONCAT('c', i), CONCAT('n', i) FROM g;",
        ..case(
            "auto_increment_pk",
            "ALTER TABLE clients DROP PRIMARY KEY;\nCREATE UNIQUE INDEX clients_idx_id_uq ON clients (id);\nALTER TABLE clients ADD pk INT UNSIGNED AUTO_INCREMENT PRIMARY KEY;\nCREATE INDEX clients_pk_name ON clients (pk, id);",
            4,
        )
    });
}

const GRANTS: &str = "CREATE TABLE `clients` (
  `id` varchar(64) NOT NULL,
  `nid` char(36) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `clients_id_nid_uq` (`id`,`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE `grants` (
  `signature` varchar(64) NOT NULL,
  `client_id` varchar(64) NOT NULL,
  `nid` char(36) NOT NULL,
  PRIMARY KEY (`signature`),
  KEY `grants_client_id_idx` (`client_id`),
  CONSTRAINT `grants_client_id_fk` FOREIGN KEY (`client_id`) REFERENCES `clients` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
";

const GRANTS_SEED: &str = "INSERT INTO clients (id, nid)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 50)
SELECT CONCAT('c', i), 'n' FROM g;
INSERT INTO grants (signature, client_id, nid)
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500)
SELECT CONCAT('s', i), CONCAT('c', 1 + i % 50), 'n' FROM g;";

/// Issue 18 (ory/hydra's MySQL history): a foreign key widened to `(client_id, nid)`. An index on
/// `client_id` alone does not serve it, so InnoDB adds one named after the key; the down drops
/// that index too (it was left behind).
#[test]
fn mariadb_composite_foreign_key_index_is_undone() {
    run(Case {
        schema: GRANTS,
        seed: GRANTS_SEED,
        ..case(
            "composite_fk_index",
            "ALTER TABLE grants DROP FOREIGN KEY `grants_client_id_fk`;\nALTER TABLE grants ADD CONSTRAINT `grants_client_id_fk` FOREIGN KEY (`client_id`, `nid`) REFERENCES `clients` (`id`, `nid`) ON DELETE CASCADE;",
            2,
        )
    });
}

/// Issue 18 (ory/hydra): `DROP PRIMARY KEY, ADD PRIMARY KEY (…)` in one statement runs as written,
/// once (the ADD was also planned on its own: "Multiple primary key defined").
#[test]
fn mariadb_primary_key_replaced_in_one_statement() {
    run(Case {
        schema: GRANTS,
        seed: GRANTS_SEED,
        ..case(
            "replace_primary_key",
            "ALTER TABLE grants DROP PRIMARY KEY, ADD PRIMARY KEY (signature, nid);",
            1,
        )
    });
}

/// Issue 14 item 4 on MySQL/MariaDB: the ORM way of adding a required column — ADD COLUMN, UPDATE
/// every row, then `MODIFY … NOT NULL` (MySQL's SET NOT NULL restates the column) — is one
/// added required column: the running app's inserts are filled by the trigger instead of failing
/// once the column is NOT NULL.
#[test]
fn orm_add_update_modify_not_null_is_one_required_column() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET email = 'Changed@App.io' WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) SELECT MAX(id) + 1, 'New@App.io', 'new@app.io' FROM users",
        ],
        ..case(
            "orm_required",
            "ALTER TABLE users ADD COLUMN email_lower varchar(200);\nUPDATE users SET email_lower = lower(email);\nALTER TABLE users MODIFY email_lower varchar(200) NOT NULL;",
            5,
        )
    });
}

/// … and with the default for new rows (in the MODIFY, or as its own ALTER … SET DEFAULT) set to
/// the value the UPDATE gives every row: one ADD COLUMN … NOT NULL DEFAULT, INSTANT.
#[test]
fn orm_add_update_modify_not_null_with_its_default_is_one_add_column() {
    for (name, change) in [
        (
            "orm_default_apart",
            "ALTER TABLE users ADD COLUMN locale varchar(10);\nUPDATE users SET locale = 'en';\nALTER TABLE users MODIFY locale varchar(10) NOT NULL;\nALTER TABLE users ALTER COLUMN locale SET DEFAULT 'en';",
        ),
        (
            "orm_default_in_modify",
            "ALTER TABLE users ADD COLUMN locale varchar(10);\nUPDATE users SET locale = 'en';\nALTER TABLE users MODIFY locale varchar(10) NOT NULL DEFAULT 'en';",
        ),
    ] {
        let plan = plan_for(&case(name, change, 1), Options::default());
        assert!(
            plan.assumptions
                .iter()
                .any(|a| a.contains("are one intent")),
            "{name}: {:?}",
            plan.assumptions
        );
        run(Case {
            old_app: &[OLD_INSERT],
            new_app: &["SELECT COUNT(*) FROM users WHERE locale = 'en'"],
            ..case(name, change, 1)
        });
    }
}

/// … and ADD COLUMN + UPDATE every row + a CHECK on the column: one column filled by triggers
/// and a batched backfill, the CHECK (a table copy on MariaDB) after it.
#[test]
fn orm_add_update_add_check_is_one_filled_column() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET email = CONCAT('Changed.', email) WHERE id % 7 = 0",
        ],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) SELECT MAX(id) + 1, 'New@App.io', 'new@app.io' FROM users",
        ],
        ..case(
            "orm_check",
            "ALTER TABLE users ADD COLUMN email_lower varchar(200);\nUPDATE users SET email_lower = lower(email);\nALTER TABLE users ADD CONSTRAINT users_email_lower_check CHECK (email_lower IS NOT NULL);",
            6,
        )
    });
}
