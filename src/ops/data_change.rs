//! UPDATE, DELETE and INSERT … SELECT on a table that has rows. As one statement it is one
//! transaction: it holds the row locks of every row it changes until it commits (the app's writes
//! to those rows wait), and its long transaction holds back vacuum. Safe path (PostgreSQL): the
//! same statement in primary-key batches, one short transaction per batch, with the progress
//! written in the batch's own transaction so a re-run never applies a batch twice (`SET n = n +
//! 1` included). MySQL/MariaDB: the same walk in a temporary stored procedure that the stage
//! file creates, calls and drops (MySQL has no anonymous code blocks), with the progress in an
//! InnoDB table written in each batch's transaction.

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
    mysql: "The same holds for InnoDB (row locks until commit, a long undo history that slows every reader). The plan walks the primary key in a temporary stored procedure, one transaction per batch, with the progress in an InnoDB table written in each batch's transaction.",
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
        if ctx.dialect.is_mysql() {
            if key.is_empty() && ctx.schema_known {
                return Some((
                    format!(
                        "not batched: {} has no primary key to walk in batches",
                        self.table.display()
                    ),
                    true,
                ));
            }
        } else if !matches!(ctx.pg_batch_keys(&self.table), Ok(keys) if keys != [crate::plan::BLOCK_WALK])
        {
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
    /// The progress table's name as a string literal, for `to_regclass`.
    progress_literal: &'a str,
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
    pause: super::recipes::WalkPause,
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
        let (keys, sql) = if ctx.dialect.is_mysql() {
            self.mysql_walk(ctx)?
        } else {
            self.pg_walk(ctx)?
        };
        let label = format!("{} {}", self.verb(), self.changed().display());
        let quoted: Vec<String> = keys.iter().map(|k| ctx.quote(k)).collect();
        let lock = if ctx.dialect.is_mysql() {
            LockMode::MetadataSharedWrite
        } else {
            LockMode::RowExclusive
        };
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
        .lock(self.changed().display(), lock, "per batch")
        .irreversible(
            "safeshift cannot undo a data change: it does not keep the rows as they were. Once the last batch is done the progress row is gone, and running the stage again applies the statement again",
        )
        .note(format!(
            "Each batch is its own transaction: rows the app writes behind the walk while it runs are not changed, rows ahead of it are; `now()` is the time of each batch. The statement as written: {}",
            self.sql.trim()
        ));
        if ctx.dialect.is_mysql() {
            step = step.note("The stage creates a temporary stored procedure (it needs the CREATE ROUTINE privilege) and drops it when done.");
        }
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

impl DataChange {
    /// The statement's head (up to where the batch's WHERE goes) and tail (after it).
    fn head_tail(&self) -> (String, String) {
        match &self.form {
            Form::Update {
                target,
                assignments,
                ..
            } => (format!("UPDATE {target} SET {assignments}"), String::new()),
            Form::Delete { target } => (format!("DELETE FROM {target}"), String::new()),
            Form::InsertSelect { head, tail, .. } => (head.clone(), tail.clone()),
        }
    }

    /// PostgreSQL: the walk as a DO block. Returns the key columns walked, and the SQL.
    fn pg_walk(&self, ctx: &Context) -> Result<(Vec<String>, String), PlanError> {
        let keys = ctx.pg_batch_keys(&self.table)?;
        let table = qname(&self.table);
        let progress = qname(&self.table.sibling("safeshift_progress"));
        let step_id = self.step_id(ctx);
        let (head, tail) = self.head_tail();
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
            progress_literal: &literal(&progress),
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
            pause: super::recipes::WalkPause::postgres(&[&self.table, self.changed()]),
        }
        .render()
        .map_err(|e| ctx.error(format!("internal error rendering SQL: {e}")))?;
        Ok((keys, sql))
    }
}

/// One key column of a MySQL walk: its variables' suffix, how they are declared, and how the
/// last key done is read back from the progress row.
struct MyKey {
    suffix: String,
    declared: String,
    decode: String,
}

#[derive(Template)]
#[template(path = "mysql/data_change.sql", escape = "none")]
struct MyBatched<'a> {
    progress: &'a str,
    procedure: &'a str,
    delimiter: &'a str,
    table: &'a str,
    step: &'a str,
    keys: Vec<MyKey>,
    first_suffix: &'a str,
    key_list: &'a str,
    select_list: &'a str,
    batch_list: &'a str,
    desc_list: &'a str,
    end_list: &'a str,
    /// Rows after the last key done, and rows up to the batch's last key, in key order.
    after_last: &'a str,
    up_to_end: &'a str,
    /// The batch's last key as the text the progress row keeps: each column's bytes in hex,
    /// comma-separated, which reads back exactly whatever the key's type.
    end_text: &'a str,
    head: &'a str,
    condition: &'a str,
    tail: &'a str,
    batch_size: u64,
    label: &'a str,
    key_names: &'a str,
    end_shown: &'a str,
    pause: super::recipes::WalkPause,
}

/// `(k1, k2, …) op (v1, v2, …)` spelled out column by column (`k1 > v1 OR (k1 = v1 AND …)`),
/// which MySQL and MariaDB turn into a range of the primary key; `strict` compares all but the
/// last column, `last` the last one.
fn lexicographic(columns: &[String], values: &[String], strict: &str, last: &str) -> String {
    match (columns, values) {
        ([c], [v]) => format!("{c} {last} {v}"),
        ([c, cs @ ..], [v, vs @ ..]) => format!(
            "({c} {strict} {v} OR ({c} = {v} AND {}))",
            lexicographic(cs, vs, strict, last)
        ),
        _ => String::new(),
    }
}

impl DataChange {
    /// MySQL/MariaDB: the walk as a temporary stored procedure that the file creates, calls and
    /// drops. Returns the key columns walked, and the SQL.
    fn mysql_walk(&self, ctx: &Context) -> Result<(Vec<String>, String), PlanError> {
        let keys: Vec<String> = if ctx.schema_known {
            match ctx.catalog.table(&self.table).and_then(|t| t.primary_key()) {
                Some(key) if !key.is_empty() => key.to_vec(),
                _ => {
                    return Err(ctx.error(format!(
                        "{} has no primary key to walk in batches",
                        self.table.display()
                    )));
                }
            }
        } else {
            vec!["id".to_string()]
        };
        let mariadb = crate::ops::recipes::mysql::target(ctx).is_mariadb();
        let table = ctx.qname(&self.table);
        let progress = ctx.qname(&self.table.sibling("safeshift_progress"));
        let step_id = self.step_id(ctx);
        // In the session's database, not the table's: the statement's unqualified names resolve
        // in the database of the procedure that runs it, and must resolve as they do in the file.
        let procedure = ctx.quote(&ctx.dialect.fit_ident(&format!(
            "safeshift_{}_{}_{:08x}",
            self.verb().replace(' ', "_"),
            self.changed().name,
            stable_hash(step_id.as_bytes()) as u32
        )));
        let many = keys.len() > 1;
        let quoted: Vec<String> = keys.iter().map(|k| ctx.quote(k)).collect();
        let suffixes: Vec<String> = (1..=keys.len())
            .map(|i| if many { format!("_{i}") } else { String::new() })
            .collect();
        let mut my_keys = Vec::new();
        for ((key, column), suffix) in keys.iter().zip(&quoted).zip(&suffixes) {
            // MariaDB anchors the variable to the column (type, character set and collation, so
            // comparing them never mixes collations); MySQL has no anchored types.
            let declared = if mariadb {
                format!("TYPE OF {table}.{column}")
            } else {
                match ctx.catalog.column(&self.table, key) {
                    Some(c) => {
                        let charset: Vec<&str> = c
                            .extra
                            .iter()
                            .map(String::as_str)
                            .filter(|e| {
                                let e = e.to_ascii_uppercase();
                                e.starts_with("CHARACTER SET")
                                    || e.starts_with("CHARSET")
                                    || e.starts_with("COLLATE")
                            })
                            .collect();
                        std::iter::once(c.data_type.to_string())
                            .chain(charset.into_iter().map(str::to_string))
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                    None => "BIGINT".to_string(),
                }
            };
            let decode = if many {
                let n = suffixes.iter().position(|s| s == suffix).unwrap_or(0) + 1;
                format!(
                    "UNHEX(SUBSTRING_INDEX(SUBSTRING_INDEX(safeshift_done, ',', {n}), ',', -1))"
                )
            } else {
                "UNHEX(safeshift_done)".to_string()
            };
            my_keys.push(MyKey {
                suffix: suffix.clone(),
                declared,
                decode,
            });
        }
        let list =
            |f: &dyn Fn(usize) -> String| (0..keys.len()).map(f).collect::<Vec<_>>().join(", ");
        let lasts: Vec<String> = suffixes
            .iter()
            .map(|s| format!("safeshift_last_key{s}"))
            .collect();
        let ends: Vec<String> = suffixes
            .iter()
            .map(|s| format!("safeshift_batch_end{s}"))
            .collect();
        let key_list = quoted.join(", ");
        let select_list = list(&|i| format!("{} AS k{}", quoted[i], suffixes[i]));
        let batch_list = list(&|i| format!("batch.k{}", suffixes[i]));
        let desc_list = list(&|i| format!("batch.k{} DESC", suffixes[i]));
        let end_list = ends.join(", ");
        let after_last = lexicographic(&quoted, &lasts, ">", ">");
        let up_to_end = lexicographic(&quoted, &ends, "<", "<=");
        let end_text = format!(
            "CONCAT_WS(',', {})",
            ends.iter()
                .map(|e| format!("HEX(CAST({e} AS BINARY))"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let end_shown = if many {
            format!("CONCAT('(', CONCAT_WS(', ', {end_list}), ')')")
        } else {
            end_list.clone()
        };
        let key_names = if many {
            format!("({key_list})")
        } else {
            key_list.clone()
        };
        let (head, tail) = self.head_tail();
        let condition = self.condition.clone().unwrap_or_else(|| "TRUE".to_string());
        let label = format!("{} {}", self.verb(), self.changed().display());
        let step = ctx.dialect.literal(&step_id);
        let label = ctx.dialect.literal(&label);
        let key_names = ctx.dialect.literal(&key_names);
        let delimiter = crate::dialect::mysql::delimiter(&format!(
            "{head} {condition} {tail} {table} {progress} {procedure} {step} {label} {key_names} {}",
            my_keys
                .iter()
                .map(|k| k.declared.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let sql = MyBatched {
            progress: &progress,
            procedure: &procedure,
            delimiter: &delimiter,
            table: &table,
            step: &step,
            keys: my_keys,
            first_suffix: &suffixes[0],
            key_list: &key_list,
            select_list: &select_list,
            batch_list: &batch_list,
            desc_list: &desc_list,
            end_list: &end_list,
            after_last: &after_last,
            up_to_end: &up_to_end,
            end_text: &end_text,
            head: &head,
            condition: &condition,
            tail: &tail,
            batch_size: ctx.options.batch_size,
            label: &label,
            key_names: &key_names,
            end_shown: &end_shown,
            pause: super::recipes::WalkPause::mysql(ctx),
        }
        .render()
        .map_err(|e| ctx.error(format!("internal error rendering SQL: {e}")))?;
        Ok((keys, sql))
    }
}
