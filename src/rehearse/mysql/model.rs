//! What a MySQL/MariaDB database looks like, as far as seeding rows and simulating the app
//! needs: base tables of the current database from `information_schema`, in the same
//! [`TableModel`] the PostgreSQL side uses, plus SQL expressions giving distinct values of a
//! column's type.

use std::collections::BTreeMap;

use mysql::Conn;

use crate::db::mysql::{self as my, quote_ident, quote_literal};
use crate::rehearse::model::{ColumnModel, ForeignKey, TableModel};

/// `table` of the current database, quoted.
pub fn qualified(table: &TableModel) -> String {
    quote_ident(&table.name)
}

/// Every base table of the current database (views are left out: MySQL views over one table
/// are insertable, but the plans use them only to bridge a rename, which the app versions see
/// under the table's name anyway).
pub fn read_tables(conn: &mut Conn) -> Result<Vec<TableModel>, mysql::Error> {
    let mut tables: BTreeMap<String, TableModel> = BTreeMap::new();
    // Tables of the current database get an empty schema, so the models read from the scratch
    // copy and from the naive one (two databases) name the same tables alike.
    let database = my::first_value(conn, "SELECT DATABASE()")?.unwrap_or_default();
    for row in my::rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )? {
        let name = row.into_iter().next().unwrap_or_default();
        tables.insert(
            name.clone(),
            TableModel {
                schema: String::new(),
                name,
                is_view: false,
                columns: Vec::new(),
                primary_key: Vec::new(),
                unique: Vec::new(),
                foreign_keys: Vec::new(),
            },
        );
    }
    let columns: Vec<mysql::Row> = mysql::prelude::Queryable::query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL, EXTRA, CHARACTER_MAXIMUM_LENGTH
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )?;
    for row in columns {
        let text = |i: usize| row.as_ref(i).map(my::value_text).unwrap_or_default();
        let Some(table) = tables.get_mut(&text(0)) else {
            continue;
        };
        let extra = text(6).to_ascii_lowercase();
        let type_sql = text(3);
        let base_type = text(2).to_ascii_lowercase();
        table.columns.push(ColumnModel {
            name: text(1),
            enum_labels: (base_type == "enum" || base_type == "set").then(|| labels(&type_sql)),
            base_type,
            type_sql,
            not_null: text(4) == "NO",
            // MariaDB writes a NULL default as the text 'NULL', so IS NOT NULL means "has one".
            has_default: text(5) == "1" || extra.contains("auto_increment"),
            identity: false,
            generated: extra.contains("generated")
                || extra.contains("virtual")
                || extra.contains("stored")
                || extra.contains("persistent"),
            serial: extra.contains("auto_increment"),
            max_len: text(7).parse().ok(),
            type_mod: -1,
        });
    }
    let mut keys: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for row in my::rows(
        conn,
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND COLUMN_NAME IS NOT NULL
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )? {
        if let [table, index, column] = row.as_slice() {
            keys.entry((table.clone(), index.clone()))
                .or_default()
                .push(column.clone());
        }
    }
    for ((table, index), columns) in keys {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        if index == "PRIMARY" {
            t.primary_key = columns;
        } else if !t.unique.contains(&columns) {
            t.unique.push(columns);
        }
    }
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for row in my::rows(
        conn,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
         FROM information_schema.KEY_COLUMN_USAGE
         WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
         ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    )? {
        if let [table, name, column, ref_schema, ref_table, ref_column] = row.as_slice() {
            let fk = fks
                .entry((table.clone(), name.clone()))
                .or_insert_with(|| ForeignKey {
                    columns: Vec::new(),
                    ref_schema: if *ref_schema == database {
                        String::new()
                    } else {
                        ref_schema.clone()
                    },
                    ref_table: ref_table.clone(),
                    ref_columns: Vec::new(),
                });
            fk.columns.push(column.clone());
            fk.ref_columns.push(ref_column.clone());
        }
    }
    for ((table, _), fk) in fks {
        if let Some(t) = tables.get_mut(&table) {
            t.foreign_keys.push(fk);
        }
    }
    let mut tables: Vec<TableModel> = tables.into_values().collect();
    for t in &mut tables {
        t.unique.retain(|u| *u != t.primary_key);
    }
    Ok(tables)
}

/// The members of `enum('a','b''c')` / `set(…)`, unquoted.
fn labels(type_sql: &str) -> Vec<String> {
    let Some(inner) = type_sql
        .find('(')
        .and_then(|start| type_sql.rfind(')').map(|end| &type_sql[start + 1..end]))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(next) = chars.next() {
                        label.push(next);
                    }
                }
                other => label.push(other),
            }
        }
        out.push(label);
    }
    out
}

/// `decimal(10,2)` → (10, 2).
fn precision_scale(type_sql: &str) -> Option<(u32, u32)> {
    let inner = &type_sql[type_sql.find('(')? + 1..type_sql.find(')')?];
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// A SQL expression whose value, of the column's type, is distinct for distinct values of the
/// integer SQL expression `n` (n >= 0), and distinct between salts for the same `n` — the same
/// contract as the PostgreSQL `value_sql`: numbers are `n % W + band * W`, with band 0 for the
/// seed (`"s"`), 2 for the old app (`"o"`), 3 for the new one (`"n"`), W chosen per type so all
/// four bands fit its range. Text is `n`, the salt and an MD5 filler, cut to the column's
/// length. `None` for a type with no generator here (spatial, bit(n > 1), uuid, inet…).
pub fn value_sql(col: &ColumnModel, n: &str, salt: &str) -> Option<String> {
    let band: i64 = match salt {
        "s" => 0,
        "o" => 2,
        "n" => 3,
        _ => 1,
    };
    let unsigned = col.type_sql.to_ascii_lowercase().contains("unsigned");
    let k = |w: i64| format!("(({n}) % {w} + {})", band * w);
    let salt_lit = quote_literal(salt);
    let text = |max: Option<u32>| {
        let t = format!("CONCAT({n}, {salt_lit}, '-', MD5(CONCAT({salt_lit}, {n})))");
        match max {
            Some(m) => format!("LEFT({t}, {m})"),
            None => t,
        }
    };
    Some(match col.base_type.as_str() {
        "tinyint" => k(if unsigned { 60 } else { 30 }),
        "smallint" => k(8_000),
        "mediumint" => k(2_000_000),
        "int" | "integer" => k(500_000_000),
        "bigint" | "double" | "real" => k(1_000_000_000_000_000),
        "float" => k(4_000_000),
        "decimal" | "numeric" => {
            let (p, s) = precision_scale(&col.type_sql).unwrap_or((10, 0));
            let digits = p.saturating_sub(s).min(15);
            k((10_i64.pow(digits) / 4).max(1))
        }
        "char" | "varchar" | "binary" | "varbinary" => text(col.max_len),
        "tinytext" | "tinyblob" => text(Some(255)),
        "text" | "mediumtext" | "longtext" | "blob" | "mediumblob" | "longblob" => text(None),
        "date" => format!("DATE_ADD('2000-01-01', INTERVAL {} DAY)", k(700_000)),
        "datetime" | "timestamp" => {
            format!(
                "DATE_ADD('2000-01-01 00:00:00', INTERVAL {} SECOND)",
                k(200_000_000)
            )
        }
        "time" => format!("SEC_TO_TIME({})", k(21_600)),
        "year" => format!("(1901 + {})", k(60)),
        "enum" | "set" => {
            let labels = col.enum_labels.as_ref().filter(|l| !l.is_empty())?;
            let list: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            format!(
                "ELT((({n}) + {band}) % {} + 1, {})",
                labels.len(),
                list.join(", ")
            )
        }
        "json" => format!("JSON_OBJECT('n', {n}, 'salt', {salt_lit})"),
        "bit" if col.type_sql.eq_ignore_ascii_case("bit(1)") => format!("(({n}) % 2)"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_are_unquoted() {
        assert_eq!(labels("enum('a','it''s','b,c')"), vec!["a", "it's", "b,c"]);
        assert_eq!(precision_scale("decimal(12,2)"), Some((12, 2)));
    }
}
