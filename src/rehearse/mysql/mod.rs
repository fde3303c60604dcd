//! `safeshift rehearse` on MySQL/MariaDB: what differs from PostgreSQL. The rehearsal itself
//! (`rehearse::rehearse`) is written once over `db::engine::Engine`; this is the MySQL side of
//! it: the app versions' spelling, model and seeding (submodules), the new app version's integer
//! ranges, and how a stage is watched ([`MysqlWatch`]).
//!
//! What "a lock that stalls the app" means differs. InnoDB has no table lock a rehearsal can
//! read from inside the statement, and `performance_schema` is often off, so two signals are
//! used: an ALTER that reports affected rows copied the table (ALGORITHM=COPY, which blocks the
//! app's writes until it finishes — on a big table a long stall, even if the rehearsal's small
//! table copies in milliseconds), and sessions seen in `information_schema.PROCESSLIST` waiting
//! for a lock (the app queued behind the migration's metadata lock, or the reverse).

pub mod model;
pub mod seed;
pub mod traffic;

use std::time::Duration;

use super::{LockSeen, Seen, StageWatch, truncate};
use crate::apply::Observer;
use crate::db::DbError;
use crate::plan_dir::StageRecord;
use crate::rehearse::model::TableModel;
use traffic::{LockWait, Watcher};

const INTEGER_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// The new version is live while a widened integer column still has its old type (a type
/// change swaps the column only in its last stage), so until then it can only write values the
/// old type holds: its generated values stay in the narrower of the two ranges.
pub fn within_old_ranges(mut new: Vec<TableModel>, old: &[TableModel]) -> Vec<TableModel> {
    let rank = |t: &str| INTEGER_TYPES.iter().position(|i| *i == t);
    for table in &mut new {
        let Some(before) = old.iter().find(|t| t.name == table.name) else {
            continue;
        };
        for column in &mut table.columns {
            let Some(was) = before.column(&column.name) else {
                continue;
            };
            if let (Some(now), Some(then)) = (rank(&column.base_type), rank(&was.base_type))
                && then < now
            {
                column.base_type = was.base_type.clone();
                column.type_sql = was.type_sql.clone();
            }
        }
    }
    new
}

/// An ALTER that copied a table's rows, seen through the affected-row count it reported.
struct TableCopy {
    table: String,
    rows: u64,
    took: Duration,
    statement: String,
}

/// Watches each statement of a stage for table copies.
#[derive(Default)]
struct CopyWatch {
    copies: Vec<TableCopy>,
    /// The ALTER a guarded `SET @v = IF(…, 'ALTER TABLE …', 'DO 0')` may prepare: an `EXECUTE`
    /// that reports affected rows copied its table.
    prepared: Option<String>,
}

/// The table of `ALTER [ONLINE] [IGNORE] TABLE t …`, unquoted.
fn altered_table(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    if !words.first()?.eq_ignore_ascii_case("alter") {
        return None;
    }
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("table"))?;
    let name = words.get(at + 1)?;
    Some(name.trim_matches('`').replace("``", "`"))
}

impl Observer for CopyWatch {
    fn ran(&mut self, statement: &str, took: Duration, affected_rows: u64) {
        let upper = statement.trim_start().to_ascii_uppercase();
        if upper.starts_with("SET ")
            && let Some(at) = upper.find("'ALTER TABLE ")
        {
            self.prepared = Some(statement.trim_start()[at + 1..].to_string());
        }
        if affected_rows == 0 {
            return;
        }
        let altered = if upper.starts_with("EXECUTE") {
            self.prepared.clone()
        } else {
            Some(statement.to_string())
        };
        if let Some(table) = altered.as_deref().and_then(altered_table) {
            self.copies.push(TableCopy {
                table,
                rows: affected_rows,
                took,
                statement: statement.to_string(),
            });
        }
    }
}

/// How a stage is watched on MySQL/MariaDB (see the module's comment): each statement for a
/// table copy, and the process list for sessions waiting for a lock.
pub struct MysqlWatch {
    copies: CopyWatch,
    watcher: Watcher,
}

impl MysqlWatch {
    /// `app_ids`: the app's sessions, told apart from the migration's when they wait.
    pub fn start(url: &str, app_ids: Vec<u32>) -> Result<MysqlWatch, DbError> {
        Ok(MysqlWatch {
            copies: CopyWatch::default(),
            watcher: Watcher::start(url, app_ids)?,
        })
    }
}

impl StageWatch for MysqlWatch {
    fn observer(&mut self) -> &mut dyn Observer {
        &mut self.copies
    }

    fn finish(self: Box<Self>, _stage: &StageRecord, _duration: Duration) -> Seen {
        let waits = self.watcher.stop();
        let mut seen = Seen::default();
        for copy in &self.copies.copies {
            seen.problems.push(format!(
                "{} copied {} row(s) of {} (a table copy, ALGORITHM=COPY), which blocks the app's writes until it finishes: on a big table that is a long stall",
                truncate(&copy.statement, 100),
                copy.rows,
                copy.table
            ));
            seen.locks.push(LockSeen {
                table: copy.table.clone(),
                mode: "table copy".into(),
                blocks: "writes",
                held_ms: Some(copy.took.as_secs_f64() * 1000.0),
            });
        }
        seen.locks.extend(app_waits(&waits));
        for wait in waits.iter().filter(|w| !w.app) {
            seen.notes.push(format!(
                "the migration waited {:.0} ms ({}) on {}",
                wait.waited_ms,
                wait.state,
                truncate(&wait.statement, 80)
            ));
        }
        seen
    }
}

/// The app sessions seen queued behind a lock, per table: the longest wait.
fn app_waits(waits: &[LockWait]) -> Vec<LockSeen> {
    let mut longest: std::collections::BTreeMap<String, f64> = Default::default();
    for wait in waits.iter().filter(|w| w.app) {
        let table = traffic::statement_table(&wait.statement).unwrap_or_else(|| "?".into());
        let ms = longest.entry(table).or_insert(0.0);
        *ms = ms.max(wait.waited_ms);
    }
    longest
        .into_iter()
        .map(|(table, ms)| LockSeen {
            table,
            mode: "metadata lock (the app waited)".into(),
            blocks: "reads and writes",
            held_ms: Some(ms),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_alter_that_copied_is_seen_through_its_execute() {
        let mut watch = CopyWatch::default();
        let set = "SET @safeshift_sql = IF((SELECT 1) > 0, 'ALTER TABLE `users` MODIFY x bigint', 'DO 0')";
        watch.ran(set, Duration::from_millis(1), 0);
        watch.ran("EXECUTE safeshift_stmt", Duration::from_millis(9), 0);
        assert!(watch.copies.is_empty());
        watch.ran("EXECUTE safeshift_stmt", Duration::from_millis(9), 500);
        assert_eq!(watch.copies.len(), 1);
        assert_eq!(watch.copies[0].table, "users");
        assert_eq!(watch.copies[0].rows, 500);
    }

    #[test]
    fn altered_tables_are_named() {
        assert_eq!(
            altered_table("ALTER TABLE `we``ird` MODIFY x int").as_deref(),
            Some("we`ird")
        );
        assert_eq!(
            altered_table("ALTER ONLINE TABLE users ADD x int").as_deref(),
            Some("users")
        );
        assert_eq!(altered_table("UPDATE users SET x = 1"), None);
        assert_eq!(
            traffic::statement_table("INSERT INTO `users` (`a`) VALUES (1)").as_deref(),
            Some("users")
        );
    }
}
