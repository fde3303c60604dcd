//! Statements safeshift does not plan: passed through as written, in a stage of their own, with a
//! warning. Never dropped silently.

use super::{Assessment, Context, Op, Risk};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "unrecognised-statement",
    severity: Some(Severity::Info),
    summary: "a statement safeshift does not understand",
    why: "safeshift cannot tell which locks it takes or whether the running app survives it, so it says so instead of guessing.",
    safe: "Review its locks and its effect on the running app yourself (PostgreSQL's ALTER TABLE and explicit-locking docs list the lock of each form). `safeshift plan` passes it through in a stage of its own.",
    example: "ALTER TABLE users CLUSTER ON users_pkey;",
    mysql: "Review its algorithm and metadata lock yourself (MySQL's InnoDB online DDL table lists each form): add `ALGORITHM=INSTANT` or `ALGORITHM=INPLACE, LOCK=NONE` so the server refuses rather than copies the table, and set lock_wait_timeout.",
};

#[derive(Clone, Debug)]
pub struct Other {
    pub sql: String,
    pub why: String,
    /// Known to rewrite this table under ACCESS EXCLUSIVE (an identity, serial or stored generated
    /// column): not planned, but not unknown either.
    pub rewrites: Option<QName>,
    /// What the statement makes that later statements of the file see, applied to the catalog
    /// only (never planned: the statement runs as written). An `ADD COLUMN … AUTO_INCREMENT
    /// PRIMARY KEY` passed through still adds its column and its key.
    pub applies: Vec<crate::change::Change>,
    /// `ALTER TABLE t DROP PRIMARY KEY` (MySQL), for the catalog: later statements see t without it.
    pub drops_primary_key: Option<QName>,
}

impl Other {
    pub fn new(sql: &str, why: impl Into<String>) -> Other {
        Other {
            sql: sql.to_string(),
            why: why.into(),
            rewrites: None,
            applies: Vec::new(),
            drops_primary_key: None,
        }
    }

    /// A statement passed through that is known to rewrite `table`, like a volatile default does.
    pub fn rewriting(sql: &str, table: &QName, why: impl Into<String>) -> Other {
        Other {
            rewrites: Some(table.clone()),
            ..Other::new(sql, why)
        }
    }

    /// Statements PostgreSQL refuses to run inside a transaction block.
    /// Found without copying the text: lint asks this of every statement it passes through,
    /// on the thread that checks statements in order, and some are long (function bodies,
    /// data loads).
    fn transactional(&self) -> bool {
        let first = self.sql.split_whitespace().next().unwrap_or_default();
        !(["VACUUM", "REINDEX", "CLUSTER"]
            .iter()
            .any(|k| first.eq_ignore_ascii_case(k))
            || has_word(&self.sql, "CONCURRENTLY"))
    }
}

/// Whether `word` (ASCII) is one of the whitespace-separated words of `text`, in any case.
fn has_word(text: &str, word: &str) -> bool {
    let (bytes, len) = (text.as_bytes(), word.len());
    let Some(&first) = word.as_bytes().first() else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, bytes).any(|at| {
        let (before, after) = (&text[..at], text.get(at + len..));
        bytes[at..].len() >= len
            && bytes[at..at + len].eq_ignore_ascii_case(word.as_bytes())
            && before.chars().next_back().is_none_or(char::is_whitespace)
            && after.is_some_and(|a| a.chars().next().is_none_or(char::is_whitespace))
    })
}

impl Op for Other {
    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        self.transactional()
    }

    fn tables(&self) -> Vec<QName> {
        // Unknown effects: order it after everything before it and before everything after it.
        // A known rewrite touches one table only.
        self.rewrites.iter().cloned().collect()
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if let Some(table) = &self.rewrites {
            if ctx.is_new_table(table) {
                return Assessment::safe(
                    RULE.id,
                    Some(crate::dialect::LockMode::AccessExclusive),
                    "the table was created in this change and is empty",
                );
            }
            // The same hazard as a volatile default, so the same rule.
            return Assessment {
                rule: super::add_volatile_column::RULE.id,
                risk: Risk::Staged,
                lock: Some(crate::dialect::LockMode::AccessExclusive),
                scans_table: true,
                breaks_old_app: false,
                why: format!(
                    "an identity, serial or stored generated column is computed for every existing row: {} and its indexes are rewritten under ACCESS EXCLUSIVE",
                    table.display()
                ),
            };
        }
        Assessment {
            rule: RULE.id,
            risk: Risk::Unknown,
            lock: None,
            scans_table: false,
            breaks_old_app: false,
            why: self.why.clone(),
        }
    }

    fn expand(&self, _ctx: &Context) -> Result<Expansion, PlanError> {
        let first_words: String = self
            .sql
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join("-")
            .to_lowercase();
        let slug: String = first_words
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let mut step = Step::database(
            Phase::Expand,
            format!("as-written-{slug}"),
            format!("run as written: {}", first_line(&self.sql)),
        )
        .sql(
            self.sql.clone(),
            "passed through unchanged: safeshift does not plan this statement",
        )
        .irreversible("safeshift cannot derive an undo for a statement it does not plan")
        .note(format!(
            "Warning: {}. Review its locks and its effect on the running app yourself.",
            self.why
        ));
        if !self.transactional() {
            step = step.non_transactional();
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = self
            .drops_primary_key
            .as_ref()
            .and_then(|t| catalog.table_mut(t))
        {
            t.constraints
                .retain(|c| c.kind != crate::schema::ConstraintKind::PrimaryKey);
        }
        for change in &self.applies {
            change.op().apply(catalog);
        }
    }
}

fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default();
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrently_is_a_whole_word_in_any_case() {
        let transactional = |sql: &str| Other::new(sql, "").transactional();
        assert!(!transactional("create index concurrently i on t (a)"));
        assert!(!transactional("CREATE INDEX\n\tConcurrently i ON t (a)"));
        assert!(!transactional("vacuum t"));
        assert!(!transactional("REINDEX TABLE CONCURRENTLY t"));
        assert!(!transactional("x CONCURRENTLY"));
        assert!(transactional("CREATE INDEX i ON t (concurrently_at)"));
        assert!(transactional("SELECT 'concurrently'"));
        assert!(transactional("ALTER TABLE t ADD c int -- é concurrentl"));
        assert!(transactional("SELECT é_concurrently"));
        assert!(!transactional("SELECT 1\u{a0}CONCURRENTLY"));
        assert!(transactional(""));
    }
}
