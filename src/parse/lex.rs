//! A fast path for sqlparser's tokenizer on the PostgreSQL text most migrations are made of:
//! ASCII words, plain quoted names and strings, numbers, the common operators, spaces and `--`
//! comments. `lint` spent a third of its instructions in sqlparser's tokenizer, which grows a
//! `String` one character at a time for every word; this reads the same tokens with one
//! allocation per word. It is not a second grammar: anything outside that subset (non-ASCII
//! outside comments, doubled quotes, dollar quotes and parameters, `E''`/`B''`/`X''`/`U&''`
//! literals, exponents, custom operators, block comments …) makes it give up, and the caller
//! runs sqlparser's own tokenizer over the statement. Where it does answer, the tokens and their
//! positions are sqlparser's (checked against it on every statement in debug builds, so every
//! test that parses SQL checks it, and by a property test below).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use sqlparser::keywords::{ALL_KEYWORDS, ALL_KEYWORDS_INDEX, Keyword};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Whitespace, Word};

/// Tokenizes `text` as sqlparser's PostgreSQL tokenizer would, into `buf`; false (and `buf`
/// left in any state) where the text holds anything outside the subset this reads.
pub fn postgres(text: &str, buf: &mut Vec<TokenWithSpan>) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let (mut line, mut col) = (1u64, 1u64);
    while i < b.len() {
        let start = Location::new(line, col);
        let from = i;
        let token = match b[i] {
            b' ' => {
                i += 1;
                Token::Whitespace(Whitespace::Space)
            }
            b'\t' => {
                i += 1;
                Token::Whitespace(Whitespace::Tab)
            }
            b'\n' | b'\r' => {
                // sqlparser counts `\r` as a column and `\n` as the line break; `\r\n` is one
                // token.
                if b[i] == b'\r' {
                    i += 1;
                    col += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    i += 1;
                    line += 1;
                    col = 1;
                }
                buf.push(TokenWithSpan::new(
                    Token::Whitespace(Whitespace::Newline),
                    Span::new(start, Location::new(line, col)),
                ));
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                // `$` continues a word; a quote right after one is a prefixed literal (E'', N''…).
                if matches!(b.get(i), Some(c) if !c.is_ascii() || matches!(c, b'$' | b'\'' | b'"'))
                {
                    return false;
                }
                word(&text[from..i])
            }
            b'"' => {
                let Some(end) = quoted_end(b, i, b'"') else {
                    return false;
                };
                i = end + 1;
                if end == from + 1 {
                    return false; // `""`: sqlparser's business
                }
                Token::make_word(&text[from + 1..end], Some('"'))
            }
            b'\'' => {
                let Some(end) = quoted_end(b, i, b'\'') else {
                    return false;
                };
                i = end + 1;
                Token::SingleQuotedString(text[from + 1..end].to_string())
            }
            b'0'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if b.get(i) == Some(&b'.') {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                // Exponents, `0x`, `1_000`, a second period, a word glued on: sqlparser's.
                if matches!(b.get(i), Some(c) if !c.is_ascii() || c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.' | b'\'' | b'"'))
                {
                    return false;
                }
                Token::Number(text[from..i].to_string(), false)
            }
            b'.' => {
                if matches!(b.get(i + 1), Some(c) if c.is_ascii_digit() || *c == b'_') {
                    return false;
                }
                i += 1;
                Token::Period
            }
            b'(' => single(&mut i, Token::LParen),
            b')' => single(&mut i, Token::RParen),
            b',' => single(&mut i, Token::Comma),
            b';' => single(&mut i, Token::SemiColon),
            b'[' => single(&mut i, Token::LBracket),
            b']' => single(&mut i, Token::RBracket),
            b':' => match b.get(i + 1) {
                Some(b':') => {
                    i += 2;
                    Token::DoubleColon
                }
                Some(b'=') => return false,
                _ => single(&mut i, Token::Colon),
            },
            b'-' if b.get(i + 1) == Some(&b'-') => {
                // A comment runs to the end of the line (not taking the line break).
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n' || c == b'\r')
                    .map_or(b.len(), |n| i + n);
                let comment = &text[i + 2..end];
                col += 2 + comment.chars().count() as u64;
                i = end;
                buf.push(TokenWithSpan::new(
                    Token::Whitespace(Whitespace::SingleLineComment {
                        comment: comment.to_string(),
                        prefix: "--".to_string(),
                    }),
                    Span::new(start, Location::new(line, col)),
                ));
                continue;
            }
            c if is_operator_char(c) => {
                while i < b.len() && is_operator_char(b[i]) {
                    i += 1;
                }
                match &text[from..i] {
                    "=" => Token::Eq,
                    "<" => Token::Lt,
                    ">" => Token::Gt,
                    "<=" => Token::LtEq,
                    ">=" => Token::GtEq,
                    "<>" | "!=" => Token::Neq,
                    "+" => Token::Plus,
                    "-" => Token::Minus,
                    "*" => Token::Mul,
                    "/" => Token::Div,
                    "||" => Token::StringConcat,
                    _ => return false,
                }
            }
            _ => return false,
        };
        // Everything above is ASCII: one byte is one column.
        col += (i - from) as u64;
        buf.push(TokenWithSpan::new(
            token,
            Span::new(start, Location::new(line, col)),
        ));
    }
    true
}

/// In debug builds (every test), the fast path's tokens are checked against sqlparser's.
pub fn debug_check(text: &str, tokens: &[TokenWithSpan]) {
    if cfg!(debug_assertions) {
        let mut theirs = Vec::new();
        let agree =
            sqlparser::tokenizer::Tokenizer::new(&sqlparser::dialect::PostgreSqlDialect {}, text)
                .tokenize_with_location_into_buf(&mut theirs)
                .is_ok()
                && theirs.len() == tokens.len()
                && theirs
                    .iter()
                    .zip(tokens)
                    .all(|(a, b)| a.token == b.token && a.span == b.span);
        assert!(
            agree,
            "the fast tokenizer disagrees with sqlparser's on {text:?}"
        );
    }
}

/// An unquoted word, its keyword looked up as sqlparser does (case-insensitively) but in a hash
/// map: sqlparser's binary search over its ~1,000 keywords was a tenth of `lint`'s instructions.
fn word(text: &str) -> Token {
    static KEYWORDS: OnceLock<(FxHashMap<&'static [u8], Keyword>, usize)> = OnceLock::new();
    let (keywords, longest) = KEYWORDS.get_or_init(|| {
        let map: FxHashMap<&'static [u8], Keyword> = ALL_KEYWORDS
            .iter()
            .map(|k| k.as_bytes())
            .zip(ALL_KEYWORDS_INDEX.iter().copied())
            .collect();
        let longest = ALL_KEYWORDS.iter().map(|k| k.len()).max().unwrap_or(0);
        (map, longest)
    });
    let mut upper = [0u8; 64];
    let keyword = match upper.get_mut(..text.len()) {
        Some(upper) if text.len() <= *longest => {
            upper.copy_from_slice(text.as_bytes());
            upper.make_ascii_uppercase();
            keywords.get(&*upper).copied().unwrap_or(Keyword::NoKeyword)
        }
        _ => Keyword::NoKeyword,
    };
    Token::Word(Word {
        value: text.to_string(),
        quote_style: None,
        keyword,
    })
}

fn single(i: &mut usize, token: Token) -> Token {
    *i += 1;
    token
}

/// Where the quote opened at `open` closes, for a plain quoted text on one line: no doubled
/// quote inside, no backslash, nothing outside ASCII.
fn quoted_end(b: &[u8], open: usize, quote: u8) -> Option<usize> {
    let len = b[open + 1..]
        .iter()
        .position(|&c| c == quote || c == b'\\' || c == b'\n' || c == b'\r' || !c.is_ascii())?;
    let end = open + 1 + len;
    (b[end] == quote && b.get(end + 1) != Some(&quote)).then_some(end)
}

/// The characters PostgreSQL operators are made of (sqlparser's `is_custom_operator_part`).
fn is_operator_char(c: u8) -> bool {
    matches!(
        c,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    /// sqlparser's tokens with their spans, or None where it fails.
    fn sqlparser_tokens(text: &str) -> Option<Vec<(Token, Span)>> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
            .tokenize_with_location()
            .ok()?;
        Some(tokens.into_iter().map(|t| (t.token, t.span)).collect())
    }

    fn fast_tokens(text: &str) -> Option<Vec<(Token, Span)>> {
        let mut buf = Vec::new();
        postgres(text, &mut buf).then(|| buf.into_iter().map(|t| (t.token, t.span)).collect())
    }

    #[test]
    fn reads_the_common_statements_as_sqlparser_does() {
        for text in [
            "ALTER TABLE users ADD COLUMN email_lower text NOT NULL",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Users_idx\" ON public.users (lower(email), id)",
            "UPDATE t SET n = n + 1, s = 'a b' || 'c' WHERE id >= 10 AND id < 20.5 AND x <> 1 AND y != 2",
            "ALTER TABLE t\r\n  ADD CONSTRAINT c CHECK (n >= 0) NOT VALID -- why\r\n",
            "SELECT a::bigint, b[1], c.d FROM t -- é in a comment\n WHERE e <= 3 * 4 / 2 - 1",
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2., 'y');",
            "SET lock_timeout = '2s'",
        ] {
            let fast = fast_tokens(text);
            assert!(fast.is_some(), "the fast path gave up on {text:?}");
            assert_eq!(fast, sqlparser_tokens(text), "{text:?}");
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_read() {
        for text in [
            "SELECT E'a\\nb'",
            "SELECT 'it''s'",
            "SELECT \"a\"\"b\"",
            "SELECT $1",
            "DO $$ BEGIN END $$",
            "SELECT 1e5",
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT .5",
            "SELECT a /* b */",
            "SELECT a -> 'b'",
            "SELECT 'café'",
            "SELECT naïve",
            "SELECT U&'d\\0061t'",
            "SELECT x := 1",
        ] {
            assert_eq!(fast_tokens(text), None, "{text:?}");
        }
    }

    /// Pieces of statements, most of them inside what the fast path reads.
    const PIECES: &[&str] = &[
        "ALTER",
        "table",
        "t_1",
        "\"Quoted Name\"",
        "'a string'",
        "''",
        "1",
        "42.5",
        "7.",
        "(",
        ")",
        ",",
        ".",
        ";",
        "::",
        ":",
        "[",
        "]",
        "=",
        "<",
        ">",
        "<=",
        ">=",
        "<>",
        "!=",
        "+",
        "-",
        "*",
        "/",
        "||",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "-- a comment é\n",
        "--\n",
        "e",
        "E",
        "x",
        "$",
        "é",
        "'it''s'",
        "\"\"",
        "->",
        "/*",
        "*/",
        "0x",
        "_",
        "1e5",
        "@",
        "#",
        "%",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Statements made of common pieces: wherever the fast path answers, it answers as
        /// sqlparser does.
        #[test]
        fn agrees_with_sqlparser_on_pieces(pieces in proptest::collection::vec(0..PIECES.len(), 0..24)) {
            let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
            if let Some(fast) = fast_tokens(&text) {
                prop_assert_eq!(Some(fast), sqlparser_tokens(&text));
            }
        }

        /// Wherever the fast path answers, it answers as sqlparser does.
        #[test]
        fn agrees_with_sqlparser(text in "[ a-zA-Z0-9_$'\"().,;:\\[\\]=<>!+*/|@#%^&~?`\\-\\\\\r\n\té]{0,40}") {
            if let Some(fast) = fast_tokens(&text) {
                prop_assert_eq!(Some(fast), sqlparser_tokens(&text));
            }
        }
    }
}
