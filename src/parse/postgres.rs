//! PostgreSQL statements sqlparser cannot read, read with squawk's parser, which implements
//! PostgreSQL's full grammar in Rust (no C library to build): a statement is a syntax error only
//! if that parser rejects it too, with its message and position. Otherwise the statement is named
//! from its parse tree, and the ones that take locks safeshift knows are read into a
//! [`PgStatement`].

use squawk_syntax::{SourceFile, SyntaxKind, SyntaxNode};

use super::{Body, PgStatement, absolute, relative_pos};
use crate::error::{PlanError, Pos};

/// Reads `text` (one statement starting at `start`); `sqlparser_error` is what sqlparser said,
/// kept in case squawk's parser cannot be asked.
pub(super) fn read(text: &str, start: Pos, sqlparser_error: Option<PlanError>) -> Body {
    // A parser bug must not take the whole run down: the statement then counts as unreadable.
    let parsed = std::panic::catch_unwind(|| {
        let parse = SourceFile::parse(text);
        let error = parse
            .errors()
            .first()
            .map(|e| (usize::from(e.range().start()), e.message().to_string()));
        (parse.syntax_node(), error)
    });
    let (root, error) = match parsed {
        Ok(parsed) => parsed,
        Err(_) => {
            return Body::Invalid(sqlparser_error.unwrap_or_else(|| {
                PlanError::new(start, "syntax error: the statement could not be read")
            }));
        }
    };
    if let Some((offset, message)) = error {
        let pos = absolute(start, relative_pos(text, offset));
        // Both parsers stop at the same place: sqlparser's message names what it expected
        // there more fully.
        if let Some(e) = sqlparser_error.filter(|e| e.pos == pos) {
            return Body::Invalid(e);
        }
        return Body::Invalid(PlanError::new(
            pos,
            format!("syntax error: {}", found_text(&message, text, offset)),
        ));
    }
    let Some(statement) = root.first_child() else {
        return Body::Recognised {
            keyword: "an empty statement".into(),
        };
    };
    match statement.kind() {
        SyntaxKind::REINDEX => {
            if let Some(reindex) = reindex(&statement) {
                return Body::Postgres(reindex);
            }
        }
        SyntaxKind::ALTER_TABLE => {
            if let Some(detach) = detach_partition(&statement) {
                return Body::Postgres(detach);
            }
        }
        _ => {}
    }
    Body::Recognised {
        keyword: describe(&statement),
    }
}

/// squawk says what it found by token kind (`found IDENT`): name the text instead.
fn found_text(message: &str, text: &str, offset: usize) -> String {
    let Some((expected, found)) = message.split_once(", found ") else {
        return message.to_string();
    };
    let rest = text.get(offset..).unwrap_or_default();
    let token: String = match rest.chars().next() {
        None => return format!("{expected}, found the end of the statement"),
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect(),
        Some(c) => c.to_string(),
    };
    if found == "EOF" || token.is_empty() {
        return format!("{expected}, found the end of the statement");
    }
    format!("{expected}, found `{token}`")
}

/// The statement's kind in words: `CREATE PROCEDURE`, `ALTER TABLE … ALTER CONSTRAINT`.
fn describe(statement: &SyntaxNode) -> String {
    let mut words = kind_words(statement.kind());
    if matches!(
        statement.kind(),
        SyntaxKind::ALTER_TABLE | SyntaxKind::ALTER_INDEX | SyntaxKind::ALTER_FOREIGN_TABLE
    ) {
        let actions: Vec<String> = statement
            .children()
            .filter(|c| {
                let kind = format!("{:?}", c.kind());
                !["NAME", "PATH", "REF", "IF_EXISTS"]
                    .iter()
                    .any(|part| kind.contains(part))
            })
            .map(|c| kind_words(c.kind()))
            .collect();
        if !actions.is_empty() {
            words = format!("{words} … {}", actions.join(", "));
        }
    }
    words
}

fn kind_words(kind: SyntaxKind) -> String {
    format!("{kind:?}").replace('_', " ")
}

/// Whether a token of this kind is anywhere in `node`.
fn has_token(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    node.descendants_with_tokens()
        .any(|e| e.as_token().is_some_and(|t| t.kind() == kind))
}

/// The first qualified name in `node`, read as sqlparser reads names.
fn first_name(node: &SyntaxNode) -> Option<sqlparser::ast::ObjectName> {
    let path = node
        .descendants()
        .find(|n| matches!(n.kind(), SyntaxKind::PATH_REF | SyntaxKind::PATH))?;
    object_name(&path.text().to_string())
}

fn object_name(text: &str) -> Option<sqlparser::ast::ObjectName> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut parser = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .ok()?;
    let name = parser.parse_object_name(false).ok()?;
    (parser.peek_token().token == sqlparser::tokenizer::Token::EOF).then_some(name)
}

fn reindex(statement: &SyntaxNode) -> Option<PgStatement> {
    let target = statement
        .children()
        .find_map(|c| {
            format!("{:?}", c.kind())
                .strip_prefix("REINDEX_TARGET_")
                .map(str::to_string)
        })
        .or_else(|| {
            // `REINDEX SYSTEM` and older spellings: the keyword after REINDEX.
            statement
                .descendants_with_tokens()
                .filter_map(|e| e.into_token())
                .find(|t| {
                    matches!(
                        t.kind(),
                        SyntaxKind::INDEX_KW
                            | SyntaxKind::TABLE_KW
                            | SyntaxKind::SCHEMA_KW
                            | SyntaxKind::DATABASE_KW
                            | SyntaxKind::SYSTEM_KW
                    )
                })
                .map(|t| t.text().to_ascii_uppercase())
        })?;
    Some(PgStatement::Reindex {
        target,
        name: first_name(statement),
        concurrently: has_token(statement, SyntaxKind::CONCURRENTLY_KW),
    })
}

fn detach_partition(statement: &SyntaxNode) -> Option<PgStatement> {
    let detach = statement
        .children()
        .find(|c| c.kind() == SyntaxKind::DETACH_PARTITION)?;
    // The table's name comes before the action; the partition's is inside it.
    let table = statement
        .children()
        .filter(|c| c.kind() != SyntaxKind::DETACH_PARTITION)
        .find_map(|c| first_name(&c))?;
    Some(PgStatement::DetachPartition {
        table,
        partition: first_name(&detach)?,
        concurrently: has_token(&detach, SyntaxKind::CONCURRENTLY_KW),
        finalize: has_token(&detach, SyntaxKind::FINALIZE_KW),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        read(text, Pos { line: 1, column: 1 }, None)
    }

    #[test]
    fn valid_postgresql_is_recognised_by_kind() {
        for (text, kind) in [
            (
                "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$",
                "CREATE PROCEDURE",
            ),
            ("COMMENT ON FUNCTION auth.uid() IS 'x'", "COMMENT ON"),
            ("ALTER SEQUENCE s AS BIGINT", "ALTER SEQUENCE"),
            ("CREATE STATISTICS s ON a, b FROM t", "CREATE STATISTICS"),
            (
                "ALTER TABLE t ALTER CONSTRAINT c DEFERRABLE",
                "ALTER TABLE … ALTER CONSTRAINT",
            ),
        ] {
            match body(text) {
                Body::Recognised { keyword } => assert_eq!(keyword, kind, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn reindex_and_detach_partition_are_read() {
        let Body::Postgres(PgStatement::Reindex {
            target,
            name,
            concurrently,
        }) = body("REINDEX INDEX CONCURRENTLY public.users_email_idx")
        else {
            panic!()
        };
        assert_eq!(target, "INDEX");
        assert_eq!(name.unwrap().to_string(), "public.users_email_idx");
        assert!(concurrently);
        let Body::Postgres(PgStatement::Reindex {
            target,
            concurrently,
            ..
        }) = body("REINDEX TABLE \"Users\"")
        else {
            panic!()
        };
        assert_eq!(target, "TABLE");
        assert!(!concurrently);

        assert_eq!(
            format!(
                "{:?}",
                body("ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY")
            ),
            format!(
                "{:?}",
                Body::Postgres(PgStatement::DetachPartition {
                    table: object_name("measurements").unwrap(),
                    partition: object_name("measurements_2020").unwrap(),
                    concurrently: true,
                    finalize: false,
                })
            )
        );
    }

    #[test]
    fn syntax_errors_come_with_the_grammar_s_message_and_position() {
        let Body::Invalid(e) = read(
            "ALTER TABLE users\n  ADD COLUMN c text NOT NULL DEFAULT",
            Pos { line: 4, column: 3 },
            None,
        ) else {
            panic!()
        };
        assert_eq!(
            e.pos,
            Pos {
                line: 5,
                column: 37
            }
        );
        assert!(e.message.contains("end of the statement"), "{}", e.message);
    }
}
