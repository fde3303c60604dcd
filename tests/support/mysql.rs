//! Real-MariaDB/MySQL test harness: scratch databases and the `mariadb` (or `mysql`) client, the
//! way an operator applies a plan (`mariadb --batch < up.sql`). No client library: every SQL
//! file and query goes through the engine's own command-line client.
//!
//! Configuration:
//! - `SAFESHIFT_TEST_MYSQL`: `mysql://user[:password]@host[:port]/` (default
//!   `mysql://root@127.0.0.1:3306/`); the user must be allowed to create and drop databases.
//! - `CI`: when true, a missing server or client is a failure; locally those tests skip.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{is_ci, say_skipping};

pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where and as whom to connect, from the URL.
#[derive(Clone, Debug)]
pub struct Server {
    host: String,
    port: String,
    user: String,
    password: Option<String>,
    /// `mariadb` or `mysql`, whichever is installed.
    client: String,
}

impl Server {
    fn from_url(url: &str) -> Option<Server> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("root", authority),
        };
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u.to_string(), Some(p.to_string())),
            None => (userinfo.to_string(), None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.to_string()),
            None => (hostport.to_string(), "3306".to_string()),
        };
        let client = ["mariadb", "mysql"]
            .into_iter()
            .find(|c| {
                Command::new(c)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })?
            .to_string();
        Some(Server {
            host,
            port,
            user,
            password,
            client,
        })
    }

    fn command(&self, database: Option<&str>) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.args([
            "--protocol=TCP",
            "-h",
            &self.host,
            "-P",
            &self.port,
            "-u",
            &self.user,
            "--batch",
            "--skip-column-names",
            "--connect-timeout=10",
        ]);
        if let Some(db) = database {
            cmd.arg(db);
        }
        if let Some(p) = &self.password {
            cmd.env("MYSQL_PWD", p);
        }
        cmd
    }

    /// Runs SQL text through the client (stdin), as `mariadb --batch db < file` would.
    pub fn run(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let mut child = self
            .command(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.client))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .map_err(|e| format!("writing to {}: {e}", self.client))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| format!("waiting for {}: {e}", self.client))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{} exited with {}\n{}{stdout}",
                self.client,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// A client session that stays open: statements are written to its stdin as the test goes
    /// (a transaction that holds row locks, an app that keeps writing); its output is flushed
    /// after each statement (`--unbuffered`), so the test can wait for a marker line.
    pub fn session(&self, database: &str) -> std::process::Child {
        self.command(Some(database))
            .arg("--unbuffered")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.client))
    }

    /// A `mysql://` URL for `database`, as safeshift's `--database-url` takes it.
    pub fn url(&self, database: &str) -> String {
        let password = self
            .password
            .as_ref()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!(
            "mysql://{}{password}@{}:{}/{database}",
            self.user, self.host, self.port
        )
    }

    pub fn version(&self) -> String {
        self.run(None, "SELECT VERSION();")
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// The server when one answers; `None` (with a printed reason) when not and not in CI.
pub fn server() -> Option<Server> {
    let url = match std::env::var("SAFESHIFT_TEST_MYSQL") {
        Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => DEFAULT_MYSQL_URL.to_string(),
    };
    let shown = super::redact_url(&url);
    let Some(server) = Server::from_url(&url) else {
        let why = format!(
            "no mariadb/mysql client on PATH, or SAFESHIFT_TEST_MYSQL ({shown}) is not a mysql:// URL"
        );
        if is_ci() {
            panic!("CI=true and {why}");
        }
        say_skipping(&format!("skipping MariaDB tests: {why}"));
        return None;
    };
    match server.run(None, "SELECT 1;") {
        Ok(_) => Some(server),
        Err(e) => {
            if is_ci() {
                panic!("CI=true and MariaDB/MySQL is not reachable at {shown}: {e}");
            }
            say_skipping(&format!(
                "skipping MariaDB tests: not reachable at {shown} ({}); set SAFESHIFT_TEST_MYSQL",
                e.lines().nth(1).unwrap_or(&e)
            ));
            None
        }
    }
}

/// A throwaway database, dropped when this value is dropped.
pub struct ScratchMysql {
    pub name: String,
    pub server: Server,
}

impl ScratchMysql {
    pub fn create(server: &Server, tag: &str) -> ScratchMysql {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000_000)
            .unwrap_or(0);
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let suffix = format!("_{}_{counter}_{nanos}", std::process::id());
        tag.truncate(64 - "sstest_".len() - suffix.len());
        let name = format!("sstest_{tag}{suffix}");
        server
            .run(None, &format!("CREATE DATABASE `{name}`;"))
            .unwrap_or_else(|e| panic!("cannot create scratch database {name}: {e}"));
        ScratchMysql {
            name,
            server: server.clone(),
        }
    }

    /// The URL `safeshift --database-url` takes for this database.
    pub fn url(&self) -> String {
        self.server.url(&self.name)
    }

    /// Runs SQL text (several statements) in this database; panics with the error.
    pub fn execute(&self, sql: &str) -> String {
        self.try_execute(sql)
            .unwrap_or_else(|e| panic!("SQL failed in {}:\n{sql}\n--- error ---\n{e}", self.name))
    }

    pub fn try_execute(&self, sql: &str) -> Result<String, String> {
        self.server.run(Some(&self.name), sql)
    }

    /// `mariadb --batch db < file`, as an operator runs a plan's file.
    pub fn run_file(&self, path: &Path) -> Result<String, String> {
        let sql = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.try_execute(&sql)
            .map_err(|e| format!("{} < {}: {e}", self.server.client, path.display()))
    }

    /// The first column of the first row, as the client prints it (`None` for no rows).
    pub fn first_value(&self, sql: &str) -> Option<String> {
        let out = self.execute(&format!("{};", sql.trim_end_matches(';')));
        out.lines()
            .next()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
    }

    /// A deterministic text snapshot of the schema: each table's SHOW CREATE TABLE (columns in
    /// order; keys and constraints sorted, since an expand/contract plan creates them in another
    /// order than the naive statement; AUTO_INCREMENT counters dropped), views, triggers and
    /// stored routines.
    pub fn catalog(&self) -> String {
        let mut out = String::new();
        let tables = self.execute(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME;",
        );
        for line in tables.lines() {
            let (name, kind) = line.split_once('\t').unwrap_or((line, ""));
            let quoted = format!("`{}`", name.replace('`', "``"));
            if kind == "VIEW" {
                let def = self.execute(&format!(
                    "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{}';",
                    name.replace('\'', "''").replace('\\', "\\\\")
                ));
                out.push_str(&format!("view {name}: {}\n", def.trim()));
                continue;
            }
            let create = self.execute(&format!("SHOW CREATE TABLE {quoted};"));
            let create = create.trim_end_matches('\n');
            let ddl = create.split_once('\t').map(|(_, d)| d).unwrap_or(create);
            // The client prints the DDL's newlines as `\n` (batch mode escapes them).
            out.push_str(&safeshift::db::mysql::table_snapshot(
                name,
                &ddl.replace("\\n", "\n"),
            ));
        }
        out.push_str(&self.execute(
            "SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY BINARY TRIGGER_NAME;",
        ));
        out.push_str(&self.execute(
            "SELECT CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY BINARY ROUTINE_NAME;",
        ));
        out
    }
}

impl Drop for ScratchMysql {
    fn drop(&mut self) {
        let _ = self
            .server
            .run(None, &format!("DROP DATABASE IF EXISTS `{}`;", self.name));
    }
}
