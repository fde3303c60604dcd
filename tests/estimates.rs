//! Duration estimates from `--rows` and `--batch-time`, and the `graph` command, end to end.

use std::fs;

use assert_cmd::Command;

fn plan(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("safeshift")
        .unwrap()
        .args(["plan", "examples/add-required-column/change.sql"])
        .args([
            "--schema",
            "examples/add-required-column/schema.sql",
            "--out",
        ])
        .arg(dir.path().join("plan"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, String::from_utf8(out.stdout).unwrap())
}

#[test]
fn row_counts_give_durations_and_long_stages_are_flagged() {
    let (dir, summary) = plan(&["--rows", "users=20_000_000", "--batch-size", "5000"]);
    // 4,000 batches × 0.1 s (assumed 50,000 rows/s)
    assert!(
        summary.contains("backfill users.email_lower in batches of 5000  (~6m 40s)"),
        "{summary}"
    );
    let md = fs::read_to_string(dir.path().join("plan/PLAN.md")).unwrap();
    assert!(md.contains("## Estimates"), "{md}");
    assert!(
        md.contains("20000000 rows (--rows) = 4000 batches of 5000"),
        "{md}"
    );
    assert!(
        md.contains("assumed 50,000 rows/s"),
        "the assumption is said: {md}"
    );

    let (dir, summary) = plan(&[
        "--rows",
        "users=20000000",
        "--batch-time",
        "300ms",
        "--batch-size",
        "5000",
    ]);
    assert!(summary.contains("(~20m LONG)"), "{summary}");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("plan/plan.json")).unwrap())
            .unwrap();
    let backfill = &json["stages"][1]["estimate"];
    assert_eq!(backfill["seconds"], 1200.0);
    assert_eq!(backfill["long"], true);
    assert!(backfill["basis"].as_str().unwrap().contains("measured"));
}

#[test]
fn unknown_sizes_are_said_not_guessed() {
    let (dir, summary) = plan(&[]);
    assert!(!summary.contains('~'), "{summary}");
    let md = fs::read_to_string(dir.path().join("plan/PLAN.md")).unwrap();
    assert!(
        md.contains("size unknown for users: pass --rows TABLE=N"),
        "{md}"
    );
}

#[test]
fn bad_rows_flag_is_a_usage_error() {
    Command::cargo_bin("safeshift")
        .unwrap()
        .args([
            "plan",
            "examples/add-required-column/change.sql",
            "--rows",
            "users",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("expected TABLE=N"));
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let (dir, _) = plan(&[]);
    let run = |format: &str| {
        let out = Command::cargo_bin("safeshift")
            .unwrap()
            .arg("graph")
            .arg(dir.path().join("plan"))
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let dot = run("dot");
    assert!(dot.starts_with("// safeshift stage graph"), "{dot}");
    assert_eq!(dot.matches(" [label=").count(), 5, "{dot}");
    assert!(
        dot.contains("s4 -> s5;") && dot.contains("s3 -> s5;"),
        "{dot}"
    );
    let mermaid = run("mermaid");
    assert!(mermaid.contains("flowchart LR"));
    assert!(
        mermaid.contains(
            "s3{{\"3. deploy code that writes users.email_lower<br/>migrate · application\"}}"
        ),
        "{mermaid}"
    );
    Command::cargo_bin("safeshift")
        .unwrap()
        .args(["graph", "no-such-plan"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a plan directory"));
}
