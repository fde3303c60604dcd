//! The same change planned for different PostgreSQL versions takes the path each version allows.

use safeshift::dialect::Postgres;
use safeshift::ops::Options;

fn sql_for(change: &str, version: &str) -> (safeshift::Plan, String) {
    let schema = "CREATE TABLE public.users (id bigint PRIMARY KEY, n integer); CREATE TYPE public.mood AS ENUM ('a', 'b');";
    let plan = safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect: Postgres::parse_version(version).unwrap().into(),
        options: Options::default(),
    })
    .unwrap();
    let sql = plan
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.up)
        .map(|s| format!("{}\n", s.text))
        .collect();
    (plan, sql)
}

#[test]
fn set_not_null_uses_a_check_before_18_and_not_valid_not_null_from_18() {
    let (_, pg15) = sql_for("ALTER TABLE users ALTER COLUMN n SET NOT NULL;", "15");
    assert!(
        pg15.contains("CHECK (n IS NOT NULL) NOT VALID") && pg15.contains("SET NOT NULL"),
        "{pg15}"
    );
    let (_, pg18) = sql_for("ALTER TABLE users ALTER COLUMN n SET NOT NULL;", "18");
    assert!(
        pg18.contains("ADD CONSTRAINT users_n_not_null NOT NULL n NOT VALID"),
        "{pg18}"
    );
    assert!(!pg18.contains("CHECK (n IS NOT NULL)"), "{pg18}");
}

#[test]
fn postgres_11_is_warned_that_set_not_null_still_scans() {
    let (plan, _) = sql_for("ALTER TABLE users ALTER COLUMN n SET NOT NULL;", "11");
    let notes: Vec<&String> = plan
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.notes)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("PostgreSQL 11")),
        "{notes:?}"
    );
}

#[test]
fn enum_values_are_added_outside_a_transaction_before_12() {
    let (pg11, _) = sql_for("ALTER TYPE mood ADD VALUE 'c';", "11");
    assert!(!pg11.stages[0].transactional);
    let (pg15, _) = sql_for("ALTER TYPE mood ADD VALUE 'c';", "15");
    assert!(pg15.stages[0].transactional);
}

#[test]
fn concurrent_index_builds_warn_on_14_before_14_4() {
    let notes = |v: &str| -> Vec<String> {
        let (plan, _) = sql_for("CREATE INDEX ON users (n);", v);
        plan.stages
            .iter()
            .flat_map(|s| &s.steps)
            .flat_map(|s| s.notes.clone())
            .collect()
    };
    assert!(notes("14.2").iter().any(|n| n.contains("14.4")));
    assert!(!notes("14.5").iter().any(|n| n.contains("14.4")));
}
