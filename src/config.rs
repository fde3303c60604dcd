//! `safeshift.toml`: a team's settings for every command, found by walking up from the current
//! directory (or named with `--config`). Command-line flags win over the file.
//!
//! ```toml
//! dialect = "postgres"              # or "mysql", "mariadb"
//! server-version = "15"
//! fail-on = "warning"
//! schema = "db/schema.sql"          # relative to this file
//! migration-tool = "dbmate"         # or golang-migrate, sqlx, flyway, none [default: guessed per file]
//! baseline = ".safeshift-baseline.json"   # accepted findings (`lint --write-baseline`)
//! exclude = ["db/migrations/legacy/**"]   # read for their schema, never reported
//!
//! [rules]
//! disable = ["renaming-table"]
//! severity = { non-concurrent-index-drop = "error" }
//!
//! [gate]
//! window = "Sat 02:00-05:00 UTC"    # or a list of windows
//!
//! [apply]                           # defaults for `safeshift apply`'s flags of the same names
//! lock-timeout = "2s"
//! retries = 10
//! retry-delay = "200ms"
//! max-retry-delay = "30s"
//! batch-size = 5000
//! pause = "50ms"
//! target-batch-time = "200ms"
//! max-replica-lag = "5s"
//! max-app-lock-wait = "1s"          # or "off"
//! max-pause = "10m"                 # or "off"
//! max-wal-rate = "20MB"             # PostgreSQL; bytes a second, or "off"
//! vacuum-pause = true               # PostgreSQL
//! parallel-workers = 0              # PostgreSQL
//! replica-urls = ["mysql://monitor@replica1:3306/app"]   # MySQL/MariaDB
//!
//! [rehearse]                        # defaults for `safeshift rehearse`'s flags
//! seed-rows = 10000
//! max-wait = "1s"
//! window = "1s"
//! old-app = "db/old-app.sql"        # relative to this file
//! new-app = "db/new-app.sql"
//! ```
//!
//! `plan` reads `dialect`, `server-version` and `schema`; `rehearse` reads `[rehearse]` (its schema
//! is the plan's own); `apply` reads `[apply]`; `lint` and `gate` read the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;
use crate::gate::window::Window;
use crate::rules::{self, Severity};

pub const FILE_NAME: &str = "safeshift.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub dialect: Option<crate::dialect::Engine>,
    pub server_version: Option<String>,
    pub fail_on: Option<Severity>,
    pub schema: Option<PathBuf>,
    pub migration_tool: Option<crate::lint::tools::Tool>,
    pub baseline: Option<PathBuf>,
    /// Globs (relative to this file) of migration files read only for their schema.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub gate: GateConfig,
    #[serde(default)]
    pub apply: ApplyConfig,
    #[serde(default)]
    pub rehearse: RehearseConfig,
}

/// `[apply]`: durations as `safeshift apply` takes them (`2s`, `200ms`, `1m`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ApplyConfig {
    pub lock_timeout: Option<String>,
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    pub max_retry_delay: Option<String>,
    pub batch_size: Option<u64>,
    pub pause: Option<String>,
    pub target_batch_time: Option<String>,
    pub max_replica_lag: Option<String>,
    pub max_app_lock_wait: Option<String>,
    pub max_pause: Option<String>,
    pub max_wal_rate: Option<String>,
    pub vacuum_pause: Option<bool>,
    pub parallel_workers: Option<u32>,
    #[serde(default)]
    pub replica_urls: Vec<String>,
}

/// `[rehearse]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RehearseConfig {
    pub seed_rows: Option<u64>,
    pub max_wait: Option<String>,
    pub window: Option<String>,
    pub old_app: Option<PathBuf>,
    pub new_app: Option<PathBuf>,
}

/// `[apply]` and `[rehearse]` with their durations read.
#[derive(Debug, Default)]
pub struct Durations {
    pub lock_timeout: Option<Duration>,
    pub retry_delay: Option<Duration>,
    pub max_retry_delay: Option<Duration>,
    pub pause: Option<Duration>,
    pub target_batch_time: Option<Duration>,
    pub max_replica_lag: Option<Duration>,
    /// `Duration::ZERO` for `off`.
    pub max_app_lock_wait: Option<Duration>,
    /// `Duration::ZERO` for `off`.
    pub max_pause: Option<Duration>,
    /// Bytes a second; 0 for `off`.
    pub max_wal_rate: Option<u64>,
    pub max_wait: Option<Duration>,
    pub window: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    #[serde(default)]
    pub disable: Vec<String>,
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    #[serde(default)]
    pub window: Windows,
}

/// One window or several.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Windows {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

/// A loaded config and where it came from (relative paths in it are relative to its directory).
#[derive(Debug, Default)]
pub struct Loaded {
    pub path: Option<PathBuf>,
    pub config: Config,
    pub windows: Vec<Window>,
    pub exclude: Option<globset::GlobSet>,
    /// The durations of `[apply]` and `[rehearse]`, read.
    pub durations: Durations,
}

impl Loaded {
    /// The directory relative paths in the file are relative to.
    fn base(&self) -> Option<&Path> {
        self.path
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|d| !d.as_os_str().is_empty())
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        match self.base() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// `schema` from the file, resolved against the file's directory.
    pub fn schema(&self) -> Option<PathBuf> {
        self.config.schema.as_deref().map(|p| self.resolve(p))
    }

    /// `[rehearse] old-app` and `new-app`, resolved against the file's directory.
    pub fn old_app(&self) -> Option<PathBuf> {
        self.config
            .rehearse
            .old_app
            .as_deref()
            .map(|p| self.resolve(p))
    }

    pub fn new_app(&self) -> Option<PathBuf> {
        self.config
            .rehearse
            .new_app
            .as_deref()
            .map(|p| self.resolve(p))
    }

    /// `baseline` from the file, resolved against the file's directory.
    pub fn baseline(&self) -> Option<PathBuf> {
        self.config.baseline.as_deref().map(|p| self.resolve(p))
    }

    /// Whether `exclude` names this migration file (its path relative to the config's directory).
    pub fn excludes(&self, path: &Path) -> bool {
        let Some(set) = &self.exclude else {
            return false;
        };
        let base = self
            .base()
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok());
        let relative = base.and_then(|base| {
            let base = base.canonicalize().ok()?;
            let path = path.canonicalize().ok()?;
            path.strip_prefix(base).ok().map(Path::to_path_buf)
        });
        set.is_match(relative.as_deref().unwrap_or(path))
    }
}

/// Loads `explicit`, or the nearest `safeshift.toml` from the current directory up, or nothing.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, Error> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => discover(),
    };
    let Some(path) = path else {
        return Ok(Loaded::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let file = path.display().to_string();
    let config: Config = toml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_column(&text, span.start))
            .unwrap_or((1, 1));
        Error::Input {
            file: file.clone(),
            line,
            column,
            message: e.message().to_string(),
            help: Some(
                "keys: dialect, server-version, fail-on, schema, migration-tool, baseline, exclude, [rules] disable/severity, [gate] window, [apply] lock-timeout/retries/retry-delay/max-retry-delay/batch-size/pause/target-batch-time/max-replica-lag/max-app-lock-wait/max-pause/max-wal-rate/vacuum-pause/parallel-workers/replica-urls, [rehearse] seed-rows/max-wait/window/old-app/new-app; see `safeshift lint --help`"
                    .into(),
            ),
        }
    })?;
    validate_rules(&file, &text, &config)?;
    let texts = match &config.gate.window {
        Windows::None => Vec::new(),
        Windows::One(w) => vec![w.clone()],
        Windows::Many(ws) => ws.clone(),
    };
    let windows = texts
        .iter()
        .map(|w| {
            w.parse::<Window>().map_err(|e| {
                let (line, column) = find(&text, w);
                Error::Input {
                    file: file.clone(),
                    line,
                    column,
                    message: format!("[gate] window {w:?}: {e}"),
                    help: None,
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let exclude = if config.exclude.is_empty() {
        None
    } else {
        let mut set = globset::GlobSetBuilder::new();
        for pattern in &config.exclude {
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    let (line, column) = find(&text, pattern);
                    Error::Input {
                        file: file.clone(),
                        line,
                        column,
                        message: format!("exclude {pattern:?}: {e}"),
                        help: Some(
                            "a glob relative to this file, such as \"db/migrations/legacy/**\""
                                .into(),
                        ),
                    }
                })?;
            set.add(glob);
        }
        Some(
            set.build()
                .map_err(|e| Error::Usage(format!("{file}: exclude: {e}")))?,
        )
    };
    let duration =
        |section: &str, key: &str, value: &Option<String>| -> Result<Option<Duration>, Error> {
            let Some(value) = value else {
                return Ok(None);
            };
            crate::cli::parse_duration(value).map(Some).map_err(|e| {
                let (line, column) = find(&text, key);
                Error::Input {
                    file: file.clone(),
                    line,
                    column,
                    message: format!("[{section}] {key} = {value:?}: {e}"),
                    help: Some("a duration such as \"2s\", \"200ms\" or \"1m\"".into()),
                }
            })
        };
    let read = |key: &str,
                value: &Option<String>,
                parse: fn(&str) -> Result<u64, String>,
                help: &str|
     -> Result<Option<u64>, Error> {
        let Some(value) = value else {
            return Ok(None);
        };
        parse(value).map(Some).map_err(|e| {
            let (line, column) = find(&text, key);
            Error::Input {
                file: file.clone(),
                line,
                column,
                message: format!("[apply] {key} = {value:?}: {e}"),
                help: Some(help.into()),
            }
        })
    };
    let (a, r) = (&config.apply, &config.rehearse);
    let durations = Durations {
        max_app_lock_wait: read(
            "max-app-lock-wait",
            &a.max_app_lock_wait,
            |v| crate::apply::throttle::parse_limit(v).map(|d| d.as_millis() as u64),
            "a duration such as \"1s\" or \"500ms\", or \"off\"",
        )?
        .map(Duration::from_millis),
        max_pause: read(
            "max-pause",
            &a.max_pause,
            |v| crate::apply::throttle::parse_limit(v).map(|d| d.as_millis() as u64),
            "a duration such as \"10m\" or \"30s\", or \"off\"",
        )?
        .map(Duration::from_millis),
        max_wal_rate: read(
            "max-wal-rate",
            &a.max_wal_rate,
            crate::apply::throttle::parse_rate,
            "bytes a second such as \"20MB\" or \"512kB\", or \"off\"",
        )?,
        lock_timeout: duration("apply", "lock-timeout", &a.lock_timeout)?,
        retry_delay: duration("apply", "retry-delay", &a.retry_delay)?,
        max_retry_delay: duration("apply", "max-retry-delay", &a.max_retry_delay)?,
        pause: duration("apply", "pause", &a.pause)?,
        target_batch_time: duration("apply", "target-batch-time", &a.target_batch_time)?,
        max_replica_lag: duration("apply", "max-replica-lag", &a.max_replica_lag)?,
        max_wait: duration("rehearse", "max-wait", &r.max_wait)?,
        window: duration("rehearse", "window", &r.window)?,
    };
    Ok(Loaded {
        path: Some(path),
        config,
        windows,
        exclude,
        durations,
    })
}

fn discover() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// Rule ids are checked, so a typo does not silently leave a rule on.
fn validate_rules(file: &str, text: &str, config: &Config) -> Result<(), Error> {
    let named = config
        .rules
        .disable
        .iter()
        .chain(config.rules.severity.keys());
    for id in named {
        if rules::find(id).is_none() {
            let (line, column) = find(text, id);
            let similar = rules::similar(id);
            return Err(Error::Input {
                file: file.to_string(),
                line,
                column,
                message: format!("unknown rule `{id}`"),
                help: Some(if similar.is_empty() {
                    "`safeshift rules` lists every rule".to_string()
                } else {
                    format!("did you mean {}?", similar.join(", "))
                }),
            });
        }
    }
    Ok(())
}

/// Where `needle` first appears, for pointing at a bad value.
fn find(text: &str, needle: &str) -> (u64, u64) {
    text.find(needle)
        .map(|at| line_column(text, at))
        .unwrap_or((1, 1))
}

fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() as u64 + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0) as u64
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_keys_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "[apply]\nmax-app-lock-wait = \"off\"\nmax-pause = \"90s\"\nmax-wal-rate = \"20MB\"\nvacuum-pause = false\nreplica-urls = [\"mysql://r@h/app\"]\n",
        )
        .unwrap();
        let loaded = load(Some(&path)).unwrap();
        assert_eq!(loaded.durations.max_app_lock_wait, Some(Duration::ZERO));
        assert_eq!(loaded.durations.max_pause, Some(Duration::from_secs(90)));
        assert_eq!(loaded.durations.max_wal_rate, Some(20 * 1024 * 1024));
        assert_eq!(loaded.config.apply.vacuum_pause, Some(false));
        assert_eq!(loaded.config.apply.replica_urls, ["mysql://r@h/app"]);
        std::fs::write(&path, "[apply]\nmax-wal-rate = \"lots\"\n").unwrap();
        let error = load(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("max-wal-rate"), "{error}");
        std::fs::write(&path, "[apply]\nmax-pause = \"off\"\n").unwrap();
        let loaded = load(Some(&path)).unwrap();
        assert_eq!(loaded.durations.max_pause, Some(Duration::ZERO));
        std::fs::write(&path, "[apply]\nmax-pause = \"forever\"\n").unwrap();
        let error = load(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("max-pause"), "{error}");
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("abc", 0), (1, 1));
    }
}
