//! An ignore directive that silences nothing.

use crate::rules::{Rule, Severity};

pub const RULE: Rule = Rule {
    id: "unused-ignore",
    severity: Some(Severity::Warning),
    summary: "an `-- safeshift: ignore RULE` (or `ignore-file RULE`) directive that silences nothing",
    why: "The statement under it does not trigger the rule (any more): it was fixed, or the directive names the wrong rule. Left in place, the directive reads like an accepted risk in review and would silently hide the next real finding of that rule.",
    safe: "Delete the directive, or name the rule the statement does trigger (the finding you meant to accept names it).",
    example: "-- safeshift: ignore non-concurrent-index  the table is small\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
    mysql: "",
};
