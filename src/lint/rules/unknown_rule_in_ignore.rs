//! An ignore directive naming a rule safeshift does not have.

use crate::rules::{Rule, Severity};

pub const RULE: Rule = Rule {
    id: "unknown-rule-in-ignore",
    severity: Some(Severity::Warning),
    summary: "an ignore directive naming a rule safeshift does not have",
    why: "A misspelt rule silences nothing: the finding it was meant to accept is still reported, and the directive reads like a reviewed risk when nothing was accepted.",
    safe: "Use a rule id from `safeshift rules` (the finding suggests the closest ones); separate several with commas: `-- safeshift: ignore non-concurrent-index, missing-lock-timeout  reason`.",
    example: "-- safeshift: ignore non-concurrent-indexes\nCREATE INDEX users_email_idx ON users (email);",
    mysql: "",
};
