//! Hostile identifiers on a real MariaDB, as `pg_hostile.rs` does on PostgreSQL: every kind of
//! change the MySQL dialect plans, for names that hold backquotes, quotes, semicolons, `$$`, `%`,
//! unicode, mixed case or reserved words, or are 64 characters long. The plan is applied stage by
//! stage with the `mariadb` client (downs checked, ups re-run), and then the schema must equal the
//! naive change's, the canary table keep its rows, the decoys (tables named as the hostile ones
//! would be if a quote were lost) stay as they were, and no helper object be left behind.

mod support;

use safeshift::dialect::{Dialect, Engine};
use safeshift::name::QName;
use safeshift::ops::{BackfillOption, Options};
use support::mysql::{ScratchMysql, Server};

#[derive(Clone, Copy, Debug)]
enum Flavour {
    Plain,
    Backquotes,
    Statement,
    Dollars,
    Percent,
    Unicode,
    MixedCase,
    Reserved,
    Longest,
}

const FLAVOURS: [Flavour; 8] = [
    Flavour::Backquotes,
    Flavour::Statement,
    Flavour::Dollars,
    Flavour::Percent,
    Flavour::Unicode,
    Flavour::MixedCase,
    Flavour::Reserved,
    Flavour::Longest,
];

/// MySQL's identifier limit, in characters.
const MAX: usize = 64;

fn hostile(flavour: Flavour, base: &str) -> String {
    match flavour {
        Flavour::Plain => base.to_string(),
        // (No backslash: the client's --batch output, which the catalog snapshot reads, escapes it.)
        Flavour::Backquotes => format!("{base}`'\""),
        Flavour::Statement => format!("{base}`; DROP TABLE canary; --"),
        Flavour::Dollars => format!("$${base}$$"),
        Flavour::Percent => format!("{base}%s%%"),
        Flavour::Unicode => format!("ü{base}→✓"),
        Flavour::MixedCase => {
            let mut chars = base.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
        Flavour::Reserved => match base {
            "users" => "user".into(),
            "orders" => "order".into(),
            "events" => "table".into(),
            "audit" => "select".into(),
            "id" => "default".into(),
            "email" => "from".into(),
            "name" => "where".into(),
            "n" => "limit".into(),
            "amount" => "check".into(),
            "user_id" => "references".into(),
            other => format!("{other}_key"),
        },
        Flavour::Longest => {
            let mut name = format!("{base}_");
            while name.chars().count() < MAX {
                name.push('é');
            }
            name
        }
    }
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Replaces every `{name}` in `template` by the hostile spelling of `name`, quoted.
fn fill(template: &str, flavour: Flavour) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).unwrap();
        out.push_str(&quote(&hostile(flavour, &rest[open + 1..close])));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

const SCHEMA: &str = "CREATE TABLE {users} (
  {id} bigint NOT NULL,
  {email} varchar(200) NOT NULL,
  {name} varchar(100) NOT NULL DEFAULT 'anon',
  {nickname} varchar(50) DEFAULT NULL,
  {legacy} varchar(20) NOT NULL,
  {n} int DEFAULT NULL,
  PRIMARY KEY ({id}),
  KEY {users_name_idx} ({name})
) ENGINE=InnoDB;
CREATE TABLE {orders} (
  {id} bigint NOT NULL,
  {user_id} bigint DEFAULT NULL,
  {amount} int NOT NULL,
  PRIMARY KEY ({id})
) ENGINE=InnoDB;
CREATE TABLE {events} ({id} bigint NOT NULL, {payload} text DEFAULT NULL) ENGINE=InnoDB;
CREATE TABLE {audit} ({id} bigint NOT NULL, {what} text DEFAULT NULL, PRIMARY KEY ({id})) ENGINE=InnoDB;
";

const SEED: &str = "SET SESSION max_recursive_iterations = 1000000;
INSERT INTO {users} ({id}, {email}, {name}, {legacy}, {n})
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 300)
SELECT i, CONCAT('U', i, '@x.io'), CONCAT('name ', i), 'l', IF(i % 2 = 0, i, NULL) FROM g;
INSERT INTO {orders} ({id}, {user_id}, {amount}) SELECT {id}, {id}, {id} FROM {users};
INSERT INTO {events} ({id}, {payload}) SELECT {id}, 'p' FROM {users};
INSERT INTO {audit} ({id}, {what}) VALUES (1, 'w');
";

const DECOYS: &str = "CREATE TABLE canary (id int PRIMARY KEY, note text) ENGINE=InnoDB;
INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(200) NOT NULL, name varchar(100), n int, KEY users_name_idx (name)) ENGINE=InnoDB;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount int NOT NULL) ENGINE=InnoDB;
INSERT INTO users VALUES (1, 'decoy@x.io', NULL, NULL);
";

fn target() -> Dialect {
    Dialect::new(Engine::Mariadb, Some("10.11")).unwrap()
}

type Backfill = Option<(&'static str, &'static str, &'static str)>;

fn plan_for(
    change: &str,
    backfill: Backfill,
    flavour: Flavour,
) -> Result<safeshift::Plan, safeshift::Error> {
    let (schema, change) = (fill(SCHEMA, flavour), fill(change, flavour));
    let backfills = backfill
        .map(|(table, column, expr)| BackfillOption {
            table: QName::new(hostile(flavour, table)),
            column: hostile(flavour, column),
            expr: fill(expr, flavour),
        })
        .into_iter()
        .collect();
    safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: &change,
        schema: Some(("schema.sql", &schema)),
        dialect: target(),
        options: Options {
            batch_size: 100,
            backfills,
            ..Options::default()
        },
    })
}

fn shape(plan: &safeshift::Plan) -> Vec<(String, String)> {
    plan.stages
        .iter()
        .map(|s| (s.phase.as_str().to_string(), format!("{:?}", s.kind)))
        .collect()
}

fn run(kind: &str, change: &str) {
    run_with(kind, change, None);
}

fn run_with(kind: &str, change: &str, backfill: Backfill) {
    let Some(server) = support::mysql::server() else {
        return;
    };
    // Every stage file is run again, stopped part way and undone, as in mysql_ops; stopped at
    // three points of each file, not after every statement: the point here is the quoting.
    support::stages::walk_mysql_reruns();
    support::stages::sample_reruns();
    let plain = plan_for(change, backfill, Flavour::Plain)
        .unwrap_or_else(|e| panic!("{kind}: planning with plain names failed: {e}"));
    // Two flavours at a time, each on its own scratch databases (as pg_hostile).
    let expected = shape(&plain);
    let (first, second) = FLAVOURS.split_at(FLAVOURS.len() / 2);
    std::thread::scope(|scope| {
        let (server, expected) = (&server, &expected);
        for half in [first, second] {
            scope.spawn(move || {
                for &flavour in half {
                    run_one(server, kind, change, backfill, expected, flavour);
                }
            });
        }
    });
}

fn run_one(
    server: &Server,
    kind: &str,
    change: &str,
    backfill: Backfill,
    expected_shape: &[(String, String)],
    flavour: Flavour,
) {
    let label = format!("{kind} ({flavour:?})");
    let plan = plan_for(change, backfill, flavour)
        .unwrap_or_else(|e| panic!("{label}: planning failed: {e}"));
    assert_eq!(
        shape(&plan),
        expected_shape,
        "{label}: not the plan plain names get:\n{}",
        safeshift::render::summary(&plan, None)
    );
    let db = ScratchMysql::create(server, &format!("hostile_{kind}"));
    let naive = ScratchMysql::create(server, &format!("hostile_{kind}_naive"));
    let (schema, seed, change) = (
        fill(SCHEMA, flavour),
        fill(SEED, flavour),
        fill(change, flavour),
    );
    let dir = support::stages::write_plan(&plan);
    for db in [&db, &naive] {
        db.execute(DECOYS);
        db.execute(&schema);
    }
    naive
        .try_execute(&change)
        .unwrap_or_else(|e| panic!("{label}: the naive change itself fails:\n{e}"));
    let expected = naive.catalog();
    db.execute(&seed);

    support::stages::apply_stages(&label, &db, &plan, dir.path(), &[], &[]);
    let actual = db.catalog();
    assert!(
        actual == expected,
        "{label}: the schema differs from the naive change's:\n{}",
        support::ScratchDb::catalog_diff(&expected, &actual)
    );
    assert_eq!(
        db.first_value("SELECT GROUP_CONCAT(CONCAT(id, note) ORDER BY id) FROM canary")
            .as_deref(),
        Some("1a,2b,3c"),
        "{label}: the canary table was touched"
    );
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM users WHERE email = 'decoy@x.io'")
            .as_deref(),
        Some("1"),
        "{label}: the decoy users table was touched"
    );
    assert!(
        !actual.contains("safeshift_"),
        "{label}: helper objects left behind:\n{actual}"
    );
}

#[test]
fn hostile_names_fit() {
    for flavour in FLAVOURS {
        for base in ["users", "email", "users_email_key"] {
            let name = hostile(flavour, base);
            assert!(name.chars().count() <= MAX, "{flavour:?}: {name:?}");
        }
    }
}

#[test]
fn add_column() {
    run(
        "add_column",
        "ALTER TABLE {users} ADD COLUMN {active} tinyint(1) NOT NULL DEFAULT 1;",
    );
}

#[test]
fn add_required_column() {
    run_with(
        "add_required_column",
        "ALTER TABLE {users} ADD COLUMN {email_lower} varchar(200) NOT NULL;",
        Some(("users", "email_lower", "CONCAT(lower({email}), '%s''$$')")),
    );
}

#[test]
fn set_not_null() {
    run_with(
        "set_not_null",
        "ALTER TABLE {users} MODIFY COLUMN {n} int NOT NULL;",
        Some(("users", "n", "length({email})")),
    );
}

#[test]
fn create_index() {
    run(
        "create_index",
        "CREATE INDEX {users_email_idx} ON {users} ({email});",
    );
}

#[test]
fn add_unique() {
    run(
        "add_unique",
        "ALTER TABLE {users} ADD CONSTRAINT {users_email_key} UNIQUE ({email});",
    );
}

#[test]
fn drop_index() {
    run("drop_index", "DROP INDEX {users_name_idx} ON {users};");
}

#[test]
fn add_primary_key() {
    run(
        "add_primary_key",
        "ALTER TABLE {events} ADD PRIMARY KEY ({id});",
    );
}

#[test]
fn add_foreign_key() {
    run(
        "add_foreign_key",
        "ALTER TABLE {orders} ADD CONSTRAINT {orders_user_id_fkey} FOREIGN KEY ({user_id}) REFERENCES {users} ({id});",
    );
}

#[test]
fn add_check() {
    run(
        "add_check",
        "ALTER TABLE {orders} ADD CONSTRAINT {orders_amount_check} CHECK ({amount} >= 0);",
    );
}

#[test]
fn catalog_only() {
    run(
        "catalog_only",
        "ALTER TABLE {users} ALTER COLUMN {nickname} SET DEFAULT 'no''ne $$';",
    );
}

#[test]
fn change_column_type() {
    run(
        "change_column_type",
        "ALTER TABLE {orders} MODIFY COLUMN {amount} bigint NOT NULL;",
    );
}

#[test]
fn rename_column() {
    run(
        "rename_column",
        "ALTER TABLE {users} RENAME COLUMN {name} TO {display_name};",
    );
}

#[test]
fn rename_table() {
    run("rename_table", "RENAME TABLE {users} TO {accounts};");
}

#[test]
fn drop_column() {
    run("drop_column", "ALTER TABLE {users} DROP COLUMN {legacy};");
}

#[test]
fn drop_table() {
    run("drop_table", "DROP TABLE {audit};");
}

#[test]
fn create_table() {
    run(
        "create_table",
        "CREATE TABLE {teams} ({id} bigint NOT NULL, {name} varchar(50) NOT NULL, PRIMARY KEY ({id})) ENGINE=InnoDB;\nCREATE INDEX {teams_name_idx} ON {teams} ({name});",
    );
}
