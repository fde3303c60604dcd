//! Lint rules against their fixtures (`tests/fixtures/lint/`, with `tests/fixtures/schema.sql`): every `-- expect:` finding appears
//! on its statement, and every other statement — the near misses — stays quiet.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use safeshift::dialect::{Dialect, Engine, Postgres};
use safeshift::lint::{self, Settings, Source};

fn settings() -> Settings {
    let schema = fs::read_to_string("tests/fixtures/schema.sql").unwrap();
    let mut settings = Settings::new(Postgres::parse_version("15").unwrap());
    settings.catalog = safeshift::load_schema("schema.sql", &schema).unwrap();
    settings.schema_known = true;
    settings
}

/// line of each statement → the rules expected on it, from `-- expect:` comments. Findings about
/// a directive are on its `-- safeshift:` line.
fn expectations(text: &str) -> BTreeMap<u64, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut pending: Option<BTreeSet<String>> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rules) = trimmed.strip_prefix("-- expect:") {
            pending = Some(rules.split(',').map(|r| r.trim().to_string()).collect());
        } else if trimmed.starts_with("-- safeshift:") && pending.is_some() {
            if let Some(rules) = pending.take() {
                out.insert(i as u64 + 1, rules);
            }
        } else if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        } else if let Some(rules) = pending.take() {
            out.insert(i as u64 + 1, rules);
        }
    }
    out
}

fn fixtures() -> Vec<(String, String)> {
    fixtures_in("tests/fixtures/lint")
}

fn fixtures_in(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (p.display().to_string(), text)
        })
        .collect()
}

/// Lints every fixture in `dir` (with the schema, or without it for `*-without-schema.sql`) and
/// compares the findings with its `-- expect:` comments.
fn check_fixtures(dir: &str, with_schema: &Settings, without_schema: &Settings) {
    let mut failures = Vec::new();
    for (name, text) in fixtures_in(dir) {
        // `*-without-schema.sql` fixtures check what lint learns from the migrations alone.
        let settings = if name.contains("without-schema") {
            without_schema
        } else {
            with_schema
        };
        let report = lint::lint(
            &[Source {
                name: name.clone(),
                text: text.clone(),
                report: true,
            }],
            settings,
        );
        let mut found: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for f in &report.findings {
            // A syntax error points inside its statement; the statement starts at its line too
            // in these one-line fixtures.
            found.entry(f.line).or_default().insert(f.rule.to_string());
        }
        let expected = expectations(&text);
        if found != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n  found    {found:?}\n  {}",
                report
                    .findings
                    .iter()
                    .map(|f| format!("{}:{} {} {}", f.line, f.column, f.rule, f.message))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_gets_exactly_its_expected_findings() {
    let without_schema = Settings::new(Postgres::parse_version("15").unwrap());
    check_fixtures("tests/fixtures/lint", &settings(), &without_schema);
}

/// The same check for MySQL/MariaDB (`tests/fixtures/lint-mysql/`, against a mysqldump schema).
#[test]
fn every_mysql_fixture_gets_exactly_its_expected_findings() {
    let dialect = Dialect::new(Engine::Mariadb, Some("10.11")).unwrap();
    let schema = fs::read_to_string("tests/fixtures/schema-mysql.sql").unwrap();
    let mut with_schema = Settings::new(dialect);
    with_schema.catalog = safeshift::load_schema_for(dialect, "schema-mysql.sql", &schema).unwrap();
    with_schema.schema_known = true;
    check_fixtures(
        "tests/fixtures/lint-mysql",
        &with_schema,
        &Settings::new(dialect),
    );
}

#[test]
fn mysql_findings_give_the_mysql_way() {
    let dialect = Dialect::new(Engine::Mysql, Some("8.0.35")).unwrap();
    let report = lint::lint(
        &[Source {
            name: "m.sql".into(),
            text: "ALTER TABLE orders ADD CONSTRAINT c CHECK (amount > 0);".into(),
            report: true,
        }],
        &Settings::new(dialect),
    );
    let check = report
        .findings
        .iter()
        .find(|f| f.rule == "adding-check-constraint")
        .unwrap();
    assert!(check.help.contains("no NOT VALID"), "{}", check.help);
    let timeout = report
        .findings
        .iter()
        .find(|f| f.rule == "missing-lock-timeout")
        .unwrap();
    assert!(
        timeout.message.contains("lock_wait_timeout"),
        "{}",
        timeout.message
    );
    assert!(
        timeout.help.contains("SET SESSION lock_wait_timeout"),
        "{}",
        timeout.help
    );
}

#[test]
fn every_reportable_rule_has_a_fixture_that_triggers_it() {
    let mut all: String = fixtures().into_iter().map(|(_, t)| t).collect();
    all.extend(
        fixtures_in("tests/fixtures/lint-mysql")
            .into_iter()
            .map(|(_, t)| t),
    );
    for rule in safeshift::rules::all() {
        if rule.severity.is_some() {
            assert!(
                all.contains(&format!("-- expect: {}", rule.id)),
                "no fixture in tests/fixtures/lint expects {}",
                rule.id
            );
        }
    }
}

#[test]
fn suppressed_findings_are_counted() {
    let text = fs::read_to_string("tests/fixtures/lint/unrecognised-statement.sql").unwrap();
    let report = lint::lint(
        &[Source {
            name: "u.sql".into(),
            text,
            report: true,
        }],
        &settings(),
    );
    assert_eq!(report.suppressed, 1);
}

#[test]
fn later_files_see_earlier_files_schema_but_not_as_new_tables() {
    let sources = [
        Source {
            name: "1_create.sql".into(),
            text: "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(10));\nCREATE INDEX t_v ON t (v);"
                .into(),
            report: true,
        },
        Source {
            name: "2_index.sql".into(),
            text: "SET lock_timeout = '1s';\nCREATE INDEX t_v2 ON t (v);\nALTER TABLE t ALTER COLUMN v TYPE text;".into(),
            report: true,
        },
    ];
    let mut settings = Settings::new(Postgres::parse_version("15").unwrap());
    let report = lint::lint(&sources, &settings);
    let rules: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.rule))
        .collect();
    // The index in the second file is on a table an earlier (deployed) migration created; the
    // type change is known to be binary-coercible because the first file declared varchar(10).
    assert_eq!(rules, [("2_index.sql", "non-concurrent-index")]);

    // gate reads new files as one deploy: the table is still new in the second file.
    settings.new_tables_across_files = true;
    let report = lint::lint(&sources, &settings);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn config_severity_and_disable_apply() {
    let mut settings = settings();
    settings.severity.insert(
        "non-concurrent-index-drop".into(),
        safeshift::rules::Severity::Error,
    );
    settings.disabled.insert("dropping-table".into());
    let report = lint::lint(
        &[Source {
            name: "x.sql".into(),
            text: "SET lock_timeout = '1s';\nDROP INDEX users_name_idx;\nDROP TABLE events;".into(),
            report: true,
        }],
        &settings,
    );
    let found: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.severity))
        .collect();
    assert_eq!(
        found,
        [(
            "non-concurrent-index-drop",
            safeshift::rules::Severity::Error
        )]
    );
}
