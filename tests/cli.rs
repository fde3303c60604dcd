//! End-to-end tests of the `safeshift` binary: what it prints, what it writes, what it refuses.
//! Every test works in its own temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

// ---------------------------------------------------------------- helpers

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/add-required-column")
        .join(file)
}

fn tmp() -> TempDir {
    tempfile::tempdir().expect("create temp dir")
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).expect("write test input");
    path
}

/// `safeshift plan` on the bundled example (change + schema) into `out`.
fn plan_example(out: &Path) -> Command {
    let mut cmd = safeshift();
    cmd.arg("plan")
        .arg(example("change.sql"))
        .arg("--schema")
        .arg(example("schema.sql"))
        .arg("--out")
        .arg(out);
    cmd
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr must never show a Rust panic.
fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked")
        .not()
        .and(predicate::str::contains("RUST_BACKTRACE").not())
}

fn read_plan(out: &Path) -> Value {
    let text = fs::read_to_string(out.join("plan.json")).expect("read plan.json");
    serde_json::from_str(&text).expect("plan.json is valid JSON")
}

fn stages(plan: &Value) -> &Vec<Value> {
    plan["stages"]
        .as_array()
        .expect("plan.json has a stages array")
}

/// Every regular file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                files.insert(rel, fs::read(&path).expect("read file"));
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
}

/// Leftover staging directories (`.safeshift-plan-*`, `.safeshift-old-*`) in `dir`.
fn temp_siblings(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(".safeshift-"))
        .collect()
}

/// Every `.sql` file under `dir` (path, contents).
fn sql_files(dir: &Path) -> Vec<(PathBuf, String)> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "sql"))
        .map(|(p, bytes)| (p, String::from_utf8(bytes).expect("SQL is UTF-8")))
        .collect()
}

/// A small PostgreSQL lexer: returns `sql` with everything that is not executable code
/// (comments, quoted identifiers, string literals, dollar-quote delimiters) blanked to spaces,
/// newlines kept. The body of a dollar-quoted string is lexed again as code, because in the
/// plans it is always a PL/pgSQL body (DO blocks, trigger functions) that runs.
fn mask_sql(sql: &str) -> String {
    fn blank(c: char) -> char {
        if c == '\n' { '\n' } else { ' ' }
    }
    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_' || c == '$'
    }
    /// `$tag$` starting at `i`, if there is one.
    fn dollar_tag(chars: &[char], i: usize) -> Option<usize> {
        let mut j = i + 1;
        if j < chars.len() && chars[j].is_ascii_digit() {
            return None; // $1: a parameter
        }
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        (j < chars.len() && chars[j] == '$').then_some(j + 1 - i)
    }
    fn lex(chars: &[char]) -> String {
        let mut out = String::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let prev_ident = i > 0 && is_ident(chars[i - 1]);
            if c == '-' && next == Some('-') {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            } else if c == '/' && next == Some('*') {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        out.push_str("  ");
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        out.push_str("  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                }
            } else if c == '"' || c == '\'' {
                out.push(' ');
                i += 1;
                while i < chars.len() {
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            out.push_str("  ");
                            i += 2;
                            continue;
                        }
                        out.push(' ');
                        i += 1;
                        break;
                    }
                    out.push(blank(chars[i]));
                    i += 1;
                }
            } else if c == '$'
                && !prev_ident
                && let Some(len) = dollar_tag(chars, i)
            {
                let tag = &chars[i..i + len];
                let body_start = i + len;
                let body_end = (body_start..=chars.len().saturating_sub(len))
                    .find(|&k| &chars[k..k + len] == tag)
                    .unwrap_or(chars.len());
                out.extend(std::iter::repeat_n(' ', len));
                out.push_str(&lex(&chars[body_start..body_end]));
                let close = (body_end + len).min(chars.len());
                out.extend(std::iter::repeat_n(' ', close - body_end));
                i = close;
            } else {
                out.push(c);
                i += 1;
            }
        }
        out
    }
    lex(&sql.chars().collect::<Vec<_>>())
}

/// Asserts that no generated SQL file lets `canary` out of quotes or comments: no line of
/// executable code starts with `DROP TABLE canary`, and the word does not occur in code at all.
fn assert_contained(out: &Path) {
    let files = sql_files(out);
    assert!(!files.is_empty(), "the plan has SQL files");
    for (path, sql) in files {
        let code = mask_sql(&sql);
        for (n, line) in code.lines().enumerate() {
            assert!(
                !line.trim_start().starts_with("DROP TABLE canary"),
                "{}:{}: a hostile name escaped into executable SQL:\n{sql}",
                path.display(),
                n + 1
            );
        }
        assert!(
            !code.to_lowercase().contains("canary"),
            "{}: `canary` appears outside quotes and comments:\n{sql}",
            path.display()
        );
    }
}

#[test]
fn mask_sql_self_test() {
    let sql = "SELECT 1; -- DROP TABLE canary\nSELECT \"a\"\"\nDROP TABLE canary\" FROM t;\n\
               DO $x$ BEGIN -- c\n PERFORM 'it''s canary'; END $x$;\n/* canary /* nested */ canary */";
    let code = mask_sql(sql);
    assert!(!code.contains("canary"), "{code}");
    assert!(code.contains("SELECT 1;") && code.contains("BEGIN") && code.contains("PERFORM"));
    // and it does see an escape
    let bad = "CREATE FUNCTION f() RETURNS trigger AS $s$\nBEGIN\n  -- about \"c\nDROP TABLE canary; --\"\nEND\n$s$;";
    assert!(
        mask_sql(bad)
            .lines()
            .any(|l| l.starts_with("DROP TABLE canary"))
    );
    let bad = "DO $s$ BEGIN PERFORM \"x$s$; DROP TABLE canary; --\"; END $s$;";
    assert!(mask_sql(bad).contains("canary"));
}

// ---------------------------------------------------------------- 1. summary and plan directory

#[test]
fn example_prints_numbered_stages_and_writes_every_stage() {
    let dir = tmp();
    let out = dir.path().join("plan");
    let output = plan_example(&out).output().unwrap();
    let stdout = stdout_of(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(&output)
    );
    assert!(
        output.stderr.is_empty(),
        "no warnings expected: {}",
        stderr_of(&output)
    );

    // The summary: a header, one numbered line per stage, then where the plan went.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], "2 change(s), 2 risky as written · PostgreSQL 14 · 5 stage(s):",
        "{stdout}"
    );
    assert!(stdout.contains(" 1. "), "{stdout}");
    assert!(stdout.contains("backfill"), "{stdout}");
    assert!(stdout.contains("deploy"), "{stdout}");
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "Plan written to {}/ (start with PLAN.md or plan.html)",
            out.display()
        ),
    );

    // plan.json and PLAN.md exist; the summary lists exactly the stages of plan.json, in order.
    assert!(out.join("PLAN.md").is_file());
    assert!(
        !fs::read_to_string(out.join("PLAN.md"))
            .unwrap()
            .trim()
            .is_empty()
    );
    let plan = read_plan(&out);
    assert_eq!(plan["source"], example("change.sql").display().to_string());
    assert_eq!(plan["schema"], example("schema.sql").display().to_string());
    let stages = stages(&plan);
    assert_eq!(stages.len(), 5);
    assert_eq!(lines.len(), 1 + stages.len() + 1, "{stdout}");
    let mut kinds = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let index = stage["index"].as_u64().unwrap();
        assert_eq!(index, i as u64 + 1, "stages are numbered from 1 in order");
        let name = stage["name"].as_str().unwrap();
        let line = lines[i + 1].trim_start();
        assert!(
            line.starts_with(&format!("{index}. ")) && line.contains(name),
            "summary line {line:?} should be stage {index} {name:?}"
        );
        let kind = stage["kind"].as_str().unwrap();
        kinds.push(kind.to_string());
        match kind {
            "application" => assert!(line.contains("deploy"), "{line}"),
            "backfill" => assert!(line.contains("backfill"), "{line}"),
            _ => {}
        }

        // Its directory, checklist and every SQL file it names exist.
        let stage_dir = out.join(stage["dir"].as_str().unwrap());
        assert!(stage_dir.is_dir(), "{} missing", stage_dir.display());
        assert!(stage_dir.join("CHECKLIST.md").is_file());
        for key in ["up", "down"] {
            match &stage[key] {
                Value::Null => {}
                Value::String(rel) => {
                    assert!(
                        rel.starts_with(stage["dir"].as_str().unwrap()),
                        "{key} {rel} is inside the stage dir"
                    );
                    assert!(out.join(rel).is_file(), "{key} file {rel} missing");
                }
                other => panic!("stage {index} {key} is {other}"),
            }
        }
        if kind == "application" {
            assert_eq!(stage["up"], Value::Null, "an application stage has no SQL");
            assert_eq!(
                stage["down"],
                Value::Null,
                "an application stage has no SQL"
            );
            assert!(!stage_dir.join("up.sql").exists());
        } else {
            assert!(stage["up"].is_string(), "database stage {index} has up.sql");
        }
    }
    assert!(kinds.iter().any(|k| k == "application"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "backfill"), "{kinds:?}");

    // Nothing else was written next to the plan.
    assert!(temp_siblings(dir.path()).is_empty());
}

// ---------------------------------------------------------------- 2./3. existing output

#[test]
fn refuses_to_overwrite_existing_output() {
    let dir = tmp();
    let out = dir.path().join("plan");
    plan_example(&out).assert().code(0);
    write(&out, "marker.txt", "mine");
    let before = snapshot(&out);
    let plan_mtime = mtime(&out.join("plan.json"));

    plan_example(&out)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with("error: "))
        .stderr(predicate::str::contains(out.display().to_string()))
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("--force"))
        .stderr(no_panic());

    assert_eq!(
        snapshot(&out),
        before,
        "the existing directory was modified"
    );
    assert_eq!(fs::read(out.join("marker.txt")).unwrap(), b"mine");
    assert_eq!(mtime(&out.join("plan.json")), plan_mtime);
    assert!(temp_siblings(dir.path()).is_empty());
}

#[test]
fn force_replaces_existing_output() {
    let dir = tmp();
    let out = dir.path().join("plan");
    plan_example(&out).assert().code(0);
    write(&out, "marker.txt", "mine");
    assert_eq!(stages(&read_plan(&out)).len(), 5);

    // A different change, so the new plan is recognisably not the old one.
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE users ADD COLUMN email_lower text NOT NULL;\n",
    );
    safeshift()
        .arg("plan")
        .arg(&change)
        .args(["--backfill", "users.email_lower=lower(email)", "--out"])
        .arg(&out)
        .arg("--force")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Plan written to"))
        .stderr(no_panic());

    assert!(
        !out.join("marker.txt").exists(),
        "the old directory was not replaced"
    );
    let plan = read_plan(&out);
    assert_eq!(plan["source"], change.display().to_string());
    assert_eq!(stages(&plan).len(), 5);
    for stage in stages(&plan) {
        assert!(out.join(stage["dir"].as_str().unwrap()).is_dir());
    }
    // No directory of the old plan survives (the old plan had an index stage).
    let old_dirs: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("create-index"))
        .collect();
    assert!(old_dirs.is_empty(), "{old_dirs:?}");
    assert_eq!(temp_siblings(dir.path()), Vec::<String>::new());
}

// ---------------------------------------------------------------- 4.-7. input errors and backfill

#[test]
fn syntax_error_points_at_file_line_column_and_writes_nothing() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE users ADD COLUMN a int;\n-- a comment\nALTER TABLE users ADDD COLUMN b int;\n",
    );
    let out = dir.path().join("plan");
    let output = safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    // `ADDD` starts at column 19 of line 3.
    let prefix = format!("error: {}:3:", change.display());
    let rest = stderr
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("stderr should start with {prefix:?}: {stderr}"));
    let (col, message) = rest.split_once(':').expect("FILE:LINE:COL: message");
    assert_eq!(col, "19", "{stderr}");
    assert!(message.contains("ADDD"), "{stderr}");
    assert!(no_panic().eval(&stderr), "{stderr}");
    assert!(!out.exists(), "nothing is written on bad input");
    assert!(temp_siblings(dir.path()).is_empty());
}

#[test]
fn unknown_table_with_schema_is_reported_and_nothing_written() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "-- orders live elsewhere\nALTER TABLE orders ADD COLUMN note text;\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--schema")
        .arg(example("schema.sql"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with(format!(
            "error: {}:2:",
            change.display()
        )))
        .stderr(predicate::str::contains("orders"))
        .stderr(predicate::str::contains("not in the schema"))
        .stderr(no_panic());
    assert!(!out.exists());
    assert!(temp_siblings(dir.path()).is_empty());
}

#[test]
fn required_column_without_backfill_explains_both_ways_to_give_one() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE users ADD COLUMN email_lower text NOT NULL;\n",
    );
    let out = dir.path().join("plan");
    let output = safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}:1:1: ", change.display())),
        "{stderr}"
    );
    let help = stderr
        .lines()
        .find(|l| l.starts_with("  help: "))
        .unwrap_or_else(|| panic!("no `  help:` line: {stderr}"));
    assert!(help.contains("--backfill users.email_lower="), "{help}");
    assert!(help.contains("-- safeshift: backfill"), "{help}");
    assert!(no_panic().eval(&stderr), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn backfill_flag_replaces_the_directive() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE users ADD COLUMN email_lower text NOT NULL;\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .args(["--backfill", "users.email_lower=lower(email)", "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("backfill users.email_lower"))
        .stderr(predicate::str::is_empty());

    let plan = read_plan(&out);
    let backfill = stages(&plan)
        .iter()
        .find(|s| s["kind"] == "backfill")
        .expect("a backfill stage");
    let up = fs::read_to_string(out.join(backfill["up"].as_str().unwrap())).unwrap();
    assert!(
        up.contains("lower(email)"),
        "the flag's expression is used:\n{up}"
    );
}

#[test]
fn malformed_backfill_flag_is_a_usage_error() {
    let dir = tmp();
    let out = dir.path().join("plan");
    for bad in [
        "users.email_lower",
        "email_lower=lower(email)",
        "users.email_lower=  ",
    ] {
        safeshift()
            .arg("plan")
            .arg(example("change.sql"))
            .args(["--backfill", bad, "--out"])
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("expected TABLE.COLUMN=EXPR"))
            .stderr(no_panic());
        assert!(!out.exists());
    }
}

// ---------------------------------------------------------------- 8. stdin

#[test]
fn change_from_stdin() {
    let dir = tmp();
    let out = dir.path().join("plan");
    let change = fs::read_to_string(example("change.sql")).unwrap();
    safeshift()
        .args(["plan", "-", "--out"])
        .arg(&out)
        .write_stdin(change)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("2 change(s)"))
        .stdout(predicate::str::contains("Plan written to"))
        .stderr(no_panic());
    let plan = read_plan(&out);
    assert_eq!(plan["source"], "<stdin>");
    assert_eq!(plan["changes"].as_array().unwrap().len(), 2);
    assert_eq!(
        plan["changes"][0]["line"], 3,
        "lines count from the start of stdin"
    );

    // Same plan as reading the file.
    let from_file = dir.path().join("from-file");
    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .arg("--out")
        .arg(&from_file)
        .assert()
        .code(0);
    let dirs = |p: &Value| -> Vec<String> {
        stages(p)
            .iter()
            .map(|s| s["dir"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(dirs(&plan), dirs(&read_plan(&from_file)));
}

// ---------------------------------------------------------------- 9. input safety

#[test]
fn unusable_inputs_fail_cleanly() {
    let dir = tmp();
    let d = dir.path();
    let missing = d.join("missing.sql");
    let a_dir = d.join("a-dir.sql");
    fs::create_dir(&a_dir).unwrap();
    let binary = write(
        d,
        "binary.sql",
        b"ALTER TABLE users ADD COLUMN \xff\xfe int;\n",
    );
    let empty = write(d, "empty.sql", "");
    let comments = write(
        d,
        "comments.sql",
        "-- just a comment\n/* and a block\n comment */\n   \n",
    );
    let cases: [(&Path, &str); 5] = [
        (&missing, ""),
        (&a_dir, "is a directory"),
        (&binary, "not valid UTF-8"),
        (&empty, "no schema change found"),
        (&comments, "no schema change found"),
    ];
    for (i, (input, expect)) in cases.iter().enumerate() {
        let out = d.join(format!("plan-{i}"));
        let output = safeshift()
            .arg("plan")
            .arg(input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            input.display()
        );
        assert!(output.stdout.is_empty(), "{}", input.display());
        assert!(no_panic().eval(&stderr), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
        // `FILE: …`, or `FILE:LINE:COLUMN: …` where there is a position.
        assert!(
            stderr.starts_with(&format!("error: {}:", input.display())),
            "names the file: {stderr}"
        );
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!out.exists());
    }

    // The same checks apply to --schema.
    let out = d.join("plan-schema");
    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .arg("--schema")
        .arg(&missing)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(format!(
            "error: {}: ",
            missing.display()
        )))
        .stderr(no_panic());
    assert!(!out.exists());

    // And to stdin.
    for (bytes, expect) in [
        (&b"ALTER TABLE t ADD COLUMN \xff int;\n"[..], "UTF-8"),
        (&b""[..], "no schema change found"),
    ] {
        let out = d.join("plan-stdin");
        let output = safeshift()
            .args(["plan", "-", "--out"])
            .arg(&out)
            .write_stdin(bytes)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(no_panic().eval(&stderr), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!out.exists());
    }
    assert!(temp_siblings(d).is_empty());
}

// ---------------------------------------------------------------- 10. symlinks

#[cfg(unix)]
#[test]
fn symlink_as_out_is_refused() {
    let dir = tmp();
    let target = dir.path().join("elsewhere");
    fs::create_dir(&target).unwrap();
    write(&target, "keep.txt", "precious");
    let link = dir.path().join("plan");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let before = snapshot(&target);

    for force in [false, true] {
        let mut cmd = plan_example(&link);
        if force {
            cmd.arg("--force");
        }
        cmd.assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("symbolic link"))
            .stderr(no_panic());
        assert_eq!(
            snapshot(&target),
            before,
            "force={force}: target was modified"
        );
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_link(&link).unwrap(), target);
    }

    // A dangling link is refused too, and nothing is created where it points.
    let nowhere = dir.path().join("nowhere");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    plan_example(&dangling)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    assert!(!nowhere.exists());
    assert!(temp_siblings(dir.path()).is_empty());
}

// ---------------------------------------------------------------- 11. server version

#[test]
fn server_version_is_validated() {
    let dir = tmp();
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .args(["--server-version", "10", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("10"))
        .stderr(predicate::str::contains("11 and later"))
        .stderr(no_panic());
    assert!(!out.exists());

    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .args(["--server-version", "abc", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("abc"))
        .stderr(no_panic());
    assert!(!out.exists());

    // The oldest supported version works.
    safeshift()
        .arg("plan")
        .arg(example("change.sql"))
        .args(["--server-version", "11", "--out"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PostgreSQL 11"));
    assert_eq!(read_plan(&out)["server_version"], "11");
}

// ---------------------------------------------------------------- 12. help

#[test]
fn plan_help_documents_backfill_and_directives() {
    safeshift()
        .args(["plan", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("--backfill <TABLE.COLUMN=EXPR>"))
        .stdout(predicate::str::contains("-- safeshift: backfill = "))
        .stdout(predicate::str::contains("--force"))
        .stdout(predicate::str::contains("--server-version"));
}

// ---------------------------------------------------------------- 13. hostile names

/// A quoted table name with a doubled quote, a fake statement and a newline followed by another.
const HOSTILE: &str = "\"a\"\"; DROP TABLE x; --\nDROP TABLE canary; --\"";

#[test]
fn hostile_table_name_stays_quoted() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        format!("ALTER TABLE {HOSTILE} ADD COLUMN c int;\n"),
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0)
        .stderr(no_panic());
    assert_contained(&out);
    // The statement still names the right table: quoted exactly as written.
    let up = sql_files(&out)
        .into_iter()
        .find(|(p, _)| p.ends_with("up.sql"))
        .unwrap()
        .1;
    assert!(
        up.contains(&format!("ALTER TABLE {HOSTILE} ADD COLUMN IF NOT EXISTS c")),
        "{up}"
    );
}

#[test]

fn hostile_column_name_stays_inside_the_fill_trigger_comment() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "-- safeshift: backfill = 0\nALTER TABLE t ADD COLUMN \"c\nDROP TABLE canary; --\" int NOT NULL;\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0)
        .stderr(no_panic());
    assert_contained(&out);
}

#[test]

fn hostile_column_name_stays_inside_the_sync_trigger_comment() {
    let dir = tmp();
    let schema = write(
        dir.path(),
        "schema.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, \"o\nDROP TABLE canary; --\" int);\n",
    );
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE t RENAME COLUMN \"o\nDROP TABLE canary; --\" TO n;\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--schema")
        .arg(&schema)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0)
        .stderr(no_panic());
    assert_contained(&out);
}

#[test]

fn hostile_name_cannot_close_the_dollar_quote() {
    let dir = tmp();
    let change = write(
        dir.path(),
        "change.sql",
        "-- safeshift: backfill = 0\nALTER TABLE t ADD COLUMN \"c$safeshift$; DROP TABLE canary; --\" int NOT NULL;\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .arg("plan")
        .arg(&change)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0)
        .stderr(no_panic());
    assert_contained(&out);
}

// ---------------------------------------------------------------- help, completions, man pages

const COMMANDS: [&str; 11] = [
    "plan",
    "lint",
    "gate",
    "rules",
    "explain",
    "rehearse",
    "apply",
    "status",
    "graph",
    "completions",
    "man",
];

#[test]
fn every_help_lists_its_exit_codes_and_the_command_list_prints_once() {
    for command in COMMANDS {
        let out = safeshift().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.to_lowercase().contains("exit codes"),
            "{command} --help lists no exit codes:\n{text}"
        );
        assert!(!text.contains("{n}"), "{command} --help: {text}");
    }
    let out = safeshift().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("\n  plan ").count(), 1, "{text}");
}

#[test]
fn completions_are_scripts_the_shell_accepts() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = safeshift().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("rehearse"), "{shell}: {script}");
    }
    // bash itself checks the bash script's syntax.
    let dir = tmp();
    let out = safeshift().args(["completions", "bash"]).output().unwrap();
    let script = write(dir.path(), "safeshift.bash", out.stdout);
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
    safeshift()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tcsh"));
}

#[test]
fn man_writes_one_page_per_command() {
    let dir = tmp();
    let out = dir.path().join("man1");
    safeshift()
        .arg("man")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    for page in std::iter::once("safeshift".to_string())
        .chain(COMMANDS.iter().map(|c| format!("safeshift-{c}")))
    {
        let text = fs::read_to_string(out.join(format!("{page}.1"))).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
        assert!(text.contains(&page.replace('-', "\\-")), "{page}: {text}");
    }
    let plan = fs::read_to_string(out.join("safeshift-plan.1")).unwrap();
    assert!(plan.contains("\\-\\-schema"), "{plan}");
    assert!(plan.contains("Exit codes"), "{plan}");
}

#[test]
fn plan_reads_dialect_version_and_schema_from_safeshift_toml() {
    let dir = tmp();
    let mysql = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mysql");
    fs::copy(mysql.join("schema.sql"), dir.path().join("schema.sql")).unwrap();
    write(
        dir.path(),
        "safeshift.toml",
        "dialect = \"mariadb\"\nserver-version = \"10.11\"\nschema = \"schema.sql\"\n",
    );
    let out = dir.path().join("plan");
    safeshift()
        .current_dir(dir.path())
        .arg("plan")
        .arg(mysql.join("change.sql"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("MariaDB 10.11"));
    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(json["dialect"], "mariadb", "{json}");
    assert!(
        out.join("schema.sql").exists(),
        "the schema came from the file"
    );

    // A flag wins over the file; --config names another file.
    let other = write(dir.path(), "other.toml", "dialect = \"postgres\"\n");
    let out = dir.path().join("plan-pg");
    safeshift()
        .current_dir(dir.path())
        .arg("plan")
        .arg(example("change.sql"))
        .arg("--schema")
        .arg(example("schema.sql"))
        .arg("--config")
        .arg(&other)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("PostgreSQL"));
}

#[test]
fn color_is_chosen_by_flag_and_environment() {
    let lint = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = safeshift();
        cmd.args(args)
            .arg("lint")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/migrations"));
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let escape = '\u{1b}';
    assert!(lint(&["--color", "always"], &[]).contains(escape));
    assert!(!lint(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]).contains(escape));
    // Not a terminal: no colour unless forced; NO_COLOR wins over the force.
    assert!(!lint(&[], &[]).contains(escape));
    assert!(lint(&[], &[("CLICOLOR_FORCE", "1")]).contains(escape));
    assert!(!lint(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains(escape));
    // The flag is global: after the command name too.
    let mut cmd = safeshift();
    cmd.args(["lint", "--color", "always"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/migrations"));
    assert!(
        String::from_utf8(cmd.output().unwrap().stdout)
            .unwrap()
            .contains(escape)
    );
}

/// `[apply]` and `[rehearse]` in safeshift.toml are read before anything connects: a bad
/// duration or an unknown key is an input error naming the file, line and column (exit 2).
#[test]
fn apply_and_rehearse_read_their_sections_of_safeshift_toml() {
    let dir = tmp();
    write(
        dir.path(),
        "safeshift.toml",
        "[apply]\nretries = 3\npause = \"soon\"\n",
    );
    safeshift()
        .current_dir(dir.path())
        .args([
            "apply",
            "plan",
            "--stage",
            "1",
            "--database-url",
            "postgres://nowhere.invalid/x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("safeshift.toml:3:1"))
        .stderr(predicate::str::contains("[apply] pause = \"soon\""));
    write(
        dir.path(),
        "safeshift.toml",
        "[rehearse]\nseed-rows = 5\nold_app = \"x.sql\"\n",
    );
    safeshift()
        .current_dir(dir.path())
        .args([
            "rehearse",
            "plan",
            "--database-url",
            "postgres://nowhere.invalid/x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("safeshift.toml:3:1"))
        .stderr(predicate::str::contains("old_app"));
}
