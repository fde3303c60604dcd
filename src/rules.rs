//! Rules: what `lint` reports, `gate` weighs and `explain` prints. Each rule is written once, next
//! to the code that detects it: an op's `RULE` in `src/ops/<kind>.rs` (the "assess" half of the op)
//! or a file-level rule in `src/lint/rules.rs` (transactions, timeouts, syntax).

use serde::{Deserialize, Serialize};

use crate::lint;
use crate::ops;

/// How bad a finding is. `error`: blocks traffic or breaks the running app version; `warning`:
/// risky depending on table size or robustness; `info`: worth a look.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A risky pattern and everything a person needs to understand it.
#[derive(Debug, Serialize)]
pub struct Rule {
    /// kebab-case id, used in findings, `-- safeshift: ignore ID` and `safeshift.toml`.
    pub id: &'static str,
    /// Default severity of a finding; `None` for kinds that are online-safe as written (never
    /// reported, listed so `explain` can say why they are fine).
    pub severity: Option<Severity>,
    /// What it detects, in one line.
    pub summary: &'static str,
    /// Why it hurts: the lock, what waits, how the running app fails.
    pub why: &'static str,
    /// The safe rollout.
    pub safe: &'static str,
    /// The risky statement as a developer would write it.
    pub example: &'static str,
    /// MySQL/MariaDB (InnoDB): what differs there and the safe rollout; empty when the rule
    /// reads the same, or does not apply there.
    pub mysql: &'static str,
}

impl Rule {
    /// The safe rollout on the given engine.
    pub fn safe_for(&self, dialect: crate::dialect::Dialect) -> &'static str {
        if dialect.is_mysql() && !self.mysql.is_empty() {
            self.mysql
        } else {
            self.safe
        }
    }
}

/// Every rule, in the order `safeshift rules` lists them: file-level rules, then one per kind.
pub fn all() -> Vec<&'static Rule> {
    let mut rules: Vec<&'static Rule> = lint::rules::ALL.to_vec();
    rules.extend(ops::RULES.iter().copied());
    rules.extend(lint::rules::MYSQL.iter().copied());
    rules
}

pub fn find(id: &str) -> Option<&'static Rule> {
    all().into_iter().find(|r| r.id == id)
}

/// The closest rule ids to a mistyped one, for "did you mean".
pub fn similar(id: &str) -> Vec<&'static str> {
    let words: Vec<&str> = id.split('-').filter(|w| w.len() > 2).collect();
    let rules = all();
    // Ids that contain the whole text first, then ids sharing a word with it.
    let whole = rules
        .iter()
        .filter(|r| r.id.contains(id) || id.contains(r.id));
    let partial = rules
        .iter()
        .filter(|r| words.iter().any(|w| r.id.contains(w)));
    let mut out: Vec<&'static str> = Vec::new();
    for r in whole.chain(partial) {
        if !out.contains(&r.id) {
            out.push(r.id);
        }
    }
    out.truncate(3);
    out
}

/// A rule's severity as people read it: `safe` for kinds that are never reported.
pub fn severity_label(rule: &Rule) -> &'static str {
    rule.severity.map(Severity::as_str).unwrap_or("safe")
}

/// `safeshift rules`: one line per rule.
pub fn list() -> String {
    let rules = all();
    let width = rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = format!("{:<width$}  {:<8}  detects\n", "rule", "severity");
    for r in rules {
        out.push_str(&format!(
            "{:<width$}  {:<8}  {}\n",
            r.id,
            severity_label(r),
            r.summary
        ));
    }
    out.push_str("\n`safeshift explain RULE` tells one in full; `-- safeshift: ignore RULE` above a statement silences it.\n");
    out
}

/// `safeshift explain RULE`, wrapped for a terminal.
pub fn explain(rule: &Rule) -> String {
    let wrap = |text: &str| {
        let options = textwrap::Options::new(96)
            .initial_indent("  ")
            .subsequent_indent("  ");
        textwrap::fill(text, options)
    };
    let example: String = rule.example.lines().map(|l| format!("  {l}\n")).collect();
    let planned = ops::RULES.iter().any(|r| r.id == rule.id) && !ops::UNPLANNED.contains(&rule.id);
    let plan = if planned && matches!(rule.severity, Some(Severity::Error | Severity::Warning)) {
        "\nPlan it\n  safeshift plan MIGRATION.sql --schema SCHEMA.sql   (writes the staged rollout)\n"
    } else {
        ""
    };
    let mysql = if rule.mysql.is_empty() {
        String::new()
    } else {
        format!("\n\nOn MySQL/MariaDB\n{}", wrap(rule.mysql))
    };
    format!(
        "{} ({})\n{}\n\nWhy it hurts\n{}\n\nSafe rollout\n{}{mysql}\n\nExample\n{example}{plan}",
        rule.id,
        severity_label(rule),
        rule.summary,
        wrap(rule.why),
        wrap(rule.safe),
    )
}

#[derive(askama::Template)]
#[template(path = "rules.md", escape = "none")]
struct RulesMarkdown {
    rules: Vec<RuleView>,
}

struct RuleView {
    id: &'static str,
    severity: &'static str,
    summary: String,
    why: &'static str,
    safe: &'static str,
    example: &'static str,
    mysql: &'static str,
}

/// The rule reference as Markdown (`docs/rules.md` is this output).
pub fn markdown() -> String {
    let rules = all()
        .into_iter()
        .map(|r| RuleView {
            id: r.id,
            severity: severity_label(r),
            summary: r.summary.replace('|', "\\|"),
            why: r.why,
            safe: r.safe,
            example: r.example,
            mysql: r.mysql,
        })
        .collect();
    askama::Template::render(&RulesMarkdown { rules }).unwrap_or_default()
}
