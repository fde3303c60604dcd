//! Seeds N rows into every table of a MySQL/MariaDB scratch database, parents before children
//! (the same ordering as the PostgreSQL seeder), with one `INSERT … SELECT` per table over a
//! generated number series, so types, NOT NULL, unique keys and foreign keys hold.

use mysql::Conn;
use mysql::prelude::Queryable;

use super::model::{qualified, value_sql};
use crate::db::mysql::{self as my, quote_ident};
use crate::rehearse::model::TableModel;
use crate::rehearse::seed::{SeedReport, plan_order};

/// `SELECT … AS n FROM …` for n in 0..10^k ≥ rows, from the digits 0-9 of the `d` CTE
/// ([`DIGITS`]): the cross product of as many digit tables as `rows` needs (no server-side
/// series generator is common to MySQL and MariaDB).
fn series(rows: u64) -> String {
    let digits = rows.saturating_sub(1).max(1).to_string().len();
    let from: Vec<String> = (0..digits).map(|i| format!("d AS d{i}")).collect();
    let n: Vec<String> = (0..digits)
        .map(|i| format!("d{i}.n * {}", 10_u64.pow(i as u32)))
        .collect();
    format!("SELECT {} AS n FROM {}", n.join(" + "), from.join(", "))
}

const DIGITS: &str = "WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9)";

/// Seeds `rows` rows into every table. A table with a NOT NULL column safeshift cannot produce
/// a value for (and no default), or with a NOT NULL foreign key to a table without rows, is
/// skipped with the reason. Nullable foreign keys in a cycle, and nullable self-references,
/// stay NULL.
pub fn seed(conn: &mut Conn, tables: &[TableModel], rows: u64) -> Result<SeedReport, String> {
    let mut report = SeedReport::default();
    if rows == 0 {
        return Ok(report);
    }
    for step in plan_order(tables) {
        let t = &tables[step.table];
        if let Some(why) = step.skip {
            report.skipped.push((t.name.clone(), why));
            continue;
        }
        match seed_table(conn, t, rows, &step.deferred)? {
            Ok(n) => report.tables.push((t.name.clone(), n)),
            Err(why) => report.skipped.push((t.name.clone(), why)),
        }
    }
    Ok(report)
}

/// `Ok(Ok(rows))` when seeded, `Ok(Err(why))` when skipped.
fn seed_table(
    conn: &mut Conn,
    t: &TableModel,
    rows: u64,
    deferred: &[usize],
) -> Result<Result<u64, String>, String> {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut joins = Vec::new();
    for column in &t.columns {
        if column.generated || column.serial {
            continue;
        }
        let fk = t.foreign_keys.iter().enumerate().find_map(|(i, fk)| {
            fk.columns
                .iter()
                .position(|c| *c == column.name)
                .map(|p| (i, fk, p))
        });
        let value = match fk {
            Some((i, _, _)) if deferred.contains(&i) => None,
            Some((_, fk, _)) if fk.ref_table == t.name => {
                // A self-reference: NULL when allowed (the root rows), else not seedable here.
                if column.not_null {
                    return Ok(Err(format!(
                        "NOT NULL self-referencing foreign key on {} (seed it in a schema file)",
                        column.name
                    )));
                }
                None
            }
            Some((i, fk, position)) => {
                let parent = quote_ident(&fk.ref_table);
                let Some(ref_column) = fk.ref_columns.get(position) else {
                    continue;
                };
                let count: u64 = my::first_value(conn, &format!("SELECT COUNT(*) FROM {parent}"))
                    .map_err(|e| my::describe(&e))?
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                if count == 0 {
                    if column.not_null {
                        return Ok(Err(format!(
                            "NOT NULL foreign key to {}, which has no rows",
                            fk.ref_table
                        )));
                    }
                    None
                } else {
                    let alias = format!("p{i}");
                    if !joins
                        .iter()
                        .any(|j: &String| j.contains(&format!(" AS {alias} ")))
                    {
                        let cols: Vec<String> =
                            fk.ref_columns.iter().map(|c| quote_ident(c)).collect();
                        joins.push(format!(
                            "JOIN (SELECT {}, ROW_NUMBER() OVER (ORDER BY {}) - 1 AS rn FROM {parent}) AS {alias} ON {alias}.rn = g.n % {count}",
                            cols.join(", "),
                            cols.join(", ")
                        ));
                    }
                    Some(format!("{alias}.{}", quote_ident(ref_column)))
                }
            }
            None => value_sql(column, "g.n", "s"),
        };
        match value {
            Some(v) => {
                columns.push(quote_ident(&column.name));
                values.push(v);
            }
            None if !column.not_null || column.has_default => {}
            None => {
                return Ok(Err(format!(
                    "no value for the NOT NULL column {} ({})",
                    column.name, column.type_sql
                )));
            }
        }
    }
    if columns.is_empty() {
        return Ok(Err("no column safeshift can fill".into()));
    }
    let sql = format!(
        "INSERT INTO {} ({}) {DIGITS} SELECT {} FROM ({}) AS g {} WHERE g.n < {rows}",
        qualified(t),
        columns.join(", "),
        values.join(", "),
        series(rows),
        joins.join(" ")
    );
    conn.query_drop(&sql)
        .map_err(|e| format!("cannot seed {}: {}", t.name, my::describe(&e)))?;
    let inserted = conn.affected_rows();
    // Fresh statistics, as after a real load: the plans' estimates and the optimizer read them.
    let _ = conn.query_drop(format!("ANALYZE TABLE {}", qualified(t)));
    Ok(Ok(inserted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_has_enough_digits() {
        assert!(series(10).contains("d0.n * 1 AS n FROM d AS d0"));
        assert!(!series(10).contains("d1"));
        assert!(series(10_000).contains("d3.n * 1000"));
        assert!(!series(10_000).contains("d4"));
        assert!(series(10_001).contains("d4.n * 10000"));
    }
}
