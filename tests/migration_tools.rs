//! `plan --layout flyway|golang-migrate|dbmate|sqlx`: the files each tool expects, with
//! non-transactional statements marked the way that tool requires; and, where the tool is
//! installed (dbmate from npm, sqlx-cli from crates.io), the generated files run with the real
//! tool against PostgreSQL, up and then down.
//!
//! Flyway and golang-migrate are not installed here: their files are checked against the rules
//! read in their sources (see `src/render/layout.rs`): golang-migrate sends a whole file in one
//! `Exec`, so a file is either one `BEGIN … COMMIT` or the single statement PostgreSQL refuses in a
//! transaction block; Flyway runs a script whose `.conf` says `executeInTransaction=false`
//! statement by statement.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use safeshift::dialect::Postgres;
use safeshift::dialect::postgres::runs_only_alone;
use support::ScratchDb;

const EXAMPLES: [&str; 2] = ["add-required-column", "rename-and-retype"];

/// Runs `safeshift plan` on an example and returns the temporary directory and the plan's path.
fn write_plan(example: &str, args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let result = assert_cmd::Command::cargo_bin("safeshift")
        .unwrap()
        .arg("plan")
        .arg(format!("examples/{example}/change.sql"))
        .arg("--schema")
        .arg(format!("examples/{example}/schema.sql"))
        .arg("--out")
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    (dir, out)
}

fn migration_files(plan: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(plan.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The statements of a file, without comments.
fn statements(text: &str) -> Vec<String> {
    safeshift::db::statements(text)
        .unwrap()
        .into_iter()
        .map(|s| s.text)
        .collect()
}

fn plan_json(plan: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(plan.join("plan.json")).unwrap()).unwrap()
}

/// Every migration listed in plan.json exists, every .sql file is listed, versions are in order.
fn check_listing(plan: &Path, layout: &str) {
    let json = plan_json(plan);
    assert_eq!(json["layout"], layout);
    let listed = json["migrations"].as_array().unwrap();
    let mut on_disk: Vec<String> = migration_files(plan)
        .into_iter()
        .map(|(name, _)| format!("migrations/{name}"))
        .filter(|n| n.ends_with(".sql"))
        .collect();
    let mut named: Vec<String> = Vec::new();
    for m in listed {
        for key in ["up", "down"] {
            if let Some(path) = m[key].as_str()
                && !named.contains(&path.to_string())
            {
                assert!(plan.join(path).is_file(), "{path} is listed but missing");
                named.push(path.to_string());
            }
        }
    }
    on_disk.sort();
    named.sort();
    assert_eq!(on_disk, named, "files and plan.json disagree");
    let versions: Vec<u64> = listed
        .iter()
        .map(|m| m["version"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] + 1 == w[1]),
        "{versions:?}"
    );
    // Application stages take no version.
    for stage in json["stages"].as_array().unwrap() {
        let has = listed.iter().any(|m| m["stage"] == stage["index"]);
        assert_eq!(has, stage["kind"] != "application", "{stage}");
    }
    assert!(plan.join("migrations/README.md").is_file());
}

#[test]
fn golang_migrate_files_are_one_transaction_or_one_lone_statement() {
    let pg = Postgres::default();
    for example in EXAMPLES {
        let (_dir, plan) = write_plan(example, &["--layout", "golang-migrate", "--start-at", "41"]);
        check_listing(&plan, "golang-migrate");
        let files = migration_files(&plan);
        assert!(
            files[0].0.starts_with("000041_"),
            "numbering continues at --start-at: {}",
            files[0].0
        );
        let mut alone = 0;
        for (name, text) in files.iter().filter(|(n, _)| n.ends_with(".sql")) {
            assert!(
                source_regex_matches(name),
                "{name}: golang-migrate's file source would skip it"
            );
            let statements = statements(text);
            let first = statements.first().map(|s| s.to_ascii_uppercase());
            if first.as_deref() == Some("BEGIN") {
                assert_eq!(
                    statements.last().map(String::as_str),
                    Some("COMMIT"),
                    "{name}"
                );
                assert!(
                    statements.iter().all(|s| !runs_only_alone(s, pg)),
                    "{name}: a statement PostgreSQL refuses in a transaction block is inside BEGIN … COMMIT"
                );
                assert!(
                    statements
                        .iter()
                        .any(|s| s.starts_with("SET LOCAL lock_timeout")),
                    "{name}"
                );
            } else if text.contains("point of no return") {
                assert_eq!(statements.len(), 1, "{name}: the refusal alone");
            } else {
                assert_eq!(
                    statements.len(),
                    1,
                    "{name}: outside BEGIN … COMMIT golang-migrate's single Exec makes several statements one implicit transaction:\n{text}"
                );
                assert!(runs_only_alone(&statements[0], pg), "{name}");
                alone += 1;
            }
        }
        assert!(
            alone > 0,
            "{example}: the CONCURRENTLY builds and backfills are alone"
        );
    }
}

/// golang-migrate's `source.Regex`: `^([0-9]+)_(.*)\.(down|up)\.(.*)$`.
fn source_regex_matches(name: &str) -> bool {
    let Some((version, rest)) = name.split_once('_') else {
        return false;
    };
    !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit())
        && (rest.contains(".up.") || rest.contains(".down."))
}

#[test]
fn flyway_scripts_mark_non_transactional_stages_in_their_conf() {
    for example in EXAMPLES {
        let (_dir, plan) = write_plan(example, &["--layout", "flyway"]);
        check_listing(&plan, "flyway");
        let json = plan_json(&plan);
        let files = migration_files(&plan);
        for m in json["migrations"].as_array().unwrap() {
            let up = m["up"].as_str().unwrap();
            let name = up.trim_start_matches("migrations/");
            assert!(
                name.starts_with(&format!("V{}__", m["version"].as_str().unwrap())),
                "{name}"
            );
            let stage = &json["stages"][m["stage"].as_u64().unwrap() as usize - 1];
            let conf = files.iter().find(|(n, _)| *n == format!("{name}.conf"));
            let text = &files.iter().find(|(n, _)| n == name).unwrap().1;
            if stage["transactional"] == true {
                assert_eq!(m["transaction"], true, "{name}");
            }
            if m["transaction"] == true {
                assert!(conf.is_none(), "{name} runs in Flyway's transaction");
                assert!(text.contains("SET LOCAL lock_timeout"), "{text}");
            } else {
                assert_eq!(
                    conf.map(|(_, t)| t.as_str()),
                    Some("executeInTransaction=false\n"),
                    "{name}"
                );
                assert!(text.contains("\nSET lock_timeout = '2s';"), "{text}");
            }
            assert!(
                m["down"].is_null(),
                "Flyway Community has no down migrations"
            );
            assert!(
                !text.contains("BEGIN;"),
                "Flyway opens the transaction: {name}"
            );
        }
    }
}

#[test]
fn dbmate_and_sqlx_mark_lone_statements_their_way() {
    let pg = Postgres::default();
    let (_dir, plan) = write_plan(
        "rename-and-retype",
        &["--layout", "dbmate", "--start-at", "20240101000000"],
    );
    check_listing(&plan, "dbmate");
    for (name, text) in migration_files(&plan)
        .iter()
        .filter(|(n, _)| n.ends_with(".sql"))
    {
        assert!(name.len() > 15 && name.as_bytes()[14] == b'_', "{name}");
        let (up, down) = text.split_once("\n-- migrate:down").unwrap();
        let (_, up) = up.split_once("-- migrate:up").unwrap();
        let (up_marker, up_body) = up.split_once('\n').unwrap_or((up, ""));
        let (down_marker, down_body) = down.split_once('\n').unwrap_or((down, ""));
        for (marker, body) in [(up_marker, up_body), (down_marker, down_body)] {
            let statements = statements(body);
            let lone = statements.len() == 1 && runs_only_alone(&statements[0], pg);
            assert_eq!(
                marker.contains("transaction:false"),
                lone,
                "{name}: transaction:false exactly where a statement must run alone:\n{text}"
            );
            if !lone {
                assert!(statements.iter().all(|s| !runs_only_alone(s, pg)), "{name}");
            }
        }
    }

    let (_dir, plan) = write_plan(
        "rename-and-retype",
        &["--layout", "sqlx", "--start-at", "20240101000000"],
    );
    check_listing(&plan, "sqlx");
    for (name, text) in migration_files(&plan)
        .iter()
        .filter(|(n, _)| n.ends_with(".sql"))
    {
        let statements = statements(text);
        let lone = statements.len() == 1 && runs_only_alone(&statements[0], pg);
        assert_eq!(
            text.starts_with("-- no-transaction"),
            lone,
            "{name}: `-- no-transaction` (first line) exactly where a statement must run alone:\n{text}"
        );
        assert!(
            !text.contains("BEGIN;"),
            "sqlx opens the transaction: {name}"
        );
    }
}

#[test]
fn timestamp_numbering_by_default_and_start_at_needs_a_tool() {
    let (_dir, plan) = write_plan("add-required-column", &["--layout", "sqlx"]);
    let json = plan_json(&plan);
    let version = json["migrations"][0]["version"].as_str().unwrap();
    assert_eq!(version.len(), 14, "YYYYMMDDHHMMSS: {version}");
    assert!(version.starts_with("20"), "{version}");

    let out = assert_cmd::Command::cargo_bin("safeshift")
        .unwrap()
        .args([
            "plan",
            "examples/add-required-column/change.sql",
            "--start-at",
            "5",
        ])
        .arg("--out")
        .arg(tempfile::tempdir().unwrap().path().join("p"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--layout"));
}

#[test]
fn readme_maps_stages_to_versions_and_explains_deploys() {
    let (_dir, plan) = write_plan("add-required-column", &["--layout", "golang-migrate"]);
    let readme = fs::read_to_string(plan.join("migrations/README.md")).unwrap();
    assert!(
        readme.contains(
            "| 3 | deploy code that writes users.email_lower | — | deploy: no migration |"
        ),
        "{readme}"
    );
    assert!(
        readme.contains("goto 000002"),
        "stop before the deploy: {readme}"
    );
    assert!(readme.contains("takes no version number"), "{readme}");
}

// ── the real tools ──────────────────────────────────────────────────────────────────────────

/// A tool from `$env` or PATH; `None` (with a note) when it is not installed. The tools are
/// optional even under CI: `.ci/run` installs dbmate when npm is there, sqlx-cli takes minutes
/// to build and runs only where someone installed it.
fn find_tool(env: &str, name: &str, install: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from) {
        return Some(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipping the {name} run: not on PATH and ${env} is not set ({install})"
        );
    }
    found
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should have failed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The catalog without the tool's own bookkeeping table.
fn catalog(db: &ScratchDb) -> String {
    db.catalog()
        .lines()
        .filter(|l| !l.contains("schema_migrations") && !l.contains("_sqlx_migrations"))
        .map(|l| format!("{l}\n"))
        .collect()
}

const SEED: &str = "INSERT INTO users (id, email, name) SELECT g, 'User' || g || '@Example.com', 'n' || g FROM generate_series(1, 2500) g;";

/// A database with the example's schema and rows, and its catalog.
fn seeded(tag: &str, plan: &Path, seed: &str) -> Option<(ScratchDb, String)> {
    let db = ScratchDb::create(tag)?;
    db.psql_file(&plan.join("schema.sql")).unwrap();
    db.execute(seed);
    let before = catalog(&db);
    Some((db, before))
}

/// The catalog after the plain plan's `up.sql` files, for comparison with the tool's run.
fn plain_end_state(tag: &str, plan: &Path, seed: &str) -> Option<String> {
    let (db, _) = seeded(tag, plan, seed)?;
    for stage in plan_json(plan)["stages"].as_array().unwrap() {
        if let Some(up) = stage["up"].as_str() {
            db.psql_file(&plan.join(up)).unwrap();
        }
    }
    Some(catalog(&db))
}

enum Tool {
    Dbmate(PathBuf),
    Sqlx(PathBuf),
}

impl Tool {
    fn layout(&self) -> &'static str {
        match self {
            Tool::Dbmate(_) => "dbmate",
            Tool::Sqlx(_) => "sqlx",
        }
    }

    /// The tool's command on `db` for the migrations in `dir`: `dbmate VERB`, `sqlx migrate VERB`.
    fn command(&self, db: &ScratchDb, dir: &Path, dbmate: &str, sqlx: &str) -> Command {
        match self {
            Tool::Dbmate(bin) => {
                let mut c = Command::new(bin);
                c.arg("--url")
                    .arg(format!("{}?sslmode=disable", db.url))
                    .arg("--migrations-dir")
                    .arg(dir)
                    .args(["--no-dump-schema", dbmate]);
                c
            }
            Tool::Sqlx(bin) => {
                let mut c = Command::new(bin);
                c.args(["migrate", sqlx, "--source"])
                    .arg(dir)
                    .arg("--database-url")
                    .arg(&db.url);
                c
            }
        }
    }

    fn up(&self, db: &ScratchDb, dir: &Path) -> Command {
        self.command(db, dir, "migrate", "run")
    }

    /// Undoes the latest migration.
    fn down(&self, db: &ScratchDb, dir: &Path) -> Command {
        self.command(db, dir, "rollback", "revert")
    }
}

/// Up with the tool reaches the plain plan's end state, with the rows backfilled; down through
/// every migration restores the schema; at a point of no return the down refuses.
fn prove(tool: Tool) {
    let layout = tool.layout();
    let (_dir, plan) = write_plan(
        "add-required-column",
        &["--layout", layout, "--start-at", "20240101000000"],
    );
    let dir = plan.join("migrations");
    let count = plan_json(&plan)["migrations"].as_array().unwrap().len();
    let Some((db, before)) = seeded(&format!("{layout}_tool"), &plan, SEED) else {
        return;
    };
    let Some(expected) = plain_end_state(&format!("{layout}_plain"), &plan, SEED) else {
        return;
    };
    run_ok(&mut tool.up(&db, &dir));
    assert_eq!(
        ScratchDb::catalog_diff(&expected, &catalog(&db)),
        "",
        "{layout}: the tool's run differs from the plain plan's"
    );
    let missing: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM users WHERE email_lower IS DISTINCT FROM lower(email)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(missing, 0, "{layout}: every row backfilled");
    for _ in 0..count {
        run_ok(&mut tool.down(&db, &dir));
    }
    assert_eq!(
        ScratchDb::catalog_diff(&before, &catalog(&db)),
        "",
        "{layout}: going down through every migration restores the schema"
    );

    let (_dir, plan) = write_plan(
        "rename-and-retype",
        &["--layout", layout, "--start-at", "20240101000000"],
    );
    let dir = plan.join("migrations");
    let seed = "INSERT INTO customers (id, email, full_name, fax) SELECT g, 'c' || g || '@x', 'c' || g, NULL FROM generate_series(1, 300) g; \
                INSERT INTO orders (id, customer_id, quantity, note) SELECT g, 1 + g % 300, g, 'n' FROM generate_series(1, 3000) g;";
    let Some((db, _)) = seeded(&format!("{layout}_tool_retype"), &plan, seed) else {
        return;
    };
    let Some(expected) = plain_end_state(&format!("{layout}_plain_retype"), &plan, seed) else {
        return;
    };
    run_ok(&mut tool.up(&db, &dir));
    assert_eq!(
        ScratchDb::catalog_diff(&expected, &catalog(&db)),
        "",
        "{layout}"
    );
    let refused = run_err(&mut tool.down(&db, &dir));
    assert!(refused.contains("point of no return"), "{refused}");
}

#[test]
fn dbmate_runs_the_files_up_and_down() {
    if let Some(bin) = find_tool("SAFESHIFT_DBMATE", "dbmate", "npm install -g dbmate") {
        prove(Tool::Dbmate(bin));
    }
}

#[test]
fn sqlx_runs_the_files_up_and_down() {
    if let Some(bin) = find_tool(
        "SAFESHIFT_SQLX",
        "sqlx",
        "cargo install sqlx-cli --no-default-features --features postgres,rustls",
    ) {
        prove(Tool::Sqlx(bin));
    }
}

// ── MySQL and MariaDB ───────────────────────────────────────────────────────────────────────
//
// No transactional DDL: every stage is one migration, never cut. Flyway reads the client's
// `DELIMITER` and keeps the stage's text; golang-migrate, dbmate and sqlx send a file to the
// server as one multi-statement string, so their files hold no `DELIMITER` line, yet split the
// way the `mariadb` client splits them they are exactly the stage's statements.

const MYSQL_PLAN: [&str; 4] = ["--dialect", "mariadb", "--server-version", "10.11"];

/// The statements of a MySQL file as the `mariadb` client sends them (`DELIMITER` honoured).
fn mysql_statements(text: &str) -> Vec<String> {
    safeshift::db::mysql::statements(text)
        .unwrap()
        .into_iter()
        .map(|s| s.text)
        .collect()
}

/// The tool's file holds the statements the `mariadb` client sends for the stage's file: for
/// Flyway the same script, for the others each statement followed by `;`, in order (a procedure
/// body keeps its inner `;`, which the server parses within the compound statement).
fn same_statements(layout: &str, tool: &str, stage: &str) {
    let expected = mysql_statements(stage);
    if layout == "flyway" {
        assert_eq!(mysql_statements(tool), expected, "{tool}");
        return;
    }
    let mut rest = tool;
    for statement in &expected {
        let needle = format!("{statement};\n");
        let at = rest
            .find(&needle)
            .unwrap_or_else(|| panic!("{layout}: missing or out of order: {statement}\n{tool}"));
        rest = &rest[at + needle.len()..];
    }
    assert!(
        rest.lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--")),
        "{layout}: more than the stage's statements:\n{rest}"
    );
}

fn mysql_plan(layout: &str) -> (tempfile::TempDir, PathBuf) {
    let mut args = MYSQL_PLAN.to_vec();
    args.extend(["--layout", layout, "--start-at", "1"]);
    write_plan("mysql", &args)
}

/// The up and down of one migration, as text, whatever the tool's file shape.
fn up_and_down(plan: &Path, m: &serde_json::Value, layout: &str) -> (String, Option<String>) {
    let read = |key: &str| {
        m[key]
            .as_str()
            .map(|p| fs::read_to_string(plan.join(p)).unwrap())
    };
    let up = read("up").unwrap();
    if layout == "dbmate" {
        let (up, down) = up.split_once("\n-- migrate:down").unwrap();
        let (_, up) = up.split_once("-- migrate:up").unwrap();
        // Without the rest of the marker lines, which the tests check on the whole file.
        let body = |section: &str| section.split_once('\n').map_or("", |(_, b)| b).to_string();
        return (body(up), Some(body(down)));
    }
    (up, read("down"))
}

#[test]
fn mysql_layouts_are_one_non_transactional_migration_per_stage() {
    for layout in ["flyway", "golang-migrate", "dbmate", "sqlx"] {
        let (_dir, plan) = mysql_plan(layout);
        check_listing(&plan, layout);
        let json = plan_json(&plan);
        let stages = json["stages"].as_array().unwrap();
        let migrations = json["migrations"].as_array().unwrap();
        let with_sql = stages.iter().filter(|s| !s["up"].is_null()).count();
        assert_eq!(
            migrations.len(),
            with_sql,
            "{layout}: one migration per stage"
        );
        let files = migration_files(&plan);
        let mut refused = 0;
        for m in migrations {
            let stage = &stages[m["stage"].as_u64().unwrap() as usize - 1];
            assert_eq!(m["transaction"], false, "{layout}: {m}");
            assert_eq!(m["reversible"], stage["reversible"], "{layout}: {m}");
            let (up, down) = up_and_down(&plan, m, layout);
            let stage_up = fs::read_to_string(plan.join(stage["up"].as_str().unwrap())).unwrap();
            same_statements(layout, &up, &stage_up);
            if layout != "flyway" {
                for text in [Some(&up), down.as_ref()].into_iter().flatten() {
                    assert!(
                        !text
                            .lines()
                            .any(|l| l.trim_start().to_ascii_uppercase().starts_with("DELIMITER")),
                        "{layout}: the server rejects the client's DELIMITER:\n{text}"
                    );
                }
            }
            let up_path = m["up"].as_str().unwrap().trim_start_matches("migrations/");
            match layout {
                "flyway" => {
                    let conf = files.iter().find(|(n, _)| *n == format!("{up_path}.conf"));
                    assert_eq!(
                        conf.map(|(_, t)| t.as_str()),
                        Some("executeInTransaction=false\n"),
                        "{up_path}"
                    );
                    assert!(m["down"].is_null());
                }
                "sqlx" => assert!(up.starts_with("-- no-transaction\n"), "{up}"),
                "dbmate" => {
                    let text = &files.iter().find(|(n, _)| n == up_path).unwrap().1;
                    assert!(
                        text.contains("\n-- migrate:up transaction:false\n"),
                        "{text}"
                    );
                    assert!(
                        text.contains("\n-- migrate:down transaction:false\n"),
                        "{text}"
                    );
                }
                _ => {}
            }
            if let Some(down) = down {
                let statements = mysql_statements(&down);
                if stage["reversible"] == true {
                    let stage_down =
                        fs::read_to_string(plan.join(stage["down"].as_str().unwrap())).unwrap();
                    same_statements(layout, &down, &stage_down);
                } else {
                    assert_eq!(statements.len(), 1, "{layout}: the refusal alone:\n{down}");
                    assert!(
                        statements[0].starts_with("SIGNAL SQLSTATE '45000'")
                            && statements[0].contains("point of no return"),
                        "{down}"
                    );
                    refused += 1;
                }
            }
        }
        let backfill = migrations
            .iter()
            .map(|m| up_and_down(&plan, m, layout).0)
            .find(|up| up.contains("CREATE PROCEDURE"))
            .unwrap();
        assert_eq!(
            backfill.contains("\nDELIMITER $$\n"),
            layout == "flyway",
            "{layout}: DELIMITER only where the tool's parser reads it"
        );
        assert!(backfill.contains("SET SESSION lock_wait_timeout = 2;"));
        if layout != "flyway" {
            assert_eq!(refused, 1, "{layout}: the contract stage's down refuses");
        }
        let readme = fs::read_to_string(plan.join("migrations/README.md")).unwrap();
        assert!(
            readme.contains("MariaDB has no transactional DDL"),
            "{readme}"
        );
        if layout == "golang-migrate" {
            assert!(readme.contains("multiStatements=true"), "{readme}");
        }
    }
}

/// The MariaDB catalog without dbmate's own table.
fn mysql_catalog(db: &support::mysql::ScratchMysql) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in db.catalog().lines() {
        if line.starts_with("table ") {
            skipping = line.starts_with("table schema_migrations ");
        } else if !line.starts_with("  ") {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// 2500 users with known ids, emails in mixed case and scores.
const MYSQL_SEED: &str = "INSERT INTO users (id, email, name, score) \
    SELECT n, CONCAT('User', n, '@Example.com'), CONCAT('n', n), n % 97 FROM \
    (SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d + 1 AS n FROM \
      (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a, \
      (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, \
      (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c, \
      (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) e) g \
    WHERE n <= 2500;";

/// dbmate against MariaDB: migration by migration, each reaches the schema the `mariadb` client
/// reaches with the stage's up.sql; rolling back each reversible one restores the schema before
/// it; all of them leave every row backfilled; at the point of no return the rollback refuses.
#[test]
fn dbmate_runs_the_mysql_files_up_and_down() {
    let Some(bin) = find_tool("SAFESHIFT_DBMATE", "dbmate", "npm install -g dbmate") else {
        return;
    };
    let Some(server) = support::mysql::server() else {
        return;
    };
    let (_dir, plan) = mysql_plan("dbmate");
    let json = plan_json(&plan);
    let stages = json["stages"].as_array().unwrap();
    let migrations = json["migrations"].as_array().unwrap();

    // The schema after each migration, as the plain plan reaches it with the `mariadb` client.
    let reference = support::mysql::ScratchMysql::create(&server, "dbmate_plain");
    reference.run_file(&plan.join("schema.sql")).unwrap();
    reference.execute(MYSQL_SEED);
    let mut expected = vec![mysql_catalog(&reference)];
    for m in migrations {
        let stage = &stages[m["stage"].as_u64().unwrap() as usize - 1];
        reference
            .run_file(&plan.join(stage["up"].as_str().unwrap()))
            .unwrap();
        expected.push(mysql_catalog(&reference));
    }

    let db = support::mysql::ScratchMysql::create(&server, "dbmate_tool");
    db.run_file(&plan.join("schema.sql")).unwrap();
    db.execute(MYSQL_SEED);
    assert_eq!(mysql_catalog(&db), expected[0]);
    // dbmate has no target version: a release ships the files up to a stage, so the test does.
    let shipped = tempfile::tempdir().unwrap();
    let ship = |m: &serde_json::Value| {
        let path = plan.join(m["up"].as_str().unwrap());
        fs::copy(&path, shipped.path().join(path.file_name().unwrap())).unwrap();
    };
    let dbmate = |verb: &str| {
        let mut c = Command::new(&bin);
        c.arg("--url")
            .arg(db.url())
            .arg("--migrations-dir")
            .arg(shipped.path())
            .args(["--no-dump-schema", verb]);
        c
    };
    let reversible = migrations
        .iter()
        .take_while(|m| m["reversible"] == true)
        .count();
    for (i, m) in migrations.iter().enumerate().take(reversible) {
        ship(m);
        run_ok(&mut dbmate("migrate"));
        assert_eq!(mysql_catalog(&db), expected[i + 1], "after {m}");
    }
    for i in (0..reversible).rev() {
        run_ok(&mut dbmate("rollback"));
        assert_eq!(
            mysql_catalog(&db),
            expected[i],
            "rolling back {} restores the schema before it",
            migrations[i]
        );
    }
    for m in migrations {
        ship(m);
    }
    run_ok(&mut dbmate("migrate"));
    let end = expected.last().unwrap();
    assert_eq!(
        &mysql_catalog(&db),
        end,
        "dbmate reaches the plain plan's end state"
    );
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM users WHERE NOT (email_lower <=> LOWER(email)) OR score <> id % 97")
            .as_deref(),
        Some("0"),
        "every row backfilled, every score kept"
    );
    if reversible < migrations.len() {
        let refused = run_err(&mut dbmate("rollback"));
        assert!(refused.contains("point of no return"), "{refused}");
        assert_eq!(&mysql_catalog(&db), end, "the refusal changes nothing");
        let last = migrations.last().unwrap()["version"].as_str().unwrap();
        assert_eq!(
            db.first_value("SELECT MAX(version) FROM schema_migrations")
                .as_deref(),
            Some(last),
            "still recorded as applied"
        );
    }
}

/// sqlx-cli against MariaDB, where one is installed (it is not here: it takes minutes to build).
#[test]
fn sqlx_runs_the_mysql_files_up() {
    let Some(bin) = find_tool(
        "SAFESHIFT_SQLX",
        "sqlx",
        "cargo install sqlx-cli --no-default-features --features mysql,rustls",
    ) else {
        return;
    };
    let Some(server) = support::mysql::server() else {
        return;
    };
    let (_dir, plan) = mysql_plan("sqlx");
    let json = plan_json(&plan);
    let reference = support::mysql::ScratchMysql::create(&server, "sqlx_plain");
    reference.run_file(&plan.join("schema.sql")).unwrap();
    reference.execute(MYSQL_SEED);
    for stage in json["stages"].as_array().unwrap() {
        if let Some(up) = stage["up"].as_str() {
            reference.run_file(&plan.join(up)).unwrap();
        }
    }
    let db = support::mysql::ScratchMysql::create(&server, "sqlx_tool");
    db.run_file(&plan.join("schema.sql")).unwrap();
    db.execute(MYSQL_SEED);
    let sqlx = |verb: &str| {
        let mut c = Command::new(&bin);
        c.args(["migrate", verb, "--source"])
            .arg(plan.join("migrations"))
            .arg("--database-url")
            .arg(db.url());
        c
    };
    run_ok(&mut sqlx("run"));
    let without_bookkeeping = |text: String| -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.starts_with("table ") {
                skipping = line.starts_with("table _sqlx_migrations ");
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    assert_eq!(
        without_bookkeeping(db.catalog()),
        reference.catalog(),
        "sqlx reaches the plain plan's end state"
    );
    let refused = run_err(&mut sqlx("revert"));
    assert!(refused.contains("point of no return"), "{refused}");
}
