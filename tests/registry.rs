//! Keeps the one-file-per-kind promise honest: every file in `src/ops/` is a registered kind with
//! a rule id, a doc comment and a fixture, and every fixture plans to its own kind. The rendered
//! stage list of each fixture is a snapshot (read before accepting: it is the plan a user gets).

use std::fs;
use std::path::Path;

use safeshift::dialect::{Dialect, Engine, Postgres};
use safeshift::ops::{KINDS, Options};

const SHARED: &[&str] = &["mod.rs", "recipes.rs"];

fn op_files() -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir("src/ops")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".rs") && !SHARED.contains(&f.as_str()))
        .map(|f| f.trim_end_matches(".rs").to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn every_op_file_is_registered_and_every_kind_has_a_file() {
    let mut kinds: Vec<String> = KINDS.iter().map(|(k, _)| k.to_string()).collect();
    kinds.sort();
    assert_eq!(op_files(), kinds, "src/ops/*.rs and ops::KINDS disagree");
}

#[test]
fn every_op_file_documents_itself_and_names_its_rule() {
    for kind in op_files() {
        let text = fs::read_to_string(format!("src/ops/{kind}.rs")).unwrap();
        assert!(
            text.starts_with("//! "),
            "src/ops/{kind}.rs must start with a //! comment saying what the change risks"
        );
        assert!(
            text.contains("pub const RULE: Rule = Rule {"),
            "src/ops/{kind}.rs must define its rule"
        );
    }
}

#[test]
fn every_rule_is_documented_once_with_a_kebab_case_id() {
    assert_eq!(
        safeshift::ops::RULES.len(),
        KINDS.len(),
        "one rule per kind"
    );
    let mut seen = std::collections::BTreeSet::new();
    for rule in safeshift::rules::all() {
        assert!(seen.insert(rule.id), "rule id {} is used twice", rule.id);
        assert!(
            rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{} is not kebab-case",
            rule.id
        );
        for (what, text) in [
            ("summary", rule.summary),
            ("why", rule.why),
            ("safe", rule.safe),
            ("example", rule.example),
        ] {
            assert!(!text.trim().is_empty(), "{}: empty {what}", rule.id);
        }
    }
}

/// docs/rules.md is `safeshift rules --format markdown`; regenerate it with
/// `cargo run -- rules --format markdown > docs/rules.md`.
#[test]
fn rules_reference_is_up_to_date() {
    let committed = fs::read_to_string("docs/rules.md").unwrap_or_default();
    assert!(
        committed == safeshift::rules::markdown(),
        "docs/rules.md is stale: run `cargo run -- rules --format markdown > docs/rules.md`"
    );
}

fn plan_fixture(kind: &str) -> safeshift::Plan {
    let path = format!("tests/fixtures/ops/{kind}.sql");
    try_plan_fixture(kind).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture that starts with `-- refused:` is a kind `plan` refuses (`ops::UNPLANNED`).
fn refused(kind: &str) -> bool {
    fs::read_to_string(format!("tests/fixtures/ops/{kind}.sql"))
        .unwrap()
        .starts_with("-- refused:")
}

fn try_plan_fixture(kind: &str) -> Result<safeshift::Plan, safeshift::error::Error> {
    let path = format!("tests/fixtures/ops/{kind}.sql");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: every kind needs a fixture"
    );
    let change = fs::read_to_string(&path).unwrap();
    // A fixture for a MySQL-only kind starts with `-- dialect: mariadb` and plans against the
    // mysqldump-style schema.
    let (dialect, schema_file) = if change.starts_with("-- dialect: mariadb") {
        (
            Dialect::new(Engine::Mariadb, Some("10.11")).unwrap(),
            "tests/fixtures/schema-mysql.sql",
        )
    } else {
        (
            Postgres::parse_version("15").unwrap().into(),
            "tests/fixtures/schema.sql",
        )
    };
    let schema = fs::read_to_string(schema_file).unwrap();
    safeshift::plan(&safeshift::PlanInput {
        change_name: &path,
        change_sql: &change,
        schema: Some((schema_file, &schema)),
        dialect,
        options: Options::default(),
    })
}

#[test]
fn every_fixture_plans_to_its_own_kind() {
    for (kind, _) in KINDS {
        if refused(kind) {
            let rule = safeshift::ops::RULES[KINDS.iter().position(|(k, _)| k == kind).unwrap()];
            assert!(
                safeshift::ops::UNPLANNED.contains(&rule.id),
                "{kind}: a refused fixture, but {} is not in ops::UNPLANNED",
                rule.id
            );
            let error = try_plan_fixture(kind).err();
            assert!(
                error
                    .as_ref()
                    .is_some_and(|e| e.to_string().contains("no staged plan")),
                "{kind}: plan must refuse, saying why: {error:?}"
            );
            continue;
        }
        let plan = plan_fixture(kind);
        assert!(
            plan.changes.iter().any(|c| c.kind == *kind),
            "{kind}: fixture lowered to {:?}",
            plan.changes.iter().map(|c| c.kind).collect::<Vec<_>>()
        );
        insta::assert_snapshot!(
            format!("plan_{kind}"),
            safeshift::render::summary(&plan, None)
        );
    }
}
