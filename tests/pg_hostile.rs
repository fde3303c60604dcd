//! Hostile identifiers on a real PostgreSQL: every kind of change, planned for tables, columns,
//! types, indexes and constraints whose names hold quotes, spaces, semicolons, newlines, `$$`,
//! `%`, unicode, mixed case or reserved words, or are exactly 63 bytes long.
//!
//! For each kind and each flavour of name the plan is applied stage by stage with `psql` (each
//! `down.sql` checked and each `up.sql` re-run, as in `pg_ops.rs`), and then:
//! - the schema equals the naive change's, run with `psql` on a copy: the plan changed the named
//!   objects and nothing else — the decoys (tables, types and an index named like the hostile
//!   objects would be if a quote were lost or a name folded) are as they were;
//! - the canary table still has its rows (no statement was smuggled in through a name);
//! - no `safeshift_` helper object is left behind.

mod support;

use std::fs;

use safeshift::name::QName;
use safeshift::ops::{BackfillOption, Options};
use support::{ScratchDb, quote_ident};

/// A way of making a plain name (`users`, `email`) hostile.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    /// The names as they are: the plan every hostile flavour must match in shape.
    Plain,
    Quotes,
    Statement,
    Newline,
    Dollars,
    Percent,
    Unicode,
    MixedCase,
    Reserved,
    Longest,
    LongestMultibyte,
}

const FLAVOURS: [Flavour; 10] = [
    Flavour::Quotes,
    Flavour::Statement,
    Flavour::Newline,
    Flavour::Dollars,
    Flavour::Percent,
    Flavour::Unicode,
    Flavour::MixedCase,
    Flavour::Reserved,
    Flavour::Longest,
    Flavour::LongestMultibyte,
];

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX: usize = 63;

/// Pads `base` to exactly `MAX` bytes with `fill`, keeping it unique by keeping `base` whole.
fn padded(base: &str, fill: char) -> String {
    let mut name = format!("{base}_");
    while name.len() + fill.len_utf8() <= MAX {
        name.push(fill);
    }
    while name.len() < MAX {
        name.push('x');
    }
    name
}

fn hostile(flavour: Flavour, base: &str) -> String {
    match flavour {
        Flavour::Plain => base.to_string(),
        Flavour::Quotes => format!("{base}\"'`"),
        Flavour::Statement => format!("{base}; DROP TABLE canary; --"),
        Flavour::Newline => format!("{base}\nDROP TABLE canary;\n"),
        Flavour::Dollars => format!("$${base}$safeshift$"),
        Flavour::Percent => format!("{base}%s%I%%"),
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
            "mood" => "type".into(),
            "id" => "default".into(),
            "email" => "from".into(),
            "name" => "where".into(),
            "n" => "limit".into(),
            "amount" => "check".into(),
            "user_id" => "references".into(),
            "email_lower" => "group".into(),
            "display_name" => "column".into(),
            "accounts" => "primary".into(),
            other => format!("{other}_end"),
        },
        Flavour::Longest => padded(base, 'x'),
        Flavour::LongestMultibyte => padded(base, 'é'),
    }
}

/// Replaces every `{name}` in `template` by the hostile spelling of `name`, quoted.
fn fill(template: &str, flavour: Flavour) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).unwrap();
        out.push_str(&quote_ident(&hostile(flavour, &rest[open + 1..close])));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The fixture schema of `tests/fixtures/schema.sql` with every name a placeholder.
const SCHEMA: &str = "CREATE TYPE {mood} AS ENUM ('sad', 'happy');
CREATE TABLE {users} (
    {id} bigint NOT NULL,
    {email} text NOT NULL,
    {name} text DEFAULT 'anon' NOT NULL,
    {nickname} character varying(50),
    {legacy} text NOT NULL,
    {n} integer,
    {mood} {mood}
);
ALTER TABLE ONLY {users} ADD CONSTRAINT {users_pkey} PRIMARY KEY ({id});
CREATE INDEX {users_name_idx} ON {users} USING btree ({name});
CREATE TABLE {orders} (
    {id} bigint NOT NULL,
    {user_id} bigint,
    {amount} integer NOT NULL
);
ALTER TABLE ONLY {orders} ADD CONSTRAINT {orders_pkey} PRIMARY KEY ({id});
CREATE TABLE {events} ({id} bigint, {payload} text);
CREATE TABLE {audit} ({id} bigint NOT NULL, {what} text);
";

const SEED: &str = "INSERT INTO {users} ({id}, {email}, {name}, {legacy}, {n}) SELECT g, 'U' || g || '@x.io', 'name ' || g, 'l', CASE WHEN g % 2 = 0 THEN g END FROM generate_series(1, 300) g;
INSERT INTO {orders} ({id}, {user_id}, {amount}) SELECT g, g, g FROM generate_series(1, 300) g;
INSERT INTO {events} ({id}, {payload}) SELECT g, 'p' FROM generate_series(1, 300) g;
INSERT INTO {audit} ({id}, {what}) VALUES (1, 'w');
";

/// What a lost quote, a folded name or a smuggled statement would hit instead.
const DECOYS: &str = "CREATE TABLE canary (id int PRIMARY KEY, note text);
INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, nickname varchar(50), legacy text, n integer);
CREATE INDEX users_name_idx ON users (name);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount integer NOT NULL);
CREATE TABLE events (id bigint, payload text);
CREATE TABLE audit (id bigint, what text);
INSERT INTO users VALUES (1, 'decoy@x.io', NULL, NULL, NULL, NULL);
";

/// `TABLE.COLUMN = EXPR` for a backfill, given as the `--backfill` option: a directive is a line
/// comment, which a name with a newline cannot be written in.
type Backfill = Option<(&'static str, &'static str, &'static str)>;

fn plan_for(
    change: &str,
    backfill: Backfill,
    flavour: Flavour,
) -> Result<safeshift::Plan, safeshift::error::Error> {
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
        dialect: support::server_dialect().into(),
        options: Options {
            batch_size: 100,
            backfills,
            ..Options::default()
        },
    })
}

/// The stage names with every name taken out: what a plan looks like whatever the names are.
fn shape(plan: &safeshift::Plan) -> Vec<(String, String, bool)> {
    plan.stages
        .iter()
        .map(|s| {
            (
                s.phase.as_str().to_string(),
                format!("{:?}", s.kind),
                s.transactional,
            )
        })
        .collect()
}

fn run(kind: &str, change: &str) {
    run_with(kind, change, None);
}

fn run_with(kind: &str, change: &str, backfill: Backfill) {
    support::stages::sample_reruns();
    let plain = plan_for(change, backfill, Flavour::Plain)
        .unwrap_or_else(|e| panic!("{kind}: planning with plain names failed: {e}"));
    // Two flavours at a time, each on its own scratch databases: the walk waits on psql and the
    // server more than it computes, and this suite is the longest of `cargo test`.
    let expected = shape(&plain);
    let (first, second) = FLAVOURS.split_at(FLAVOURS.len() / 2);
    std::thread::scope(|scope| {
        let expected = &expected;
        for half in [first, second] {
            scope.spawn(move || {
                for &flavour in half {
                    run_one(kind, change, backfill, expected, flavour);
                }
            });
        }
    });
}

fn run_one(
    kind: &str,
    change: &str,
    backfill: Backfill,
    expected_shape: &[(String, String, bool)],
    flavour: Flavour,
) {
    let label = format!("{kind} ({flavour:?})");
    let Some(db) = ScratchDb::create(&format!("hostile_{kind}")) else {
        return;
    };
    let Some(naive) = ScratchDb::create(&format!("hostile_{kind}_naive")) else {
        return;
    };
    let plan = plan_for(change, backfill, flavour)
        .unwrap_or_else(|e| panic!("{label}: planning failed: {e}"));
    assert_eq!(
        shape(&plan),
        expected_shape,
        "{label}: not the plan plain names get:\n{}",
        safeshift::render::summary(&plan, None)
    );
    let (schema, seed, change) = (
        fill(SCHEMA, flavour),
        fill(SEED, flavour),
        fill(change, flavour),
    );
    let dir = support::stages::write_plan(&plan);

    // The naive change runs on empty tables (a NOT NULL column cannot be added to rows).
    for db in [&db, &naive] {
        if support::server_major() < 13 {
            // gen_random_uuid() is built in from 13; before, pgcrypto has it.
            db.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto");
        }
        db.execute(DECOYS);
        db.execute(&schema);
    }
    db.execute(&seed);
    let naive_file = dir.path().join("naive.sql");
    fs::write(&naive_file, &change).unwrap();
    naive
        .psql_file(&naive_file)
        .unwrap_or_else(|e| panic!("{label}: the naive change itself fails:\n{e}"));
    let expected = naive.catalog();

    support::stages::apply_stages(&label, &db, &plan, dir.path(), &[], &[]);
    let actual = db.catalog();
    assert!(
        actual == expected,
        "{label}: the schema differs from the naive change's:\n{}",
        ScratchDb::catalog_diff(&expected, &actual)
    );
    assert_eq!(
        db.first_value("SELECT string_agg(id || note, ',' ORDER BY id) FROM canary")
            .as_deref(),
        Some("1a,2b,3c"),
        "{label}: the canary table was touched"
    );
    assert_eq!(
        db.first_value("SELECT count(*) FROM users WHERE email = 'decoy@x.io'")
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
fn hostile_names_fit_and_stay_distinct() {
    for flavour in FLAVOURS {
        let names: Vec<String> = ["users", "orders", "email", "email_lower", "users_pkey"]
            .iter()
            .map(|b| hostile(flavour, b))
            .collect();
        for name in &names {
            assert!(name.len() <= MAX, "{flavour:?}: {name:?} is too long");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{flavour:?}: {names:?}");
    }
    assert_eq!(hostile(Flavour::Longest, "users").len(), MAX);
    assert_eq!(hostile(Flavour::LongestMultibyte, "users").len(), MAX);
}

#[test]
fn add_check() {
    run(
        "add_check",
        "ALTER TABLE {orders} ADD CONSTRAINT {orders_amount_check} CHECK ({amount} >= 0);",
    );
}

#[test]
fn add_column() {
    run(
        "add_column",
        "ALTER TABLE {users} ADD COLUMN {active} boolean NOT NULL DEFAULT true;",
    );
}

#[test]
fn add_enum_value() {
    run(
        "add_enum_value",
        "ALTER TYPE {mood} ADD VALUE 'o''k $$ %s\\' BEFORE 'happy';",
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
fn add_primary_key() {
    run(
        "add_primary_key",
        "ALTER TABLE {events} ADD CONSTRAINT {events_pkey} PRIMARY KEY ({id});",
    );
}

#[test]
fn add_required_column() {
    run_with(
        "add_required_column",
        "ALTER TABLE {users} ADD COLUMN {email_lower} text NOT NULL;",
        Some(("users", "email_lower", "lower({email}) || '%s''$$'")),
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
fn add_volatile_column() {
    run(
        "add_volatile_column",
        "ALTER TABLE {users} ADD COLUMN {token} uuid NOT NULL DEFAULT gen_random_uuid();",
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
        "ALTER TABLE {orders} ALTER COLUMN {amount} TYPE bigint;",
    );
}

#[test]
fn create_enum() {
    run(
        "create_enum",
        "CREATE TYPE {status} AS ENUM ('new', 'd''one', '$$');",
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
fn create_table() {
    run(
        "create_table",
        "CREATE TABLE {teams} ({id} bigint PRIMARY KEY, {name} text NOT NULL);\nCREATE INDEX {teams_name_idx} ON {teams} ({name});",
    );
}

#[test]
fn drop_column() {
    run("drop_column", "ALTER TABLE {users} DROP COLUMN {legacy};");
}

#[test]
fn drop_index() {
    run("drop_index", "DROP INDEX {users_name_idx};");
}

#[test]
fn drop_table() {
    run("drop_table", "DROP TABLE {audit};");
}

#[test]
fn other() {
    run("other", "VACUUM {users};");
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
    run("rename_table", "ALTER TABLE {users} RENAME TO {accounts};");
}

#[test]
fn set_not_null() {
    run_with(
        "set_not_null",
        "ALTER TABLE {users} ALTER COLUMN {n} SET NOT NULL;",
        Some(("users", "n", "length({email})")),
    );
}

/// Without a name, PostgreSQL names the constraint itself (`<table>_pkey`, `<table>_<column>_key`,
/// …, truncated to 63 bytes its own way): the plan must end with the same names.
#[test]
fn unnamed_constraints() {
    run(
        "unnamed_primary_key",
        "ALTER TABLE {events} ADD PRIMARY KEY ({id});",
    );
    run(
        "unnamed_unique",
        "ALTER TABLE {users} ADD UNIQUE ({email});",
    );
    run(
        "unnamed_foreign_key",
        "ALTER TABLE {orders} ADD FOREIGN KEY ({user_id}) REFERENCES {users} ({id});",
    );
    run(
        "unnamed_check",
        "ALTER TABLE {orders} ADD CHECK ({amount} >= 0);",
    );
    run("unnamed_index", "CREATE INDEX ON {users} ({email}, {n});");
}
