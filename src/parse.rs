//! Source text → statements with their positions and directive comments.
//!
//! The text is split into statements the way the engine's client splits it (`split.rs`, reading
//! in chunks, so a file of any size is never held whole), then each statement is parsed on its
//! own: every statement keeps its own line and column, a syntax error in one does not hide the
//! others (lint needs that), and directive comments are found in the gap before each statement.
//!
//! sqlparser reads most statements into the AST the planner works on. What it cannot read is
//! not a syntax error until the engine's own grammar says so: for PostgreSQL, squawk's parser
//! (PostgreSQL's full grammar, `postgres.rs`) decides, and recognises the statement from its
//! parse tree; for MySQL/MariaDB, `mysql.rs` reads the forms sqlparser lacks.

mod lex;
mod mysql;
mod postgres;
pub mod split;

use sqlparser::ast::{ObjectName, Statement};
use sqlparser::dialect::Dialect as SqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::dialect::Dialect;
use crate::error::{PlanError, Pos};
pub use split::{Lexer, Raw, SplitError, Splitter};

/// One statement of an input file.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// Where the statement starts (its first token).
    pub pos: Pos,
    /// The statement as written, without the trailing semicolon.
    pub text: String,
    /// `-- safeshift: …` comments between the previous statement and this one.
    pub directives: Vec<Directive>,
    pub body: Body,
    /// The engine it was read for: lowering folds (PostgreSQL) or keeps (MySQL) name case.
    pub dialect: Dialect,
    /// Clauses the AST leaves out because sqlparser cannot read them (MySQL's `BINARY` column
    /// attribute, `ENGINE=…` and other table options, `CONVERT TO CHARACTER SET`): lint checks
    /// the rest, `plan` refuses, since writing the statement back would lose them.
    pub left_out: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Ast(Box<Statement>),
    /// `DROP INDEX CONCURRENTLY`, which sqlparser 0.63 cannot parse.
    DropIndexConcurrently {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    /// `CREATE SEQUENCE` / `ALTER SEQUENCE` (PostgreSQL), which sqlparser 0.63 reads only in part
    /// (not pg_dump's order of options, not ALTER SEQUENCE at all): read by their words.
    Sequence(SequenceStatement),
    /// A PostgreSQL statement sqlparser cannot parse that takes locks safeshift knows, read from
    /// PostgreSQL's grammar.
    Postgres(PgStatement),
    /// A valid statement safeshift recognises but does not read further (`CREATE PROCEDURE`,
    /// `COMMENT ON`, `CREATE STATISTICS`, …), named by its kind.
    Recognised {
        keyword: String,
    },
    /// A syntax error, kept so a linter can report it and move on to the next statement.
    Invalid(PlanError),
}

/// PostgreSQL statements read from squawk's parse tree.
#[derive(Debug, Clone, PartialEq)]
pub enum PgStatement {
    /// `REINDEX [ ( … ) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [ CONCURRENTLY ] name`.
    Reindex {
        /// INDEX, TABLE, SCHEMA, DATABASE or SYSTEM.
        target: String,
        name: Option<ObjectName>,
        concurrently: bool,
    },
    /// `ALTER TABLE table DETACH PARTITION partition [ CONCURRENTLY | FINALIZE ]`.
    DetachPartition {
        table: ObjectName,
        partition: ObjectName,
        concurrently: bool,
        finalize: bool,
    },
}

/// What safeshift reads of a `CREATE SEQUENCE` or `ALTER SEQUENCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceStatement {
    pub create: bool,
    pub name: ObjectName,
    /// `IF NOT EXISTS` (create) or `IF EXISTS` (alter).
    pub if_exists: bool,
    /// `AS smallint|integer|bigint`, spelled the way PostgreSQL names the type.
    pub data_type: Option<String>,
    /// `OWNED BY table.column` (`Some(Some(…))`) or `OWNED BY NONE` (`Some(None)`).
    pub owned_by: Option<Option<ObjectName>>,
    /// Any other option (INCREMENT, RESTART, CACHE …): not something safeshift can undo.
    pub other_options: bool,
}

/// `-- safeshift: KEY [TARGET] = VALUE` or `-- safeshift: KEY REST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub pos: Pos,
    pub key: String,
    /// Everything after the key, trimmed (`= lower(email)`, `email_lower = lower(email)`, `RULE why`).
    pub rest: String,
}

impl Directive {
    /// For `backfill [COLUMN] = EXPR`: the optional column and the expression text.
    pub fn assignment(&self) -> Option<(Option<&str>, &str)> {
        let (left, right) = self.rest.split_once('=')?;
        let left = left.trim();
        let target = (!left.is_empty()).then_some(left);
        Some((target, right.trim()))
    }

    /// For `ignore RULE[, RULE…] [why]`: the rule ids, and where each starts in the comment.
    pub fn ignored_rules(&self) -> Vec<&str> {
        let mut rules = Vec::new();
        let mut rest = self.rest.trim_start();
        loop {
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            let (rule, after) = rest.split_at(end);
            if !rule.is_empty() {
                rules.push(rule);
            }
            let after = after.trim_start();
            match after.strip_prefix(',') {
                Some(more) => rest = more.trim_start(),
                None => break,
            }
        }
        rules
    }
}

pub fn pos_of(loc: Location) -> Pos {
    Pos {
        line: loc.line,
        column: loc.column,
    }
}

/// The client that splits text for the engine.
pub fn lexer_for(target: Dialect) -> Lexer {
    if target.is_mysql() {
        Lexer::MySql
    } else {
        Lexer::Postgres
    }
}

/// Splits and parses a whole PostgreSQL file (see [`parse_for`]).
pub fn parse(text: &str) -> Result<Vec<ParsedStatement>, PlanError> {
    parse_for(Dialect::default(), text)
}

/// Splits and parses a whole file as the engine of `target` reads it. Only an unterminated
/// string, quoted name or comment stops it: after that nothing can be trusted about statement
/// boundaries.
pub fn parse_for(target: Dialect, text: &str) -> Result<Vec<ParsedStatement>, PlanError> {
    Splitter::from_text(lexer_for(target), text)
        .map(|raw| {
            raw.map(|raw| read_statement(target, raw))
                .map_err(SplitError::into_plan_error)
        })
        .collect()
}

fn directive(comment: &str, pos: Pos) -> Option<Directive> {
    let rest = comment.trim().strip_prefix("safeshift:")?.trim();
    let (key, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some(Directive {
        pos,
        key: key.to_ascii_lowercase(),
        rest: rest.trim().to_string(),
    })
}

/// A position inside a statement (1-based, relative to its first character) in the file.
fn absolute(start: Pos, relative: Pos) -> Pos {
    if relative.line <= 1 {
        Pos {
            line: start.line,
            column: start.column + relative.column.saturating_sub(1),
        }
    } else {
        Pos {
            line: start.line + relative.line - 1,
            column: relative.column,
        }
    }
}

/// The position of byte `offset` of `text` (1-based line, character column).
fn relative_pos(text: &str, offset: usize) -> Pos {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    Pos { line, column }
}

/// Parses one statement as the engine of `target` reads it.
pub fn read_statement(target: Dialect, raw: Raw) -> ParsedStatement {
    let Raw {
        pos,
        text,
        directives,
    } = raw;
    let mut left_out = Vec::new();
    let body = read_body(target, &text, pos, &mut left_out);
    ParsedStatement {
        pos,
        text,
        directives,
        body,
        dialect: target,
        left_out,
    }
}

fn read_body(target: Dialect, text: &str, pos: Pos, left_out: &mut Vec<String>) -> Body {
    let dialect = target.parser();
    // About one token (a word, a space, a symbol) per four bytes of SQL: sizing the buffer once
    // saves growing it (and copying every token) several times per statement.
    let mut tokens = Vec::with_capacity(text.len() / 4 + 8);
    let tokenized = if !target.is_mysql() && lex::postgres(text, &mut tokens) {
        lex::debug_check(text, &tokens);
        Ok(())
    } else {
        tokens.clear(); // what the fast path read before it gave up
        Tokenizer::new(dialect, text).tokenize_with_location_into_buf(&mut tokens)
    };
    let tokens = match tokenized {
        Ok(()) => tokens,
        Err(e) => {
            let error = PlanError::new(
                absolute(pos, pos_of(e.location)),
                format!("syntax error: {}", e.message),
            );
            return fallback(target, text, pos, error, left_out);
        }
    };
    let words: Vec<String> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .take(3)
        .map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect();
    // Only a statement whose first words name a sequence can be one (collecting every token of
    // every statement was 3% of `lint`'s instructions).
    if !target.is_mysql() && words.iter().any(|w| w == "SEQUENCE") {
        let significant: Vec<&TokenWithSpan> = tokens
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        if let Some(sequence) = sequence_statement(&significant) {
            return Body::Sequence(sequence);
        }
    }
    if words.first().is_some_and(|w| w == "REINDEX") && !target.is_mysql() {
        return postgres::read(text, pos, None);
    }
    if words.len() == 3 && words[0] == "DROP" && words[1] == "INDEX" && words[2] == "CONCURRENTLY" {
        // Parse it as a plain DROP INDEX with the CONCURRENTLY token taken out.
        let tokens: Vec<TokenWithSpan> = tokens
            .into_iter()
            .filter(|t| !matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("CONCURRENTLY")))
            .collect();
        return match parse_tokens(dialect, tokens, pos) {
            Ok(Statement::Drop {
                names, if_exists, ..
            }) => Body::DropIndexConcurrently { names, if_exists },
            Ok(_) => Body::Invalid(PlanError::new(
                pos,
                "could not read DROP INDEX CONCURRENTLY",
            )),
            Err(e) => postgres::read(text, pos, Some(e)),
        };
    }
    match parse_tokens(dialect, tokens, pos) {
        Ok(statement) => Body::Ast(Box::new(statement)),
        Err(e) => fallback(target, text, pos, e, left_out),
    }
}

/// What sqlparser could not read: the engine's grammar decides.
fn fallback(
    target: Dialect,
    text: &str,
    pos: Pos,
    error: PlanError,
    left_out: &mut Vec<String>,
) -> Body {
    match target {
        Dialect::Postgres(_) => postgres::read(text, pos, Some(error)),
        Dialect::MySql(my) => mysql::read(my, text, pos, error, left_out),
    }
}

/// Reads `CREATE [TEMP|UNLOGGED] SEQUENCE [IF NOT EXISTS] name [options]` and `ALTER SEQUENCE [IF
/// EXISTS] name [options]`; `None` for anything else (or a shape it does not know, left to the
/// parser).
fn sequence_statement(tokens: &[&TokenWithSpan]) -> Option<SequenceStatement> {
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let mut at = 0;
    let create = match word(0)?.as_str() {
        "CREATE" => true,
        "ALTER" => false,
        _ => return None,
    };
    at += 1;
    if create && matches!(word(at).as_deref(), Some("TEMP" | "TEMPORARY" | "UNLOGGED")) {
        at += 1;
    }
    if word(at).as_deref() != Some("SEQUENCE") {
        return None;
    }
    at += 1;
    let mut if_exists = false;
    if word(at).as_deref() == Some("IF") {
        let expect: &[&str] = if create {
            &["NOT", "EXISTS"]
        } else {
            &["EXISTS"]
        };
        for (i, w) in expect.iter().enumerate() {
            if word(at + 1 + i).as_deref() != Some(*w) {
                return None;
            }
        }
        at += 1 + expect.len();
        if_exists = true;
    }
    let name = object_name(tokens, &mut at)?;
    let mut statement = SequenceStatement {
        create,
        name,
        if_exists,
        data_type: None,
        owned_by: None,
        other_options: false,
    };
    while at < tokens.len() {
        match word(at).as_deref() {
            Some("AS") => {
                let spelled = word(at + 1)?;
                statement.data_type = Some(
                    match spelled.as_str() {
                        "INT2" | "SMALLINT" => "smallint",
                        "INT" | "INT4" | "INTEGER" => "integer",
                        "INT8" | "BIGINT" => "bigint",
                        _ => return None,
                    }
                    .to_string(),
                );
                at += 2;
            }
            Some("OWNED") if word(at + 1).as_deref() == Some("BY") => {
                at += 2;
                if word(at).as_deref() == Some("NONE") {
                    statement.owned_by = Some(None);
                    at += 1;
                } else {
                    statement.owned_by = Some(Some(object_name(tokens, &mut at)?));
                }
            }
            _ => {
                statement.other_options = true;
                at += 1;
            }
        }
    }
    Some(statement)
}

/// A possibly qualified name (`a`, `"A".b`) starting at `at`; moves `at` past it.
fn object_name(tokens: &[&TokenWithSpan], at: &mut usize) -> Option<ObjectName> {
    let mut parts = Vec::new();
    loop {
        match tokens.get(*at).map(|t| &t.token) {
            Some(Token::Word(w)) => parts.push(match w.quote_style {
                Some(q) => sqlparser::ast::Ident::with_quote(q, w.value.clone()),
                None => sqlparser::ast::Ident::new(w.value.clone()),
            }),
            _ => return None,
        }
        *at += 1;
        match tokens.get(*at).map(|t| &t.token) {
            Some(Token::Period) => *at += 1,
            _ => return Some(ObjectName::from(parts)),
        }
    }
}

fn parse_tokens(
    dialect: &dyn SqlDialect,
    tokens: Vec<TokenWithSpan>,
    start: Pos,
) -> Result<Statement, PlanError> {
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| pos_of(t.span.end))
        .unwrap_or(Pos { line: 1, column: 1 });
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let statement = parser
        .parse_statement()
        .map_err(|e| syntax_error(&e.to_string(), start, absolute(start, end)))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(PlanError::new(
            absolute(start, pos_of(next.span.start)),
            format!("expected end of statement, found `{}`", next.token),
        ));
    }
    Ok(statement)
}

/// sqlparser reports positions inside its message ("… at Line: 3, Column: 14", relative to the
/// statement); lift them out.
fn syntax_error(message: &str, start: Pos, end: Pos) -> PlanError {
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(message);
    if let Some((text, at)) = message.rsplit_once(" at Line: ")
        && let Some((line, column)) = at.split_once(", Column: ")
        && let (Ok(line), Ok(column)) = (line.trim().parse(), column.trim().parse())
    {
        return PlanError::new(
            absolute(start, Pos { line, column }),
            format!("syntax error: {text}"),
        );
    }
    // "found: EOF" has no position: the statement stopped early, so point where it ends.
    let pos = if message.ends_with("found: EOF") {
        end
    } else {
        start
    };
    PlanError::new(pos, format!("syntax error: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_positions_and_directives() {
        let sql = "-- hello\nCREATE TABLE a (id int);\n\n-- safeshift: backfill = lower(email)\nALTER TABLE users\n  ADD COLUMN email_lower text NOT NULL;\n";
        let statements = parse(sql).unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].pos, Pos { line: 2, column: 1 });
        assert!(statements[0].directives.is_empty());
        assert_eq!(statements[1].pos, Pos { line: 5, column: 1 });
        assert_eq!(
            statements[1].text,
            "ALTER TABLE users\n  ADD COLUMN email_lower text NOT NULL"
        );
        assert_eq!(statements[1].directives[0].key, "backfill");
        assert_eq!(
            statements[1].directives[0].assignment(),
            Some((None, "lower(email)"))
        );
    }

    #[test]
    fn syntax_error_points_at_line_and_column_and_parsing_goes_on() {
        let statements =
            parse("SELECT 1;\nALTER TABLE users ADD COLUMN;\nCREATE INDEX i ON t (a);").unwrap();
        assert_eq!(statements.len(), 3);
        let Body::Invalid(e) = &statements[1].body else {
            panic!("expected an error")
        };
        assert_eq!(e.pos.line, 2);
        assert!(e.pos.column > 20, "{e:?}");
        assert!(matches!(statements[2].body, Body::Ast(_)));
    }

    #[test]
    fn recognises_what_sqlparser_cannot_parse() {
        let statements =
            parse("DROP INDEX CONCURRENTLY IF EXISTS a, b;\nREINDEX TABLE t;\n\\restrict abc\n")
                .unwrap();
        assert!(
            matches!(&statements[0].body, Body::DropIndexConcurrently { names, if_exists: true } if names.len() == 2)
        );
        assert!(matches!(
            &statements[1].body,
            Body::Postgres(PgStatement::Reindex {
                concurrently: false,
                ..
            })
        ));
        assert_eq!(statements.len(), 2);
    }

    #[test]
    fn multibyte_text_is_sliced_on_char_boundaries() {
        let statements = parse("ALTER TABLE \"ünï\" ADD COLUMN \"café\" text;").unwrap();
        assert_eq!(
            statements[0].text,
            "ALTER TABLE \"ünï\" ADD COLUMN \"café\" text"
        );
    }
}
