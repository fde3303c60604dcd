//! MySQL/MariaDB statements sqlparser cannot read. There is no MySQL grammar in Rust to ask, so
//! the forms real migration histories use are read here:
//!
//! - `"text"` is a string, as MySQL reads it (unless the server runs with `ANSI_QUOTES`);
//! - MariaDB's `ADD COLUMN IF NOT EXISTS`;
//! - the `BINARY` column attribute: taken out for sqlparser and put back as the column's own
//!   option;
//! - table options (`ENGINE=`, `ROW_FORMAT=`, `CONVERT TO CHARACTER SET`, …) in ALTER TABLE:
//!   taken out so the rest is checked, and listed in `ParsedStatement::left_out`;
//! - stored programs, prepared statements, table maintenance and the like, recognised by their
//!   first words.
//!
//! Anything else sqlparser rejects stays a syntax error.

use sqlparser::ast::{AlterTableOperation, ColumnOption, ColumnOptionDef, Ident, Statement};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::{Body, parse_tokens};
use crate::dialect::{Flavor, MySql};
use crate::error::{PlanError, Pos};

/// Words that start a table option in ALTER TABLE (`ENGINE=InnoDB`, `CONVERT TO …`).
const TABLE_OPTIONS: &[&str] = &[
    "ENGINE",
    "ROW_FORMAT",
    "CONVERT",
    "DEFAULT",
    "CHARSET",
    "CHARACTER",
    "COLLATE",
    "COMMENT",
    "AUTO_INCREMENT",
    "KEY_BLOCK_SIZE",
    "STATS_PERSISTENT",
    "STATS_AUTO_RECALC",
    "STATS_SAMPLE_PAGES",
    "PACK_KEYS",
    "CHECKSUM",
    "DELAY_KEY_WRITE",
    "AVG_ROW_LENGTH",
    "MAX_ROWS",
    "MIN_ROWS",
    "COMPRESSION",
    "ENCRYPTION",
    "INSERT_METHOD",
    "FORCE",
    "ORDER",
    "ENABLE",
    "DISABLE",
    "PAGE_CHECKSUM",
    "TRANSACTIONAL",
];

/// Types the `BINARY` attribute may follow.
const CHARACTER_TYPES: &[&str] = &[
    "CHAR",
    "VARCHAR",
    "TEXT",
    "TINYTEXT",
    "MEDIUMTEXT",
    "LONGTEXT",
    "ENUM",
    "SET",
];

/// Statement kinds recognised by their first word (or two).
const RECOGNISED_FIRST: &[&str] = &[
    "CALL",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DO",
    "SIGNAL",
    "RESIGNAL",
    "HANDLER",
    "OPTIMIZE",
    "ANALYZE",
    "CHECK",
    "REPAIR",
    "CHECKSUM",
    "FLUSH",
    "LOCK",
    "UNLOCK",
    "INSTALL",
    "UNINSTALL",
    "XA",
    "SET",
    "RENAME",
    "GRANT",
    "REVOKE",
];

/// Objects of CREATE/ALTER/DROP that safeshift recognises but does not read.
const RECOGNISED_OBJECTS: &[&str] = &[
    "PROCEDURE",
    "FUNCTION",
    "TRIGGER",
    "EVENT",
    "VIEW",
    "USER",
    "ROLE",
    "SERVER",
    "TABLESPACE",
    "LOGFILE",
];

pub(super) fn read(
    my: MySql,
    text: &str,
    start: Pos,
    error: PlanError,
    left_out: &mut Vec<String>,
) -> Body {
    let dialect = sqlparser::dialect::MySqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .take(12)
            .map(str::to_ascii_uppercase)
            .collect();
        return recognise(&words)
            .map_or(Body::Invalid(error), |keyword| Body::Recognised { keyword });
    };
    let words: Vec<String> = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .take(12)
        .collect();
    let mut rewrite = Rewrite::default();
    let tokens = rewrite.apply(my, &words, tokens);
    if rewrite.changed {
        if rewrite.nothing_left {
            left_out.extend(rewrite.left_out);
            return Body::Recognised {
                keyword: format!("ALTER TABLE … {}", left_out.join(", ")),
            };
        }
        if let Ok(mut statement) = parse_tokens(&dialect, tokens, start) {
            rewrite.restore(&mut statement);
            left_out.extend(rewrite.left_out);
            return Body::Ast(Box::new(statement));
        }
    }
    match recognise(&words) {
        Some(keyword) => Body::Recognised { keyword },
        None => Body::Invalid(error),
    }
}

/// The statement kind, for forms sqlparser cannot read.
fn recognise(words: &[String]) -> Option<String> {
    let first = words.first()?.as_str();
    if RECOGNISED_FIRST.contains(&first) {
        return Some(first.to_string());
    }
    if matches!(first, "CREATE" | "ALTER" | "DROP") {
        // CREATE [OR REPLACE] [DEFINER = …] [SQL SECURITY …] [ALGORITHM = …] PROCEDURE …
        if let Some(object) = words
            .iter()
            .skip(1)
            .take(8)
            .find(|w| RECOGNISED_OBJECTS.contains(&w.as_str()))
        {
            return Some(format!("{first} {object}"));
        }
        if let [_, kind, index, ..] = words
            && (kind == "FULLTEXT" || kind == "SPATIAL")
            && index == "INDEX"
        {
            return Some(format!("{first} {kind} INDEX"));
        }
    }
    None
}

/// Token edits that make a MySQL statement readable by sqlparser.
#[derive(Default)]
struct Rewrite {
    changed: bool,
    /// Every clause was a table option: nothing is left to parse.
    nothing_left: bool,
    left_out: Vec<String>,
    /// Indexes (among the ALTER TABLE's clauses) of ADD COLUMN IF NOT EXISTS.
    if_not_exists: Vec<usize>,
    /// Column attributes taken out (`BINARY`, `ZEROFILL`), with the column's name as written.
    attributes: Vec<(String, &'static str)>,
}

fn is_word(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

impl Rewrite {
    fn apply(
        &mut self,
        my: MySql,
        words: &[String],
        tokens: Vec<TokenWithSpan>,
    ) -> Vec<TokenWithSpan> {
        let mut tokens = tokens;
        // "text" is a string in MySQL's default SQL mode, the same as 'text'; sqlparser wants
        // single quotes where only a string can be (COMMENT "…").
        for t in &mut tokens {
            if let Token::DoubleQuotedString(text) = &t.token {
                t.token = Token::SingleQuotedString(text.clone());
                self.changed = true;
            }
        }
        let table_ddl = matches!(
            words,
            [first, second, ..] if (first == "CREATE" || first == "ALTER") && second == "TABLE"
        ) || matches!(words, [a, b, c, ..] if a == "ALTER" && (b == "ONLINE" || b == "IGNORE") && c == "TABLE");
        if !table_ddl {
            return tokens;
        }
        let significant: Vec<usize> = (0..tokens.len())
            .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
            .collect();
        let mut drop = vec![false; tokens.len()];
        // Column attributes sqlparser cannot read: BINARY right after a character type
        // (`VARCHAR(255) BINARY`), ZEROFILL after a numeric type (`INT(10) UNSIGNED ZEROFILL`).
        for (k, &i) in significant.iter().enumerate() {
            let word = if is_word(&tokens[i].token, "BINARY") {
                "BINARY"
            } else if is_word(&tokens[i].token, "ZEROFILL") {
                "ZEROFILL"
            } else {
                continue;
            };
            if k == 0 {
                continue;
            }
            let before = &tokens[significant[k - 1]].token;
            let after_type = match before {
                Token::RParen => true,
                Token::Word(w) if word == "BINARY" => CHARACTER_TYPES
                    .iter()
                    .any(|c| w.value.eq_ignore_ascii_case(c)),
                Token::Word(w) => w.quote_style.is_none(),
                _ => false,
            };
            if !after_type {
                continue;
            }
            drop[i] = true;
            // The column it belongs to: the word before the type (its length, its sign).
            let mut j = k - 1;
            while j > 0
                && (is_word(&tokens[significant[j]].token, "UNSIGNED")
                    || is_word(&tokens[significant[j]].token, "SIGNED"))
            {
                j -= 1;
            }
            if tokens[significant[j]].token == Token::RParen {
                while j > 0 && tokens[significant[j]].token != Token::LParen {
                    j -= 1;
                }
                j = j.saturating_sub(1);
            }
            match j.checked_sub(1).map(|c| &tokens[significant[c]].token) {
                Some(Token::Word(w)) => self.attributes.push((w.value.clone(), word)),
                _ => {
                    if !self.left_out.iter().any(|l| l == word) {
                        self.left_out.push(word.into());
                    }
                }
            }
        }
        if words.first().is_some_and(|w| w == "ALTER") {
            self.alter_clauses(my, &tokens, &significant, &mut drop);
        }
        if drop.iter().any(|&d| d) {
            self.changed = true;
            tokens = tokens
                .into_iter()
                .zip(drop)
                .filter(|(_, d)| !d)
                .map(|(t, _)| t)
                .collect();
        }
        tokens
    }

    /// ALTER TABLE's comma-separated clauses: table options are taken out whole; MariaDB's
    /// `IF NOT EXISTS` after ADD [COLUMN] is taken out and put back after parsing.
    fn alter_clauses(
        &mut self,
        my: MySql,
        tokens: &[TokenWithSpan],
        significant: &[usize],
        drop: &mut [bool],
    ) {
        // Clauses start after the table name: the first significant token after TABLE and its
        // name (`db.t` is three tokens).
        let Some(table_at) = significant
            .iter()
            .position(|&i| is_word(&tokens[i].token, "TABLE"))
        else {
            return;
        };
        let mut k = table_at + 2;
        while k + 1 < significant.len() && tokens[significant[k]].token == Token::Period {
            k += 2;
        }
        let mut clauses: Vec<(usize, usize)> = Vec::new(); // significant index ranges
        let mut depth = 0i32;
        let mut begin = k;
        for (j, &i) in significant.iter().enumerate().skip(k) {
            match &tokens[i].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => {
                    clauses.push((begin, j));
                    begin = j + 1;
                }
                _ => {}
            }
        }
        if begin < significant.len() {
            clauses.push((begin, significant.len()));
        }
        let mut kept = 0;
        for (n, &(from, to)) in clauses.iter().enumerate() {
            let first = &tokens[significant[from]].token;
            let option = TABLE_OPTIONS.iter().find(|o| is_word(first, o));
            match option {
                Some(option) => {
                    let name = match *option {
                        "CONVERT" => "CONVERT TO CHARACTER SET".to_string(),
                        "DEFAULT" => "DEFAULT CHARSET".to_string(),
                        other => other.to_string(),
                    };
                    if !self.left_out.contains(&name) {
                        self.left_out.push(name);
                    }
                    // The clause and the comma before it (or after it, for the first clause).
                    let lo = significant[from];
                    let hi = significant.get(to).copied().unwrap_or(tokens.len());
                    for d in drop.iter_mut().take(hi).skip(lo) {
                        *d = true;
                    }
                    if n > 0 {
                        drop[significant[from - 1]] = true;
                    } else if let Some(&comma) = significant.get(to) {
                        drop[comma] = true;
                    }
                }
                None => {
                    kept += 1;
                    if my.flavor == Flavor::MariaDb {
                        self.if_not_exists_after_add(
                            tokens,
                            &significant[from..to],
                            drop,
                            kept - 1,
                        );
                    }
                }
            }
        }
        self.nothing_left = kept == 0 && !clauses.is_empty();
    }

    fn if_not_exists_after_add(
        &mut self,
        tokens: &[TokenWithSpan],
        clause: &[usize],
        drop: &mut [bool],
        index: usize,
    ) {
        let word = |k: usize, w: &str| clause.get(k).is_some_and(|&i| is_word(&tokens[i].token, w));
        if !word(0, "ADD") {
            return;
        }
        let at = if word(1, "COLUMN") { 2 } else { 1 };
        if word(at, "IF") && word(at + 1, "NOT") && word(at + 2, "EXISTS") {
            for k in at..at + 3 {
                drop[clause[k]] = true;
            }
            self.if_not_exists.push(index);
        }
    }

    /// Puts back what the AST can hold: MariaDB's IF NOT EXISTS, and the BINARY attribute as a
    /// column option of its own (printed as written, right after the type).
    fn restore(&mut self, statement: &mut Statement) {
        let mut taken = std::mem::take(&mut self.attributes);
        // The attributes of the column `name`, as options in the order written.
        let mut take = |name: &Ident| -> Vec<ColumnOption> {
            let mut found = Vec::new();
            taken.retain(|(column, word)| {
                let mine = *column == name.value;
                if mine {
                    found.push(ColumnOption::DialectSpecific(vec![Token::make_keyword(
                        word,
                    )]));
                }
                !mine
            });
            found
        };
        match statement {
            Statement::CreateTable(create) => {
                for def in create.columns.iter_mut() {
                    for (at, option) in take(&def.name).into_iter().enumerate() {
                        def.options
                            .insert(at, ColumnOptionDef { name: None, option });
                    }
                }
            }
            Statement::AlterTable(alter) => {
                for operation in alter.operations.iter_mut() {
                    match operation {
                        AlterTableOperation::AddColumn { column_def, .. } => {
                            for (at, option) in take(&column_def.name).into_iter().enumerate() {
                                column_def
                                    .options
                                    .insert(at, ColumnOptionDef { name: None, option });
                            }
                        }
                        AlterTableOperation::ModifyColumn {
                            col_name: name,
                            options,
                            ..
                        }
                        | AlterTableOperation::ChangeColumn {
                            new_name: name,
                            options,
                            ..
                        } => {
                            for (at, option) in take(name).into_iter().enumerate() {
                                options.insert(at, option);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        // An attribute that could not be put back is left out, and says so.
        for (_, word) in taken {
            if !self.left_out.iter().any(|l| l == word) {
                self.left_out.push(word.into());
            }
        }
        let Statement::AlterTable(alter) = statement else {
            return;
        };
        for &index in &self.if_not_exists {
            if let Some(AlterTableOperation::AddColumn { if_not_exists, .. }) =
                alter.operations.get_mut(index)
            {
                *if_not_exists = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_as(flavor: Flavor, text: &str) -> (Body, Vec<String>) {
        let version = if flavor == Flavor::MariaDb {
            "10.11"
        } else {
            "8.0"
        };
        let my = MySql::parse_version(flavor, version).unwrap();
        let mut left_out = Vec::new();
        let start = Pos { line: 1, column: 1 };
        let body = read(
            my,
            text,
            start,
            PlanError::new(start, "syntax error"),
            &mut left_out,
        );
        (body, left_out)
    }

    #[test]
    fn double_quoted_text_is_a_string() {
        let (body, left_out) = read_as(
            Flavor::MySql,
            "ALTER TABLE t ADD COLUMN c int COMMENT \"the count\"",
        );
        assert!(matches!(body, Body::Ast(_)), "{body:?}");
        assert!(left_out.is_empty());
        // A double-quoted column name is an error in MySQL's default mode, as on the server.
        let (body, _) = read_as(Flavor::MySql, "CREATE TABLE t (\"id\" int)");
        assert!(matches!(body, Body::Invalid(_)), "{body:?}");
    }

    #[test]
    fn binary_attribute_and_table_options_are_taken_out_and_listed() {
        let (body, left_out) = read_as(
            Flavor::MySql,
            "ALTER TABLE t MODIFY COLUMN c VARCHAR(255) BINARY NOT NULL, ENGINE=InnoDB",
        );
        let Body::Ast(ast) = body else {
            panic!("{body:?}")
        };
        // BINARY is put back as the column's own option; the table option is left out.
        assert_eq!(
            ast.to_string(),
            "ALTER TABLE t MODIFY COLUMN c VARCHAR(255) BINARY NOT NULL"
        );
        assert_eq!(left_out, ["ENGINE"]);
        let (body, left_out) = read_as(
            Flavor::MariaDb,
            "CREATE TABLE t (`a b` VARCHAR(9) BINARY NOT NULL, c TEXT BINARY, d ENUM('x','y') BINARY)",
        );
        let Body::Ast(ast) = body else {
            panic!("{body:?}")
        };
        assert_eq!(
            ast.to_string(),
            "CREATE TABLE t (`a b` VARCHAR(9) BINARY NOT NULL, c TEXT BINARY, d ENUM('x', 'y') BINARY)"
        );
        assert!(left_out.is_empty(), "{left_out:?}");
        let (body, left_out) = read_as(
            Flavor::MariaDb,
            "CREATE TABLE t (`id` int(10) unsigned zerofill NOT NULL, n decimal(6,2) zerofill)",
        );
        let Body::Ast(ast) = body else {
            panic!("{body:?}")
        };
        assert_eq!(
            ast.to_string(),
            "CREATE TABLE t (`id` INT(10) UNSIGNED ZEROFILL NOT NULL, n DECIMAL(6,2) ZEROFILL)"
        );
        assert!(left_out.is_empty(), "{left_out:?}");

        let (body, left_out) = read_as(
            Flavor::MySql,
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        );
        assert!(
            matches!(&body, Body::Recognised { keyword } if keyword == "ALTER TABLE … CONVERT TO CHARACTER SET"),
            "{body:?}"
        );
        assert_eq!(left_out, ["CONVERT TO CHARACTER SET"]);
    }

    #[test]
    fn mariadb_add_column_if_not_exists() {
        let (body, _) = read_as(
            Flavor::MariaDb,
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int, ADD COLUMN d int",
        );
        let Body::Ast(ast) = body else {
            panic!("{body:?}")
        };
        assert_eq!(
            ast.to_string(),
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT, ADD COLUMN d INT"
        );
        // MySQL has no ADD COLUMN IF NOT EXISTS.
        let (body, _) = read_as(
            Flavor::MySql,
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int",
        );
        assert!(matches!(body, Body::Invalid(_)), "{body:?}");
    }

    #[test]
    fn stored_programs_and_maintenance_are_recognised() {
        for (text, kind) in [
            (
                "CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; END",
                "CREATE PROCEDURE",
            ),
            ("PREPARE stmt FROM @s", "PREPARE"),
            ("OPTIMIZE TABLE t", "OPTIMIZE"),
            ("SET @x := 1", "SET"),
            ("CREATE FULLTEXT INDEX i ON t (c)", "CREATE FULLTEXT INDEX"),
        ] {
            let (body, _) = read_as(Flavor::MySql, text);
            assert!(
                matches!(&body, Body::Recognised { keyword } if keyword == kind),
                "{text}: {body:?}"
            );
        }
        let (body, _) = read_as(Flavor::MySql, "ALTR TABLE t");
        assert!(matches!(body, Body::Invalid(_)));
    }
}
