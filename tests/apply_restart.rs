//! `safeshift apply` across a server restart, on a throwaway PostgreSQL this test starts itself
//! (initdb into a temporary directory, its own port; never the shared server): the stage's
//! session is lost, apply exits 4 (not 2, the usage code), connects again to record how the
//! stage ended instead of leaving the history at `running`, and the same command then resumes
//! the backfill.
//!
//! Needs PostgreSQL's server binaries: `SAFESHIFT_PG_BIN` (the directory holding initdb, pg_ctl
//! and postgres), else /usr/lib/postgresql/15/bin. Run as root, the server runs as the user
//! `SAFESHIFT_PG_MAJORS_USER` (default safeshift-pg, as `scripts/pg-majors user` creates). Skipped
//! when either is missing, except in CI (`CI=true`), where that is a failure.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// Locally a missing prerequisite skips the test, saying why; in CI it fails it.
fn skip(why: &str) -> Option<Throwaway> {
    let ci =
        std::env::var("CI").is_ok_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"));
    assert!(!ci, "CI=true and {why}");
    eprintln!("skipped: {why}");
    None
}

struct Throwaway {
    bin: PathBuf,
    data: PathBuf,
    user: Option<String>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Throwaway {
    fn start() -> Option<Throwaway> {
        let bin = std::env::var("SAFESHIFT_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("/usr/lib/postgresql/15/bin"));
        if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
            return skip(&format!(
                "no PostgreSQL server binaries in {}",
                bin.display()
            ));
        }
        let root = Process::new("id").arg("-u").output().ok()?;
        let user = if String::from_utf8_lossy(&root.stdout).trim() == "0" {
            let name = std::env::var("SAFESHIFT_PG_MAJORS_USER")
                .unwrap_or_else(|_| "safeshift-pg".to_string());
            let exists = Process::new("id").arg("-u").arg(&name).output().ok()?;
            if !exists.status.success() {
                return skip(&format!(
                    "running as root and there is no user {name} to run a server as (scripts/pg-majors user creates it)"
                ));
            }
            Some(name)
        } else {
            None
        };
        let dir = tempfile::tempdir().ok()?;
        let data = dir.path().join("data");
        if let Some(user) = &user {
            let _ = Process::new("chmod").arg("755").arg(dir.path()).status();
            let _ = Process::new("chown").arg(user).arg(dir.path()).status();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let server = Throwaway {
            bin,
            data,
            user,
            port,
            _dir: dir,
        };
        let initdb = server
            .run("initdb")
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        assert!(initdb.success(), "initdb failed");
        server.pg_ctl("start");
        Some(server)
    }

    /// A command for one of the server's programs, run as the server's user.
    fn run(&self, program: &str) -> Process {
        let path = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut cmd = Process::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Process::new(path),
        }
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data.display()
        );
        let status = self
            .run("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-m", "fast", "-w", "-t", "60", action])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action} failed");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self
            .run("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn safeshift() -> Command {
    let mut cmd = Command::cargo_bin("safeshift").unwrap();
    cmd.env_remove("DATABASE_URL");
    cmd
}

fn value(url: &str, sql: &str) -> String {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let rows = client.simple_query(sql).unwrap();
    rows.iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

fn state(dir: &Path, url: &str, stage: usize) -> serde_json::Value {
    let out = safeshift()
        .arg("status")
        .arg(dir.join("plan"))
        .args(["--database-url", url, "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["stages"][stage - 1].clone()
}

#[test]
fn a_server_restart_during_a_backfill_exits_4_is_recorded_and_resumes() {
    let Some(server) = Throwaway::start() else {
        return;
    };
    let url = server.url();
    let schema = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);";
    value(&url, schema);
    value(
        &url,
        "INSERT INTO users SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, 3000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("schema.sql"), schema).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "-- safeshift: backfill = lower(email)\nALTER TABLE users ADD COLUMN email_lower text NOT NULL;\n",
    )
    .unwrap();
    safeshift()
        .current_dir(dir.path())
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args([
            "--server-version",
            "15",
            "--batch-size",
            "100",
            "--out",
            "plan",
        ])
        .assert()
        .success();
    let apply = |stage: &str, extra: &[&str]| {
        safeshift()
            .arg("apply")
            .arg(dir.path().join("plan"))
            .args(["--stage", stage, "--database-url", &url])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(apply("1", &[]).status.success());
    let backfill = state(dir.path(), &url, 2);
    assert_eq!(backfill["kind"], "backfill", "{backfill}");

    let bin = assert_cmd::cargo::cargo_bin("safeshift");
    let child = Process::new(bin)
        .arg("apply")
        .arg(dir.path().join("plan"))
        .args(["--stage", "2", "--database-url", &url, "--pause", "200ms"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let restarted = Instant::now();
    server.pg_ctl("restart");
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(text.contains("connection to the server was lost"), "{text}");
    assert!(text.contains("connecting again"), "{text}");
    assert!(restarted.elapsed() < Duration::from_secs(60), "{text}");
    let after = state(dir.path(), &url, 2);
    assert_eq!(after["state"], "failed", "{after}");
    assert!(
        after["record"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("connection"),
        "{after}"
    );
    let left: i64 = value(&url, "SELECT count(*) FROM users WHERE email_lower IS NULL")
        .parse()
        .unwrap();
    assert!(left > 0 && left < 3000, "{left} rows left");

    let again = apply("2", &[]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{text}");
    assert_eq!(
        value(&url, "SELECT count(*) FROM users WHERE email_lower IS NULL"),
        "0"
    );
    assert_eq!(state(dir.path(), &url, 2)["state"], "done");
}
