//! The README's first screen must stay true: re-run its first command and compare the output block.

use std::fs;

#[test]
fn readme_output_matches_the_real_run() {
    let readme = fs::read_to_string("README.md").unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -- plan "))
        .expect("README shows the plan command");
    let args: Vec<&str> = command
        .trim_start_matches("cargo run --release -- ")
        .split_whitespace()
        .collect();
    let marker = readme
        .find("<!-- readme-output")
        .expect("README marks its output block");
    let block = &readme[marker..];
    let start = block.find("```text\n").expect("output block") + "```text\n".len();
    let end = block[start..].find("```").expect("closed output block");
    let shown = &block[start..start + end];

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("safeshift-plan");
    let output = assert_cmd::Command::cargo_bin("safeshift")
        .unwrap()
        .args(&args)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let actual = String::from_utf8(output.stdout)
        .unwrap()
        .replace(&out.display().to_string(), "safeshift-plan");
    assert_eq!(
        actual, shown,
        "README output is stale: update it from a real run"
    );

    let up = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("01-"))
        .unwrap();
    let sql = fs::read_to_string(up.join("up.sql")).unwrap();
    let excerpt_start = readme
        .find("```sql\nBEGIN;")
        .expect("README shows stage 1's up.sql")
        + "```sql\n".len();
    let excerpt =
        &readme[excerpt_start..excerpt_start + readme[excerpt_start..].find("```").unwrap()];
    assert!(
        sql.contains(excerpt),
        "README's up.sql excerpt is stale:\n{sql}"
    );
}

#[test]
fn readme_lint_output_matches_the_real_run() {
    let readme = fs::read_to_string("README.md").unwrap();
    let marker = readme
        .find("<!-- readme-lint-output")
        .expect("README marks its lint output block");
    let block = &readme[marker..];
    let start = block.find("```text\n").expect("output block") + "```text\n".len();
    let end = block[start..].find("```").expect("closed output block");
    let shown = &block[start..start + end];
    let output = assert_cmd::Command::cargo_bin("safeshift")
        .unwrap()
        .args(["lint", "examples/migrations"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        shown,
        "README lint output is stale: update it from a real run"
    );
}
