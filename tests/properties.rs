//! Property tests: random schemas and random sequences of supported changes (with hostile and
//! maximum-length names among them), planned for PostgreSQL and MySQL. For every plan:
//! - the step graph is acyclic, and the stages respect each of its edges (a step that must finish
//!   first is in an earlier stage, or earlier in the same stage); a stage depends only on earlier
//!   ones;
//! - every statement of every emitted `.sql` file parses again;
//! - the names of the objects the plan creates fit the engine's limit (PostgreSQL 63 bytes, MySQL
//!   64 characters); every helper object the plan refers to is one it creates, and no stage
//!   creates a helper while a same-named one from an earlier stage is still in place;
//! - planning the same input twice gives byte-identical files.
//!
//! `PROPTEST_CASES` raises the number of cases (default here: 48, to keep `cargo test` quick).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;
use safeshift::dialect::{Dialect, Engine};
use safeshift::ops::Options;
use safeshift::parse::{Body, parse_for};
use safeshift::{Plan, PlanInput};
use sqlparser::tokenizer::{Token, Tokenizer};

/// Names a schema may use: ordinary, reserved, mixed case, hostile, and at the length limits.
const NAMES: &[&str] = &[
    "users",
    "orders",
    "email",
    "n",
    "Mixed",
    "select",
    "a b; DROP TABLE x; --",
    "q\"uo'te",
    "$$",
    "100%s",
    "new\nline",
    "ünï→✓",
    // 63 bytes: PostgreSQL's limit.
    "l23456789012345678901234567890123456789012345678901234567890123",
    // 63 bytes of which most are two-byte characters.
    "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé123",
    // 64 characters: MySQL's limit (too long for PostgreSQL, which truncates it; only MySQL uses it).
    "m234567890123456789012345678901234567890123456789012345678901234",
];

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Vec<(String, &'static str)>,
    indexes: Vec<String>,
}

const TYPES: &[&str] = &["integer", "bigint", "text", "varchar(20)", "boolean"];

fn value_for(ty: &str) -> &'static str {
    match ty {
        "integer" | "bigint" => "0",
        "boolean" => "true",
        _ => "'x'",
    }
}

struct Engine_ {
    dialect: Dialect,
    mysql: bool,
}

impl Engine_ {
    fn quote(&self, name: &str) -> String {
        if self.mysql {
            format!("`{}`", name.replace('`', "``"))
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    }
    fn fits(&self, name: &str) -> bool {
        if self.mysql {
            name.chars().count() <= 64
        } else {
            name.len() <= 63
        }
    }
}

fn engines() -> [Engine_; 2] {
    [
        Engine_ {
            dialect: Dialect::new(Engine::Postgres, Some("15")).unwrap(),
            mysql: false,
        },
        Engine_ {
            dialect: Dialect::new(Engine::Mysql, Some("8.0")).unwrap(),
            mysql: true,
        },
    ]
}

/// A schema and a change, from the raw choices proptest made.
fn render(
    engine: &Engine_,
    tables: &[(usize, Vec<(usize, usize)>)],
    changes: &[(u8, usize, usize, usize)],
) -> (String, String) {
    let q = |n: &str| engine.quote(n);
    let usable = |n: &&str| engine.fits(n);
    let names: Vec<&str> = NAMES.iter().copied().filter(usable).collect();
    let mut model: Vec<Table> = Vec::new();
    for (name, columns) in tables {
        let name = names[name % names.len()].to_string();
        if model.iter().any(|t| t.name == name) {
            continue;
        }
        let mut table = Table {
            name,
            columns: vec![("id".to_string(), "bigint")],
            indexes: Vec::new(),
        };
        for (c, ty) in columns {
            let c = names[c % names.len()].to_string();
            if !table.columns.iter().any(|(n, _)| *n == c) {
                table.columns.push((c, TYPES[ty % TYPES.len()]));
            }
        }
        model.push(table);
    }
    let mut schema = String::new();
    for t in &model {
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|(c, ty)| {
                let not_null = if c == "id" {
                    " NOT NULL PRIMARY KEY"
                } else {
                    ""
                };
                format!("{} {ty}{not_null}", q(c))
            })
            .collect();
        schema.push_str(&format!(
            "CREATE TABLE {} ({});\n",
            q(&t.name),
            columns.join(", ")
        ));
    }

    let mut change = String::new();
    let fresh = |taken: &dyn Fn(&str) -> bool, pick: usize, suffix: &str| -> Option<String> {
        (0..names.len())
            .map(|i| {
                let base = names[(pick + i) % names.len()];
                // Derived names must stay within the limit too.
                let mut name = format!("{base}{suffix}");
                while !engine.fits(&name) {
                    name.pop();
                }
                name
            })
            .find(|n| !taken(n))
    };
    for (k, (kind, a, b, c)) in changes.iter().enumerate() {
        if model.is_empty() {
            break;
        }
        let ti = a % model.len();
        let t = model[ti].clone();
        let table = q(&t.name);
        let ci = 1 + b % t.columns.len().max(1);
        let column = t.columns.get(ci).cloned();
        let tag = format!("_{k}");
        let taken_column = |n: &str| t.columns.iter().any(|(x, _)| x == n);
        let statement = match (kind % 13, column) {
            (0, _) => fresh(&taken_column, *c, "").map(|name| {
                model[ti].columns.push((name.clone(), "text"));
                format!("ALTER TABLE {table} ADD COLUMN {} text", q(&name))
            }),
            (1, _) => fresh(&taken_column, *c, "").map(|name| {
                model[ti].columns.push((name.clone(), "integer"));
                format!(
                    "-- safeshift: backfill = 0\nALTER TABLE {table} ADD COLUMN {} integer NOT NULL",
                    q(&name)
                )
            }),
            (2, Some((col, ty))) => Some(format!(
                "-- safeshift: backfill = {}\nALTER TABLE {table} {}",
                value_for(ty),
                if engine.mysql {
                    format!("MODIFY COLUMN {} {ty} NOT NULL", q(&col))
                } else {
                    format!("ALTER COLUMN {} SET NOT NULL", q(&col))
                }
            )),
            (3, Some((col, _))) => {
                let taken = |n: &str| model.iter().any(|t| t.indexes.iter().any(|i| i == n));
                fresh(&taken, *c, &tag).map(|name| {
                    model[ti].indexes.push(name.clone());
                    format!(
                        "CREATE {}INDEX {} ON {table} ({})",
                        if c % 2 == 0 { "UNIQUE " } else { "" },
                        q(&name),
                        q(&col)
                    )
                })
            }
            (4, _) if !t.indexes.is_empty() => {
                let name = t.indexes[c % t.indexes.len()].clone();
                model[ti].indexes.retain(|i| *i != name);
                Some(if engine.mysql {
                    format!("DROP INDEX {} ON {table}", q(&name))
                } else {
                    format!("DROP INDEX {}", q(&name))
                })
            }
            (5, Some((col, _))) => Some(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} UNIQUE ({})",
                q(&format!("k{k}")),
                q(&col)
            )),
            (6, Some((col, _))) => Some(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} CHECK ({} IS NOT NULL)",
                q(&format!("c{k}")),
                q(&col)
            )),
            (7, _) if model.len() > 1 => {
                let other = model[(ti + 1 + c) % model.len()].name.clone();
                fresh(&taken_column, *b, "_id").map(|name| {
                    let sql = format!(
                        "ALTER TABLE {table} ADD COLUMN {} bigint;\nALTER TABLE {table} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                        q(&name),
                        q(&format!("f{k}")),
                        q(&name),
                        q(&other),
                        q("id")
                    );
                    model[ti].columns.push((name, "bigint"));
                    sql
                })
            }
            (8, Some((col, ty))) => {
                let to = if ty == "integer" { "bigint" } else { "text" };
                model[ti].columns[ci].1 = to;
                Some(if engine.mysql {
                    format!("ALTER TABLE {table} MODIFY COLUMN {} {to}", q(&col))
                } else {
                    format!("ALTER TABLE {table} ALTER COLUMN {} TYPE {to}", q(&col))
                })
            }
            (9, Some((col, _))) => fresh(&taken_column, *c, "").map(|name| {
                model[ti].columns[ci].0 = name.clone();
                format!(
                    "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                    q(&col),
                    q(&name)
                )
            }),
            (10, _) => {
                let taken = |n: &str| model.iter().any(|t| t.name == n);
                fresh(&taken, *c, "").map(|name| {
                    model[ti].name = name.clone();
                    format!("ALTER TABLE {table} RENAME TO {}", q(&name))
                })
            }
            (11, Some((col, _))) => {
                model[ti].columns.remove(ci);
                Some(format!("ALTER TABLE {table} DROP COLUMN {}", q(&col)))
            }
            (12, _) if model.len() > 1 => {
                model.remove(ti);
                Some(format!("DROP TABLE {table}"))
            }
            _ => None,
        };
        if let Some(statement) = statement {
            change.push_str(&statement);
            change.push_str(";\n");
        }
    }
    (schema, change)
}

fn plan(engine: &Engine_, schema: &str, change: &str) -> Result<Plan, safeshift::Error> {
    safeshift::plan(&input(engine, schema, change))
}

fn input<'a>(engine: &Engine_, schema: &'a str, change: &'a str) -> PlanInput<'a> {
    PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect: engine.dialect,
        options: Options::default(),
    }
}

/// What a statement does with a named object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Create,
    Drop,
    Refer,
}

/// Names that follow INDEX / TRIGGER / FUNCTION / CONSTRAINT in `sql`, as (kind, name, role).
fn object_names(engine: &Engine_, sql: &str) -> Vec<(String, String, Role)> {
    names_in(engine, sql, false)
}

/// [`object_names`]; `in_do`: `sql` is a PL/pgSQL `DO` body, where a statement also starts
/// after `THEN`, `BEGIN` and `ELSE`.
fn names_in(engine: &Engine_, sql: &str, in_do: bool) -> Vec<(String, String, Role)> {
    let Ok(tokens) = Tokenizer::new(engine.dialect.parser(), sql).tokenize() else {
        return Vec::new();
    };
    // A `DO` block's statements count too (the guards that make stage files re-runnable run
    // their statement inside one, after `THEN`).
    let mut inner = Vec::new();
    let solid: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    for pair in solid.windows(2) {
        if let [Token::Word(w), Token::DollarQuotedString(body)] = pair
            && w.quote_style.is_none()
            && w.value.eq_ignore_ascii_case("DO")
        {
            inner.extend(names_in(engine, &body.value, true));
        }
    }
    let words: Vec<(String, bool)> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w)
                if in_do
                    && w.quote_style.is_none()
                    && ["THEN", "BEGIN", "ELSE"]
                        .iter()
                        .any(|k| w.value.eq_ignore_ascii_case(k)) =>
            {
                Some((";".into(), false))
            }
            Token::Word(w) => Some((w.value.clone(), w.quote_style.is_some())),
            Token::SemiColon => Some((";".into(), false)),
            _ => None,
        })
        .collect();
    let is = |i: usize, kw: &str| {
        words
            .get(i)
            .is_some_and(|(w, quoted)| !quoted && w.eq_ignore_ascii_case(kw))
    };
    let mut out = Vec::new();
    let mut statement_start = 0;
    for i in 0..words.len() {
        if words[i].0 == ";" {
            statement_start = i + 1;
            continue;
        }
        // A rename makes its new name: `ALTER INDEX a RENAME TO b`, `RENAME CONSTRAINT a TO b`.
        if is(i, "TO") && i > 0 {
            let renamed = if is(statement_start, "ALTER")
                && is(statement_start + 1, "INDEX")
                && is(i - 1, "RENAME")
            {
                Some("INDEX")
            } else if i > 2 && is(i - 3, "RENAME") && is(i - 2, "CONSTRAINT") {
                Some("CONSTRAINT")
            } else {
                None
            };
            if let (Some(kind), Some((name, _))) = (renamed, words.get(i + 1)) {
                out.push((kind.to_string(), name.clone(), Role::Create));
            }
            continue;
        }
        let kind = ["INDEX", "TRIGGER", "FUNCTION", "CONSTRAINT"]
            .into_iter()
            .find(|kw| is(i, kw));
        let Some(kind) = kind else { continue };
        let mut j = i + 1;
        while ["CONCURRENTLY", "IF", "NOT", "EXISTS"]
            .iter()
            .any(|kw| is(j, kw))
        {
            j += 1;
        }
        let Some((name, _)) = words.get(j) else {
            continue;
        };
        // `CREATE [OR REPLACE] [UNIQUE] KIND name`, or `ADD CONSTRAINT name`; not the function
        // a CREATE TRIGGER executes.
        let created = (is(statement_start, "CREATE")
            && (statement_start + 1..i).all(|w| ["OR", "REPLACE", "UNIQUE"].iter().any(|kw| is(w, kw))))
            || (i > 0 && is(i - 1, "ADD"))
            // MySQL: `ALTER TABLE t ADD UNIQUE INDEX name`.
            || (i > 1 && is(i - 1, "UNIQUE") && is(i - 2, "ADD"));
        // `ON`, `USING` …: an unnamed index, or a keyword, not a name.
        if (kind == "INDEX" && is(j, "ON")) || name == ";" {
            continue;
        }
        let dropped = is(statement_start, "DROP") || (i > 0 && is(i - 1, "DROP"));
        let role = if created {
            Role::Create
        } else if dropped {
            Role::Drop
        } else {
            Role::Refer
        };
        out.push((kind.to_string(), name.clone(), role));
    }
    out.extend(inner);
    out
}

fn check(engine: &Engine_, schema: &str, change: &str) -> Result<(), TestCaseError> {
    let first = plan(engine, schema, change);
    let plan = match first {
        Ok(plan) => plan,
        Err(e) => {
            let e = e.to_string();
            prop_assert!(!e.contains("internal error"), "{e}\n{change}");
            return Ok(());
        }
    };

    // The graph and the stages.
    let graph = safeshift::step_graph(&input(engine, schema, change)).unwrap();
    prop_assert!(graph.order().is_ok(), "the step graph has a cycle");
    let mut placed: HashMap<(usize, String, String), Vec<(usize, usize)>> = HashMap::new();
    for stage in &plan.stages {
        for (at, step) in stage.steps.iter().enumerate() {
            placed
                .entry((step.change, step.slug.clone(), step.title.clone()))
                .or_default()
                .push((stage.index, at));
        }
        for d in &stage.depends_on {
            prop_assert!(*d < stage.index, "stage {} depends on {d}", stage.index);
        }
    }
    let place = |node: petgraph::graph::NodeIndex| {
        let step = &graph.steps[graph.graph[node]];
        placed
            .get(&(step.change, step.slug.clone(), step.title.clone()))
            .filter(|p| p.len() == 1)
            .map(|p| p[0])
    };
    for edge in graph.graph.raw_edges() {
        if let (Some(before), Some(after)) = (place(edge.source()), place(edge.target())) {
            prop_assert!(
                before < after,
                "a step that must come first is at {before:?}, after the one waiting at {after:?}\n{change}"
            );
        }
    }

    // The files.
    let files = safeshift::render::plan_files(&plan).unwrap();
    let again =
        safeshift::render::plan_files(&self::plan(engine, schema, change).unwrap()).unwrap();
    prop_assert!(files == again, "planning twice gave different files");

    let mut all: Vec<(String, String, Role)> = Vec::new();
    for (path, text) in &files {
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        // MySQL files are written for the `mysql` client (DELIMITER, one-statement trigger
        // bodies), which sqlparser does not read; tests/mysql_ops.rs runs them on MariaDB.
        if !engine.mysql {
            let statements = parse_for(engine.dialect, text);
            prop_assert!(
                statements.is_ok(),
                "{}: {:?}\n{text}",
                path.display(),
                statements.err()
            );
            for s in statements.unwrap() {
                if let Body::Invalid(e) = &s.body {
                    prop_assert!(
                        false,
                        "{}:{}:{}: does not parse again: {}\n{}",
                        path.display(),
                        e.pos.line,
                        e.pos.column,
                        e.message,
                        s.text
                    );
                }
            }
        }
        for (kind, name, role) in object_names(engine, text) {
            prop_assert!(
                engine.fits(&name),
                "{}: {kind} {name:?} is {} bytes",
                path.display(),
                name.len()
            );
            all.push((kind, name, role));
        }
    }
    // Helper objects: every one referred to is created somewhere, and none is created while one
    // of the same name from an earlier stage is still in place (a stage may drop-if-exists and
    // create its own helpers, so that it can run again).
    // `safeshift_invalid_*` is the name an INVALID index left by an interrupted concurrent build
    // is renamed to before it is dropped: the plan never creates one.
    let is_helper =
        |name: &str| name.starts_with("safeshift_") && !name.starts_with("safeshift_invalid_");
    for (kind, name, _) in all.iter().filter(|(_, n, _)| is_helper(n)) {
        prop_assert!(
            all.iter()
                .any(|(k, n, r)| k == kind && n == name && *r == Role::Create),
            "{kind} {name} is referred to but never created\n{schema}\n{change}"
        );
    }
    let by_path: HashMap<&std::path::Path, &String> =
        files.iter().map(|(p, t)| (p.as_path(), t)).collect();
    let mut live: BTreeMap<(String, String), usize> = BTreeMap::new();
    for stage in &plan.stages {
        let Some(text) = stage
            .up
            .as_deref()
            .and_then(|up| by_path.get(std::path::Path::new(up)))
        else {
            continue;
        };
        let names = object_names(engine, text);
        let own: BTreeSet<(String, String)> = names
            .iter()
            .filter(|(_, n, r)| *r == Role::Create && is_helper(n))
            .map(|(k, n, _)| (k.clone(), n.clone()))
            .collect();
        for key in &own {
            prop_assert!(
                !live.contains_key(key),
                "stage {} creates {} {} while the one stage {} created is still in place\n{schema}\n{change}",
                stage.index,
                key.0,
                key.1,
                live[key]
            );
        }
        // A stage's own drop-if-exists before it creates a helper is its re-run guard; a drop
        // after the create (a helper used and removed within the stage) ends it.
        let mut created_here: BTreeSet<(String, String)> = BTreeSet::new();
        for (kind, name, role) in names {
            let key = (kind, name);
            match role {
                Role::Drop if !own.contains(&key) || created_here.contains(&key) => {
                    live.remove(&key);
                }
                Role::Create if is_helper(&key.1) => {
                    created_here.insert(key.clone());
                    live.insert(key, stage.index);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn plans_of_random_changes_hold_their_promises(
        tables in prop::collection::vec(
            (any::<usize>(), prop::collection::vec((any::<usize>(), any::<usize>()), 1..5)),
            1..4,
        ),
        changes in prop::collection::vec(
            (any::<u8>(), any::<usize>(), any::<usize>(), any::<usize>()),
            1..6,
        ),
    ) {
        for engine in engines() {
            let (schema, change) = render(&engine, &tables, &changes);
            if change.is_empty() {
                continue;
            }
            check(&engine, &schema, &change)?;
        }
    }
}

#[test]
fn object_names_are_read_from_sql() {
    let engine = &engines()[0];
    let names = object_names(
        engine,
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"a;b\" ON t (c);\nALTER TABLE t ADD CONSTRAINT k CHECK (c > 0);\nDROP TRIGGER safeshift_x ON t;",
    );
    assert_eq!(
        names,
        vec![
            ("INDEX".into(), "a;b".into(), Role::Create),
            ("CONSTRAINT".into(), "k".into(), Role::Create),
            ("TRIGGER".into(), "safeshift_x".into(), Role::Drop),
        ]
    );
}
