//! Output safety of `safeshift plan --out DIR`: an existing output is never touched without
//! `--force`; with it, the old directory is replaced in one step (at no moment is there no plan at
//! DIR, on Linux); a symbolic link is never written through; a failure leaves no temporary
//! `.safeshift-*` directory behind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use assert_cmd::Command;
use tempfile::TempDir;

fn safeshift() -> Command {
    Command::cargo_bin("safeshift").expect("the safeshift binary is built")
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).expect("write test input");
    path
}

/// A change whose plan has a few stages; `column` makes plans tell apart.
fn change(dir: &Path, column: &str) -> PathBuf {
    write(
        dir,
        &format!("{column}.sql"),
        &format!(
            "-- safeshift: backfill = 1\nALTER TABLE users ADD COLUMN {column} int NOT NULL;\n"
        ),
    )
}

fn plan(input: &Path, out: &Path, force: bool) -> std::process::Output {
    let mut cmd = safeshift();
    cmd.arg("plan").arg(input).arg("--out").arg(out);
    if force {
        cmd.arg("--force");
    }
    cmd.output().expect("run safeshift")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file below `dir` with its bytes (symlinks are not followed).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            files.insert(
                entry.path().strip_prefix(dir).unwrap().to_path_buf(),
                fs::read(entry.path()).unwrap(),
            );
        }
    }
    files
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".safeshift"))
        .collect()
}

fn plan_source(out: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("plan.json")).unwrap()).unwrap();
    json["source"].as_str().unwrap_or_default().to_string()
}

#[test]
fn existing_output_is_never_touched_without_force() {
    let dir = TempDir::new().unwrap();
    let first = change(dir.path(), "a");
    let second = change(dir.path(), "b");

    // An existing plan directory, with a file of the user's in it.
    let out = dir.path().join("plan");
    assert_eq!(plan(&first, &out, false).status.code(), Some(0));
    write(&out, "notes.txt", "mine");
    let before = snapshot(&out);
    let output = plan(&second, &out, false);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("already exists"));
    assert!(stderr(&output).contains("--force"));
    assert_eq!(snapshot(&out), before);

    // An existing file, and an empty directory: the same.
    let file = write(dir.path(), "a-file", "precious");
    let output = plan(&second, &file, false);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(fs::read_to_string(&file).unwrap(), "precious");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert_eq!(plan(&second, &empty, false).status.code(), Some(2));
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);

    // --force does not replace a file by a directory either.
    let output = plan(&second, &file, true);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("not a directory"));
    assert_eq!(fs::read_to_string(&file).unwrap(), "precious");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn force_replaces_the_whole_directory_and_leaves_nothing_behind() {
    let dir = TempDir::new().unwrap();
    let first = change(dir.path(), "a");
    let second = change(dir.path(), "b");
    let out = dir.path().join("plan");
    assert_eq!(plan(&first, &out, false).status.code(), Some(0));
    write(&out, "notes.txt", "from the old plan");
    let output = plan(&second, &out, true);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(plan_source(&out), second.display().to_string());
    assert!(!out.join("notes.txt").exists(), "old files survived");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// While `--force` replaces the plan over and over, a reader polling DIR must always find a
/// complete plan. With two renames (old aside, new in) there is a moment with no DIR at all.
#[cfg(target_os = "linux")]
#[test]
fn force_replacement_never_leaves_a_moment_without_a_plan() {
    let dir = TempDir::new().unwrap();
    let inputs = [change(dir.path(), "a"), change(dir.path(), "b")];
    let out = dir.path().join("plan");
    assert_eq!(plan(&inputs[0], &out, false).status.code(), Some(0));

    let stop = Arc::new(AtomicBool::new(false));
    let (missing, looks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let watcher = {
        let (stop, missing, looks, out) =
            (stop.clone(), missing.clone(), looks.clone(), out.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // plan.json is the file every tool reads first.
                if fs::metadata(out.join("plan.json")).is_err() {
                    missing.fetch_add(1, Ordering::Relaxed);
                }
                looks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for round in 0..30 {
        let output = plan(&inputs[round % 2], &out, true);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        looks.load(Ordering::Relaxed) > 100,
        "the watcher barely ran"
    );
    assert_eq!(
        missing.load(Ordering::Relaxed),
        0,
        "DIR was missing {} of {} looks",
        missing.load(Ordering::Relaxed),
        looks.load(Ordering::Relaxed)
    );
    assert_eq!(plan_source(&out), inputs[1].display().to_string());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_never_written_through() {
    let dir = TempDir::new().unwrap();
    let input = change(dir.path(), "a");
    let target = dir.path().join("target");
    fs::create_dir(&target).unwrap();
    write(&target, "keep.txt", "precious");
    let file_target = write(dir.path(), "file-target", "precious too");
    let before = snapshot(&target);
    let links = [
        ("to a directory", target.clone()),
        ("to a file", file_target.clone()),
        ("dangling", dir.path().join("nowhere")),
    ];
    for (what, points_to) in &links {
        let link = dir.path().join(format!("link {what}"));
        std::os::unix::fs::symlink(points_to, &link).unwrap();
        for force in [false, true] {
            let output = plan(&input, &link, force);
            assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
            assert!(stderr(&output).contains("symbolic link"), "{what}");
            assert!(fs::symlink_metadata(&link).unwrap().is_symlink(), "{what}");
            assert_eq!(&fs::read_link(&link).unwrap(), points_to, "{what}");
        }
    }
    assert_eq!(snapshot(&target), before);
    assert_eq!(fs::read_to_string(&file_target).unwrap(), "precious too");
    assert!(!dir.path().join("nowhere").exists());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// A failure after the plan was staged (here the final rename: the name is longer than a file
/// name may be) removes the staging directory.
#[test]
fn a_failed_write_leaves_no_temporary_directory() {
    let dir = TempDir::new().unwrap();
    let input = change(dir.path(), "a");
    let out = dir.path().join("p".repeat(300));
    let output = plan(&input, &out, false);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());

    // And with --force over an existing plan whose replacement cannot be written (its parent
    // is a file): the old plan stays as it was.
    let good = dir.path().join("plan");
    assert_eq!(plan(&input, &good, false).status.code(), Some(0));
    let before = snapshot(&good);
    let blocked = write(dir.path(), "not-a-dir", "x").join("plan");
    let output = plan(&input, &blocked, true);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "{}",
        stderr(&output)
    );
    assert_eq!(snapshot(&good), before);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}
