//! UPDATE, DELETE and INSERT … SELECT on a table that has rows. As one statement it is one
//! transaction: it holds the row locks of every row it changes until it commits (the app's writes
//! to those rows wait), and its long transaction holds back vacuum. Safe path (PostgreSQL): the
//! same statement in primary-key batches, one short transaction per batch, with the progress
//! written in the batch's own transaction so a re-run never applies a batch twice (`SET n = n +
//! 1` included). MySQL/MariaDB: passed through as written (the lowering keeps it `other`).

use askama::Template;

use super::{Assessment, Context, Op, Risk};
use crate::dialect::LockMode;
use crate::dialect::postgres::{dollar_tag, literal, qname, quote, stable_hash};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::Catalog;

pub const RULE: Rule = Rule {
    id: "unbatched-data-change",
    severity: Some(Severity::Warning),
    summary: "UPDATE, DELETE or INSERT … SELECT over many rows of an existing table, as one statement",
    why: "One statement is one transaction: it locks every row it changes until it commits, so the running app's writes to those rows wait (seconds to minutes on a big table), and the long transaction holds back vacuum and bloats the table and its indexes. Interrupted, all of its work is lost.",
    safe: "Run it in primary-key batches, one short transaction per batch, recording the last key done in the same transaction as the batch, so an interrupted run resumes where it stopped and never applies a batch twice. A statement whose WHERE fixes the whole primary key (one row) is fine as written.",
    example: "UPDATE orders SET coupon = upper(coupon) WHERE coupon IS NOT NULL;",
    mysql: "The same holds for InnoDB (row locks until commit, a long undo history). safeshift passes it through as written on MySQL/MariaDB: run it in primary-key ranges yourself (`WHERE id > ? AND id <= ?`, one transaction each).",
};

/// What the statement does with the rows of the walk.
#[derive(Clone, Debug)]
pub enum Form {
    /// `UPDATE target SET assignments`: `target` as written (with its alias), the columns set.
    Update {
        target: String,
        assignments: String,
        columns: Vec<String>,
    },
    /// `DELETE FROM target`, as written.
    Delete { target: String },
    /// `INSERT INTO into … SELECT … FROM source`, up to the WHERE (`head`), and what follows it
    /// (`ON CONFLICT …`).
    InsertSelect {
        into: QName,
        head: String,
        tail: String,
    },
}

#[derive(Clone, Debug)]
pub struct DataChange {
    pub form: Form,
    /// The table whose primary key the batches walk: the changed table, or the source of an
    /// INSERT … SELECT.
    pub table: QName,
    /// The WHERE condition as written.
    pub condition: Option<String>,
    /// Columns the WHERE fixes to a constant (`col = 1` in a top-level AND chain): with the whole
    /// primary key among them the statement changes one row at most.
    pub fixed: Vec<String>,
    /// Relations its subqueries read, besides the tables it changes.
    pub reads: Vec<QName>,
    /// It reads the table it changes (a subquery over it, or an INSERT … SELECT from itself):
    /// batches would see earlier batches' work, where one statement sees one snapshot.
    pub reads_itself: bool,
    /// The statement as written.
    pub sql: String,
}

impl DataChange {
    fn verb(&self) -> &'static str {
        match self.form {
            Form::Update { .. } => "update",
            Form::Delete { .. } => "delete from",
            Form::InsertSelect { .. } => "insert into",
        }
    }

    /// The table whose rows change.
    fn changed(&self) -> &QName {
        match &self.form {
            Form::InsertSelect { into, .. } => into,
            _ => &self.table,
        }
    }

    /// Why the statement runs as written rather than in batches, and whether that is a risk the
    /// plan should warn about (`false`: as written is safe).
    pub fn as_written(&self, ctx: &Context) -> Option<(String, bool)> {
        if ctx.is_new_table(&self.table) {
            return Some((
                format!(
                    "{} was created in this change and is empty",
                    self.table.display()
                ),
                false,
            ));
        }
        // A table the schema does not hold (a system catalog such as pg_index, or one made
        // outside these files): nothing to walk, and nothing safeshift can check.
        if ctx.schema_known
            && let Some(unknown) = [&self.table, self.changed()]
                .into_iter()
                .find(|t| ctx.catalog.table(t).is_none() && !ctx.is_new_table(t))
        {
            return Some((
                format!(
                    "not batched: {} is not a table of the schema (a system catalog, or one made outside these migrations)",
                    unknown.display()
                ),
                true,
            ));
        }
        let key: Vec<String> = if ctx.schema_known {
            ctx.catalog
                .table(&self.table)
                .and_then(|t| t.primary_key())
                .map(|k| k.to_vec())
                .unwrap_or_default()
        } else {
            vec!["id".to_string()]
        };
        if !key.is_empty() && key.iter().all(|k| self.fixed.contains(k)) {
            return Some((
                "its WHERE fixes the whole primary key: it changes one row at most".to_string(),
                false,
            ));
        }
        let walkable =
            matches!(ctx.pg_batch_keys(&self.table), Ok(keys) if keys != [crate::plan::BLOCK_WALK]);
        if !walkable {
            return Some((
                format!(
                    "not batched: {} has no primary key, and a walk by heap blocks can meet a row an earlier batch moved and change it twice",
                    self.table.display()
                ),
                true,
            ));
        }
        if let Form::Update { columns, .. } = &self.form
            && let Some(column) = columns.iter().find(|c| key.contains(c))
        {
            return Some((
                format!(
                    "not batched: it sets {column}, part of the primary key the batches walk, so a row could move ahead of the walk and be changed twice"
                ),
                true,
            ));
        }
        if self.reads_itself {
            return Some((
                format!(
                    "not batched: it reads {} while changing it, and each batch would see the batches before it where the single statement sees one snapshot",
                    self.changed().display()
                ),
                true,
            ));
        }
        None
    }

    /// A stable id for the step in the progress table: the same plan's stage finds its own row
    /// again; another statement (or the same one at another place in another file) does not.
    fn step_id(&self, ctx: &Context) -> String {
        format!(
            "{}:{}:{}:{:016x}",
            self.verb().replace(' ', "-"),
            self.table.display(),
            ctx.pos.line,
            stable_hash(self.sql.as_bytes())
        )
    }
}

#[derive(Template)]
#[template(path = "sql/data_change.sql", escape = "none")]
struct Batched<'a> {
    progress: &'a str,
    table: &'a str,
    step: &'a str,
    walk: super::recipes::KeyWalk,
    /// The last key of the batch as the text the progress table keeps.
    end_text: String,
    head: &'a str,
    condition: &'a str,
    tail: &'a str,
    batch_size: u64,
    /// The arguments of `format()` for one progress line.
    notice: &'a str,
    tag: &'a str,
}

/// PostgreSQL's own catalogs (`UPDATE pg_index SET indisready = …`): a change there reaches
/// every table, so it is ordered like a statement of unknown reach.
fn is_system_catalog(table: &QName) -> bool {
    match table.schema.as_deref() {
        Some("pg_catalog") | Some("information_schema") => true,
        Some(_) => false,
        None => table.name.starts_with("pg_"),
    }
}

impl Op for DataChange {
    fn tables(&self) -> Vec<QName> {
        if is_system_catalog(&self.table) || is_system_catalog(self.changed()) {
            return Vec::new();
        }
        match &self.form {
            Form::InsertSelect { into, .. } if !into.same(&self.table) => {
                vec![into.clone(), self.table.clone()]
            }
            _ => vec![self.table.clone()],
        }
    }

    fn reads(&self, _catalog: &Catalog) -> Vec<QName> {
        if self.tables().is_empty() {
            // A barrier (see `tables`) already orders it with everything.
            return Vec::new();
        }
        self.reads.clone()
    }

    fn existing_tables(&self) -> Vec<QName> {
        // Data changes of tables the schema does not hold run as written (see `as_written`),
        // as they did before safeshift batched any: an UPDATE of pg_index is not an input error.
        Vec::new()
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        match self.as_written(ctx) {
            Some((why, false)) => {
                return Assessment::safe(RULE.id, Some(LockMode::RowExclusive), why);
            }
            // Risky, but no batched plan exists for it: nothing to point `plan` at.
            Some((why, true)) => {
                return Assessment {
                    rule: RULE.id,
                    risk: Risk::Unknown,
                    lock: Some(LockMode::RowExclusive),
                    scans_table: true,
                    breaks_old_app: false,
                    why: format!(
                        "one transaction changes every matching row of {} and holds their row locks until it commits; {why}",
                        self.changed().display()
                    ),
                };
            }
            None => {}
        }
        Assessment {
            rule: RULE.id,
            risk: Risk::Staged,
            lock: Some(LockMode::RowExclusive),
            scans_table: true,
            breaks_old_app: false,
            why: match &self.form {
                Form::InsertSelect { into, .. } => format!(
                    "one transaction copies every matching row of {} into {}: a long transaction that holds back vacuum, all lost if interrupted",
                    self.table.display(),
                    into.display()
                ),
                _ => format!(
                    "one transaction {} every matching row of {}: their row locks are held until it commits, so the running app's writes to them wait",
                    if matches!(self.form, Form::Delete { .. }) {
                        "deletes"
                    } else {
                        "updates"
                    },
                    self.table.display()
                ),
            },
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let slug_table: String = self
            .changed()
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let verb_slug = self.verb().replace(' ', "-");
        if let Some((why, _)) = self.as_written(ctx) {
            let step = Step::database(
                Phase::Migrate,
                format!("{verb_slug}-{slug_table}"),
                format!("{} {} as written", self.verb(), self.changed().display()),
            )
            .sql(self.sql.clone(), format!("as written: {why}"))
            .lock(
                self.changed().display(),
                LockMode::RowExclusive,
                "until COMMIT",
            )
            .irreversible(
                "safeshift cannot undo a data change: it does not keep the rows as they were",
            );
            return Ok(Expansion::single(step));
        }
        let keys = ctx.pg_batch_keys(&self.table)?;
        let table = qname(&self.table);
        let progress = qname(&self.table.sibling("safeshift_progress"));
        let step_id = self.step_id(ctx);
        let (head, tail) = match &self.form {
            Form::Update {
                target,
                assignments,
                ..
            } => (format!("UPDATE {target} SET {assignments}"), String::new()),
            Form::Delete { target } => (format!("DELETE FROM {target}"), String::new()),
            Form::InsertSelect { head, tail, .. } => (head.clone(), tail.clone()),
        };
        let condition = self.condition.clone().unwrap_or_else(|| "true".to_string());
        let quoted: Vec<String> = keys.iter().map(|k| quote(k)).collect();
        let walk = super::recipes::KeyWalk::new(&quoted);
        let end_text = if walk.is_composite() {
            format!(
                "json_build_array({})::text",
                walk.keys
                    .iter()
                    .map(|k| format!("safeshift_batch_end{}::text", k.suffix))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            "safeshift_batch_end::text".to_string()
        };
        let label = format!("{} {}", self.verb(), self.changed().display());
        // Names reach the progress line only as `%` arguments: a quote or `%` in a name must not
        // change the format string.
        let notice = format!(
            "'%s: %s rows so far, up to %s %s', {}, safeshift_changed, {}, {}",
            literal(&label),
            literal(&walk.key_list),
            walk.end_row
        );
        let tag = dollar_tag(&format!(
            "{head} {condition} {tail} {table} {progress} {step_id} {notice}"
        ));
        let sql = Batched {
            progress: &progress,
            table: &table,
            step: &literal(&step_id),
            end_text,
            head: &head,
            condition: &condition,
            tail: &tail,
            batch_size: ctx.options.batch_size,
            notice: &notice,
            tag: &tag,
            walk,
        }
        .render()
        .map_err(|e| ctx.error(format!("internal error rendering SQL: {e}")))?;
        let mut step = Step::backfill(
            format!("{verb_slug}-{slug_table}-in-batches"),
            format!(
                "{label} in batches of {} (by {})",
                ctx.options.batch_size,
                quoted.join(", ")
            ),
        )
        .sql(
            sql,
            format!(
                "{} rows per transaction, in primary-key order; the last key done is written in each batch's transaction, so a re-run after an interruption resumes after it and never applies a batch twice",
                ctx.options.batch_size
            ),
        )
        .lock(self.changed().display(), LockMode::RowExclusive, "per batch")
        .irreversible(
            "safeshift cannot undo a data change: it does not keep the rows as they were. Once the last batch is done the progress row is gone, and running the stage again applies the statement again",
        )
        .note(format!(
            "Each batch is its own transaction: rows the app writes behind the walk while it runs are not changed, rows ahead of it are; `now()` is the time of each batch. The statement as written: {}",
            self.sql.trim()
        ));
        if !ctx.schema_known {
            step = step.note(format!(
                "Assumed: {} has a primary key column `id` to walk in batches (no --schema was given).",
                self.table.display()
            ));
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, _catalog: &mut Catalog) {}
}
