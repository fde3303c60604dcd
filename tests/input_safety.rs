//! Input safety: whatever bytes or paths `plan`, `lint` and `gate` are handed, they answer with a
//! clear message (file, and line and column where there is one) and the documented exit code,
//! never a panic or a stack trace, and `plan` writes nothing.
//!
//! The 50 MB input is measured by `scripts/bench-input`, not here: a timed test is a flaky test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).expect("write test input");
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Neither a panic message nor a backtrace hint may reach the user.
fn assert_no_panic(what: &str, output: &Output) {
    for stream in [text(&output.stdout), text(&output.stderr)] {
        assert!(
            !stream.contains("panicked") && !stream.contains("RUST_BACKTRACE"),
            "{what}: panicked:\n{stream}"
        );
    }
    // A panic exits with 101; a signal has no code at all.
    assert!(
        matches!(output.status.code(), Some(0..=3)),
        "{what}: exit status {:?}",
        output.status
    );
}

fn no_temp_dirs(dir: &Path) {
    let left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".safeshift"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Files a user (or an accident) can hand to safeshift, and what `plan` must say about each.
fn hostile_inputs(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let a_dir = dir.join("a-directory.sql");
    fs::create_dir(&a_dir).unwrap();
    let mut garbage = Vec::new();
    // Deterministic "random" bytes: the same run every time.
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }
    vec![
        (
            "empty",
            write(dir, "empty.sql", ""),
            "no schema change found",
        ),
        (
            "only comments",
            write(
                dir,
                "comments.sql",
                "-- a comment\n/* a block\n   comment */\n-- safeshift: backfill = 1\n\n",
            ),
            "no schema change found",
        ),
        (
            "only semicolons and blanks",
            write(dir, "semicolons.sql", " ;;\n ; \t;\r\n"),
            "no schema change found",
        ),
        (
            "binary garbage",
            write(dir, "garbage.sql", &garbage),
            "not valid UTF-8",
        ),
        (
            "invalid UTF-8 after valid text",
            write(
                dir,
                "latin1.sql",
                b"ALTER TABLE users\n  ADD COLUMN caf\xe9 int;\n",
            ),
            "latin1.sql:2:17: not valid UTF-8",
        ),
        (
            "NUL and control characters (valid UTF-8)",
            write(
                dir,
                "controls.sql",
                b"\x00\x01\x02 ALTER \x1b[31m TABLE;\x7f\n",
            ),
            "controls.sql:1:",
        ),
        (
            "unterminated string",
            write(
                dir,
                "unterminated.sql",
                "ALTER TABLE t ADD COLUMN c text DEFAULT 'oops;\n",
            ),
            "unterminated.sql:1:",
        ),
        (
            "unterminated dollar quote",
            write(dir, "dollar.sql", "DO $x$ BEGIN NULL; END;\n"),
            "Unterminated dollar-quoted",
        ),
        (
            "unterminated block comment",
            write(dir, "block.sql", "/* ALTER TABLE t DROP COLUMN c;\n"),
            "multi-line comment",
        ),
        (
            "a syntax error after multibyte text",
            write(
                dir,
                "multibyte.sql",
                "ALTER TABLE «ü» ADD COLUMN ñ int ✓✓;\n",
            ),
            "multibyte.sql:1:",
        ),
        ("missing file", dir.join("missing.sql"), "missing.sql: "),
        ("a directory", a_dir, "is a directory"),
    ]
}

#[test]
fn plan_rejects_every_unusable_input_with_exit_2_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    for (i, (what, input, expect)) in hostile_inputs(dir.path()).into_iter().enumerate() {
        let out = dir.path().join(format!("plan-{i}"));
        let output = safeshift()
            .arg("plan")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_no_panic(what, &output);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(output.stdout.is_empty(), "{what}: printed to stdout");
        assert!(
            stderr.starts_with(&format!("error: {}", input.display())),
            "{what}: does not name the file: {stderr}"
        );
        assert!(stderr.contains(expect), "{what}: {stderr}");
        assert!(!out.exists(), "{what}: wrote {}", out.display());
    }
    no_temp_dirs(dir.path());
}

#[test]
fn schema_file_gets_the_same_checks() {
    let dir = TempDir::new().unwrap();
    let change = write(
        dir.path(),
        "change.sql",
        "ALTER TABLE users ADD COLUMN bio text;\n",
    );
    for (what, input, _) in hostile_inputs(dir.path()) {
        let out = dir.path().join("plan");
        let output = safeshift()
            .arg("plan")
            .arg(&change)
            .arg("--schema")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_no_panic(what, &output);
        let stderr = text(&output.stderr);
        // An empty or comments-only schema is a valid (empty) schema; the rest are errors.
        if output.status.code() == Some(0) {
            assert!(
                matches!(
                    what,
                    "empty" | "only comments" | "only semicolons and blanks"
                ),
                "{what}: accepted as a schema"
            );
            fs::remove_dir_all(&out).unwrap();
            continue;
        }
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {}", input.display())),
            "{what}: does not name the schema file: {stderr}"
        );
        assert!(!out.exists(), "{what}: wrote a plan");
    }
    no_temp_dirs(dir.path());
}

#[test]
fn lint_reports_unreadable_files_with_exit_2_and_bad_sql_as_findings() {
    let dir = TempDir::new().unwrap();
    for (what, input, _) in hostile_inputs(dir.path()) {
        for format in ["human", "json", "sarif", "github"] {
            let output = safeshift()
                .arg("lint")
                .arg(&input)
                .args(["--format", format])
                .output()
                .unwrap();
            assert_no_panic(&format!("{what} ({format})"), &output);
            let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
            match what {
                // Nothing to check is not an error for a linter.
                "empty" | "only comments" | "only semicolons and blanks" => {
                    assert_eq!(output.status.code(), Some(0), "{what}: {stdout}{stderr}")
                }
                "binary garbage" | "invalid UTF-8 after valid text" | "missing file" => {
                    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
                    assert!(stderr.contains(&input.display().to_string()), "{stderr}");
                }
                // A directory is linted as the *.sql files below it: there are none.
                "a directory" => {
                    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
                    assert!(stderr.contains("no .sql files found"), "{stderr}");
                }
                // SQL that does not parse is a finding at its line and column.
                _ => {
                    assert_eq!(output.status.code(), Some(1), "{what}: {stdout}{stderr}");
                    let name = input.file_name().unwrap().to_string_lossy().into_owned();
                    assert!(stdout.contains(&name), "{what} ({format}): {stdout}");
                }
            }
        }
    }
}

#[test]
fn gate_cannot_decide_on_unusable_input_and_says_why() {
    let dir = TempDir::new().unwrap();
    for (what, input, _) in hostile_inputs(dir.path()) {
        let output = safeshift().arg("gate").arg(&input).output().unwrap();
        assert_no_panic(what, &output);
        let code = output.status.code();
        match what {
            "empty" | "only comments" | "only semicolons and blanks" => {
                assert_eq!(code, Some(0), "{what}")
            }
            _ => assert_eq!(code, Some(2), "{what}: {}", text(&output.stderr)),
        }
    }
}

/// Regression: the human lint format marked a syntax error's character by a one-byte range, which
/// ends inside a multibyte character and made the snippet renderer panic.
#[test]
fn syntax_error_on_a_multibyte_character_renders() {
    for sql in [
        "ALTER TABLE t ADD COLUMN c int é;\n",
        "ALTER TABLE t ADD COLUMN c int 🦀🦀;\n",
        "ALTER TABLE t\n  ADD COLUMN c int\n  ∑;\n",
        "  ALTER TABLE ü ADD COLUMN ü int ü;\n",
        "SELECT 1;\nALTER TABLE «t» ADD COLUMN c int ©;\n",
    ] {
        let output = safeshift()
            .args(["lint", "-"])
            .write_stdin(sql)
            .output()
            .unwrap();
        assert_no_panic(sql, &output);
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{sql}: {stdout}");
        assert!(stdout.contains("syntax-error"), "{sql}: {stdout}");
    }
}
