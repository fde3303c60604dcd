//! The `--online-tool pt-osc` stage for real: the pt-online-schema-change command the plan writes
//! runs against MariaDB while an app keeps inserting and updating, and the table ends with the
//! new column type, every row, and no app error. Needs `pt-online-schema-change` on PATH
//! (Debian's percona-toolkit); skipped without it. gh-ost cannot be installed here: its command
//! keeps the format checks in the planner's tests.

mod support;

use std::fs;
use std::process::Command as Process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use mysql::prelude::Queryable;
use support::mysql::ScratchMysql;

const SCHEMA: &str = "CREATE TABLE users (
  id bigint NOT NULL AUTO_INCREMENT,
  email varchar(200) NOT NULL,
  n int DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
";

/// `mysql://user[:password]@host:port/db` → pt's DSN options `h=…,P=…,u=…[,p=…]`.
fn dsn_of(url: &str) -> String {
    let rest = url.trim_start_matches("mysql://");
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("root", authority));
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    let mut dsn = format!("h={host},P={port},u={user}");
    if let Some(p) = password {
        dsn.push_str(&format!(",p={p}"));
    }
    dsn
}

#[test]
fn the_pt_osc_stage_runs_under_load() {
    let Some(server) = support::mysql::server() else {
        return;
    };
    if Process::new("pt-online-schema-change")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!(
            "skipped: pt-online-schema-change is not installed (apt-get install percona-toolkit)"
        );
        return;
    }
    let db = ScratchMysql::create(&server, "ptosc");
    db.execute(SCHEMA);
    db.execute(
        "INSERT INTO users (email, n)
         WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
           g (n) AS (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + e.n + 1 FROM d a, d b, d c, d e)
         SELECT CONCAT('user', n, '@example.com'), n FROM g;",
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("schema.sql"), SCHEMA).unwrap();
    fs::write(
        dir.path().join("change.sql"),
        "ALTER TABLE users MODIFY COLUMN n bigint;\n",
    )
    .unwrap();
    Command::cargo_bin("safeshift")
        .unwrap()
        .current_dir(dir.path())
        .args(["plan", "change.sql", "--schema", "schema.sql"])
        .args([
            "--dialect",
            "mariadb",
            "--online-tool",
            "pt-osc",
            "--out",
            "plan",
        ])
        .assert()
        .success();
    let plan: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("plan/plan.json")).unwrap()).unwrap();
    let command = plan["stages"][0]["steps"][0]["command"]
        .as_str()
        .expect("a tool stage with its command")
        .to_string();
    assert!(command.starts_with("pt-online-schema-change "), "{command}");

    // The command as an operator runs it: this database, this server, no password prompt.
    let dsn = dsn_of(&db.url());
    let line = command
        .replace("\\\n", " ")
        .replace("$DATABASE", &db.name)
        .replace(" --ask-pass", "")
        .replace(",t=users", &format!(",t=users,{dsn}"));

    // The plan tells the app to retry deadlocks, which the copy's chunks and triggers can cause.
    let checklist = fs::read_dir(dir.path().join("plan"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("CHECKLIST.md"))
        .find(|p| p.is_file())
        .map(|p| fs::read_to_string(p).unwrap())
        .unwrap_or_default();
    assert!(checklist.contains("error 1213"), "{checklist}");

    // The app: inserts and updates all along, retrying a deadlock as the plan tells it to.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let deadlocks = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let app = {
        let (stop, writes, errors) = (stop.clone(), writes.clone(), errors.clone());
        let deadlocks = deadlocks.clone();
        let url = db.url();
        std::thread::spawn(move || {
            let mut conn = safeshift::db::mysql::connect(&url).unwrap();
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let sql = if i.is_multiple_of(2) {
                    format!("INSERT INTO users (email, n) VALUES ('app{i}@example.com', {i})")
                } else {
                    format!("UPDATE users SET n = n + 1 WHERE id = {}", i % 9000 + 1)
                };
                loop {
                    match conn.query_drop(&sql) {
                        Ok(()) => {
                            writes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(e) if safeshift::db::mysql::error_code(&e) == Some(1213) => {
                            deadlocks.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            errors.lock().unwrap().push(e.to_string());
                            break;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let output = Process::new("sh")
        .arg("-c")
        .arg(format!("{line} --no-version-check"))
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    app.join().unwrap();
    let log = format!(
        "{}\n{}\n{}",
        line,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{log}");
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    assert!(writes.load(Ordering::Relaxed) > 50, "the app hardly ran");
    eprintln!(
        "pt-online-schema-change under load: {} app writes, {} deadlock(s) retried",
        writes.load(Ordering::Relaxed),
        deadlocks.load(Ordering::Relaxed)
    );
    assert_eq!(
        db.first_value("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'n'")
            .unwrap_or_default(),
        "bigint"
    );
    let inserted = writes.load(Ordering::Relaxed);
    let rows: u64 = db
        .first_value("SELECT COUNT(*) FROM users")
        .unwrap_or_default()
        .parse()
        .unwrap();
    // Every original row and every insert (about half the writes) is there.
    assert!(
        rows >= 10_000 + inserted / 2 - 1,
        "{rows} rows after {inserted} writes"
    );
    // The old table is kept, as the command says (--no-drop-old-table).
    assert_eq!(
        db.first_value("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_users_old'")
            .unwrap_or_default(),
        "1"
    );
}
