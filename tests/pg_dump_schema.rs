//! `--schema` must understand what `pg_dump --schema-only` really prints (ownership, SET lines,
//! `\restrict` meta-commands in recent releases, identity columns as separate ALTERs, constraints
//! and indexes after the tables). This test makes a dump on the local server and plans with it.

mod support;

use std::process::Command;

use safeshift::name::QName;
use safeshift::ops::Options;
use safeshift::schema::{Catalog, ConstraintKind};
use support::ScratchDb;

const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE \"Users\" (
    id serial PRIMARY KEY,
    account_id bigint REFERENCES accounts (id),
    email varchar(255) NOT NULL UNIQUE,
    nick text DEFAULT 'anon' NOT NULL,
    mood mood,
    score numeric(10,2) CHECK (score >= 0)
);
CREATE INDEX users_nick_idx ON \"Users\" (nick);
CREATE INDEX users_lower_email_idx ON \"Users\" (lower(email));
COMMENT ON TABLE accounts IS 'tenants';
";

fn dump(db: &ScratchDb) -> Option<String> {
    let output = match Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "-d", &db.url])
        .output()
    {
        Ok(o) => o,
        Err(e) if support::is_ci() => panic!("CI=true and pg_dump cannot run: {e}"),
        Err(e) => {
            support::say_skipping(&format!("skipping: pg_dump cannot run ({e})"));
            return None;
        }
    };
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("pg_dump prints UTF-8"))
}

#[test]
fn catalog_reads_real_pg_dump_output() {
    let Some(db) = ScratchDb::create("pg_dump") else {
        return;
    };
    db.execute(SCHEMA);
    let Some(text) = dump(&db) else { return };

    let catalog = Catalog::from_sql(&text).expect("the dump parses");
    let users = catalog
        .table(&QName {
            schema: Some("public".into()),
            name: "Users".into(),
        })
        .expect("\"Users\" is known");
    let names: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["id", "account_id", "email", "nick", "mood", "score"]
    );
    assert_eq!(users.primary_key(), Some(&["id".to_string()][..]));
    assert!(users.column("email").unwrap().not_null);
    assert!(users.column("nick").unwrap().default.is_some());
    assert!(
        users.column("id").unwrap().default.is_some(),
        "serial shows as a nextval() default"
    );
    assert!(
        users
            .constraints
            .iter()
            .any(|c| c.kind == ConstraintKind::Unique && c.columns == ["email"])
    );
    assert!(users.constraints.iter().any(
        |c| matches!(&c.kind, ConstraintKind::ForeignKey { table, .. } if table.name == "accounts")
    ));
    let users_name = QName::new("Users");
    assert_eq!(catalog.indexes_on(&users_name, "nick").len(), 1);
    let accounts = catalog
        .table(&QName::new("accounts"))
        .expect("accounts is known");
    assert!(
        accounts.column("id").unwrap().generated.is_some(),
        "identity column recognised from its ALTER … ADD GENERATED"
    );
    assert_eq!(
        catalog.enum_labels(&QName::new("mood")).map(Vec::len),
        Some(3)
    );
}

#[test]
fn plans_against_real_pg_dump_output() {
    let Some(db) = ScratchDb::create("pg_dump_plan") else {
        return;
    };
    db.execute(SCHEMA);
    let Some(text) = dump(&db) else { return };
    let plan = |change: &str| {
        safeshift::plan(&safeshift::PlanInput {
            change_name: "change.sql",
            change_sql: change,
            schema: Some(("schema.sql", &text)),
            dialect: support::server_dialect().into(),
            options: Options::default(),
        })
    };
    // Renaming nick copies its index for the new code and, in the end, renames the original column
    // in place (its NOT NULL stays with it) and gives it back its default: all learnt from the dump.
    let renamed = plan("ALTER TABLE \"Users\" RENAME COLUMN nick TO handle;").expect("plans");
    let sql: String = renamed
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.up)
        .map(|s| s.text.clone())
        .collect();
    assert!(
        sql.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
        "copies users_nick_idx:\n{sql}"
    );
    assert!(sql.contains("RENAME COLUMN nick TO handle"), "{sql}");
    assert!(sql.contains("SET DEFAULT 'anon'"));
    // An unknown table is an error that names it.
    let err = plan("ALTER TABLE userz ADD COLUMN x int;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("change.sql:1:1")
            && err.contains("userz")
            && err.contains("not in the schema"),
        "{err}"
    );
    // Varchar widening is catalog-only: one stage.
    assert_eq!(
        plan("ALTER TABLE \"Users\" ALTER COLUMN email TYPE varchar(500);")
            .unwrap()
            .stages
            .len(),
        1
    );
}

/// pg_dump writes partitions as tables of their own, attached afterwards: the catalog knows them
/// as partitions, so an index on the parent is planned partition by partition.
#[test]
fn partitions_attached_the_pg_dump_way_are_known() {
    let dump = "CREATE TABLE public.events (id bigint NOT NULL, at timestamp with time zone NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 (id bigint NOT NULL, at timestamp with time zone NOT NULL, kind text);
CREATE TABLE public.events_2025 (id bigint NOT NULL, at timestamp with time zone NOT NULL, kind text);
ALTER TABLE ONLY public.events ATTACH PARTITION public.events_2024 FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
ALTER TABLE ONLY public.events ATTACH PARTITION public.events_2025 FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
";
    let catalog = Catalog::from_sql(dump).unwrap();
    let events = QName {
        schema: Some("public".into()),
        name: "events".into(),
    };
    assert!(catalog.table(&events).unwrap().partitioned);
    let partitions: Vec<String> = catalog
        .partitions_of(&events)
        .iter()
        .map(|t| t.name.name.clone())
        .collect();
    assert_eq!(partitions, ["events_2024", "events_2025"]);
}
