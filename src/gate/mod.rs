//! `safeshift gate`: may a pipeline deploy these migrations by itself? The answer comes from the
//! same assessments as `lint` and `plan`, reduced to one decision:
//!
//! - `none`: no migration: deploy.
//! - `safe`: every statement is online-safe as written: deploy automatically.
//! - `staged`: something needs an expand/contract plan (or a person, for statements safeshift does
//!   not understand): do not deploy automatically; `safeshift plan FILE` shows the safe way.
//! - `destructive`: drops data or breaks the running app version for good: deploy automatically
//!   only inside a configured maintenance window, otherwise blocked until the next one opens.
//!
//! An `-- safeshift: ignore RULE` directive accepts a *staged* risk (the team judged the table
//! small enough); it never makes a destructive change safe.

pub mod window;

use jiff::Timestamp;
use serde::Serialize;

use crate::lint::{Report, rules as lint_rules};
use crate::ops::Risk;
use window::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    None,
    Safe,
    Staged,
    Destructive,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::None => "none",
            Decision::Safe => "safe",
            Decision::Staged => "staged",
            Decision::Destructive => "destructive",
        }
    }
}

/// Exit codes, one per outcome, so a pipeline can branch on `$?`.
pub mod exit {
    pub const NONE: u8 = 0;
    pub const SAFE: u8 = 10;
    pub const STAGED: u8 = 20;
    pub const DESTRUCTIVE_BLOCKED: u8 = 30;
    pub const DESTRUCTIVE_IN_WINDOW: u8 = 31;
}

/// A statement that raised the decision above `safe`.
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    pub decision: Decision,
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub rule: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_command: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WindowState {
    /// The configured windows, as written canonically.
    pub configured: Vec<String>,
    pub open_now: bool,
    /// The window now open, or the next to open: start and end (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_end: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    /// May the pipeline deploy without a person?
    pub deploy: bool,
    pub exit_code: u8,
    pub now: String,
    pub files: Vec<String>,
    pub statements: usize,
    pub reasons: Vec<Reason>,
    pub window: WindowState,
    /// What to do next, in one sentence.
    pub advice: String,
}

/// Reduces a lint report of the new migrations to the deploy decision at time `now`.
pub fn decide(report: &Report, files: Vec<String>, windows: &[Window], now: Timestamp) -> Verdict {
    let mut decision = if report.changes.is_empty() {
        Decision::None
    } else {
        Decision::Safe
    };
    let mut reasons = Vec::new();
    for change in &report.changes {
        let level = match change.risk {
            Risk::Safe => Decision::Safe,
            Risk::Staged | Risk::Unknown if change.suppressed => Decision::Safe,
            Risk::Staged | Risk::Unknown => Decision::Staged,
            Risk::Destructive => Decision::Destructive,
        };
        if level > Decision::Safe {
            let plan_command = report
                .findings
                .iter()
                .find(|f| f.file == change.file && f.line == change.line && f.rule == change.rule)
                .and_then(|f| f.plan_command.clone());
            reasons.push(Reason {
                decision: level,
                file: change.file.clone(),
                line: change.line,
                column: change.column,
                rule: change.rule,
                message: change.why.clone(),
                plan_command,
            });
        }
        decision = decision.max(level);
    }
    // A statement that fails as written cannot ship on its own either, nor one that forces a
    // blocking table copy (MySQL `ALGORITHM=COPY` / `LOCK=SHARED|EXCLUSIVE`).
    for f in report.findings.iter().filter(|f| {
        f.rule == lint_rules::CONCURRENTLY_IN_TRANSACTION.id
            || f.rule == lint_rules::FORCING_TABLE_COPY.id
    }) {
        reasons.push(Reason {
            decision: Decision::Staged,
            file: f.file.clone(),
            line: f.line,
            column: f.column,
            rule: f.rule,
            message: f.message.clone(),
            plan_command: None,
        });
        decision = decision.max(Decision::Staged);
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.decision));

    let open_now = windows.iter().any(|w| w.contains(now));
    let next = window::next_opening(windows, now);
    let window = WindowState {
        configured: windows.iter().map(|w| w.to_string()).collect(),
        open_now,
        next_start: next.map(|(s, _)| s.to_string()),
        next_end: next.map(|(_, e)| e.to_string()),
    };
    let (deploy, exit_code, advice) = match decision {
        Decision::None => (true, exit::NONE, "no migrations: deploy".to_string()),
        Decision::Safe => (
            true,
            exit::SAFE,
            "every statement is online-safe: deploy automatically".to_string(),
        ),
        Decision::Staged => (
            false,
            exit::STAGED,
            "needs an expand/contract rollout: run the `safeshift plan` command below and ship its stages instead"
                .to_string(),
        ),
        Decision::Destructive if open_now => (
            true,
            exit::DESTRUCTIVE_IN_WINDOW,
            "destructive, and the maintenance window is open: deploy now".to_string(),
        ),
        Decision::Destructive => (
            false,
            exit::DESTRUCTIVE_BLOCKED,
            match (&window.next_start, windows.is_empty()) {
                (_, true) => "destructive and no maintenance window is configured ([gate] window in safeshift.toml): a person must deploy it".to_string(),
                (Some(start), false) => format!("destructive: blocked until the next maintenance window opens at {start}"),
                (None, false) => "destructive: blocked; no maintenance window opens in the next week".to_string(),
            },
        ),
    };
    Verdict {
        decision,
        deploy,
        exit_code,
        now: now.to_string(),
        files,
        statements: report.statements,
        reasons,
        window,
        advice,
    }
}

/// For people: the decision first, then why.
pub fn human(verdict: &Verdict) -> String {
    let mut out = format!(
        "safeshift gate: {} — {}\n",
        verdict.decision.as_str(),
        verdict.advice
    );
    let n = verdict.files.len();
    out.push_str(&format!(
        "  checked {n} migration file{} ({} statement{})\n",
        if n == 1 { "" } else { "s" },
        verdict.statements,
        if verdict.statements == 1 { "" } else { "s" }
    ));
    for r in &verdict.reasons {
        out.push_str(&format!(
            "  {:<11} {}:{}:{}  {}: {}\n",
            r.decision.as_str(),
            r.file,
            r.line,
            r.column,
            r.rule,
            r.message
        ));
        if let Some(command) = &r.plan_command {
            out.push_str(&format!("              plan it: {command}\n"));
        }
    }
    if !verdict.window.configured.is_empty() {
        out.push_str(&format!(
            "  maintenance window: {} ({})\n",
            verdict.window.configured.join("; "),
            match (&verdict.window.open_now, &verdict.window.next_start) {
                (true, _) => "open now".to_string(),
                (false, Some(start)) => format!("next opens {start}"),
                (false, None) => "none in the next week".to_string(),
            }
        ));
    }
    out.push_str(&format!(
        "  exit code {} ({}{})\n",
        verdict.exit_code,
        verdict.decision.as_str(),
        if verdict.decision == Decision::Destructive {
            if verdict.deploy {
                ", inside the window"
            } else {
                ", blocked"
            }
        } else {
            ""
        }
    ));
    out
}

/// Migration files added, modified or renamed since `rev` (committed, staged, or not yet added),
/// relative to the current directory.
pub fn changed_since(rev: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let run = |args: &[&str]| -> Result<String, String> {
        let output = std::process::Command::new("git")
            .args(args)
            .output()
            .map_err(|e| format!("could not run git: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    // Fail early and clearly on a revision git does not know.
    run(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| format!("--since {rev}: not a commit git knows here"))?;
    let diff = run(&[
        "diff",
        "--name-only",
        "--relative",
        "--diff-filter=ACMR",
        "-z",
        rev,
        "--",
    ])?;
    let untracked = run(&["ls-files", "--others", "--exclude-standard", "-z"])?;
    Ok(diff
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .collect())
}
