//! MySQL/MariaDB: the re-runnable spelling of the statements a stage passes through.
//!
//! Every DDL statement commits on its own, so every `up.sql` and `down.sql` may stop after any
//! statement (a lock timeout, Ctrl-C) or be run again after it finished; running it again must
//! give what one run gives. The plan's own steps already say so (`ADD/DROP COLUMN IF [NOT]
//! EXISTS`, `DROP TRIGGER IF EXISTS` before `CREATE TRIGGER`, guarded column swaps); this module
//! spells the rest, statement by statement, in a form that works on MySQL 8 and MariaDB 10.3+:
//!
//! - `CREATE TABLE` gains `IF NOT EXISTS`, `DROP TABLE` gains `IF EXISTS`, `CREATE VIEW` becomes
//!   `CREATE OR REPLACE VIEW`;
//! - an `ALTER TABLE` with an action that adds or drops a named constraint, a foreign key or the
//!   primary key, adds a foreign key without a name, or drops a column (on MariaDB also one that
//!   adds a column as written, `ADD [COLUMN] name …`), and a `RENAME TABLE`, run through a
//!   prepared statement chosen from `information_schema` ([`guarded`]): skipped when their work
//!   is there (one such statement is atomic, so one action tells).
//!
//! A skip of a named object never hides a conflict: an added constraint is skipped only when a
//! constraint of that name *and kind* is on the table, a primary key only when the table's key
//! has exactly the planned columns; otherwise the statement runs and the server refuses it
//! (duplicate name, multiple primary key) as it would have. What the server names or the
//! statement does not spell out is told by less: an unnamed foreign key (the server names it
//! `<table>_ibfk_N`, and would add a second one) by a foreign key linking exactly those columns
//! to exactly those of that table, whatever its ON DELETE / ON UPDATE rules; an added column by
//! its name, whatever its definition (as MariaDB's `ADD COLUMN IF NOT EXISTS`). Statements of
//! another shape are kept as written.

use super::mysql::literal;
use crate::plan::Sql;

/// `sql`, spelled so that running it again (whole, or after it stopped at any statement) gives
/// the result of one run. `columns`: an `ADD [COLUMN]` is guarded too — on MariaDB, whose files
/// are re-runnable throughout (its plan's own steps say `ADD COLUMN IF NOT EXISTS`; what is left
/// is a column added as written). MySQL 8's files are not (no `IF [NOT] EXISTS` for columns and
/// indexes: they say to go on from the statement that gave up), and keep their `ADD COLUMN` as
/// written.
pub fn statements(sql: &[Sql], columns: bool) -> Vec<Sql> {
    let mut out = Vec::with_capacity(sql.len());
    for s in sql {
        let texts = rerunnable(&s.text, columns);
        let last = texts.len().saturating_sub(1);
        for (i, text) in texts.into_iter().enumerate() {
            out.push(Sql {
                text,
                why: if i == last { s.why.clone() } else { None },
            });
        }
    }
    out
}

/// One statement in its re-runnable spelling (`columns`: as in [`statements`]).
pub fn rerunnable(text: &str, columns: bool) -> Vec<String> {
    let toks = lex(text);
    let word = |i: usize| toks.get(i).map(|t| t.word()).unwrap_or_default();
    let result = match (word(0).as_str(), word(1).as_str()) {
        ("create", "table") if word(2) != "if" => {
            Some(vec![insert_after(text, &toks[1], " IF NOT EXISTS")])
        }
        // A base table of that name makes the server refuse it (not a view), as it would have.
        ("create", "view") => Some(vec![insert_after(text, &toks[0], " OR REPLACE")]),
        ("drop", "table") if word(2) != "if" => {
            Some(vec![insert_after(text, &toks[1], " IF EXISTS")])
        }
        ("alter", "table") => alter_table(text, &toks, columns),
        ("rename", "table") => rename_table(text, &toks),
        _ => None,
    };
    result.unwrap_or_else(|| vec![text.to_string()])
}

fn insert_after(text: &str, tok: &Tok, what: &str) -> String {
    format!("{}{what}{}", &text[..tok.end], &text[tok.end..])
}

/// A `HAVING` condition true when the group's rows are exactly `columns`, position by position:
/// as many rows as names, and the row at position `n` (1-based, in `position`) names the `n`th
/// of each list. Compared name by name rather than as one joined string, so a column whose name
/// holds the separator cannot match a key on two other columns.
fn same_columns(position: &str, columns: &[(&str, &[String])]) -> String {
    let count = columns.first().map_or(0, |(_, names)| names.len());
    let rows: Vec<String> = (0..count)
        .map(|n| {
            let values: Vec<String> = columns
                .iter()
                .filter_map(|(_, names)| names.get(n).map(|name| literal(name)))
                .collect();
            format!("({}, {})", n + 1, values.join(", "))
        })
        .collect();
    let fields: Vec<&str> = columns.iter().map(|(field, _)| *field).collect();
    format!(
        "COUNT(*) = {count} AND SUM(({position}, {}) IN ({})) = {count}",
        fields.join(", "),
        rows.join(", ")
    )
}

/// `SET @safeshift_sql = IF(condition, statement, 'DO 0')` and its PREPARE/EXECUTE: the same
/// spelling the plan's column swaps use (`ops::recipes::mysql::guarded`), a `SET` of a session
/// variable and a prepared statement, so a stop between them leaves nothing behind.
pub fn guarded(condition: &str, statement: &str) -> Vec<String> {
    vec![
        format!(
            "SET @safeshift_sql = IF({condition}, {}, 'DO 0')",
            literal(statement)
        ),
        "PREPARE safeshift_stmt FROM @safeshift_sql".to_string(),
        "EXECUTE safeshift_stmt".to_string(),
        "DEALLOCATE PREPARE safeshift_stmt".to_string(),
    ]
}

/// What one `ALTER TABLE` action does, for the ones a guard can tell done.
enum Action {
    AddConstraint {
        name: String,
        kind: &'static str,
    },
    AddPrimaryKey(Vec<String>),
    DropConstraint {
        name: String,
        kind: Option<&'static str>,
    },
    DropPrimaryKey,
    DropColumn(String),
    /// `ADD [CONSTRAINT] FOREIGN KEY [index] (columns) REFERENCES table (columns)`: the server
    /// names it (`<table>_ibfk_N`), so it is told done by what it links, not by a name.
    AddForeignKey {
        columns: Vec<String>,
        schema: Option<String>,
        table: String,
        references: Vec<String>,
    },
    /// `ADD [COLUMN] name definition`.
    AddColumn(String),
}

fn alter_table(text: &str, toks: &[Tok], columns: bool) -> Option<Vec<String>> {
    let (schema, table, mut i) = table_name(toks, 2)?;
    // The actions, split at top-level commas; ALGORITHM= and LOCK= are options, not actions.
    let mut actions: Vec<&[Tok]> = Vec::new();
    let mut depth = 0i32;
    let mut start = i;
    while i <= toks.len() {
        let end = i == toks.len();
        if !end {
            match toks[i].text.as_str() {
                "(" => depth += 1,
                ")" => depth -= 1,
                _ => {}
            }
        }
        if end || (depth == 0 && toks[i].text == ",") {
            let part = &toks[start..i];
            let first = part.first().map(|t| t.word()).unwrap_or_default();
            if !matches!(first.as_str(), "algorithm" | "lock") {
                actions.push(part);
            }
            start = i + 1;
        }
        i += 1;
    }
    // One ALTER is atomic: it is done exactly when any one of its actions is. The last action
    // a guard can tell done decides (an added primary key over the dropped one before it; the
    // dropped old column of an online rename's contract, whose other actions are renames).
    // A column is told added by its name being there: not where the same statement also drops,
    // renames or changes columns (`DROP COLUMN a, ADD COLUMN a`), where the name may be there before.
    let renames = actions.iter().any(|a| {
        let first = a.first().map(|t| t.word()).unwrap_or_default();
        matches!(first.as_str(), "drop" | "change" | "rename")
    });
    let action = actions.iter().rev().find_map(|a| {
        parse_action(a)
            .filter(|action| !((renames || !columns) && matches!(action, Action::AddColumn(_))))
    })?;
    let schema = match &schema {
        Some(s) => literal(s),
        None => "DATABASE()".to_string(),
    };
    let table = literal(&table);
    let on_table = format!("TABLE_SCHEMA = {schema} AND TABLE_NAME = {table}");
    let constraint = |name: &str, kind: Option<&str>| {
        format!(
            "EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = {schema} AND {on_table} AND CONSTRAINT_NAME = {}{})",
            literal(name),
            kind.map(|k| format!(" AND CONSTRAINT_TYPE = {}", literal(k)))
                .unwrap_or_default()
        )
    };
    let primary_key = format!(
        "EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE {on_table} AND INDEX_NAME = 'PRIMARY')"
    );
    let condition = match action {
        Action::AddConstraint { name, kind } => format!("NOT {}", constraint(&name, Some(kind))),
        // Skipped only when the key has exactly these columns: another key makes the server
        // refuse the statement (multiple primary key), as it would have.
        Action::AddPrimaryKey(columns) => format!(
            "NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE {on_table} AND INDEX_NAME = 'PRIMARY' HAVING {})",
            same_columns("SEQ_IN_INDEX", &[("COLUMN_NAME", columns.as_slice())])
        ),
        Action::DropConstraint { name, kind } => constraint(&name, kind),
        Action::DropPrimaryKey => primary_key,
        Action::DropColumn(column) => format!(
            "EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE {on_table} AND COLUMN_NAME = {})",
            literal(&column)
        ),
        Action::AddColumn(column) => format!(
            "NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE {on_table} AND COLUMN_NAME = {})",
            literal(&column)
        ),
        // Skipped only when a foreign key of the table links exactly these columns to exactly
        // those of that table (its name, and its ON DELETE / ON UPDATE rules, are not compared).
        Action::AddForeignKey {
            columns,
            schema: referenced_schema,
            table: referenced_table,
            references,
        } => format!(
            "NOT EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_SCHEMA = {schema} AND {on_table} AND REFERENCED_TABLE_SCHEMA = {} AND REFERENCED_TABLE_NAME = {} GROUP BY CONSTRAINT_NAME HAVING {})",
            referenced_schema
                .as_deref()
                .map_or_else(|| "DATABASE()".to_string(), literal),
            literal(&referenced_table),
            same_columns(
                "ORDINAL_POSITION",
                &[
                    ("COLUMN_NAME", columns.as_slice()),
                    ("REFERENCED_COLUMN_NAME", references.as_slice())
                ]
            )
        ),
    };
    Some(guarded(&condition, text))
}

/// `RENAME TABLE a TO b[, c TO d …]` is atomic: done exactly when its last source is no longer
/// a base table (the swap `t TO old, new TO t` when `new` is gone; a view may take a renamed
/// table's name afterwards).
fn rename_table(text: &str, toks: &[Tok]) -> Option<Vec<String>> {
    let mut i = 2;
    let (schema, table) = loop {
        let (schema, table, next) = table_name(toks, i)?;
        if !toks.get(next)?.word().eq("to") {
            return None;
        }
        let (_, _, after) = table_name(toks, next + 1)?;
        match toks.get(after) {
            None => break (schema, table),
            Some(t) if t.text == "," => i = after + 1,
            Some(_) => return None,
        }
    };
    let schema = match &schema {
        Some(s) => literal(s),
        None => "DATABASE()".to_string(),
    };
    Some(guarded(
        &format!(
            "EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {schema} AND TABLE_NAME = {} AND TABLE_TYPE = 'BASE TABLE')",
            literal(&table)
        ),
        text,
    ))
}

fn parse_action(toks: &[Tok]) -> Option<Action> {
    let w = |i: usize| toks.get(i).map(|t| t.word()).unwrap_or_default();
    match (w(0).as_str(), w(1).as_str()) {
        ("add", "foreign") if w(2) == "key" => foreign_key(toks, 3),
        ("add", "constraint") if w(2) == "foreign" && w(3) == "key" => foreign_key(toks, 4),
        // `ADD COLUMN name …`, or the same without the word COLUMN (`ADD pk INT …`): any other
        // word after ADD is a keyword (ADD INDEX, ADD PERIOD FOR …), not a column's name.
        ("add", "column") if w(2) != "if" && toks.get(3).is_some() => {
            Some(Action::AddColumn(toks.get(2)?.ident()?))
        }
        ("add", first)
            if toks.get(2).is_some()
                && !matches!(
                    first,
                    "column"
                        | "constraint"
                        | "primary"
                        | "unique"
                        | "foreign"
                        | "check"
                        | "index"
                        | "key"
                        | "fulltext"
                        | "spatial"
                        | "partition"
                        | "period"
                        | "system"
                        | "if"
                ) =>
        {
            Some(Action::AddColumn(toks.get(1)?.ident()?))
        }
        ("add", "constraint") => {
            let name = toks.get(2)?.ident()?;
            let kind = match w(3).as_str() {
                "check" => "CHECK",
                "foreign" => "FOREIGN KEY",
                "unique" => "UNIQUE",
                _ => return None,
            };
            Some(Action::AddConstraint { name, kind })
        }
        ("add", "primary") if w(2) == "key" && toks.get(3)?.text == "(" => {
            let mut columns = Vec::new();
            let mut i = 4;
            loop {
                columns.push(toks.get(i)?.ident()?);
                match toks.get(i + 1)?.text.as_str() {
                    "," => i += 2,
                    ")" if i + 2 == toks.len() => break,
                    _ => return None,
                }
            }
            Some(Action::AddPrimaryKey(columns))
        }
        ("drop", "primary") if w(2) == "key" && toks.len() == 3 => Some(Action::DropPrimaryKey),
        ("drop", "foreign") if w(2) == "key" && w(3) != "if" && toks.len() == 4 => {
            Some(Action::DropConstraint {
                name: toks[3].ident()?,
                kind: Some("FOREIGN KEY"),
            })
        }
        ("drop", "constraint" | "check") if w(2) != "if" && toks.len() == 3 => {
            Some(Action::DropConstraint {
                name: toks[2].ident()?,
                kind: None,
            })
        }
        ("drop", "column") if w(2) != "if" && toks.len() == 3 => {
            Some(Action::DropColumn(toks[2].ident()?))
        }
        _ => None,
    }
}

/// `FOREIGN KEY [index] (columns) REFERENCES [schema.]table (columns) …`, from the token after KEY.
fn foreign_key(toks: &[Tok], mut i: usize) -> Option<Action> {
    if toks.get(i)?.text != "(" {
        // The index's name (MySQL: the key's too, where no CONSTRAINT names it): not compared.
        toks.get(i)?.ident()?;
        i += 1;
    }
    let (columns, next) = column_list(toks, i)?;
    if toks.get(next)?.word() != "references" {
        return None;
    }
    let (schema, table, next) = table_name(toks, next + 1)?;
    let (references, _) = column_list(toks, next)?;
    (columns.len() == references.len()).then_some(Action::AddForeignKey {
        columns,
        schema,
        table,
        references,
    })
}

/// `(a, b …)` at token `i` (bare names, no prefix lengths or order): the names and the token after.
fn column_list(toks: &[Tok], i: usize) -> Option<(Vec<String>, usize)> {
    if toks.get(i)?.text != "(" {
        return None;
    }
    let mut columns = Vec::new();
    let mut i = i + 1;
    loop {
        columns.push(toks.get(i)?.ident()?);
        match toks.get(i + 1)?.text.as_str() {
            "," => i += 2,
            ")" => return Some((columns, i + 2)),
            _ => return None,
        }
    }
}

/// `name` or `schema.name` at token `i`: (schema, name, the token after).
fn table_name(toks: &[Tok], i: usize) -> Option<(Option<String>, String, usize)> {
    let first = toks.get(i)?.ident()?;
    if toks.get(i + 1).is_some_and(|t| t.text == ".") {
        let second = toks.get(i + 2)?.ident()?;
        return Some((Some(first), second, i + 3));
    }
    Some((None, first, i + 1))
}

/// A token: a word, a backquoted identifier, a quoted string, or one punctuation character.
struct Tok {
    text: String,
    end: usize,
}

impl Tok {
    /// A bare word, lower-cased (empty for anything else).
    fn word(&self) -> String {
        if self
            .text
            .starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$')
        {
            self.text.to_ascii_lowercase()
        } else {
            String::new()
        }
    }

    /// The identifier this token names (backquotes removed), if it is one.
    fn ident(&self) -> Option<String> {
        if let Some(inner) = self.text.strip_prefix('`') {
            return Some(inner.strip_suffix('`')?.replace("``", "`"));
        }
        let w = self.word();
        (!w.is_empty()).then(|| self.text.clone())
    }
}

fn lex(text: &str) -> Vec<Tok> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '`' || c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() {
                if chars[i].1 == '\\' && c != '`' {
                    i += 2;
                    continue;
                }
                if chars[i].1 == c {
                    if chars.get(i + 1).is_some_and(|&(_, n)| n == c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            while i < chars.len()
                && (chars[i].1.is_alphanumeric() || matches!(chars[i].1, '_' | '$'))
            {
                i += 1;
            }
        } else {
            i += 1;
        }
        let end = chars.get(i).map(|&(e, _)| e).unwrap_or(text.len());
        out.push(Tok {
            text: text[at..end].to_string(),
            end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_get_if_not_exists_and_if_exists() {
        assert_eq!(
            rerunnable("CREATE TABLE teams (id bigint PRIMARY KEY)", true),
            ["CREATE TABLE IF NOT EXISTS teams (id bigint PRIMARY KEY)"]
        );
        assert_eq!(
            rerunnable("DROP TABLE `a``b`", true),
            ["DROP TABLE IF EXISTS `a``b`"]
        );
        assert_eq!(
            rerunnable("DROP TABLE IF EXISTS t", true),
            ["DROP TABLE IF EXISTS t"]
        );
    }

    #[test]
    fn constraint_guards_name_the_kind_and_quote_names() {
        let out = rerunnable(
            "ALTER TABLE `o'x` ADD CONSTRAINT `c``1` FOREIGN KEY (a) REFERENCES u(id), ALGORITHM=INPLACE, LOCK=NONE",
            true,
        );
        assert_eq!(out.len(), 4);
        assert!(out[0].contains("CONSTRAINT_NAME = 'c`1'"), "{}", out[0]);
        assert!(out[0].contains("TABLE_NAME = 'o''x'"), "{}", out[0]);
        assert!(
            out[0].contains("CONSTRAINT_TYPE = 'FOREIGN KEY'"),
            "{}",
            out[0]
        );
        assert!(out[0].contains("'ALTER TABLE `o''x` ADD"), "{}", out[0]);
        // Two actions: the added key decides.
        let two = rerunnable(
            "ALTER TABLE grants DROP PRIMARY KEY, ADD PRIMARY KEY (signature, nid)",
            true,
        );
        assert!(
            two[0].contains("NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS"),
            "{}",
            two[0]
        );
        assert!(
            two[0].contains(
                "COUNT(*) = 2 AND SUM((SEQ_IN_INDEX, COLUMN_NAME) IN ((1, 'signature'), (2, 'nid'))) = 2"
            ),
            "{}",
            two[0]
        );
        // Nothing a guard can tell done: kept as written.
        let other = "ALTER TABLE t MODIFY COLUMN a int NOT NULL";
        assert_eq!(rerunnable(other, true), [other]);
        // An unnamed foreign key: told by what it links, the server names it.
        let fk = rerunnable(
            "ALTER TABLE `groups` ADD FOREIGN KEY (`periodId`) REFERENCES `periods`(`id`) ON DELETE RESTRICT, ALGORITHM=INPLACE, LOCK=NONE",
            true,
        );
        assert!(
            fk[0].contains(
                "REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = 'periods'"
            ) && fk[0].contains(
                "GROUP BY CONSTRAINT_NAME HAVING COUNT(*) = 1 AND SUM((ORDINAL_POSITION, COLUMN_NAME, REFERENCED_COLUMN_NAME) IN ((1, 'periodId', 'id'))) = 1)"
            ),
            "{}",
            fk[0]
        );
        let named_index = rerunnable(
            "ALTER TABLE t ADD CONSTRAINT FOREIGN KEY i (a, b) REFERENCES s.u (x, y)",
            true,
        );
        assert!(
            named_index[0]
                .contains("REFERENCED_TABLE_SCHEMA = 's' AND REFERENCED_TABLE_NAME = 'u'")
                && named_index[0].contains("IN ((1, 'a', 'x'), (2, 'b', 'y'))) = 2)"),
            "{}",
            named_index[0]
        );
        // A column added as written, with or without the word COLUMN.
        for add in [
            "ALTER TABLE clients ADD pk INT UNSIGNED AUTO_INCREMENT PRIMARY KEY",
            "ALTER TABLE clients ADD COLUMN `pk` INT UNSIGNED AUTO_INCREMENT PRIMARY KEY",
        ] {
            let out = rerunnable(add, true);
            assert!(
                out[0].contains(
                    "NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'clients' AND COLUMN_NAME = 'pk')"
                ),
                "{}",
                out[0]
            );
        }
        // Not a column: kept as written; a name the same statement drops first is no sign.
        for other in [
            "ALTER TABLE t ADD INDEX i (a)",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a int",
            "ALTER TABLE t ADD COLUMN (a int, b int)",
            "ALTER TABLE t CHANGE a b int, ADD a int",
        ] {
            assert_eq!(rerunnable(other, true), [other]);
        }
        // MySQL 8's files keep their ADD COLUMN as written.
        let mysql = "ALTER TABLE t ADD COLUMN a int, ALGORITHM=INSTANT";
        assert_eq!(rerunnable(mysql, false), [mysql]);
        let swap = rerunnable("RENAME TABLE `t` TO `old`, `new` TO `t`", true);
        assert!(
            swap[0].contains("TABLE_NAME = 'new' AND TABLE_TYPE = 'BASE TABLE'"),
            "{}",
            swap[0]
        );
    }
}
