//! Source text → statements with their positions and directive comments.
//!
//! We tokenize the whole file once and split it at top-level semicolons ourselves instead of calling
//! `Parser::parse_sql`: that way every statement keeps its own line and column, a syntax error in
//! one statement does not hide the others (lint needs that), directive comments are found in the
//! gap before each statement, and the few statements sqlparser cannot parse are still recognised.

use sqlparser::ast::{ObjectName, Statement};
use sqlparser::dialect::Dialect as SqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::dialect::Dialect;
use crate::error::{PlanError, Pos};

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
    /// A statement we recognise by its first words but cannot parse (e.g. `REINDEX`).
    Recognised {
        keyword: String,
    },
    /// A syntax error, kept so a linter can report it and move on to the next statement.
    Invalid(PlanError),
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
}

pub fn pos_of(loc: Location) -> Pos {
    Pos {
        line: loc.line,
        column: loc.column,
    }
}

/// psql meta-commands (`\restrict …` in recent `pg_dump` output, `\connect`) are not SQL: blank them
/// out, keeping every other character where it was so positions stay true.
fn blank_meta_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('\\') {
            out.extend(
                line.chars()
                    .map(|c| if c == '\n' || c == '\r' { c } else { ' ' }),
            );
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Splits and parses a whole PostgreSQL file (see [`parse_for`]).
pub fn parse(text: &str) -> Result<Vec<ParsedStatement>, PlanError> {
    parse_for(Dialect::default(), text)
}

/// Splits and parses a whole file as the engine of `target` reads it. Only a tokenizer error (e.g.
/// an unterminated string) stops it: after that nothing can be trusted about statement boundaries.
pub fn parse_for(target: Dialect, text: &str) -> Result<Vec<ParsedStatement>, PlanError> {
    let text = blank_meta_commands(text);
    let dialect = target.parser();
    let reader = Reader {
        dialect,
        target,
        text: &text,
    };
    // About one token per 4 bytes of SQL: sized up front, the buffer never has to grow and move.
    let mut tokens = Vec::with_capacity(text.len() / 4 + 16);
    Tokenizer::new(dialect, &text)
        .tokenize_with_location_into_buf(&mut tokens)
        .map_err(|e| PlanError::new(pos_of(e.location), e.message))?;
    let lines = LineIndex::new(&text);

    let mut statements = Vec::new();
    let mut chunk: Vec<TokenWithSpan> = Vec::new();
    let mut directives = Vec::new();
    // Whether `chunk` holds only whitespace and comments so far. Kept as we go: asking the chunk
    // at every comment made a file of only comments quadratic.
    let mut blank = true;
    for token in tokens {
        match &token.token {
            Token::SemiColon => {
                reader.finish(
                    &lines,
                    chunk.split_off(0), // exact-size copy; `chunk` keeps its capacity
                    &mut directives,
                    &mut statements,
                );
                blank = true;
            }
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) if blank => {
                if let Some(d) = directive(comment, pos_of(token.span.start)) {
                    directives.push(d);
                }
                chunk.push(token);
            }
            Token::Whitespace(_) => chunk.push(token),
            _ => {
                blank = false;
                chunk.push(token);
            }
        }
    }
    reader.finish(&lines, chunk, &mut directives, &mut statements);
    Ok(statements)
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

/// What turning a chunk of tokens into a statement needs.
struct Reader<'a> {
    dialect: &'static dyn SqlDialect,
    target: Dialect,
    text: &'a str,
}

impl Reader<'_> {
    fn finish(
        &self,
        lines: &LineIndex,
        chunk: Vec<TokenWithSpan>,
        directives: &mut Vec<Directive>,
        out: &mut Vec<ParsedStatement>,
    ) {
        let (dialect, text) = (self.dialect, self.text);
        let significant: Vec<&TokenWithSpan> = chunk
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        let (Some(first), Some(last)) = (significant.first(), significant.last()) else {
            return; // only whitespace and comments: directives here belong to the next statement
        };
        let pos = pos_of(first.span.start);
        let start = lines.offset(first.span.start);
        let end = lines.offset(last.span.end).max(start);
        let text = text.get(start..end).unwrap_or_default().to_string();
        let words: Vec<String> = significant
            .iter()
            .take(3)
            .map(|t| match &t.token {
                Token::Word(w) => w.value.to_ascii_uppercase(),
                _ => String::new(),
            })
            .collect();
        let sequence = (!self.target.is_mysql())
            .then(|| sequence_statement(&significant))
            .flatten();
        let body = if let Some(sequence) = sequence {
            Body::Sequence(sequence)
        } else if words.first().map(String::as_str) == Some("REINDEX") {
            Body::Recognised {
                keyword: "REINDEX".into(),
            }
        } else if words.len() == 3
            && words[0] == "DROP"
            && words[1] == "INDEX"
            && words[2] == "CONCURRENTLY"
        {
            // Parse it as a plain DROP INDEX with the CONCURRENTLY token taken out.
            let concurrently = significant[2].span;
            let tokens: Vec<TokenWithSpan> = chunk
                .iter()
                .filter(|t| t.span != concurrently)
                .cloned()
                .collect();
            match parse_tokens(dialect, tokens, pos) {
                Ok(Statement::Drop {
                    names, if_exists, ..
                }) => Body::DropIndexConcurrently { names, if_exists },
                Ok(_) => Body::Invalid(PlanError::new(
                    pos,
                    "could not read DROP INDEX CONCURRENTLY",
                )),
                Err(e) => Body::Invalid(e),
            }
        } else {
            let gap = parser_gap(&words, &significant);
            match parse_tokens(dialect, chunk, pos) {
                Ok(statement) => Body::Ast(Box::new(statement)),
                Err(_) if gap.is_some() => Body::Recognised {
                    keyword: gap.unwrap_or_default().into(),
                },
                Err(e) => Body::Invalid(e),
            }
        };
        out.push(ParsedStatement {
            pos,
            text,
            directives: std::mem::take(directives),
            body,
            dialect: self.target,
        });
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

/// Valid PostgreSQL that sqlparser cannot parse (yet). When parsing fails on one of these, the
/// statement is recognised and passed through instead of being called a syntax error.
fn parser_gap(words: &[String], tokens: &[&TokenWithSpan]) -> Option<&'static str> {
    let has = |word: &str| {
        tokens
            .iter()
            .any(|t| matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case(word)))
    };
    match words {
        [first, ..] if first == "DO" => Some("DO"),
        [alter, index, ..] if alter == "ALTER" && index == "INDEX" => Some("ALTER INDEX"),
        [alter, table, ..]
            if alter == "ALTER"
                && table == "TABLE"
                && (has("STATISTICS") || has("STORAGE") || has("COMPRESSION")) =>
        {
            Some("ALTER TABLE … SET STATISTICS/STORAGE/COMPRESSION")
        }
        _ => None,
    }
}

fn parse_tokens(
    dialect: &dyn SqlDialect,
    tokens: Vec<TokenWithSpan>,
    pos: Pos,
) -> Result<Statement, PlanError> {
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| pos_of(t.span.end))
        .unwrap_or(pos);
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let statement = parser
        .parse_statement()
        .map_err(|e| syntax_error(&e.to_string(), pos, end))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(PlanError::new(
            pos_of(next.span.start),
            format!("expected end of statement, found `{}`", next.token),
        ));
    }
    Ok(statement)
}

/// sqlparser reports positions inside its message ("… at Line: 3, Column: 14"); lift them out.
fn syntax_error(message: &str, fallback: Pos, end: Pos) -> PlanError {
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(message);
    if let Some((text, at)) = message.rsplit_once(" at Line: ")
        && let Some((line, column)) = at.split_once(", Column: ")
        && let (Ok(line), Ok(column)) = (line.trim().parse(), column.trim().parse())
    {
        return PlanError::new(Pos { line, column }, format!("syntax error: {text}"));
    }
    // "found: EOF" has no position: the statement stopped early, so point where it ends.
    let pos = if message.ends_with("found: EOF") {
        end
    } else {
        fallback
    };
    PlanError::new(pos, format!("syntax error: {message}"))
}

/// Maps sqlparser's (line, character column) locations to byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// The last position looked up, as (line, column, byte offset). Statements are looked up in
    /// file order, so counting characters on from there keeps a file written on one long line
    /// linear instead of recounting the line from its start for every statement.
    last: std::cell::Cell<(u64, u64, usize)>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            text,
            starts,
            last: std::cell::Cell::new((0, 0, 0)),
        }
    }

    fn offset(&self, loc: Location) -> usize {
        let Some(&start) = self.starts.get((loc.line as usize).saturating_sub(1)) else {
            return self.text.len();
        };
        let column = loc.column.max(1);
        let (last_line, last_column, last_offset) = self.last.get();
        let (from, skip) = if last_line == loc.line && last_column >= 1 && last_column <= column {
            (last_offset, column - last_column)
        } else {
            (start, column - 1)
        };
        let rest = &self.text[from..];
        let offset = from
            + usize::try_from(skip)
                .ok()
                .and_then(|skip| rest.char_indices().nth(skip))
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
        self.last.set((loc.line, column, offset));
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_finds_the_same_offsets_in_any_order() {
        let text = "ab;\nçé; x;\n\n🦀 y; z";
        let naive = |line: u64, column: u64| {
            let start: usize = text
                .split_inclusive('\n')
                .take(line as usize - 1)
                .map(str::len)
                .sum();
            text[start..]
                .char_indices()
                .nth(column as usize - 1)
                .map_or(text.len(), |(i, _)| start + i)
        };
        let positions = [
            (1, 1),
            (1, 3),
            (2, 1),
            (2, 2),
            (2, 4),
            (2, 6),
            (4, 3),
            (4, 6),
            (2, 2),
            (1, 2),
            (4, 1),
        ];
        let lines = LineIndex::new(text);
        for (line, column) in positions {
            assert_eq!(
                lines.offset(Location::new(line, column)),
                naive(line, column),
                "{line}:{column}"
            );
        }
    }

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
        assert!(matches!(&statements[1].body, Body::Recognised { .. }));
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
