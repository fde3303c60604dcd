//! A plan directory read back from disk, for the commands that act on a written plan (`apply`,
//! `status`, `rehearse`). Only what they need is read; unknown fields are ignored, so a plan
//! written by a newer safeshift still loads.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::plan::BackfillSpec;

#[derive(Clone, Debug, Deserialize)]
pub struct PlanFile {
    pub version: u32,
    #[serde(default)]
    pub dialect: String,
    #[serde(default)]
    pub server_version: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub changes: Vec<ChangeRecord>,
    pub stages: Vec<StageRecord>,
    /// SHA-256 of each stage file as `safeshift plan` wrote it (absent in older plans).
    #[serde(default)]
    pub sha256: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ChangeRecord {
    pub index: usize,
    pub kind: String,
    pub sql: String,
    #[serde(default)]
    pub line: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StageRecord {
    pub index: usize,
    pub name: String,
    pub dir: String,
    pub phase: String,
    pub kind: String,
    pub up: Option<String>,
    pub down: Option<String>,
    pub transactional: bool,
    /// PostgreSQL: the stage commits once per group of steps on the same tables (indexes into
    /// `steps`); empty when it is one transaction or none.
    #[serde(default)]
    pub transactions: Vec<Vec<usize>>,
    #[serde(default = "yes")]
    pub reversible: bool,
    #[serde(default)]
    pub depends_on: Vec<usize>,
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
pub struct StepRecord {
    pub title: String,
    pub kind: String,
    #[serde(default)]
    pub locks: Vec<LockRecord>,
    #[serde(default)]
    pub before: Vec<CheckRecord>,
    #[serde(default)]
    pub verify: Vec<CheckRecord>,
    #[serde(default)]
    pub app: Vec<String>,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub backfill: Option<BackfillSpec>,
    /// The rule id of the change the step comes from (`adding-required-column`, …).
    #[serde(default)]
    pub rule: String,
    /// Index of that change in `changes`.
    #[serde(default)]
    pub change: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LockRecord {
    pub table: String,
    pub mode: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CheckRecord {
    pub what: String,
    pub query: String,
    pub expect: String,
}

impl CheckRecord {
    /// Checks whose "query" is an instruction to a person (`-- check your deploy tool…`).
    pub fn is_manual(&self) -> bool {
        self.query.trim_start().starts_with("--")
    }
}

impl StageRecord {
    pub fn is_application(&self) -> bool {
        self.kind == "application"
    }

    pub fn is_backfill(&self) -> bool {
        self.kind == "backfill"
    }

    /// `apply` walks this stage batch by batch from plan.json's description of each backfill;
    /// otherwise it runs the stage's `up.sql` (a batched data change is its `DO` block, which
    /// keeps its own progress).
    pub fn runs_from_plan_json(&self) -> bool {
        self.is_backfill()
            && !self.steps.is_empty()
            && self.steps.iter().all(|s| s.backfill.is_some())
    }

    /// The application release this stage deploys, if it is a deploy stage.
    pub fn release(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| s.release.as_deref())
    }
}

/// A plan directory on disk.
#[derive(Clone, Debug)]
pub struct PlanDir {
    pub root: PathBuf,
    pub plan: PlanFile,
    /// Identifies this plan in the database's history table: the first 16 hex digits of the
    /// SHA-256 of plan.json's content without what depends on where and by which safeshift it
    /// was planned (`source`, `schema`, `generator`): a different change or plan is a different
    /// plan, the same plan made from another directory is the same.
    pub id: String,
    /// The id older safeshift versions gave the plan (the SHA-256 of plan.json's bytes), so a
    /// history recorded under it is found.
    pub legacy_id: String,
}

impl PlanDir {
    pub fn open(root: &Path) -> Result<PlanDir, Error> {
        let path = root.join("plan.json");
        if !root.is_dir() || !path.is_file() {
            return Err(Error::Usage(format!(
                "{}: not a plan directory (write one with `safeshift plan CHANGE.sql --out DIR`)",
                root.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let plan: PlanFile = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            file: path.display().to_string(),
            line: e.line() as u64,
            column: e.column() as u64,
            message: format!("not a safeshift plan.json: {e}"),
            help: None,
        })?;
        if plan.version != 1 {
            return Err(Error::Usage(format!(
                "{}: plan format version {} is not supported by this safeshift (it reads version 1)",
                path.display(),
                plan.version
            )));
        }
        for (i, stage) in plan.stages.iter().enumerate() {
            if stage.index != i + 1 {
                return Err(Error::Usage(format!(
                    "{}: stage {} is listed at position {}; stages must be numbered 1, 2, … in order",
                    path.display(),
                    stage.index,
                    i + 1
                )));
            }
        }
        let hex = |digest: &[u8]| -> String {
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        };
        let legacy_id = hex(&Sha256::digest(&bytes));
        let mut content: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::Input {
                file: path.display().to_string(),
                line: e.line() as u64,
                column: e.column() as u64,
                message: format!("not a safeshift plan.json: {e}"),
                help: None,
            })?;
        if let Some(object) = content.as_object_mut() {
            for key in ["source", "schema", "generator"] {
                object.remove(key);
            }
        }
        // The same content always serializes the same.
        let id = hex(&Sha256::digest(content.to_string().as_bytes()));
        Ok(PlanDir {
            root: root.to_path_buf(),
            plan,
            id,
            legacy_id,
        })
    }

    /// The stage's files (up.sql, down.sql) whose text is no longer what `safeshift plan`
    /// wrote, each with what changed. Files the plan recorded no digest for are not checked.
    pub fn edited_files(&self, stage: &StageRecord) -> Result<Vec<String>, Error> {
        let mut edited = Vec::new();
        for file in [stage.up.as_deref(), stage.down.as_deref()]
            .into_iter()
            .flatten()
        {
            let Some(expected) = self.plan.sha256.get(file) else {
                continue;
            };
            let text = self.read_sql(file)?;
            let actual = crate::render::sha256_hex(&text);
            if &actual != expected {
                edited.push(format!(
                    "{file} was edited since `safeshift plan` wrote it (sha256 {}…, plan.json says {}…)",
                    &actual[..12.min(actual.len())],
                    &expected[..12.min(expected.len())]
                ));
            }
        }
        Ok(edited)
    }

    /// A plan for MySQL or MariaDB (run through `db::mysql`), not PostgreSQL.
    pub fn is_mysql(&self) -> bool {
        matches!(self.plan.dialect.as_str(), "mysql" | "mariadb")
    }

    pub fn stage(&self, index: usize) -> Option<&StageRecord> {
        index.checked_sub(1).and_then(|i| self.plan.stages.get(i))
    }

    /// Reads one of the stage's files (`up` or `down`), a path relative to the plan root. Paths
    /// that climb out of the plan directory are refused: plan.json is input, not trusted.
    pub fn read_sql(&self, relative: &str) -> Result<String, Error> {
        let rel = Path::new(relative);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(Error::Usage(format!(
                "{}: plan.json points outside the plan directory ({relative})",
                self.root.display()
            )));
        }
        let path = self.root.join(rel);
        fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
    }

    /// The schema the plan was made against: `schema.sql` in the plan directory, else the path
    /// recorded in plan.json (relative to the working directory, as it was given).
    pub fn schema_path(&self) -> Option<PathBuf> {
        let inside = self.root.join("schema.sql");
        if inside.is_file() {
            return Some(inside);
        }
        self.plan
            .schema
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
    }
}
