//! A baseline: the findings a team accepted when it adopted safeshift on an existing history.
//! `lint --write-baseline FILE` records every current finding; `lint --baseline FILE` (or
//! `baseline = "…"` in safeshift.toml) reports only findings that are not in it.
//!
//! A finding is matched by its file (as named on the command line), its rule and a fingerprint
//! of its statement (the text with whitespace collapsed), never by line: editing a file above a
//! statement does not bring its accepted findings back, changing the statement does. Each entry
//! accepts one finding, so a second identical statement in the same file is still reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Finding;
use crate::error::Error;

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    /// What wrote it (always "safeshift").
    tool: String,
    version: u32,
    findings: Vec<Entry>,
}

/// One accepted finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub file: String,
    pub rule: String,
    pub fingerprint: String,
    /// Where it was when accepted, and what it said: for people reading the file.
    pub line: u64,
    pub message: String,
}

impl Entry {
    pub fn of(finding: &Finding) -> Entry {
        Entry {
            file: finding.file.clone(),
            rule: finding.rule.to_string(),
            fingerprint: finding.fingerprint.clone(),
            line: finding.line,
            message: finding.message.clone(),
        }
    }
}

type Key = (String, String, String);

/// The accepted findings not yet matched in this run.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    remaining: HashMap<Key, usize>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = parse(&text).map_err(|e| Error::Input {
            file: path.display().to_string(),
            line: e.line().max(1) as u64,
            column: e.column().max(1) as u64,
            message: format!("not a safeshift baseline: {e}"),
            help: Some("write one with `safeshift lint PATHS --write-baseline FILE`".to_string()),
        })?;
        let mut remaining = HashMap::new();
        for e in file.findings {
            *remaining
                .entry((e.file, e.rule, e.fingerprint))
                .or_default() += 1;
        }
        Ok(Baseline { remaining })
    }

    /// Whether the baseline accepts `finding` (each entry accepts one finding).
    pub fn accepts(&mut self, finding: &Finding) -> bool {
        let key = (
            finding.file.clone(),
            finding.rule.to_string(),
            finding.fingerprint.clone(),
        );
        match self.remaining.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Accepted findings that no longer occur (fixed, or their statement changed).
    pub fn unmatched(&self) -> usize {
        self.remaining.values().sum()
    }
}

fn parse(text: &str) -> Result<BaselineFile, serde_json::Error> {
    let file: BaselineFile = serde_json::from_str(text)?;
    if file.tool != "safeshift" || file.version != VERSION {
        return Err(serde::de::Error::custom(format!(
            "expected tool \"safeshift\", version {VERSION}"
        )));
    }
    Ok(file)
}

/// The fingerprint of a statement: its text with runs of whitespace collapsed, hashed.
pub fn fingerprint(statement: &str) -> String {
    let mut hasher = Sha256::new();
    for (i, word) in statement.split_whitespace().enumerate() {
        if i > 0 {
            hasher.update(b" ");
        }
        hasher.update(word.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the baseline to `path` in one step (a temporary sibling renamed over it). An existing
/// file is replaced only if it is a safeshift baseline: updating one is the point, clobbering
/// anything else is not.
pub fn write(path: &Path, entries: Vec<Entry>) -> Result<(), Error> {
    if path.exists() {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if parse(&current).is_err() {
            return Err(Error::OutputExists(path.to_path_buf()));
        }
    }
    let file = BaselineFile {
        tool: "safeshift".into(),
        version: VERSION,
        findings: entries,
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })? + "\n";
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_error = |e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".safeshift-baseline")
        .tempfile_in(&dir)
        .map_err(write_error)?;
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(write_error)?;
    temp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_layout_but_not_content() {
        assert_eq!(
            fingerprint("CREATE INDEX i\n  ON t (c)"),
            fingerprint("CREATE   INDEX i ON t (c)")
        );
        assert_ne!(
            fingerprint("CREATE INDEX i ON t (c)"),
            fingerprint("CREATE INDEX i ON t (d)")
        );
    }
}
