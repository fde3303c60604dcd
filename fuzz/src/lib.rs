//! What the fuzz targets run. Any panic is a finding; errors are fine (bad input must be an error).

use safeshift::dialect::{Dialect, Engine};
use safeshift::lint::{self, Settings, Source};
use safeshift::ops::Options;
use safeshift::{PlanInput, render};

const SCHEMA: &str = include_str!("../../tests/fixtures/schema.sql");
const SCHEMA_MYSQL: &str = include_str!("../../tests/fixtures/schema-mysql.sql");

fn dialects() -> [(Dialect, &'static str); 3] {
    let d = |engine| Dialect::new(engine, None).expect("default version");
    [
        (d(Engine::Postgres), SCHEMA),
        (d(Engine::Mysql), SCHEMA_MYSQL),
        (d(Engine::Mariadb), SCHEMA_MYSQL),
    ]
}

/// Lint (all formats), plan without and with a schema, render the plan, and read `sql` as a schema.
pub fn exercise(sql: &str) {
    for (dialect, schema) in dialects() {
        let mut settings = Settings::new(dialect);
        let report = lint::lint(
            &[Source {
                name: "fuzz.sql".into(),
                text: sql.into(),
                report: true,
            }],
            &settings,
        );
        let mut out = Vec::new();
        for format in [
            lint::format::Format::Human,
            lint::format::Format::Json,
            lint::format::Format::Sarif,
            lint::format::Format::Github,
        ] {
            out.clear();
            let _ = lint::format::render(format, &report, &settings, false, &mut out);
        }
        let _ = lint::format::human(&report, true, &mut out);
        settings.keep_statements = false;
        let _ = lint::lint(
            &[Source {
                name: "fuzz.sql".into(),
                text: sql.into(),
                report: true,
            }],
            &settings,
        );

        for schema in [None, Some(schema)] {
            if let Ok(plan) = plan(dialect, sql, schema) {
                let _ = render::plan_files(&plan);
                let _ = render::summary(&plan, None);
                let _ = render::summary_markdown(&plan, None);
            }
        }
        // The input as the schema of a fixture-shaped change.
        let _ = plan(
            dialect,
            "ALTER TABLE users ADD COLUMN fuzz_c int;",
            Some(sql),
        );
    }
}

fn plan(
    dialect: Dialect,
    sql: &str,
    schema: Option<&str>,
) -> Result<safeshift::Plan, safeshift::Error> {
    safeshift::plan(&PlanInput {
        change_name: "fuzz.sql",
        change_sql: sql,
        schema: schema.map(|s| ("schema.sql", s)),
        dialect,
        options: Options::default(),
    })
}

/// Planning the same input twice gives byte-identical files.
pub fn deterministic(sql: &str) {
    for (dialect, schema) in dialects() {
        let files = |_| {
            plan(dialect, sql, Some(schema))
                .ok()
                .and_then(|p| render::plan_files(&p).ok())
        };
        assert_eq!(files(0), files(1), "two plans of the same input differ");
    }
}

/// Reads choices from the fuzzer's bytes; past the end every choice is 0.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.byte()) % from.len()]
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

const TABLES: &[&str] = &[
    "users",
    "orders",
    "events",
    "audit",
    "teams",
    "public.users",
    "\"Users\"",
    "\"a b;c\"",
    "\"q\"\"uote\"",
    "\"$$\"",
    "\"ü\"",
    "\"user\"",
    "`back``tick`",
    "t23456789012345678901234567890123456789012345678901234567890123",
];
const COLUMNS: &[&str] = &[
    "id",
    "email",
    "name",
    "nickname",
    "legacy",
    "n",
    "mood",
    "user_id",
    "amount",
    "payload",
    "email_lower",
    "\"Email\"",
    "\"e'mail\"",
    "\"%s%I\"",
    "\"x\ny\"",
    "\"select\"",
    "c2345678901234567890123456789012345678901234567890123456789012é",
];
const TYPES: &[&str] = &[
    "int",
    "bigint",
    "text",
    "varchar(10)",
    "varchar(100)",
    "numeric(10,2)",
    "boolean",
    "uuid",
    "timestamptz",
    "mood",
    "jsonb",
    "character varying(50)",
    "int[]",
    "serial",
];
const DEFAULTS: &[&str] = &[
    "0",
    "'x'",
    "now()",
    "clock_timestamp()",
    "gen_random_uuid()",
    "NULL",
    "lower(email)",
    "'a''b'",
    "1 + 1",
    "random()",
];
const INDEXES: &[&str] = &["users_name_idx", "users_email_idx", "\"i;x\"", "ix"];

fn statement(c: &mut Choices) -> String {
    let t = c.pick(TABLES);
    let col = c.pick(COLUMNS);
    let col2 = c.pick(COLUMNS);
    let ty = c.pick(TYPES);
    let def = c.pick(DEFAULTS);
    let not_null = if c.flag() { " NOT NULL" } else { "" };
    let default = if c.flag() {
        format!(" DEFAULT {def}")
    } else {
        String::new()
    };
    match c.byte() % 24 {
        0 => format!("ALTER TABLE {t} ADD COLUMN {col} {ty}{not_null}{default}"),
        1 => format!("ALTER TABLE {t} DROP COLUMN {col}"),
        2 => format!("ALTER TABLE {t} RENAME COLUMN {col} TO {col2}"),
        3 => format!("ALTER TABLE {t} RENAME TO {}", c.pick(TABLES)),
        4 => format!("ALTER TABLE {t} ALTER COLUMN {col} TYPE {ty}"),
        5 => format!("ALTER TABLE {t} ALTER COLUMN {col} SET NOT NULL"),
        6 => format!("ALTER TABLE {t} ALTER COLUMN {col} DROP NOT NULL"),
        7 => format!("ALTER TABLE {t} ALTER COLUMN {col} SET DEFAULT {def}"),
        8 => format!("ALTER TABLE {t} ALTER COLUMN {col} DROP DEFAULT"),
        9 => format!(
            "CREATE {}INDEX {}{} ON {t} ({col}{})",
            if c.flag() { "UNIQUE " } else { "" },
            if c.flag() { "CONCURRENTLY " } else { "" },
            c.pick(INDEXES),
            if c.flag() {
                format!(", {col2}")
            } else {
                String::new()
            }
        ),
        10 => format!("CREATE INDEX {} ON {t} ((lower({col})))", c.pick(INDEXES)),
        11 => format!(
            "DROP INDEX {}{}",
            if c.flag() { "CONCURRENTLY " } else { "" },
            c.pick(INDEXES)
        ),
        12 => format!("ALTER TABLE {t} ADD CONSTRAINT k UNIQUE ({col})"),
        13 => format!("ALTER TABLE {t} ADD PRIMARY KEY ({col})"),
        14 => format!(
            "ALTER TABLE {t} ADD CONSTRAINT k CHECK ({col} > 0){}",
            if c.flag() { " NOT VALID" } else { "" }
        ),
        15 => format!(
            "ALTER TABLE {t} ADD CONSTRAINT fk FOREIGN KEY ({col}) REFERENCES {} ({col2})",
            c.pick(TABLES)
        ),
        16 => format!("ALTER TABLE {t} VALIDATE CONSTRAINT k"),
        17 => format!("CREATE TABLE {t} ({col} {ty} PRIMARY KEY, {col2} {ty}{not_null})"),
        18 => format!("DROP TABLE {t}"),
        19 => "CREATE TYPE mood2 AS ENUM ('a', 'b''c')".to_string(),
        20 => format!(
            "ALTER TYPE mood ADD VALUE {}'ok'{}",
            if c.flag() { "IF NOT EXISTS " } else { "" },
            if c.flag() { " BEFORE 'happy'" } else { "" }
        ),
        21 => format!("ALTER TABLE {t} MODIFY COLUMN {col} {ty}{not_null}"),
        22 => format!("ALTER TABLE {t} ADD UNIQUE ((lower({col})))"),
        _ => c
            .pick(&[
                "VACUUM users",
                "SET lock_timeout = '1s'",
                "BEGIN",
                "COMMIT",
                "REINDEX TABLE users",
            ])
            .to_string(),
    }
}

/// The change of every op fixture: a grammar-shaped input starts from one of them.
const FIXTURES: &[&str] = &[
    include_str!("../../tests/fixtures/ops/add_check.sql"),
    include_str!("../../tests/fixtures/ops/add_column.sql"),
    include_str!("../../tests/fixtures/ops/add_enum_value.sql"),
    include_str!("../../tests/fixtures/ops/add_foreign_key.sql"),
    include_str!("../../tests/fixtures/ops/add_primary_key.sql"),
    include_str!("../../tests/fixtures/ops/add_required_column.sql"),
    include_str!("../../tests/fixtures/ops/add_unique.sql"),
    include_str!("../../tests/fixtures/ops/add_volatile_column.sql"),
    include_str!("../../tests/fixtures/ops/catalog_only.sql"),
    include_str!("../../tests/fixtures/ops/change_column_type.sql"),
    include_str!("../../tests/fixtures/ops/create_enum.sql"),
    include_str!("../../tests/fixtures/ops/create_index.sql"),
    include_str!("../../tests/fixtures/ops/create_table.sql"),
    include_str!("../../tests/fixtures/ops/drop_column.sql"),
    include_str!("../../tests/fixtures/ops/drop_index.sql"),
    include_str!("../../tests/fixtures/ops/drop_table.sql"),
    include_str!("../../tests/fixtures/ops/modify_column.sql"),
    include_str!("../../tests/fixtures/ops/other.sql"),
    include_str!("../../tests/fixtures/ops/rename_column.sql"),
    include_str!("../../tests/fixtures/ops/rename_table.sql"),
    include_str!("../../tests/fixtures/ops/set_not_null.sql"),
];

/// An op fixture, then a few grammar-shaped statements, some with a backfill directive.
pub fn grammar(data: &[u8]) -> String {
    let mut c = Choices(data);
    let mut sql = String::new();
    if c.flag() {
        sql.push_str(FIXTURES[usize::from(c.byte()) % FIXTURES.len()]);
        sql.push('\n');
    }
    for _ in 0..=(c.byte() % 4) {
        if c.flag() {
            sql.push_str(&format!("-- safeshift: backfill = {}\n", c.pick(DEFAULTS)));
        }
        sql.push_str(&statement(&mut c));
        sql.push_str(";\n");
    }
    sql
}
