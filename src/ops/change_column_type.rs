//! ALTER COLUMN … TYPE: ACCESS EXCLUSIVE plus a rewrite of the table and its indexes — unless the
//! change is binary-coercible (varchar widening, varchar → text, numeric precision up), which is
//! catalog-only. Otherwise: a new column kept in sync by a trigger, a batched backfill, NOT NULL
//! and index copies on the new column, then one brief swap that drops the old column.
//! MySQL/MariaDB: a type change copies the table while writes wait, except widening a VARCHAR
//! within its length-prefix size and appending ENUM members (INSTANT). The same column copy
//! applies there — new column right after the old one, copy triggers, a batched backfill, the copy
//! made NOT NULL in place, then a swap under `LOCK TABLES … WRITE` of metadata-only ALTERs that
//! drops the copy triggers last (`recipes::mysql::locked_swap`) — or, with `--online-tool`, gh-ost /
//! pt-online-schema-change.

use sqlparser::ast::{DataType, Expr};

use super::recipes::mysql as my;
use super::recipes::replace::{self, Dependents};
use super::recipes::{
    backfill_step, copy_trigger, default_not_null_constraint, helper_name, not_null_constraint,
    not_null_step, required_column, reverse_trigger,
};
use super::{Assessment, Context, Op};
use crate::change::canonical_type;
use crate::dialect::LockMode;
use crate::dialect::postgres::{literal, qname, quote};
use crate::dialect::{Algorithm, MySql};
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, Column, ConstraintKind, Generated};

pub const RULE: Rule = Rule {
    id: "changing-column-type",
    severity: Some(Severity::Error),
    summary: "ALTER COLUMN … TYPE that rewrites the table",
    why: "Unless the new type is binary-coercible (varchar(n) to text or a wider varchar, for example), PostgreSQL rewrites the table and its indexes under ACCESS EXCLUSIVE: every read and write waits. The running app may also break on the new type.",
    safe: "Expand: add a new column of the new type, kept in sync by a trigger. Migrate: backfill in batches. Contract: swap the columns in one brief transaction and drop the old one.",
    example: "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;",
    mysql: "Changing a column's type (INT to BIGINT, reordering or removing ENUM members, charset) copies the table while writes wait. Widening a VARCHAR within its length-prefix size (≤ 255 bytes, or already above) and appending ENUM members at the end are metadata only; across 255 bytes MySQL copies, and MariaDB widens in place only from at most 127 bytes. Safe path: a new column right after the old one, copy triggers, a batched backfill, the copy made NOT NULL in place, then a brief swap under LOCK TABLES … WRITE that runs only metadata-only ALTERs (drop the old column and its indexes, rename the copy and its indexes into place) and drops the triggers last, so no write misses them; or gh-ost / pt-online-schema-change (`--online-tool`).",
};

#[derive(Clone, Debug)]
pub struct ChangeColumnType {
    pub table: QName,
    pub column: String,
    pub data_type: DataType,
    pub using: Option<Expr>,
    /// MySQL's MODIFY restates the whole column: its new definition, when the change came from one.
    pub target: Option<Box<crate::schema::Column>>,
}

/// MySQL type text without display widths (`int(11)` is `int`), lower case, for comparisons.
pub fn mysql_type(data_type: &DataType) -> String {
    let text = data_type.to_string().to_lowercase();
    let (base, args) = split_type(&text);
    match base.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" if args.len() <= 1 => {
            let rest = text.split_once(')').map(|(_, r)| r).unwrap_or("");
            let base = if base == "integer" {
                "int"
            } else {
                base.as_str()
            };
            format!("{base}{rest}")
        }
        _ => text,
    }
}

fn enum_labels(data_type: &DataType) -> Option<Vec<String>> {
    match data_type {
        DataType::Enum(members, _) => Some(
            members
                .iter()
                .map(|m| match m {
                    sqlparser::ast::EnumMember::Name(name) => name.clone(),
                    sqlparser::ast::EnumMember::NamedValue(name, _) => name.clone(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// How MySQL/MariaDB can change `from` into `to` without copying the table, if at all.
pub fn mysql_in_place(my: MySql, from: &DataType, to: &DataType) -> Option<Algorithm> {
    let (f, t) = (mysql_type(from), mysql_type(to));
    if f == t {
        return Some(my.metadata_change());
    }
    if let (Some(a), Some(b)) = (enum_labels(from), enum_labels(to)) {
        // Appending keeps every stored index; past 255 members the storage grows to 2 bytes.
        let same_size = (a.len() <= 255) == (b.len() <= 255);
        return (b.starts_with(&a) && same_size).then_some(my.metadata_change());
    }
    let ((fb, fa), (tb, ta)) = (split_type(&f), split_type(&t));
    if fb == "varchar" && tb == "varchar" && fa.len() == 1 && ta.len() == 1 && ta[0] >= fa[0] {
        let bytes = |chars: u32| u64::from(chars) * crate::dialect::mysql::BYTES_PER_CHAR;
        let algorithm = my.widen_varchar(bytes(fa[0]), bytes(ta[0]));
        return (algorithm != Algorithm::Copy).then_some(algorithm);
    }
    None
}

/// `base(args)` → (`base`, args).
fn split_type(text: &str) -> (String, Vec<u32>) {
    match text.split_once('(') {
        Some((base, args)) => {
            let args = args
                .trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (base.trim().to_string(), args)
        }
        None => (text.trim().to_string(), Vec::new()),
    }
}

/// Type changes PostgreSQL makes without rewriting the table (ALTER TABLE docs, "Notes").
pub fn binary_coercible(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    let (fb, fa) = split_type(from);
    let (tb, ta) = split_type(to);
    match (fb.as_str(), tb.as_str()) {
        ("varchar", "varchar") | ("varbit", "varbit") | ("bit varying", "bit varying") => {
            ta.is_empty() || (fa.len() == 1 && ta.len() == 1 && ta[0] >= fa[0])
        }
        ("varchar", "text") => true,
        ("text", "varchar") => ta.is_empty(),
        ("numeric", "numeric") => {
            ta.is_empty() || (fa.len() == 2 && ta.len() == 2 && ta[1] == fa[1] && ta[0] >= fa[0])
        }
        ("cidr", "inet") => true,
        _ => false,
    }
}

impl ChangeColumnType {
    fn coercible(&self, ctx: &Context) -> Option<bool> {
        let column = ctx.catalog.column(&self.table, &self.column)?;
        Some(
            self.using.is_none()
                && binary_coercible(
                    &canonical_type(&column.data_type),
                    &canonical_type(&self.data_type),
                ),
        )
    }

    fn in_place(&self, why: &str) -> Step {
        let using = self
            .using
            .as_ref()
            .map(|u| format!(" USING {u}"))
            .unwrap_or_default();
        Step::database(
            Phase::Expand,
            format!("alter-type-{}-{}", self.table.name, self.column),
            format!(
                "change type of {}.{} to {}",
                self.table.display(),
                self.column,
                self.data_type
            ),
        )
        .sql(
            format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {}{using}",
                qname(&self.table),
                quote(&self.column),
                self.data_type
            ),
            why.to_string(),
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
    }
}

impl ChangeColumnType {
    /// The column after the change: the MODIFY's definition, or the old one with the new type.
    fn target_column(&self, old: &crate::schema::Column) -> crate::schema::Column {
        match &self.target {
            Some(target) => (**target).clone(),
            None => crate::schema::Column {
                data_type: self.data_type.clone(),
                ..old.clone()
            },
        }
    }

    fn expand_mysql(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        let old =
            required_column(ctx, &self.table, &self.column, "changing a column's type")?.clone();
        let target = self.target_column(&old);
        let title = format!(
            "change type of {}.{} to {}",
            self.table.display(),
            self.column,
            self.data_type
        );
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.column);
        let modify = |column: &crate::schema::Column| {
            format!(
                "MODIFY COLUMN {}",
                my::column_def(ctx, column, column.not_null, true)
            )
        };
        // A new character set or collation rewrites the values: never in place. The collation
        // names both (a dump writes `CHARACTER SET x COLLATE y`, a migration often only one).
        let encoding = |c: &crate::schema::Column| -> Option<String> {
            let upper: Vec<String> = c.extra.iter().map(|e| e.to_ascii_uppercase()).collect();
            let find = |prefix: &str| upper.iter().find(|e| e.starts_with(prefix)).cloned();
            find("COLLATE")
                .or_else(|| find("CHARACTER SET"))
                .or_else(|| find("BINARY"))
        };
        let in_place = mysql_in_place(my::target(ctx), &old.data_type, &self.data_type)
            .filter(|_| encoding(&old) == encoding(&target));
        if let Some(algorithm) =
            in_place.or(ctx.is_new_table(&self.table).then_some(Algorithm::Copy))
        {
            let step = Step::database(Phase::Expand, slug("alter-type"), title)
                .sql(
                    my::alter(ctx, &self.table, &[modify(&target)], algorithm),
                    algorithm.describe(),
                )
                .down_sql(
                    my::alter(ctx, &self.table, &[modify(&old)], Algorithm::Copy),
                    "narrowing back copies the table",
                );
            return Ok(Expansion::single(my::alter_locks(
                step,
                &self.table,
                algorithm,
            )));
        }
        if let Some(tool) = ctx.options.online_tool {
            return Ok(Expansion::single(
                my::online_tool_step(ctx, tool, &self.table, &modify(&target), slug("online-alter-type"), title)
                    .verify(
                        format!("{}.{} has the new type", self.table.display(), self.column),
                        format!("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND COLUMN_NAME = {}", my::schema_expr(ctx, &self.table), ctx.dialect.literal(&self.table.name), ctx.dialect.literal(&self.column)),
                        split_type(&mysql_type(&self.data_type)).0,
                    ),
            ));
        }
        let table = ctx
            .catalog
            .table(&self.table)
            .ok_or_else(|| ctx.error("internal error: table vanished"))?;
        let constraints = table.constraints_on(&self.column);
        if old.generated.is_some() || !constraints.is_empty() {
            let names: Vec<&str> = constraints.iter().map(|c| c.name.as_str()).collect();
            return Err(ctx
                .error(format!("safeshift cannot yet change the type of `{}.{}` online: it is {}", self.table.display(), self.column, if old.generated.is_some() { "generated or AUTO_INCREMENT".to_string() } else { format!("used by constraint(s) {}", names.join(", ")) }))
                .help("use an online schema change tool: --online-tool gh-ost or --online-tool pt-osc"));
        }
        if old
            .extra
            .iter()
            .chain(&target.extra)
            .any(|e| my::is_check(e))
        {
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet change the type of `{}.{}` online: it has a CHECK of its own, which the copy would carry under another name",
                    self.table.display(),
                    self.column
                ))
                .help("use an online schema change tool: --online-tool gh-ost or --online-tool pt-osc"));
        }
        if let Some((kind, index)) = ctx.catalog.special_index_on(&self.table, &self.column) {
            return Err(ctx
                .error(format!(
                    "safeshift cannot yet change the type of `{}.{}` online: it is in the {kind} index {index}, which the copy would need rebuilt (InnoDB builds a {kind} index only with LOCK=SHARED, writes waiting)",
                    self.table.display(),
                    self.column
                ))
                .help("use an online schema change tool: --online-tool gh-ost or --online-tool pt-osc"));
        }
        let server = my::target(ctx);
        if server.swap_index_algorithm().is_none() {
            return Err(ctx
                .error(format!(
                    "{} {} (before {}) cannot drop a column without rebuilding the table, so the swap that ends a type change of `{}.{}` cannot be brief",
                    server.flavor.name(),
                    server.version(),
                    if server.is_mariadb() { "10.4" } else { "8.0.29" },
                    self.table.display(),
                    self.column
                ))
                .help(format!(
                    "use an online schema change tool (--online-tool gh-ost or --online-tool pt-osc), or, if the server is newer, say so with --server-version (instant DROP COLUMN: {})",
                    if server.is_mariadb() { "MariaDB 10.4" } else { "MySQL 8.0.29" }
                )));
        }
        let new_name = my::helper_name(ctx, &self.table, &self.column, "new");
        let shadow = crate::schema::Column {
            name: new_name.clone(),
            not_null: false,
            default: None,
            ..target.clone()
        };
        // The copy becomes NOT NULL before the swap (under the swap's table lock it would be a
        // rebuild). MariaDB checks an omitted NOT NULL column of INSERT … SELECT before the copy
        // triggers fill it, so until the swap it carries a default: the target's, or a
        // placeholder that the trigger overwrites in every row.
        let interim_default = if target.not_null {
            let default = target
                .default
                .as_ref()
                .map(|d| d.to_string())
                .or_else(|| my::placeholder_default(ctx, &target.data_type));
            match default {
                Some(d) => Some(d),
                None => {
                    return Err(ctx
                        .error(format!(
                            "safeshift has no placeholder default for a NOT NULL {} copy of `{}.{}`",
                            target.data_type,
                            self.table.display(),
                            self.column
                        ))
                        .help("give the new definition a DEFAULT, or use an online schema change tool: --online-tool gh-ost or --online-tool pt-osc"));
                }
            }
        } else {
            None
        };
        let (t, c, n) = (
            ctx.qname(&self.table),
            ctx.quote(&self.column),
            ctx.quote(&new_name),
        );
        let (add, algorithm) = my::add_column(
            ctx,
            &self.table,
            &shadow,
            Some(&super::ColumnPosition::After(self.column.clone())),
            false,
            false,
        );
        let source = Expr::Identifier(sqlparser::ast::Ident::with_quote('`', self.column.clone()));
        let copy = my::copy_triggers(ctx, &self.table, &self.column, &new_name, &source);
        let mut expand = Step::database(
            Phase::Expand,
            slug("add-shadow"),
            format!(
                "add {}.{new_name} ({}) and triggers that copy {} into it",
                self.table.display(),
                self.data_type,
                self.column
            ),
        )
        .sql(add, algorithm.describe());
        expand = my::alter_locks(expand, &self.table, algorithm);
        for sql in &copy.create {
            expand = expand.sql(sql.clone(), "");
        }
        for sql in &copy.drop {
            expand = expand.down_sql(sql.clone(), "");
        }
        expand = expand.down_sql(my::drop_column(ctx, &self.table, &new_name), "");
        let mut steps = vec![expand];
        steps.push(
            my::backfill_step(
                ctx,
                &self.table,
                &new_name,
                &c,
                &format!("{n} IS NULL AND {c} IS NOT NULL"),
            )?
            .after(&[0]),
        );
        let mut ready = vec![1];
        if let Some(default) = &interim_default {
            let nullability = server.change_nullability();
            let modify = |not_null: bool, default: Option<&str>| {
                my::alter(
                    ctx,
                    &self.table,
                    &[format!(
                        "MODIFY COLUMN {}",
                        my::column_def_with(ctx, &shadow, not_null, default)
                    )],
                    nullability,
                )
            };
            let mut step = Step::database(
                Phase::Migrate,
                slug("not-null-shadow"),
                format!(
                    "make {}.{new_name} NOT NULL while the copy triggers fill it (in-place rebuild; reads and writes continue)",
                    self.table.display()
                ),
            )
            .after(&[1])
            .before(
                format!("no NULLs left in {}.{new_name}", self.table.display()),
                format!("SELECT COUNT(*) FROM {t} WHERE {n} IS NULL"),
                "0",
            )
            .sql(modify(true, Some(default)), nullability.describe())
            .down_sql(modify(false, None), "")
            .verify(
                format!("{}.{new_name} is NOT NULL", self.table.display()),
                my::nullable_query(ctx, &self.table, &new_name),
                "NO",
            );
            if target.default.is_none() {
                step = step.note(format!(
                    "DEFAULT {default} is a placeholder until the swap: MariaDB checks a NOT NULL column that an INSERT … SELECT leaves out before the copy trigger fills it. The trigger sets {new_name} in every write, so no row keeps it; the swap removes it."
                ));
            }
            steps.push(my::alter_locks(step, &self.table, nullability));
            ready.push(steps.len() - 1);
        }
        let copies = my::copy_indexes(
            ctx,
            &self.table,
            &self.column,
            &new_name,
            slug("copy-indexes"),
        );
        if let Some(step) = copies.step {
            steps.push(step.after(&[1]));
            ready.push(steps.len() - 1);
        }
        let final_column = crate::schema::Column {
            name: self.column.clone(),
            ..target.clone()
        };
        let swap_sql = my::locked_swap(
            ctx,
            &self.table,
            &self.column,
            &new_name,
            &final_column,
            &copy.drop,
        )
        .ok_or_else(|| ctx.error("internal error: no metadata-only swap"))?;
        let index_algorithm = server.swap_index_algorithm().unwrap_or_default();
        let mut swap = Step::database(Phase::Contract, slug("swap"), format!("swap {}.{new_name} in for {} and drop the old column", self.table.display(), self.column))
            .after(&ready)
            .before(format!("every row has {new_name} filled"), format!("SELECT COUNT(*) FROM {t} WHERE {n} IS NULL AND {c} IS NOT NULL"), "0")
            .note(format!("Code that relies on the column's type (e.g. reading {} into a 32-bit integer) must be ready before this stage.", self.column))
            .note(format!("Reads and writes of {} wait while the stage holds LOCK TABLES … WRITE: only metadata changes run under it (ALGORITHM=INSTANT, and {index_algorithm} for the indexes), so milliseconds however big the table; it gives up after lock_wait_timeout if long transactions hold the table.", self.table.display()))
            .note("If the stage stops half way, run it again: each ALTER runs only if it has not yet, and the copy triggers are dropped only after the swap, so no write is missed. A failed statement ends the `mariadb` client's session, which releases the table lock (`safeshift apply` unlocks the table itself).")
            .note(format!("Should the client die right after the swapping ALTER, before the copy triggers are dropped, writes to {} fail with `Unknown column '{new_name}' in 'NEW'` (loudly; nothing is lost) until the stage is run again.", self.table.display()));
        if !server.is_mariadb() {
            swap = swap.note("MySQL has no ALGORITHM=NOCOPY: the old column's indexes are dropped and the copies renamed with ALGORITHM=INPLACE, which MySQL documents as metadata only for both (not checked on a MySQL server by safeshift's tests).");
        }
        for (sql, why) in swap_sql {
            swap = swap.sql(sql, why);
        }
        swap = swap
            .irreversible(format!(
                "the old {} column and its values are dropped",
                self.column
            ))
            .lock(
                self.table.display(),
                LockMode::TableWrite,
                "brief: metadata-only ALTERs between LOCK TABLES and UNLOCK TABLES",
            );
        steps.push(swap);
        // The column has its new type only after the swap: a later change of it (an index on it)
        // made before would be made on the old column and dropped with it.
        let anchor = steps.len() - 1;
        Ok(Expansion { steps, anchor })
    }
}

impl ChangeColumnType {
    /// The columns the conversion into `new` reads: an UPDATE that sets none of them leaves the
    /// copy as it is. Empty when that is not certain (a qualified name in USING, or no column
    /// read at all), and the copy trigger then fires on every UPDATE.
    fn conversion_reads(&self, ctx: &Context, new: &str) -> Vec<String> {
        let Some(using) = &self.using else {
            return vec![self.column.clone()];
        };
        let mut qualified = false;
        let _ = sqlparser::ast::visit_expressions(using, |e| {
            qualified |= matches!(e, Expr::CompoundIdentifier(_));
            std::ops::ControlFlow::<()>::Continue(())
        });
        if qualified {
            return Vec::new();
        }
        super::recipes::source_columns(ctx, &self.table, new, using)
    }

    /// PostgreSQL: the column is replaced by a shadow of the new type, and everything that hangs
    /// on it moves over (GitLab's int → bigint recipe, for any application):
    ///
    /// 1. add the shadow and a trigger that copies every write into it;
    /// 2. backfill it in batches;
    /// 3. make it NOT NULL without a long lock;
    /// 4. build copies of its indexes, and a unique index per key, concurrently;
    /// 5. add copies of its checks and foreign keys (both directions) NOT VALID, and validate;
    /// 6. in one short transaction that locks the table, then the tables whose foreign keys
    ///    move: swap the names, move the keys `USING INDEX`, the default and the sequence,
    ///    recreate the views that read the column, and keep the old column filled in the old type
    ///    by a reverse trigger — the stage's `down.sql` swaps everything back;
    /// 7. later, once the new type has proven itself, drop the old column: the point of no return.
    fn expand_pg_replace(&self, ctx: &Context, column: &Column) -> Result<Expansion, PlanError> {
        let deps = Dependents::of(ctx, &self.table, &self.column)?;
        let t = qname(&self.table);
        let c = quote(&self.column);
        let new = helper_name(&self.table, &self.column, "new");
        let n = quote(&new);
        let old = helper_name(&self.table, &self.column, "old");
        let o = quote(&old);
        let old_type = column.data_type.to_string();
        let slug = |what: &str| format!("{what}-{}-{}", self.table.name, self.column);
        let conversion = self
            .using
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("CAST({c} AS {})", self.data_type));
        ctx.row_trigger_allowed(&self.table, "copying writes into the new column")?;
        let copy = copy_trigger(
            &self.table,
            &self.column,
            &new,
            &conversion,
            &self.conversion_reads(ctx, &new),
        )?;
        let reverse = reverse_trigger(&self.table, &self.column, &old, &old_type)?;
        let name_of = |name: &str, purpose: &str| replace::copy_name(&self.table, name, purpose);

        let mut expand = Step::database(
            Phase::Expand,
            slug("add-shadow"),
            format!(
                "add {}.{new} and a trigger that copies {} into it",
                self.table.display(),
                self.column
            ),
        )
        .sql(
            format!("ALTER TABLE {t} ADD COLUMN {n} {}", self.data_type),
            "a nullable column without default: catalog-only",
        )
        .lock(self.table.display(), LockMode::AccessExclusive, "brief");
        for sql in &copy.create {
            expand = expand.sql(sql.clone(), "");
        }
        for sql in &copy.drop {
            expand = expand.down_sql(sql.clone(), "");
        }
        expand = expand.down_sql(format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {n}"), "");
        let mut steps = vec![expand];
        steps.push(
            backfill_step(
                ctx,
                &self.table,
                &new,
                &conversion,
                &format!("{n} IS NULL AND {c} IS NOT NULL"),
            )?
            .after(&[0]),
        );
        let mut ready = vec![1];
        if column.not_null {
            steps.push(not_null_step(ctx, &self.table, &new, Phase::Migrate).after(&[1]));
            ready.push(steps.len() - 1);
        }

        // Indexes, and a unique index per key, on the shadow.
        let mut index_copies = Step::database(
            Phase::Migrate,
            slug("copy-indexes"),
            format!(
                "build the indexes and keys of {}.{} on {new}",
                self.table.display(),
                self.column
            ),
        )
        .non_transactional()
        .after(&[1])
        .lock(
            self.table.display(),
            LockMode::ShareUpdateExclusive,
            "while each index builds",
        );
        let mut builds = Vec::new();
        for index in &deps.indexes {
            let name = name_of(&index.name.name, "new");
            let sql = replace::index_copy(index, &self.column, &new, &name).ok_or_else(|| {
                ctx.error(format!(
                    "safeshift could not read the definition of index `{}`",
                    index.name.display()
                ))
            })?;
            builds.push((name, sql));
        }
        for key in &deps.keys {
            let name = name_of(&key.name, "new");
            let sql = replace::key_index_copy(&self.table, key, &self.column, &new, &name);
            builds.push((name, sql));
        }
        for (name, sql) in &builds {
            let index = self.table.sibling(name.clone());
            let (what, query, expect) = super::create_index::valid_index_check(&index);
            index_copies = index_copies
                .sql(sql.clone(), "")
                .down_sql(
                    format!("DROP INDEX CONCURRENTLY IF EXISTS {}", qname(&index)),
                    "",
                )
                .verify(what, query, expect);
        }
        let index_step = (!builds.is_empty()).then(|| {
            steps.push(index_copies);
            steps.len() - 1
        });
        ready.extend(index_step);

        // Checks and foreign keys, both directions, on the shadow: NOT VALID, then validated
        // (unless the original was left NOT VALID).
        let mut constraint_copies = Step::database(
            Phase::Migrate,
            slug("copy-constraints"),
            format!(
                "add the checks and foreign keys of {}.{} on {new}",
                self.table.display(),
                self.column
            ),
        )
        .non_transactional()
        .after(&[1])
        .lock(self.table.display(), LockMode::ShareRowExclusive, "brief")
        .lock(
            self.table.display(),
            LockMode::ShareUpdateExclusive,
            "while each validates",
        );
        if let Some(i) = index_step {
            constraint_copies = constraint_copies.after(&[1, i]);
        }
        let mut constraints = 0;
        let own = deps
            .checks
            .iter()
            .chain(&deps.own_fks)
            .map(|k| (self.table.clone(), k, false));
        let referencing = deps
            .ref_fks
            .iter()
            .map(|(table, k)| (table.clone(), k, true));
        for (table, k, referenced) in own.chain(referencing) {
            let Some(definition) = replace::constraint_copy(k, &self.column, &new, referenced)
            else {
                continue;
            };
            let name = quote(&name_of(&k.name, "new"));
            let on = qname(&table);
            constraint_copies = constraint_copies
                .sql(
                    format!("ALTER TABLE {on} ADD CONSTRAINT {name} {definition} NOT VALID"),
                    "brief; new and updated rows are checked from now on",
                )
                .down_sql(
                    format!("ALTER TABLE {on} DROP CONSTRAINT IF EXISTS {name}"),
                    "",
                );
            if !k.not_valid {
                constraint_copies = constraint_copies.sql(
                    format!("ALTER TABLE {on} VALIDATE CONSTRAINT {name}"),
                    "scans under SHARE UPDATE EXCLUSIVE: reads and writes go on",
                );
            }
            if !table.same(&self.table) {
                constraint_copies = constraint_copies
                    .lock(table.display(), LockMode::ShareRowExclusive, "brief")
                    .lock(
                        table.display(),
                        LockMode::ShareUpdateExclusive,
                        "while it validates",
                    );
            }
            constraints += 1;
        }
        if constraints > 0 {
            steps.push(constraint_copies);
            ready.push(steps.len() - 1);
        }

        let referencing_tables = deps.referencing_tables(&self.table);
        // The swap's locks, taken first thing in its transaction, in this order: the tables whose
        // foreign keys move, then the table. Every write of a referencing table locks the table
        // after it (its foreign key check reads the referenced row), so app transactions take
        // them in that order; taken in the other order, the swap held the table and waited for a
        // referencing table whose writer waited for the table: a cycle in most attempts under
        // scripts/bench-stall's app (each one queued the app for 55 ms until the swap gave up,
        // and the stage took 1.5 s of retries). A cycle can still form with a transaction that
        // takes them the other way round (reads the table, then writes a referencing one), or a
        // view or sequence of the table: PostgreSQL breaks it only after deadlock_timeout (1s by
        // default), by failing one side, maybe the app's. So once it holds its first lock the swap
        // waits for nothing longer than an app transaction takes: it gives up (and apply retries
        // it) rather than stall the app. set_config, not SET: this bound is not the patience that
        // `apply --lock-timeout` sets, and is never replaced by it. Waiting for its first lock the
        // swap holds nothing, so no cycle forms there, but the app queues behind it: where foreign
        // keys move, the app's writes of the table queue too, so it gives up sooner than the
        // plan's 2s.
        let mut lock_order: Vec<String> = referencing_tables.iter().map(qname).collect();
        lock_order.push(t.clone());
        let mut swap_locks: Vec<(String, &str)> = Vec::new();
        if lock_order.len() > 1 {
            swap_locks.push((
                "SET LOCAL lock_timeout = '500ms'".to_string(),
                "the app's writes queue behind this wait: give up sooner, and retry",
            ));
        }
        swap_locks.push((
            format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", lock_order[0]),
            if lock_order.len() > 1 {
                "first a table whose foreign key moves: the order in which app writes lock them"
            } else {
                "the table first: everything below waits for this lock"
            },
        ));
        swap_locks.push((
            "SELECT set_config('lock_timeout', '50ms', true)".to_string(),
            "holding a lock, wait no longer than an app transaction takes: a longer wait is a cycle with one (given up, and retried)",
        ));
        if lock_order.len() > 1 {
            swap_locks.push((
                format!(
                    "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                    lock_order[1..].join(", ")
                ),
                "then the other tables whose foreign keys move, and the table last",
            ));
        }
        let default = column.default.as_ref().map(|d| d.to_string());
        // An identity column's sequence cannot be handed to another column: the swap takes the
        // next number, drops the identity from the column it leaves, gives the new column its
        // own, and restarts that at the number taken. The number crosses statements in a
        // transaction-local setting.
        let identity = match &column.generated {
            Some(Generated::Identity { always, options }) => Some((*always, options.trim())),
            _ => None,
        };
        let identity_take = |from: &str| {
            let body = format!(
                "BEGIN PERFORM set_config('safeshift.identity_next', nextval(pg_get_serial_sequence({}, {}))::text, true); END",
                literal(&t),
                literal(from)
            );
            let tag = crate::dialect::postgres::dollar_tag(&body);
            format!("DO {tag} {body} {tag}")
        };
        let identity_give = |to: &str| -> Vec<String> {
            let Some((always, options)) = identity else {
                return Vec::new();
            };
            let body = format!(
                "BEGIN EXECUTE format('ALTER TABLE %s ALTER COLUMN %I RESTART WITH %s', {}, {}, current_setting('safeshift.identity_next')); END",
                literal(&t),
                literal(to)
            );
            let tag = crate::dialect::postgres::dollar_tag(&body);
            vec![
                format!(
                    "ALTER TABLE {t} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY{}",
                    quote(to),
                    if always { "ALWAYS" } else { "BY DEFAULT" },
                    if options.is_empty() {
                        String::new()
                    } else {
                        format!(" ({options})")
                    }
                ),
                format!("DO {tag} {body} {tag}"),
            ]
        };
        let views_drop: Vec<String> = deps
            .views
            .iter()
            .rev()
            .map(|v| format!("DROP VIEW {}", qname(&v.name)))
            .collect();
        let views_create: Vec<String> = deps.views.iter().map(|v| v.sql()).collect();
        let key_sql = |key: &crate::schema::Constraint, index: &str| {
            let options = super::add_unique::KeyOptions::of(key.definition.as_ref());
            format!(
                "ALTER TABLE {t} ADD CONSTRAINT {} {} USING INDEX {}{}",
                quote(&key.name),
                if key.kind == ConstraintKind::PrimaryKey {
                    "PRIMARY KEY"
                } else {
                    "UNIQUE"
                },
                quote(index),
                options.constraint
            )
        };
        // The column's NOT NULL constraint keeps its name through the naive ALTER, also when the
        // table was renamed since it was made.
        let (nn_copy, nn_naive) = (
            not_null_constraint(&self.table, &new),
            ctx.catalog
                .table(&self.table)
                .map(|t| t.not_null_name(&self.column))
                .unwrap_or_else(|| default_not_null_constraint(&self.table, &self.column)),
        );
        let rename_constraint = |table: &QName, from: &str, to: &str| {
            format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                qname(table),
                quote(from),
                quote(to)
            )
        };
        let rename_index = |from: &str, to: &str| {
            format!(
                "ALTER INDEX {} RENAME TO {}",
                qname(&self.table.sibling(from.to_string())),
                quote(to)
            )
        };
        let moved_constraints: Vec<&crate::schema::Constraint> =
            deps.checks.iter().chain(&deps.own_fks).collect();

        // The swap: one transaction, locks taken up front in a fixed order.
        let mut swap = Step::database(
            Phase::Contract,
            slug("swap"),
            format!(
                "swap in {}.{new} for {} (the old column is kept, filled back)",
                self.table.display(),
                self.column
            ),
        )
        .non_transactional()
        .after(&ready)
        .lock(self.table.display(), LockMode::AccessExclusive, "brief");
        if !deps.keys.is_empty() {
            swap = swap.lock(
                self.table.display(),
                LockMode::ShareUpdateExclusive,
                "while the old column's key indexes build, before the swap",
            );
        }
        swap = swap.before(
            format!("every row has {new} filled"),
            format!("SELECT count(*) FROM {t} WHERE {n} IS NULL AND {c} IS NOT NULL"),
            "0",
        );
        // The old column's keys, as unique indexes, built while the old column still has the
        // column's name. They stay with it through the swap, so the undo takes them back as keys
        // in its brief transaction, and needs no build of its own on a column that exists only
        // while the columns are swapped: such a build (it cannot be made conditional) is what made
        // the undo fail when run a second time.
        for key in &deps.keys {
            swap = swap.sql(
                replace::key_index_copy(
                    &self.table,
                    key,
                    &self.column,
                    &self.column,
                    &name_of(&key.name, "rollback"),
                ),
                "kept for the way back: the undo takes it back as the key without a build",
            );
        }
        swap = swap.sql(
            "BEGIN",
            "one transaction: the swap happens all at once or not at all",
        );
        for (sql, why) in &swap_locks {
            swap = swap.sql(sql.clone(), *why);
        }
        for table in &referencing_tables {
            swap = swap.lock(table.display(), LockMode::AccessExclusive, "brief");
        }
        for sql in &views_drop {
            swap = swap.sql(sql.clone(), "recreated below, reading the new column");
        }
        for sql in &copy.drop {
            swap = swap.sql(sql.clone(), "");
        }
        for (table, k) in &deps.ref_fks {
            swap = swap.sql(
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}",
                    qname(table),
                    quote(&k.name)
                ),
                "its copy on the new column takes over",
            );
        }
        for key in &deps.keys {
            swap = swap.sql(
                format!("ALTER TABLE {t} DROP CONSTRAINT {}", quote(&key.name)),
                "",
            );
        }
        if identity.is_some() {
            swap = swap
                .sql(
                    identity_take(&self.column),
                    "the identity's next number, for the new column's identity",
                )
                .sql(
                    format!("ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY"),
                    "the old column keeps its values; the reverse trigger fills it from now on",
                );
        }
        swap = swap
            .sql(format!("ALTER TABLE {t} RENAME COLUMN {c} TO {o}"), "")
            .sql(format!("ALTER TABLE {t} RENAME COLUMN {n} TO {c}"), "");
        for (i, sql) in identity_give(&self.column).into_iter().enumerate() {
            swap = swap.sql(
                sql,
                if i == 0 {
                    "catalog-only: the new column is NOT NULL and filled"
                } else {
                    "numbering goes on where the old identity stopped"
                },
            );
        }
        for key in &deps.keys {
            swap = swap.sql(
                key_sql(key, &name_of(&key.name, "new")),
                "brief: the index exists; it takes the key's name",
            );
        }
        for k in &moved_constraints {
            swap = swap
                .sql(
                    rename_constraint(&self.table, &k.name, &name_of(&k.name, "old")),
                    "",
                )
                .sql(
                    rename_constraint(&self.table, &name_of(&k.name, "new"), &k.name),
                    "",
                );
        }
        for (table, k) in &deps.ref_fks {
            swap = swap.sql(
                rename_constraint(table, &name_of(&k.name, "new"), &k.name),
                "",
            );
        }
        for index in &deps.indexes {
            swap = swap
                .sql(
                    rename_index(&index.name.name, &name_of(&index.name.name, "old")),
                    "",
                )
                .sql(
                    rename_index(&name_of(&index.name.name, "new"), &index.name.name),
                    "the copy takes the original name",
                );
        }
        if let Some(d) = &default {
            swap = swap
                .sql(format!("ALTER TABLE {t} ALTER COLUMN {o} DROP DEFAULT"), "")
                .sql(
                    format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"),
                    "the default moves to the new column",
                );
        }
        if let Some(comment) = &column.comment {
            swap = swap.sql(
                super::catalog_only::comment_sql(&self.table, &self.column, Some(comment)),
                "the comment moves to the new column",
            );
        }
        if let Some(sequence) = &deps.sequence {
            swap = swap.sql(
                format!("ALTER SEQUENCE {} OWNED BY {t}.{c}", qname(sequence)),
                "the sequence now belongs to the new column (and is not dropped with the old one)",
            );
        }
        if column.not_null {
            swap = swap.sql(
                format!("ALTER TABLE {t} ALTER COLUMN {o} DROP NOT NULL"),
                "the reverse trigger leaves NULL what the old type cannot hold",
            );
            if ctx.pg().not_null_not_valid() {
                swap = swap.sql(
                    rename_constraint(&self.table, &nn_copy, &nn_naive),
                    "PostgreSQL 18 names NOT NULL constraints: the copy's takes the column's name",
                );
            }
        }
        for sql in &reverse.create {
            swap = swap.sql(sql.clone(), "");
        }
        for sql in &views_create {
            swap = swap.sql(sql.clone(), "");
        }
        swap = swap.sql("COMMIT", "");

        // Its undo: rebuild what the swap dropped, then swap back in one transaction. Its checks
        // run only while the columns are swapped (the old column exists): once the undo has
        // finished, or before the swap, there is nothing to check, and they would name a column
        // that is not there.
        let old_exists = format!(
            "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({}) AND attname = {} AND NOT attisdropped)",
            literal(&t),
            literal(&old)
        );
        let refuse = format!(
            "BEGIN IF {old_exists} THEN IF EXISTS (SELECT 1 FROM {t} WHERE {c} IS NOT NULL AND {o} IS NULL) THEN RAISE EXCEPTION 'cannot roll back: some rows hold values the old type cannot'; END IF; END IF; END"
        );
        let tag = crate::dialect::postgres::dollar_tag(&refuse);
        swap = swap.down_sql(
            format!("DO {tag} {refuse} {tag}"),
            "refuse before changing anything if a value does not fit the old type",
        );
        let rollback_name = helper_name(&self.table, &self.column, "rollback_not_null");
        let rollback_check = quote(&rollback_name);
        if column.not_null {
            let check_is = |validated: &str| {
                format!(
                    "EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass({}) AND conname = {}{validated})",
                    literal(&t),
                    literal(&rollback_name)
                )
            };
            let add = format!(
                "BEGIN IF {old_exists} AND NOT {} THEN ALTER TABLE {t} ADD CONSTRAINT {rollback_check} CHECK ({o} IS NOT NULL) NOT VALID; END IF; END",
                check_is("")
            );
            let validate = format!(
                "BEGIN IF {} THEN ALTER TABLE {t} VALIDATE CONSTRAINT {rollback_check}; END IF; END",
                check_is(" AND NOT convalidated")
            );
            let tag = crate::dialect::postgres::dollar_tag(&format!("{add}{validate}"));
            swap = swap
                .down_sql(
                    format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {rollback_check}"),
                    "",
                )
                .down_sql(format!("DO {tag} {add} {tag}"), "")
                .down_sql(
                    format!("DO {tag} {validate} {tag}"),
                    "proves NOT NULL without a long lock",
                );
        }
        swap = swap.down_sql("BEGIN", "");
        for (sql, _) in &swap_locks {
            swap = swap.down_sql(sql.clone(), "");
        }
        for sql in &views_drop {
            swap = swap.down_sql(sql.clone(), "");
        }
        for sql in &reverse.drop {
            swap = swap.down_sql(sql.clone(), "");
        }
        for (table, k) in &deps.ref_fks {
            swap = swap.down_sql(
                format!(
                    "ALTER TABLE {} DROP CONSTRAINT {}",
                    qname(table),
                    quote(&k.name)
                ),
                "",
            );
        }
        for key in &deps.keys {
            swap = swap.down_sql(
                format!("ALTER TABLE {t} DROP CONSTRAINT {}", quote(&key.name)),
                "",
            );
        }
        if identity.is_some() {
            swap = swap.down_sql(identity_take(&self.column), "").down_sql(
                format!("ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY"),
                "",
            );
        }
        swap = swap
            .down_sql(format!("ALTER TABLE {t} RENAME COLUMN {c} TO {n}"), "")
            .down_sql(format!("ALTER TABLE {t} RENAME COLUMN {o} TO {c}"), "");
        if column.not_null {
            if ctx.pg().not_null_not_valid() {
                swap = swap.down_sql(rename_constraint(&self.table, &nn_naive, &nn_copy), "");
            }
            swap = swap
                .down_sql(
                    format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
                    "brief: the valid check proves it",
                )
                .down_sql(
                    format!("ALTER TABLE {t} DROP CONSTRAINT {rollback_check}"),
                    "",
                );
            let made = default_not_null_constraint(&self.table, &self.column);
            if ctx.pg().not_null_not_valid() && made != nn_naive {
                swap = swap.down_sql(
                    rename_constraint(&self.table, &made, &nn_naive),
                    "the NOT NULL constraint's name from before the table was renamed",
                );
            }
        }
        // The old column is NOT NULL again: it can take its identity back.
        for sql in identity_give(&self.column) {
            swap = swap.down_sql(sql, "");
        }
        for key in &deps.keys {
            swap = swap.down_sql(key_sql(key, &name_of(&key.name, "rollback")), "");
        }
        for k in &moved_constraints {
            swap = swap
                .down_sql(
                    rename_constraint(&self.table, &k.name, &name_of(&k.name, "new")),
                    "",
                )
                .down_sql(
                    rename_constraint(&self.table, &name_of(&k.name, "old"), &k.name),
                    "",
                );
        }
        for index in &deps.indexes {
            swap = swap
                .down_sql(
                    rename_index(&index.name.name, &name_of(&index.name.name, "new")),
                    "",
                )
                .down_sql(
                    rename_index(&name_of(&index.name.name, "old"), &index.name.name),
                    "",
                );
        }
        if let Some(d) = &default {
            swap = swap
                .down_sql(format!("ALTER TABLE {t} ALTER COLUMN {n} DROP DEFAULT"), "")
                .down_sql(
                    format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"),
                    "",
                );
        }
        if column.comment.is_some() {
            swap = swap.down_sql(
                super::catalog_only::comment_sql(&self.table, &new, None),
                "",
            );
        }
        if let Some(sequence) = &deps.sequence {
            swap = swap.down_sql(
                format!("ALTER SEQUENCE {} OWNED BY {t}.{c}", qname(sequence)),
                "",
            );
        }
        for sql in &copy.create {
            swap = swap.down_sql(sql.clone(), "");
        }
        for (table, k) in &deps.ref_fks {
            if let Some(definition) = k.definition_sql() {
                swap = swap.down_sql(
                    format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} {definition} NOT VALID",
                        qname(table),
                        quote(&k.name)
                    ),
                    "validated below, after the commit",
                );
            }
        }
        for sql in &views_create {
            swap = swap.down_sql(sql.clone(), "");
        }
        swap = swap.down_sql("COMMIT", "");
        for (name, sql) in &builds {
            if deps.keys.iter().any(|k| &name_of(&k.name, "new") == name) {
                swap = swap.down_sql(sql.clone(), "the new column's key index, rebuilt");
            }
        }
        for (table, k) in &deps.ref_fks {
            let on = qname(table);
            let copy_name = quote(&name_of(&k.name, "new"));
            if !k.not_valid {
                swap = swap.down_sql(
                    format!("ALTER TABLE {on} VALIDATE CONSTRAINT {}", quote(&k.name)),
                    "",
                );
            }
            if let Some(definition) = replace::constraint_copy(k, &self.column, &new, true) {
                swap = swap
                    .down_sql(
                        format!("ALTER TABLE {on} DROP CONSTRAINT IF EXISTS {copy_name}"),
                        "",
                    )
                    .down_sql(
                        format!(
                            "ALTER TABLE {on} ADD CONSTRAINT {copy_name} {definition} NOT VALID"
                        ),
                        "",
                    );
                if !k.not_valid {
                    swap = swap.down_sql(
                        format!("ALTER TABLE {on} VALIDATE CONSTRAINT {copy_name}"),
                        "",
                    );
                }
            }
        }
        for key in &deps.keys {
            // Left by an up.sql that stopped before its swap; once swapped back, the key took it.
            swap = swap.down_sql(
                format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qname(&self.table.sibling(name_of(&key.name, "rollback")))
                ),
                "",
            );
        }
        swap = swap
            .note(format!(
                "Reads and writes of {} wait while the swap's transaction holds its locks: renames and catalog changes only, milliseconds. Once it holds {}, the swap waits at most 50 ms for any other lock (a longer wait is a lock cycle with an app transaction that queues every other session): it gives up, changes nothing, and is run again.",
                std::iter::once(self.table.display())
                    .chain(referencing_tables.iter().map(QName::display))
                    .collect::<Vec<_>>()
                    .join(", "),
                referencing_tables
                    .first()
                    .unwrap_or(&self.table)
                    .display()
            ))
            .note(format!("Code that relies on the column's type (e.g. reading {} into a 32-bit integer) must be ready before this stage.", self.column))
            .note(format!("The old column stays, renamed {old} and filled back by a trigger, until the next stage: until then this stage's down.sql swaps everything back (it refuses if a value does not fit the old type)."))
            .note(format!("{} moves to the end of the column list: code that relies on column order (SELECT * into positional structs) must not.", self.column))
            // Measured by scripts/bench-stall with pgbench -M prepared: every app connection's
            // cached statement that reads the column fails once after the swap.
            .note(format!("Server-side prepared statements that read {} (PgJDBC, pgx, asyncpg, Rails' statement cache) fail once per connection after the swap with `cached plan must not change result type` (SQLSTATE 0A000): recycle connection pools right after this stage, or make sure the driver retries.", self.column));
        if !deps.views.is_empty() {
            swap = swap.note(format!(
                "Views recreated around the swap: {}. Privileges granted on them must be granted again.",
                deps.views
                    .iter()
                    .map(|v| v.name.display())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        steps.push(swap);
        let swapped = steps.len() - 1;

        let mut drop_old = Step::database(
            Phase::Contract,
            slug("drop-old"),
            format!("drop the old {}.{} ({old})", self.table.display(), self.column),
        )
        .after(&[swapped])
        .lock(self.table.display(), LockMode::AccessExclusive, "brief")
        .before(
            format!(
                "the application has run on the new type of {} long enough that no rollback is needed",
                self.column
            ),
            "-- a decision: after this stage the type change cannot be rolled back",
            "yes",
        );
        for sql in &reverse.drop {
            drop_old = drop_old.sql(sql.clone(), "");
        }
        drop_old = drop_old
            .sql(
                format!("ALTER TABLE {t} DROP COLUMN {o}"),
                "with it go its renamed-away indexes and constraints",
            )
            .irreversible(format!(
                "the old {} column and its values are dropped",
                self.column
            ));
        steps.push(drop_old);
        // Titles name what a reviewer knows, not safeshift's helper names.
        let shadow = format!("{}.{new}", self.table.display());
        let copy = format!(
            "the {} copy of {}.{}",
            self.data_type,
            self.table.display(),
            self.column
        );
        for step in &mut steps {
            step.title = step
                .title
                .replace(&shadow, &copy)
                .replace(&format!(" on {new}"), " on its copy")
                .replace(&format!(" ({old})"), "");
        }
        // The column has its new type only after the swap: a later change of it (an index on it)
        // made before would be made on the old column and renamed away with it.
        Ok(Expansion {
            steps,
            anchor: swapped,
        })
    }
}

impl Op for ChangeColumnType {
    fn tables(&self) -> Vec<QName> {
        vec![self.table.clone()]
    }

    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        if let Some(target) = ctx.dialect.mysql() {
            let in_place = ctx
                .catalog
                .column(&self.table, &self.column)
                .and_then(|c| mysql_in_place(target, &c.data_type, &self.data_type));
            return match in_place {
                Some(algorithm) => {
                    Assessment::safe(RULE.id, Some(algorithm.lock()), algorithm.describe())
                }
                None if ctx.is_new_table(&self.table) => Assessment::safe(
                    RULE.id,
                    Some(crate::dialect::LockMode::MetadataNoWrite),
                    "the table was created in this change and is empty",
                ),
                None => Assessment::staged(
                    RULE.id,
                    target.change_type().lock(),
                    true,
                    false,
                    format!(
                        "changing the type of {}.{} copies the table while writes wait",
                        self.table.display(),
                        self.column
                    ),
                ),
            };
        }
        if ctx.is_new_table(&self.table) || self.coercible(ctx) == Some(true) {
            return Assessment::safe(
                RULE.id,
                Some(LockMode::AccessExclusive),
                "binary-coercible (or a new table): no rewrite",
            );
        }
        let views = ctx.catalog.dependent_views(&self.table, Some(&self.column));
        Assessment::staged(
            RULE.id,
            LockMode::AccessExclusive,
            true,
            false,
            if views.is_empty() {
                "changing a column's type rewrites the table and its indexes under ACCESS EXCLUSIVE"
                    .to_string()
            } else {
                format!(
                    "changing a column's type rewrites the table and its indexes under ACCESS EXCLUSIVE; as written PostgreSQL refuses it, because view(s) {} read the column",
                    views
                        .iter()
                        .map(|v| v.name.display())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        )
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        if ctx.dialect.is_mysql() {
            return self.expand_mysql(ctx);
        }
        if ctx.is_new_table(&self.table) {
            return Ok(Expansion::single(
                self.in_place("the table is new and empty"),
            ));
        }
        let column =
            required_column(ctx, &self.table, &self.column, "changing a column's type")?.clone();
        if self.coercible(ctx) == Some(true) {
            let old = column.data_type.to_string();
            let step = self
                .in_place("binary-coercible: catalog-only, no rewrite")
                .down_sql(
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} TYPE {old}",
                        qname(&self.table),
                        quote(&self.column)
                    ),
                    "narrowing back re-checks every row under ACCESS EXCLUSIVE",
                );
            return Ok(Expansion::single(step));
        }
        if column
            .generated
            .as_ref()
            .is_some_and(|g| !matches!(g, Generated::Identity { .. }))
        {
            return Err(ctx
                .error(format!(
                    "safeshift cannot change the type of `{}.{}` online: it is a generated column",
                    self.table.display(),
                    self.column,
                ))
                .help("plan this one by hand, or run it in a maintenance window"));
        }
        self.expand_pg_replace(ctx, &column)
    }

    fn apply(&self, catalog: &mut Catalog) {
        if let Some(t) = catalog.table_mut(&self.table)
            && let Some(c) = t.columns.iter_mut().find(|c| c.name == self.column)
        {
            c.data_type = self.data_type.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::binary_coercible;

    #[test]
    fn coercible_types() {
        assert!(binary_coercible("varchar(10)", "varchar(20)"));
        assert!(!binary_coercible("varchar(20)", "varchar(10)"));
        assert!(binary_coercible("varchar(20)", "text"));
        assert!(binary_coercible("varchar(20)", "varchar"));
        assert!(binary_coercible("numeric(10,2)", "numeric(12,2)"));
        assert!(!binary_coercible("numeric(10,2)", "numeric(12,3)"));
        assert!(!binary_coercible("integer", "bigint"));
        assert!(!binary_coercible("text", "varchar(10)"));
    }
}
