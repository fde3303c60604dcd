//! The review artefacts: `plan.html` (self-contained, every stage in the graph, the table and its
//! section, user text escaped) and `plan --format markdown` (the pull-request summary). The page
//! itself is rendered in real Chromium by `scripts/check-plan-html`.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

fn plan(change: &Path, schema: Option<&Path>, out: &Path, args: &[&str]) -> String {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.arg("plan").arg(change).arg("--out").arg(out).args(args);
    if let Some(schema) = schema {
        cmd.arg("--schema").arg(schema);
    }
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn example(name: &str, file: &str) -> std::path::PathBuf {
    Path::new("examples").join(name).join(file)
}

#[test]
fn plan_html_shows_every_stage_in_graph_table_and_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    plan(
        &example("rename-and-retype", "change.sql"),
        Some(&example("rename-and-retype", "schema.sql")),
        &out,
        &["--rows", "orders=50000000"],
    );
    let page = fs::read_to_string(out.join("plan.html")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let stages = json["stages"].as_array().unwrap();
    for stage in stages {
        let i = stage["index"].as_u64().unwrap();
        for anchor in [
            format!("<g class=\"column\" data-stage=\"{i}\">"),
            format!("<tr id=\"row-{i}\">"),
            "<section class=\"stage".to_string(),
            format!("id=\"stage-{i}\" data-stage=\"{i}\""),
        ] {
            assert!(page.contains(&anchor), "stage {i}: {anchor}");
        }
        assert!(
            page.contains(stage["name"].as_str().unwrap()),
            "stage {i}'s name"
        );
    }
    let steps: usize = stages
        .iter()
        .map(|s| s["steps"].as_array().unwrap().len())
        .sum();
    // One box per step: no stage here has more than the graph draws.
    assert_eq!(page.matches("<g class=\"step\" data-stage=").count(), steps);
    assert!(!page.contains("<g class=\"more\""));
    // The point of no return (the swap of stage 6 can still be undone: its old column is kept,
    // filled back, until stage 8 drops it), the long stage, the deploy, the locks that block traffic.
    assert!(
        page.contains("<b>1</b>point(s) of no return: stage 8"),
        "{page}"
    );
    assert!(page.contains("long stage(s): watch them"));
    assert!(page.contains("<span class=\"blocks\">blocks all reads and writes</span>"));
    assert!(page.contains("<h2>Sign-off</h2>"));
    assert!(
        page.contains("PostgreSQL 14"),
        "the engine's name comes from plan.json"
    );
    // Self-contained: nothing to fetch, no script.
    for needle in ["http://", "https://", "<script", "<link", "@import"] {
        let hits: Vec<&str> = page
            .lines()
            .filter(|l| l.contains(needle) && !l.contains("xmlns=\"http://www.w3.org/2000/svg\""))
            .collect();
        assert!(hits.is_empty(), "{needle}: {hits:?}");
    }
}

#[test]
fn plan_html_escapes_names_from_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let change = dir.path().join("change.sql");
    fs::write(
        &change,
        "CREATE INDEX \"<img src=x onerror=alert(1)>\" ON users (email);\n\
         ALTER TABLE users ADD COLUMN \"</text><script>x()</script>\" int;\n",
    )
    .unwrap();
    let out = dir.path().join("plan");
    plan(
        &change,
        Some(&example("add-required-column", "schema.sql")),
        &out,
        &[],
    );
    let page = fs::read_to_string(out.join("plan.html")).unwrap();
    assert!(!page.contains("<img src=x"), "raw markup from a name");
    assert!(!page.contains("<script>"), "raw markup from a name");
    assert!(
        page.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{page}"
    );
    assert!(page.contains("&#60;/text&#62;&#60;script&#62;"), "{page}");
}

#[test]
fn markdown_format_prints_a_pull_request_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let text = plan(
        &example("add-required-column", "change.sql"),
        Some(&example("add-required-column", "schema.sql")),
        &out,
        &["--format", "markdown"],
    );
    assert!(text.starts_with("### safeshift plan for `"), "{text}");
    assert!(
        text.contains("| # | phase | stage | runs as | locks | estimate | reversible |"),
        "{text}"
    );
    // One folded section per stage; the deploy lists what the code must do, SQL stages their SQL.
    assert_eq!(
        text.matches("<details><summary>Stage ").count(),
        5,
        "{text}"
    );
    assert!(
        text.contains("```sql\n-- safeshift · stage 1 of 5"),
        "{text}"
    );
    assert!(text.contains("- [ ] "), "{text}");
    // Still writes the plan; prints nothing else.
    assert!(out.join("plan.json").is_file() && out.join("plan.html").is_file());
    assert!(!text.contains("Plan written to"), "{text}");
}

/// A MariaDB plan's page shows the SQL the stage files hold (lock_wait_timeout, no BEGIN), not
/// PostgreSQL's; the tool layouts, which re-wrap statements for PostgreSQL drivers, refuse it.
#[test]
fn mysql_plans_show_their_own_sql_and_refuse_postgres_tool_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    plan(
        &example("mysql", "change.sql"),
        Some(&example("mysql", "schema.sql")),
        &out,
        &["--dialect", "mariadb"],
    );
    let page = fs::read_to_string(out.join("plan.html")).unwrap();
    let up = fs::read_to_string(
        fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("up.sql").is_file())
            .unwrap()
            .join("up.sql"),
    )
    .unwrap();
    assert!(up.contains("lock_wait_timeout"), "{up}");
    assert!(page.contains("lock_wait_timeout"));
    assert!(
        !page.contains("lock_timeout ="),
        "PostgreSQL SQL on a MariaDB page"
    );

    // The migration-tool layouts take a MariaDB plan too (tests/migration_tools.rs runs them).
    let tool = dir.path().join("tool");
    let output = Command::cargo_bin("safeshift")
        .unwrap()
        .arg("plan")
        .arg(example("mysql", "change.sql"))
        .arg("--schema")
        .arg(example("mysql", "schema.sql"))
        .args(["--dialect", "mariadb", "--layout", "dbmate", "--out"])
        .arg(&tool)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let readme = std::fs::read_to_string(tool.join("migrations/README.md")).unwrap();
    assert!(
        readme.contains("MariaDB has no transactional DDL"),
        "{readme}"
    );
}

/// 180 changes on 60 tables: the markdown summary still fits in a pull-request comment (GitHub
/// refuses more than 65,536 characters) and names no path of the machine that made it.
#[test]
fn markdown_of_a_big_plan_fits_a_pull_request_comment() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema = String::new();
    let mut change = String::new();
    for t in 0..60 {
        schema.push_str(&format!(
            "CREATE TABLE t{t} (id bigint PRIMARY KEY, email text NOT NULL, name text);\n"
        ));
        change.push_str(&format!(
            "-- safeshift: backfill = lower(email)\nALTER TABLE t{t} ADD COLUMN email_lower text NOT NULL;\nCREATE INDEX t{t}_name_idx ON t{t} (name);\nALTER TABLE t{t} ALTER COLUMN name SET NOT NULL;\n"
        ));
    }
    let schema_path = dir.path().join("schema.sql");
    let change_path = dir.path().join("change.sql");
    fs::write(&schema_path, schema).unwrap();
    fs::write(&change_path, change).unwrap();
    let out = dir.path().join("plan");
    let md = plan(
        &change_path,
        Some(&schema_path),
        &out,
        &["--format", "markdown"],
    );
    assert!(md.contains("180 change(s)"), "{md}");
    assert!(
        md.chars().count() < 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(md.contains("PLAN.md"), "{md}");
    let tmp = dir.path().to_string_lossy().to_string();
    assert!(!md.contains(&tmp), "a local path leaked: {tmp}");
    // The full SQL is still in the plan directory.
    assert!(out.join("PLAN.md").exists());
}

/// PLAN.md's "Changes → stages" names, for every change, the file and line it was written at and
/// exactly the stages (with their folders) that carry one of its steps, as plan.json records them.
#[test]
fn plan_md_maps_every_change_to_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let change = example("rename-and-retype", "change.sql");
    plan(
        &change,
        Some(&example("rename-and-retype", "schema.sql")),
        &out,
        &[],
    );
    let md = fs::read_to_string(out.join("PLAN.md")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let section = md
        .split("## Changes → stages")
        .nth(1)
        .expect("a Changes → stages section")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| # "))
        .collect();
    let changes = json["changes"].as_array().unwrap();
    assert!(changes.len() >= 2, "{json}");
    assert_eq!(rows.len(), changes.len(), "{section}");
    let stages = json["stages"].as_array().unwrap();
    for (row, c) in rows.iter().zip(changes) {
        let index = c["index"].as_u64().unwrap();
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[0], format!("| {}", index + 1), "{row}");
        assert_eq!(
            cells[1],
            format!("{}:{}", change.display(), c["line"]),
            "{row}"
        );
        let expected: Vec<String> = stages
            .iter()
            .filter(|s| {
                s["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|step| step["change"] == index)
            })
            .map(|s| {
                let dir = s["dir"].as_str().unwrap();
                assert!(out.join(dir).join("CHECKLIST.md").is_file());
                format!("{} ([`{dir}`]({dir}/CHECKLIST.md))", s["index"])
            })
            .collect();
        assert!(!expected.is_empty(), "change {index} has no stage");
        assert_eq!(
            cells[3].trim_end_matches(" |"),
            expected.join(", "),
            "change {index}: {row}"
        );
    }
}

/// tests/fixtures/big-plan (60 tables, 20 stages; rendered in Chromium by scripts/check-plan-html):
/// the graph draws every stage in rows of three, each row narrower than an A4 text column, and
/// accounts for every step (a box, or the count of a stage's "+N more steps" box, whose steps its
/// section lists); the markdown summary of the same plan fits a pull-request comment and names
/// no local path even when the files were given as absolute paths.
#[test]
fn big_plan_review_artefacts_scale() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let change = root.join("tests/fixtures/big-plan/change.sql");
    let schema = root.join("tests/fixtures/big-plan/schema.sql");
    let md = plan(&change, Some(&schema), &out, &["--format", "markdown"]);
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 20);
    let tables: std::collections::BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap())
        .flat_map(|step| step["locks"].as_array().unwrap())
        .filter_map(|l| l["table"].as_str())
        .collect();
    assert_eq!(tables.len(), 60, "{tables:?}");

    assert!(
        md.chars().count() < 65_536,
        "{} characters",
        md.chars().count()
    );
    for local in [root.to_string_lossy(), dir.path().to_string_lossy()] {
        assert!(!md.contains(local.as_ref()), "a local path leaked: {local}");
    }

    let page = fs::read_to_string(out.join("plan.html")).unwrap();
    assert_eq!(page.matches("<svg class=\"row\"").count(), 7);
    for width in page.split("<svg class=\"row\"").skip(1).map(|row| {
        let w = row.split("width=\"").nth(1).unwrap();
        w[..w.find('"').unwrap()].parse::<u32>().unwrap()
    }) {
        assert!(width <= 700, "a graph row is {width} px wide");
    }
    for stage in stages {
        let i = stage["index"].as_u64().unwrap();
        let steps = stage["steps"].as_array().unwrap().len();
        let boxes = page
            .matches(&format!("<g class=\"step\" data-stage=\"{i}\">"))
            .count();
        let more: usize = page
            .split(&format!(
                "<g class=\"more\" data-stage=\"{i}\" data-steps=\""
            ))
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse::<usize>().unwrap())
            .sum();
        assert_eq!(boxes + more, steps, "stage {i}");
        assert!(boxes <= 9, "stage {i} draws {boxes} boxes");
        let section = page
            .split(&format!("id=\"stage-{i}\" data-stage=\"{i}\""))
            .nth(1)
            .unwrap();
        let section = &section[..section.find("</section>").unwrap()];
        let listed = section
            .split("<ol class=\"steps\">")
            .nth(1)
            .and_then(|l| l.split("</ol>").next())
            .expect("the section lists its steps");
        assert_eq!(listed.matches("<li>").count(), steps, "stage {i}");
        for step in stage["steps"].as_array().unwrap() {
            let title = step["title"].as_str().unwrap();
            assert!(
                !title.contains(['&', '<', '>', '"', '\'']),
                "escape it first: {title}"
            );
            assert!(
                listed.contains(&format!("<li>{title} <code>")),
                "stage {i}: {title}"
            );
        }
    }
}

/// The ORM way of adding a required column is three statements planned as one change: its row in
/// "Changes → stages" names all three lines, so no statement of the file is left unmapped.
#[test]
fn plan_md_names_statements_folded_into_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let change = dir.path().join("change.sql");
    fs::write(
        &change,
        "ALTER TABLE users ADD COLUMN email_lower text;\nUPDATE users SET email_lower = lower(email);\nALTER TABLE users ALTER COLUMN email_lower SET NOT NULL;\n",
    )
    .unwrap();
    let out = dir.path().join("plan");
    plan(
        &change,
        Some(&example("add-required-column", "schema.sql")),
        &out,
        &[],
    );
    let md = fs::read_to_string(out.join("PLAN.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| 1 | ") && l.contains("(and lines"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains(&format!(
            "{}:1 (and lines 2, 3, one intent)",
            change.display()
        )),
        "{row}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        json["changes"][0]["folded_lines"],
        serde_json::json!([2, 3])
    );
    assert_eq!(json["changes"].as_array().unwrap().len(), 1);
}
