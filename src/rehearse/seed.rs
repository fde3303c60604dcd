//! Fills every user table of a scratch database with synthetic rows, so a rehearsal's DDL,
//! backfills and simulated traffic meet realistic volumes and every constraint already holds.
//!
//! One `INSERT … SELECT … FROM generate_series(1, N) AS g` per table, parents first. A foreign
//! key takes its values from the parent's existing rows: row g joins the parent's row number
//! `(g - 1) % parent_rows + 1` (numbered by `row_number() OVER ()`), which works whatever made
//! the parent's key (identity, serial, a default, generated values, rows that were already
//! there) instead of predicting it.
//!
//! Uniqueness comes from `value_sql`: distinct g ⇒ distinct values, up to the per-type limits it
//! documents (bool and enum columns never hold more distinct values than they have, int2 wraps
//! after 8_000 rows, numeric(p,s) after 10^p / 4, time(0) after 21_600). A unique key made only
//! of foreign-key columns is unique while the parent has at least as many rows as the child.

use std::collections::HashMap;

use postgres::Client;

use super::model::{ColumnModel, TableModel, quote_ident, value_sql};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// (qualified name, rows inserted), in the order they were seeded.
    pub tables: Vec<(String, u64)>,
    /// (qualified name, why): views and tables that could not be seeded.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot seed {table}: {message}")]
    Table { table: String, message: String },
    #[error("seeding failed: {}", describe(.0))]
    Db(#[from] postgres::Error),
}

/// The server's message, detail and SQLSTATE: `postgres::Error`'s Display says only "db error".
pub fn describe(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = db.message().to_string();
    if let Some(detail) = db.detail() {
        // "Failing row contains (…)" can be a whole wide row; the start identifies it.
        let cut: String = detail.chars().take(300).collect();
        s.push_str(&format!(
            " ({cut}{})",
            if cut.len() < detail.len() { "…" } else { "" }
        ));
    }
    if let Some(hint) = db.hint() {
        s.push_str(&format!("; hint: {hint}"));
    }
    format!("{s} [SQLSTATE {}]", db.code().code())
}

/// How one column gets its value in the INSERT.
#[derive(Clone)]
enum Fill {
    /// Left out of the column list: the database fills it (identity, serial, generated,
    /// default) or it stays NULL.
    Omit,
    Null,
    Expr(String),
}

/// Seeds `rows` rows into every table of `tables` (views are reported as skipped), parents
/// before children, then runs ANALYZE on the seeded tables.
///
/// Foreign-key cycles are broken by inserting one nullable foreign key as NULL and filling it
/// with an UPDATE once every table has rows; a self-reference is handled the same way (row g
/// points at row g / 2, a binary tree whose root stays NULL), or, when NOT NULL, computed in the
/// INSERT from the referenced columns' `value_sql` (row g points at row max(g / 2, 1)). A cycle
/// through NOT NULL columns only, a NOT NULL column of a type `value_sql` cannot produce and
/// without a default, and a NOT NULL foreign key whose parent has no rows put the table in
/// `skipped`. A CHECK violation is retried once with the nullable CHECK (and domain-typed)
/// columns set to NULL; any other failure is `SeedError::Table` with the server's message.
pub fn seed(
    client: &mut Client,
    tables: &[TableModel],
    rows: u64,
) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    for t in tables.iter().filter(|t| t.is_view) {
        report.skipped.push((
            t.qualified(),
            "view: gets its rows from its base tables".to_string(),
        ));
    }
    let order = plan_order(tables);
    let mut seeded = Vec::new();
    for step in &order {
        let t = &tables[step.table];
        if let Some(why) = &step.skip {
            report.skipped.push((t.qualified(), why.clone()));
            continue;
        }
        match seed_table(client, t, rows, &step.deferred)? {
            Ok(n) => {
                report.tables.push((t.qualified(), n));
                seeded.push(step);
            }
            Err(why) => report.skipped.push((t.qualified(), why)),
        }
    }
    // Every table that will get rows has them now, so the foreign keys left NULL can point at
    // real rows.
    for step in &seeded {
        let t = &tables[step.table];
        for &fi in &step.deferred {
            fill_deferred(client, t, fi)?;
        }
    }
    if !seeded.is_empty() {
        let names: Vec<String> = seeded.iter().map(|s| tables[s.table].qualified()).collect();
        client.batch_execute(&format!("ANALYZE {}", names.join(", ")))?;
    }
    Ok(report)
}

pub(crate) struct Step {
    pub table: usize,
    /// Indexes into the table's `foreign_keys` inserted as NULL and filled afterwards.
    pub deferred: Vec<usize>,
    pub skip: Option<String>,
}

fn key(schema: &str, name: &str) -> (String, String) {
    (schema.to_string(), name.to_string())
}

fn all_nullable<S: AsRef<str>>(t: &TableModel, cols: &[S]) -> bool {
    cols.iter()
        .all(|c| t.column(c.as_ref()).is_some_and(|col| !col.not_null))
}

/// Topological order over foreign keys (parents first). When every remaining table waits on
/// another, the blockage is a cycle: defer one nullable foreign key on it, or, if the cycle has
/// only NOT NULL keys, skip one of its tables (its dependants then find an empty parent).
pub(crate) fn plan_order(tables: &[TableModel]) -> Vec<Step> {
    let index: HashMap<(String, String), usize> = tables
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_view)
        .map(|(i, t)| (key(&t.schema, &t.name), i))
        .collect();
    // deps[i] = (fk index, parent) for foreign keys to another table being seeded.
    let mut deps: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
    let mut deferred: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut pending: Vec<usize> = Vec::new();
    for (i, t) in tables.iter().enumerate().filter(|(_, t)| !t.is_view) {
        pending.push(i);
        for (fi, fk) in t.foreign_keys.iter().enumerate() {
            // A NOT NULL self-reference is computed inside the INSERT (see seed_table).
            match index.get(&key(&fk.ref_schema, &fk.ref_table)) {
                Some(&p) if p == i && all_nullable(t, &fk.columns) => {
                    deferred.entry(i).or_default().push(fi);
                }
                Some(&p) if p != i => deps.entry(i).or_default().push((fi, p)),
                _ => {}
            }
        }
    }
    let mut done = vec![false; tables.len()];
    let mut steps = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|i| deps.get(i).is_none_or(|d| d.iter().all(|&(_, p)| done[p])))
            .collect();
        if !ready.is_empty() {
            for &i in &ready {
                done[i] = true;
                steps.push(Step {
                    table: i,
                    deferred: deferred.remove(&i).unwrap_or_default(),
                    skip: None,
                });
            }
            pending.retain(|i| !done[*i]);
            continue;
        }
        // Stuck: find the edges that lie on a cycle (the parent depends back on the child).
        let mut cycle_edges = Vec::new();
        for &i in &pending {
            for &(fi, p) in deps.get(&i).map(Vec::as_slice).unwrap_or_default() {
                if !done[p] && reaches(&deps, &done, p, i) {
                    cycle_edges.push((i, fi));
                }
            }
        }
        let breakable = cycle_edges
            .iter()
            .find(|&&(i, fi)| all_nullable(&tables[i], &tables[i].foreign_keys[fi].columns));
        if let Some(&(i, fi)) = breakable {
            deferred.entry(i).or_default().push(fi);
            if let Some(d) = deps.get_mut(&i) {
                d.retain(|&(f, _)| f != fi);
            }
        } else if let Some(&(i, _)) = cycle_edges.first() {
            done[i] = true;
            pending.retain(|&x| x != i);
            steps.push(Step {
                table: i,
                deferred: Vec::new(),
                skip: Some("foreign-key cycle through NOT NULL columns only".to_string()),
            });
        } else {
            // Unreachable in a consistent graph; never loop forever if it happens.
            for &i in &pending {
                steps.push(Step {
                    table: i,
                    deferred: Vec::new(),
                    skip: Some("could not order its foreign keys".to_string()),
                });
            }
            pending.clear();
        }
    }
    steps
}

/// Whether `from` depends, through pending tables, on `to`.
fn reaches(
    deps: &HashMap<usize, Vec<(usize, usize)>>,
    done: &[bool],
    from: usize,
    to: usize,
) -> bool {
    let mut seen = vec![false; done.len()];
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if std::mem::replace(&mut seen[x], true) {
            continue;
        }
        for &(_, p) in deps.get(&x).map(Vec::as_slice).unwrap_or_default() {
            if !done[p] {
                stack.push(p);
            }
        }
    }
    false
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// `SELECT r0, r1, …, row_number() OVER () AS rn FROM parent WHERE <all not null>` and the
/// number of such rows: the parent rows a foreign key can point at.
fn pool<S: AsRef<str>>(
    client: &mut Client,
    parent: &str,
    ref_cols: &[S],
) -> Result<(String, i64), postgres::Error> {
    let not_null: Vec<String> = ref_cols
        .iter()
        .map(|c| format!("{} IS NOT NULL", quote_ident(c.as_ref())))
        .collect();
    let filter = not_null.join(" AND ");
    let count: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {parent} WHERE {filter}"),
            &[],
        )?
        .try_get(0)?;
    let cols: Vec<String> = ref_cols
        .iter()
        .enumerate()
        .map(|(j, c)| format!("{} AS r{j}", quote_ident(c.as_ref())))
        .collect();
    let sql = format!(
        "SELECT {}, row_number() OVER () AS rn FROM {parent} WHERE {filter}",
        cols.join(", ")
    );
    Ok((sql, count))
}

/// Seeds one table: Ok(Ok(rows)), Ok(Err(why skipped)), or an error.
fn seed_table(
    client: &mut Client,
    t: &TableModel,
    rows: u64,
    deferred: &[usize],
) -> Result<Result<u64, String>, SeedError> {
    let me = t.qualified();
    // Generated columns cannot be written, not even when a foreign key covers them.
    let mut fills: HashMap<&str, Fill> = t
        .columns
        .iter()
        .filter(|c| c.generated)
        .map(|c| (c.name.as_str(), Fill::Omit))
        .collect();
    let mut joins = Vec::new();
    for (fi, fk) in t.foreign_keys.iter().enumerate() {
        // Columns already set by an earlier, overlapping foreign key keep that value.
        let free: Vec<(&str, &str)> = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(c, r)| (c.as_str(), r.as_str()))
            .filter(|(c, _)| !fills.contains_key(c))
            .collect();
        if free.is_empty() {
            continue;
        }
        let free_cols: Vec<&str> = free.iter().map(|(c, _)| *c).collect();
        let overlaps = free.len() < fk.columns.len();
        if deferred.contains(&fi) || (overlaps && all_nullable(t, &free_cols)) {
            // One NULL column exempts a MATCH SIMPLE key from the check.
            for c in &free_cols {
                fills.insert(*c, Fill::Null);
            }
            continue;
        }
        let is_self = fk.ref_schema == t.schema && fk.ref_table == t.name;
        if is_self {
            // NOT NULL self-reference: the parent's key must be computable here and now.
            for (c, rc) in &free {
                let computed = t
                    .column(rc)
                    .filter(|rcol| !db_filled(rcol))
                    .filter(|_| {
                        !t.foreign_keys
                            .iter()
                            .any(|f| f.columns.iter().any(|x| x == rc))
                    })
                    .and_then(|rcol| value_sql(rcol, "greatest(g / 2, 1)", "s"));
                match computed {
                    Some(e) => {
                        fills.insert(*c, Fill::Expr(e));
                    }
                    None => {
                        return Ok(Err(format!(
                            "NOT NULL self-referencing foreign key ({}) to a key the database \
                             generates",
                            free_cols.join(", ")
                        )));
                    }
                }
            }
            continue;
        }
        let refs: Vec<&str> = free.iter().map(|(_, r)| *r).collect();
        let (sql, count) = pool(client, &qualified(&fk.ref_schema, &fk.ref_table), &refs)?;
        if count == 0 {
            if all_nullable(t, &free_cols) {
                for c in &free_cols {
                    fills.insert(*c, Fill::Null);
                }
                continue;
            }
            return Ok(Err(format!(
                "NOT NULL foreign key ({}) references {}, which has no rows",
                free_cols.join(", "),
                qualified(&fk.ref_schema, &fk.ref_table)
            )));
        }
        joins.push(format!(
            " LEFT JOIN ({sql}) AS p{fi} ON p{fi}.rn = (g - 1) % {count} + 1"
        ));
        for (j, c) in free_cols.iter().enumerate() {
            fills.insert(*c, Fill::Expr(format!("p{fi}.r{j}")));
        }
    }
    for col in &t.columns {
        if fills.contains_key(col.name.as_str()) {
            continue;
        }
        let fill = if col.identity || col.serial || col.generated {
            Fill::Omit
        } else if let Some(e) = value_sql(col, "g", "s") {
            Fill::Expr(e)
        } else if col.has_default || !col.not_null {
            Fill::Omit
        } else {
            return Ok(Err(format!(
                "NOT NULL column {} has type {}, which cannot be generated, and no default",
                quote_ident(&col.name),
                col.type_sql
            )));
        };
        fills.insert(&col.name, fill);
    }

    let mut retried = false;
    loop {
        let sql = insert_sql(t, &fills, &joins, rows);
        match client.execute(&sql, &[]) {
            Ok(n) => return Ok(Ok(n)),
            Err(e) if e.as_db_error().is_none() => return Err(e.into()),
            Err(e) => {
                let check = e.code() == Some(&postgres::error::SqlState::CHECK_VIOLATION);
                if check && !retried {
                    retried = true;
                    let mut changed = false;
                    for name in check_columns(client, &me)? {
                        let nullable = t.column(&name).is_some_and(|c| !c.not_null);
                        if let Some(f @ Fill::Expr(_)) = fills.get_mut(name.as_str())
                            && nullable
                        {
                            *f = Fill::Null;
                            changed = true;
                        }
                    }
                    if changed {
                        continue;
                    }
                }
                return Err(SeedError::Table {
                    table: me,
                    message: describe(&e),
                });
            }
        }
    }
}

/// The database fills this column itself, so its value cannot be predicted in SQL.
fn db_filled(c: &ColumnModel) -> bool {
    c.identity || c.serial || c.generated
}

fn insert_sql(t: &TableModel, fills: &HashMap<&str, Fill>, joins: &[String], rows: u64) -> String {
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    let mut overriding = "";
    for col in &t.columns {
        match fills.get(col.name.as_str()) {
            Some(Fill::Expr(e)) => exprs.push(e.clone()),
            // Typed, so the NULL never resolves to text and fails to convert.
            Some(Fill::Null) => exprs.push(format!("NULL::{}", col.type_sql)),
            Some(Fill::Omit) | None => continue,
        }
        // Only a foreign key writes an identity column (a one-to-one key); GENERATED ALWAYS
        // refuses that without OVERRIDING SYSTEM VALUE.
        if col.identity {
            overriding = " OVERRIDING SYSTEM VALUE";
        }
        cols.push(quote_ident(&col.name));
    }
    // With no columns to write, a zero-column SELECT still yields one row of defaults per g.
    let target = if cols.is_empty() {
        String::new()
    } else {
        format!(" ({}){overriding}", cols.join(", "))
    };
    format!(
        "INSERT INTO {}{target} SELECT {} FROM generate_series(1, {rows}) AS g{}",
        t.qualified(),
        exprs.join(", "),
        joins.concat()
    )
}

/// Columns named in the table's CHECK constraints or typed with a domain that has one.
fn check_columns(client: &mut Client, table: &str) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT a.attname::text FROM pg_attribute a
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND (a.attnum IN (SELECT unnest(conkey) FROM pg_constraint
                             WHERE conrelid = $1::text::regclass AND contype = 'c')
             OR EXISTS (SELECT 1 FROM pg_constraint d
                        WHERE d.contypid = a.atttypid AND d.contype = 'c'))",
        &[&table],
    )?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Points a foreign key that was inserted as NULL at existing rows: for a self-reference row
/// number r gets row r / 2 (row 1 stays NULL), otherwise the parent's row (r - 1) % P + 1.
fn fill_deferred(client: &mut Client, t: &TableModel, fi: usize) -> Result<(), SeedError> {
    let fk = &t.foreign_keys[fi];
    let me = t.qualified();
    let parent = qualified(&fk.ref_schema, &fk.ref_table);
    let (pool_sql, count) = pool(client, &parent, &fk.ref_columns)?;
    if count == 0 {
        return Ok(());
    }
    let is_self = fk.ref_schema == t.schema && fk.ref_table == t.name;
    let target = if is_self {
        "c.rn / 2".to_string()
    } else {
        format!("(c.rn - 1) % {count} + 1")
    };
    let sets: Vec<String> = fk
        .columns
        .iter()
        .enumerate()
        .map(|(j, col)| format!("{} = p.r{j}", quote_ident(col)))
        .collect();
    // tableoid with ctid, because ctid alone repeats across partitions.
    let sql = format!(
        "UPDATE {me} AS x SET {} \
         FROM (SELECT tableoid AS o, ctid AS t, row_number() OVER () AS rn FROM {me}) AS c \
         JOIN ({pool_sql}) AS p ON p.rn = {target} \
         WHERE x.tableoid = c.o AND x.ctid = c.t",
        sets.join(", ")
    );
    match client.execute(&sql, &[]) {
        Ok(_) => Ok(()),
        Err(e) if e.as_db_error().is_some() => Err(SeedError::Table {
            table: me,
            message: format!(
                "filling foreign key ({}) after insert: {}",
                fk.columns.join(", "),
                describe(&e)
            ),
        }),
        Err(e) => Err(e.into()),
    }
}
