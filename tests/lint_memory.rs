//! A 50 MB migration lints in bounded memory: the file is read in chunks, each statement is let
//! go once it is checked, and findings are written as they are found. (Speed is measured by
//! `scripts/compare-squawk` and `scripts/bench-input`, never here: a timed test is a flaky test.)

#![cfg(target_os = "linux")]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The peak resident memory a linter may reach on the 50 MiB file: less than the file itself, so
/// keeping the text (or every statement's AST) cannot pass.
const BOUND_KIB: u64 = 48 * 1024;

/// The process's peak resident set so far (`VmHWM`), in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_50_mb_file_lints_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001_big.sql");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // Statements with findings (streamed, not kept), over 500 tables (the catalog stays small),
    // each after a long comment so the bytes are many and the test quick in a debug build.
    let comment = format!(
        "-- {}\n",
        "a long line of prose between statements. ".repeat(100)
    );
    let mut written = 0;
    let mut i = 0;
    writeln!(file, "SET lock_timeout = '2s';").unwrap();
    while written < 50 * 1024 * 1024 {
        let table = i % 500;
        let statement = match i % 4 {
            0 => format!("ALTER TABLE t{table} ALTER COLUMN c TYPE bigint;\n"),
            1 => {
                format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS t{table}_c_idx ON t{table} (c);\n")
            }
            2 => format!("ALTER TABLE t{table} ALTER COLUMN c SET DEFAULT {i};\n"),
            _ => format!(
                "ALTER TABLE t{table} ADD CONSTRAINT t{table}_c_check CHECK (c > 0) NOT VALID;\n"
            ),
        };
        file.write_all(comment.as_bytes()).unwrap();
        file.write_all(statement.as_bytes()).unwrap();
        written += comment.len() + statement.len();
        i += 1;
    }
    file.flush().unwrap();
    drop(file);
    let config = dir.path().join("safeshift.toml");
    std::fs::write(&config, "").unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_safeshift"))
        .arg("lint")
        .arg(&path)
        .args(["--format", "json", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "lint failed: {status:?}\n{stderr}"
    );
    assert!(peak > 0, "could not read the linter's VmHWM");
    assert!(
        peak < BOUND_KIB,
        "linting {} statements in {} MiB peaked at {} MiB (bound: {} MiB)",
        i,
        written / (1024 * 1024),
        peak / 1024,
        BOUND_KIB / 1024
    );
}
