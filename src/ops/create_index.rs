//! CREATE INDEX: holds a SHARE lock (all writes wait) for the whole build. Safe path: CREATE INDEX
//! CONCURRENTLY, outside any transaction; an interrupted build leaves an INVALID index behind,
//! which the checklist verifies and tells how to clean up.
//! MySQL/MariaDB: InnoDB builds secondary indexes in place while reads and writes go on
//! (`ALGORITHM=INPLACE, LOCK=NONE`, pinned in the plan), waiting for open transactions at the end.

use super::recipes::mysql as my;
use super::{Assessment, Context, Op};
use crate::dialect::postgres::{create_index_sql, literal, qname, quote};
use crate::dialect::{Algorithm, LockMode};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Index};

pub const RULE: Rule = Rule {
    id: "non-concurrent-index",
    severity: Some(Severity::Error),
    summary: "CREATE INDEX without CONCURRENTLY on an existing table",
    why: "CREATE INDEX holds a SHARE lock for the whole build: reads go on, but every INSERT, UPDATE and DELETE on the table waits, for minutes on a large table.",
    safe: "CREATE INDEX CONCURRENTLY, outside a transaction block. If it fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY) and build again.",
    example: "CREATE INDEX users_email_idx ON users (email);",
    mysql: "Not a problem on InnoDB: secondary indexes build in place while reads and writes continue (ALGORITHM=INPLACE, LOCK=NONE); only a brief exclusive metadata lock at the start and end. `safeshift plan` pins the algorithm so the server refuses instead of copying, and checks a UNIQUE index for duplicates first.",
};

#[derive(Clone, Debug)]
pub struct CreateIndex {
    /// The index name (PostgreSQL's default name when the statement gave none).
    pub name: QName,
    pub table: QName,
    /// Plain column references; empty for expression indexes.
    pub columns: Vec<String>,
    pub unique: bool,
    pub concurrently: bool,
    pub if_not_exists: bool,
    /// Everything after `ON table`: method, columns, INCLUDE, WITH, WHERE — as the user wrote it.
    pub body: String,
    /// The names PostgreSQL figures for its columns (`lower(email)` gives `lower`): partitions'
    /// indexes are named from them.
    pub name_parts: Vec<String>,
}

impl CreateIndex {
    /// The index PostgreSQL makes on `partition` for this index on its parent.
    fn partition_index(&self, partition: &QName) -> QName {
        partition.sibling(crate::change::default_pg_index_name(
            &partition.name,
            &self.name_parts,
        ))
    }

    /// On a partitioned table PostgreSQL cannot build an index CONCURRENTLY, and a plain build
    /// locks every partition for the whole build. Instead: the parent's index alone (`ON ONLY`,
    /// instant: the parent holds no rows; invalid until complete), each partition's built
    /// CONCURRENTLY under the name PostgreSQL would give it, then attached; the last attach makes
    /// the parent's index valid.
    fn expand_partitioned(
        &self,
        ctx: &Context,
        slug: String,
        title: String,
    ) -> Result<Expansion, PlanError> {
        let partitions = ctx.catalog.partitions_of(&self.table);
        if let Some(sub) = partitions.iter().find(|p| p.partitioned) {
            return Err(PlanError::new(
                ctx.pos,
                format!(
                    "{} is partitioned again ({} has partitions of its own): safeshift builds indexes on one level of partitions",
                    self.table.display(),
                    sub.name.display()
                ),
            )
            .help("build it level by level by hand (CREATE INDEX … ON ONLY, CONCURRENTLY on each leaf, ALTER INDEX … ATTACH PARTITION)"));
        }
        let unique = if self.unique { "UNIQUE " } else { "" };
        let mut step = Step::database(Phase::Expand, slug, title)
            .non_transactional()
            .sql(
                format!(
                    "CREATE {unique}INDEX IF NOT EXISTS {} ON ONLY {} {}",
                    quote(&self.name.name),
                    qname(&self.table),
                    self.body
                ),
                "the parent's index alone: instant (the parent holds no rows), invalid until every partition's is attached",
            )
            .lock(self.table.display(), LockMode::Share, "brief: the parent holds no rows");
        for partition in &partitions {
            let index = self.partition_index(&partition.name);
            step = step
                .sql(
                    format!(
                        "CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {} ON {} {}",
                        quote(&index.name),
                        qname(&partition.name),
                        self.body
                    ),
                    "CONCURRENTLY: writes to the partition continue during the build",
                )
                .lock(
                    partition.name.display(),
                    LockMode::ShareUpdateExclusive,
                    "while it builds",
                );
        }
        for partition in &partitions {
            let index = self.partition_index(&partition.name);
            step = step.sql(
                format!(
                    "ALTER INDEX {} ATTACH PARTITION {}",
                    qname(&self.name),
                    qname(&index)
                ),
                "brief; the last one makes the parent's index valid",
            );
        }
        // Dropping the parent's index drops the attached ones; a partition's index built but not
        // attached yet (an interrupted run) goes on its own.
        step = step.down_sql(
            format!("DROP INDEX IF EXISTS {}", qname(&self.name)),
            "brief ACCESS EXCLUSIVE on the parent and its partitions: nothing is scanned",
        );
        for partition in &partitions {
            step = step.down_sql(
                format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qname(&self.partition_index(&partition.name))
                ),
                "",
            );
        }
        let (what, query, expect) = valid_index_check(&self.name);
        step = step.verify(what, query, expect).note(format!(
            "{} has {} partition(s) in the schema this plan was made for; a partition added since gets the index only when it is attached, so plan again if there are more.",
            self.table.display(),
            partitions.len()
        ));
        if self.unique
            && let Some((what, query, expect)) = duplicate_check(ctx, &self.table, &self.columns)
        {
            step = step.before(what, query, expect);
        }
        Ok(Expansion::single(step))
    }

    fn statement(&self, concurrently: bool, if_not_exists: bool) -> String {
        create_index_sql(
            self.unique,
            concurrently,
            if_not_exists,
            &self.name.name,
            &self.table,
            &self.body,
        )
    }
}

/// The checks every concurrent unique build needs: no duplicates now (or the build fails after
/// scanning everything).
pub fn duplicate_check(
    ctx: &Context,
    table: &QName,
    columns: &[String],
) -> Option<(String, String, String)> {
    if columns.is_empty() {
        return None;
    }
    let cols = columns
        .iter()
        .map(|c| ctx.quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let not_null = columns
        .iter()
        .map(|c| format!("{} IS NOT NULL", ctx.quote(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    Some((
        format!(
            "no duplicate ({}) in {}",
            columns.join(", "),
            table.display()
        ),
        format!(
            "SELECT {cols}, count(*) FROM {} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1 LIMIT 10",
            ctx.qname(table)
        ),
        "no rows".to_string(),
    ))
}

/// `indisvalid` of an index: what a person checks after a concurrent build.
pub fn valid_index_check(index: &QName) -> (String, String, String) {
    (
        format!("index {} exists and is valid", index.display()),
        format!(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass({})",
            literal(&qname(index))
        ),
        "t".to_string(),
    )
}

/// MySQL: the index exists on its table (a person checks this after the build).
pub fn mysql_index_check(ctx: &Context, table: &QName, index: &str) -> (String, String, String) {
    (
        format!("index {index} exists on {}", table.display()),
        format!(
            "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND INDEX_NAME = {}",
            my::schema_expr(ctx, table),
            ctx.dialect.literal(&table.name),
            ctx.dialect.literal(index)
        ),
        "1".to_string(),
    )
}

/// MySQL: `ADD [UNIQUE] INDEX name …` in place (and its undo), added to `step`.
/// What follows the name in MySQL's `ADD UNIQUE INDEX name …` for a UNIQUE key as written: the
/// key parts with their prefix lengths and order (`DESC`), the index type, and trailing options (a
/// dump's `USING BTREE`).
pub fn mysql_unique_body(definition: &sqlparser::ast::TableConstraint) -> Option<String> {
    let sqlparser::ast::TableConstraint::Unique(u) = definition else {
        return None;
    };
    let mut body = format!(
        "({})",
        u.columns
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(using) = &u.index_type {
        body.push_str(&format!(" USING {using}"));
    }
    for option in &u.index_options {
        body.push_str(&format!(" {option}"));
    }
    Some(body)
}

pub fn mysql_add_index(
    ctx: &Context,
    step: Step,
    table: &QName,
    name: &str,
    unique: bool,
    body: &str,
) -> Step {
    let algorithm = my::target(ctx).index_change();
    let i = ctx.quote(name);
    let (what, query, expect) = mysql_index_check(ctx, table, name);
    let step = step
        .sql(
            my::alter(
                ctx,
                table,
                &[format!(
                    "ADD {}INDEX {}{i} {body}",
                    if unique { "UNIQUE " } else { "" },
                    my::if_not_exists(ctx)
                )],
                algorithm,
            ),
            algorithm.describe(),
        )
        .down_sql(
            my::alter(
                ctx,
                table,
                &[format!("DROP INDEX {}{i}", my::if_exists(ctx))],
                if unique && becomes_clustered_key(ctx, table, body) {
                    Algorithm::Copy
                } else {
                    algorithm
                },
            ),
            if unique && becomes_clustered_key(ctx, table, body) {
                "InnoDB made this index the table's clustered key (the first UNIQUE index over NOT NULL columns of a table without a primary key): dropping it copies the table"
            } else {
                ""
            },
        )
        .verify(what, query, expect);
    my::alter_locks(step, table, algorithm)
}

/// InnoDB clusters a table without a primary key on its first UNIQUE index whose columns are all
/// NOT NULL; dropping that index is dropping the primary key, which only a table copy can do.
fn becomes_clustered_key(ctx: &Context, table: &QName, body: &str) -> bool {
    let Some(t) = ctx.catalog.table(table) else {
        return false;
    };
    if t.primary_key().is_some() {
        return false;
    }
    let words: Vec<String> = body
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let columns: Vec<&crate::schema::Column> = t
        .columns
        .iter()
        .filter(|c| words.contains(&c.name.to_lowercase()))
        .collect();
    !columns.is_empty() && columns.iter().all(|c| c.not_null)
}

impl Op for CreateIndex {
    fn constrains(&self, table: &QName, column: &str) -> bool {
        self.unique && self.table.same(table) && self.columns.iter().any(|c| c == column)
    }

    fn runs_in_transaction(&self, _pg: crate::dialect::Postgres) -> bool {
        !self.concurrently
    }

    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if ctx.dialect.is_mysql() {
            let algorithm = my::target(ctx).index_change();
            return Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe());
        }
        if self.concurrently {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::ShareUpdateExclusive),
                "built concurrently: reads and writes continue",
            );
        }
        if ctx.is_new_table(&self.table) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::Share),
                "the table was created in this change and is empty",
            );
        }
        Assessment::staged(
            RULE.id,
            LockMode::Share,
            true,
            false,
            "CREATE INDEX blocks every write to the table for the whole build",
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let slug = format!("create-index-{}", self.name.name);
        let title = format!(
            "create index {} on {}",
            self.name.display(),
            self.table.display()
        );
        if ctx.dialect.is_mysql() {
            let mut step = mysql_add_index(
                ctx,
                Step::database(Phase::Expand, slug, title),
                &self.table,
                &self.name.name,
                self.unique,
                &self.body,
            );
            if self.unique
                && let Some((what, query, expect)) =
                    duplicate_check(ctx, &self.table, &self.columns)
            {
                step = step.before(what, query, expect).note("Concurrent writes that create a duplicate while the index builds make the ALTER fail at its end; nothing is changed then, run the stage again.");
            }
            return Ok(Expansion::single(step));
        }
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(
                Step::database(Phase::Expand, slug, title)
                    .sql(
                        self.statement(false, self.if_not_exists),
                        "the table is new and empty: a plain build is instant",
                    )
                    .down_sql(format!("DROP INDEX IF EXISTS {}", qname(&self.name)), ""),
            ));
        }
        if ctx
            .catalog
            .table(&self.table)
            .is_some_and(|t| t.partitioned)
        {
            return self.expand_partitioned(ctx, slug, title);
        }
        let (what, query, expect) = valid_index_check(&self.name);
        let mut step = Step::database(Phase::Expand, slug, title)
            .non_transactional()
            .sql(self.statement(true, true), "CONCURRENTLY: writes continue during the build; cannot run inside a transaction")
            .down_sql(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&self.name)), "")
            .lock(self.table.display(), LockMode::ShareUpdateExclusive, "while it builds")
            .verify(what, query, expect)
            .note(format!(
                "If the build is interrupted it leaves an INVALID index: run `DROP INDEX CONCURRENTLY IF EXISTS {}` and run the stage again.",
                qname(&self.name)
            ));
        if self.unique
            && let Some((what, query, expect)) = duplicate_check(ctx, &self.table, &self.columns)
        {
            step = step.before(what, query, expect);
        }
        if !self.if_not_exists && ctx.catalog.index(&self.name).is_some() {
            // The down of the re-runnable build below would drop the index that was there.
            return Err(PlanError::new(
                ctx.pos,
                format!(
                    "index {} already exists: the change as written fails",
                    self.name.display()
                ),
            )
            .help("drop it first, or write CREATE INDEX IF NOT EXISTS"));
        }
        if self.if_not_exists && ctx.catalog.index(&self.name).is_some() {
            step = step.nothing_to_undo(format!(
                "{} already exists: IF NOT EXISTS makes this a no-op, and the down leaves the index alone.",
                self.name.display()
            ));
        }
        if ctx.pg().concurrent_index_bug() {
            step = step.note("PostgreSQL 14.0–14.3 can corrupt indexes built CONCURRENTLY: upgrade to 14.4 or later first.");
        }
        Ok(Expansion::single(step))
    }

    fn apply(&self, catalog: &mut Catalog) {
        let partitions: Vec<QName> = catalog
            .partitions_of(&self.table)
            .iter()
            .map(|p| p.name.clone())
            .collect();
        catalog.insert_index(Index {
            name: self.name.clone(),
            table: self.table.clone(),
            columns: self.columns.clone(),
            unique: self.unique,
            // Built from these fields when asked for, as `statement(false, false)` writes it.
            written: None,
            body: self.body.clone(),
            special: None,
        });
        for partition in partitions {
            let name = self.partition_index(&partition);
            catalog.insert_index(Index {
                written: None,
                name,
                table: partition,
                columns: self.columns.clone(),
                unique: self.unique,
                body: self.body.clone(),
                special: None,
            });
        }
    }
}
