//! The InnoDB facts `src/dialect/mysql.rs` states, checked on the real server: each statement runs
//! with the algorithm safeshift claims for it, and a change safeshift says copies the table is
//! refused by the server with any in-place algorithm. The server refusing `ALGORITHM=INSTANT` (or
//! `INPLACE, LOCK=NONE`) is the proof; nothing is timed.

mod support;

use safeshift::dialect::{Algorithm, Dialect, Engine, MySql};
use support::mysql::ScratchMysql;

const SCHEMA: &str = "CREATE TABLE t (
  id bigint NOT NULL,
  a int DEFAULT NULL,
  v varchar(10) DEFAULT NULL,
  w varchar(100) DEFAULT NULL,
  e enum('x','y') DEFAULT NULL,
  k int DEFAULT NULL,
  x varchar(31) DEFAULT NULL,
  y varchar(32) DEFAULT NULL,
  z varchar(50) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY t_k (k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE p (id bigint NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB;
CREATE TABLE np (id bigint DEFAULT NULL, x int DEFAULT NULL) ENGINE=InnoDB;
INSERT INTO t VALUES (1, 1, 'a', 'b', 'x', 1, 'x', 'y', 'z'), (2, 2, 'b', 'c', 'y', 2, 'x', 'y', 'z');
INSERT INTO p VALUES (1), (2);
INSERT INTO np VALUES (1, 1);";

/// The server's own version, as safeshift would be told it.
fn target(server: &support::mysql::Server) -> MySql {
    let version = server.version();
    let engine = if version.to_lowercase().contains("mariadb") {
        Engine::Mariadb
    } else {
        Engine::Mysql
    };
    Dialect::new(engine, Some(&version))
        .ok()
        .and_then(|d| d.mysql())
        .unwrap_or_else(|| panic!("unsupported server version {version}"))
}

/// Runs `action` with the algorithm safeshift claims; for a claimed copy, also checks the server
/// refuses the in-place algorithms.
fn check(db: &ScratchMysql, action: &str, claimed: Algorithm) {
    if claimed == Algorithm::Copy {
        // Before the change runs: afterwards it would be a no-op the server accepts.
        for weaker in [Algorithm::Instant, Algorithm::Inplace] {
            let sql = format!("ALTER TABLE t {action}, {};", weaker.clause());
            assert!(
                db.try_execute(&sql).is_err(),
                "the server ran {sql} although safeshift says it copies the table"
            );
        }
    }
    let sql = format!("ALTER TABLE t {action}, {};", claimed.clause());
    db.try_execute(&sql)
        .unwrap_or_else(|e| panic!("the server refused what safeshift claims: {sql}\n{e}"));
}

#[test]
fn column_changes_run_with_the_claimed_algorithm() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let my = target(&server);
    let db = ScratchMysql::create(&server, "facts_columns");
    db.execute(SCHEMA);
    check(&db, "ADD COLUMN c1 int", my.add_column(true));
    check(
        &db,
        "ADD COLUMN c2 int NOT NULL AFTER id",
        my.add_column(false),
    );
    check(
        &db,
        "ADD COLUMN c3 datetime DEFAULT CURRENT_TIMESTAMP",
        my.add_column(true),
    );
    check(
        &db,
        "ADD COLUMN c4 char(36) DEFAULT (uuid())",
        Algorithm::Copy,
    );
    check(&db, "DROP COLUMN c1", my.drop_column());
    check(&db, "RENAME COLUMN c2 TO c5", my.rename_column());
    check(&db, "ALTER COLUMN a SET DEFAULT 5", my.metadata_change());
    check(&db, "ALTER COLUMN a DROP DEFAULT", my.metadata_change());
    check(
        &db,
        "MODIFY e enum('x','y','z') DEFAULT NULL",
        my.metadata_change(),
    );
    check(
        &db,
        "MODIFY e enum('w','x','y','z') DEFAULT NULL",
        my.change_type(),
    );
    check(&db, "MODIFY a bigint DEFAULT NULL", my.change_type());
    check(
        &db,
        "MODIFY v varchar(20) DEFAULT NULL",
        my.widen_varchar(40, 80),
    );
    check(
        &db,
        "MODIFY v varchar(200) DEFAULT NULL",
        my.widen_varchar(80, 800),
    );
    check(
        &db,
        "MODIFY w varchar(300) DEFAULT NULL",
        my.widen_varchar(400, 1200),
    );
    // Across the 255-byte length prefix (utf8mb4: 4 bytes a character): MariaDB widens in place
    // only from at most 127 bytes; varchar(32) (128 bytes) and varchar(50) (200 bytes) copy.
    check(
        &db,
        "MODIFY x varchar(200) DEFAULT NULL",
        my.widen_varchar(124, 800),
    );
    check(
        &db,
        "MODIFY y varchar(200) DEFAULT NULL",
        my.widen_varchar(128, 800),
    );
    check(
        &db,
        "MODIFY z varchar(200) DEFAULT NULL",
        my.widen_varchar(200, 800),
    );
    check(&db, "MODIFY a bigint NOT NULL", my.change_nullability());
    check(&db, "MODIFY a bigint NULL", my.change_nullability());
}

#[test]
fn keys_and_constraints_run_with_the_claimed_algorithm() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    let my = target(&server);
    let db = ScratchMysql::create(&server, "facts_keys");
    db.execute(SCHEMA);
    check(&db, "ADD INDEX t_a (a)", my.index_change());
    check(&db, "DROP INDEX t_a", my.index_change());
    check(&db, "ADD UNIQUE INDEX t_v (v)", my.index_change());
    check(&db, "ADD CONSTRAINT t_check CHECK (id > 0)", my.add_check());
    // Dropping an indexed column drops its index, which is never INSTANT.
    db.try_execute("ALTER TABLE t DROP COLUMN k, ALGORITHM=INSTANT;")
        .expect_err("dropping an indexed column is not INSTANT");
    // With checks on the server copies to add a foreign key; with them off it is in place.
    check(
        &db,
        "ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES p (id)",
        my.add_foreign_key(false),
    );
    db.execute("ALTER TABLE t DROP FOREIGN KEY t_fk;");
    let fk = format!(
        "SET SESSION foreign_key_checks = 0; ALTER TABLE t ADD CONSTRAINT t_fk2 FOREIGN KEY (id) REFERENCES p (id), {};",
        my.add_foreign_key(true).clause()
    );
    db.try_execute(&fk).unwrap_or_else(|e| panic!("{fk}\n{e}"));
    // A primary key on a nullable column: in place (strict sql_mode), the column becomes NOT NULL.
    let pk = format!(
        "ALTER TABLE np ADD PRIMARY KEY (id), {};",
        my.add_primary_key().clause()
    );
    db.try_execute(&pk).unwrap_or_else(|e| panic!("{pk}\n{e}"));
}

#[test]
fn insert_select_checks_not_null_before_before_triggers() {
    // Why plans make a filled or copied column NOT NULL only after the deploy (or in the swap):
    // an INSERT … SELECT that omits it fails before the BEFORE INSERT trigger can fill it, while
    // INSERT … VALUES is filled.
    let Some(server) = support::mysql::server() else {
        return;
    };
    let db = ScratchMysql::create(&server, "facts_triggers");
    db.execute(
        "CREATE TABLE r (id bigint PRIMARY KEY, a varchar(10) NOT NULL, b varchar(10) NULL) ENGINE=InnoDB;
         CREATE TRIGGER r_fill BEFORE INSERT ON r FOR EACH ROW SET NEW.a = COALESCE(NEW.a, NEW.b);",
    );
    db.execute("INSERT INTO r (id, b) VALUES (1, 'x');");
    assert_eq!(
        db.first_value("SELECT a FROM r WHERE id = 1").as_deref(),
        Some("x")
    );
    let select = db.try_execute("INSERT INTO r (id, b) SELECT 2, 'y';");
    if target(&server).is_mariadb() {
        assert!(
            select.is_err(),
            "MariaDB filled an omitted NOT NULL column of INSERT … SELECT"
        );
    }
}
