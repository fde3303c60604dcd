//! Splits SQL text into statements the way the engine's own client does (`psql`, `mysql`), reading
//! it in chunks: a file of any size is never held whole. Quotes, dollar quotes, comments and the
//! client's `DELIMITER` command are respected; each statement keeps its line and column and the
//! `-- safeshift:` directive comments right above it.
//!
//! Only the lexical structure is read here (where a statement ends); the statement itself is
//! parsed by the caller.

use std::io::Read;

use super::Directive;
use crate::error::{PlanError, Pos};

/// One statement as written.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Where its first character is.
    pub pos: Pos,
    /// From its first to its last significant character: no delimiter, no trailing comment.
    pub text: String,
    /// `-- safeshift: …` comments between the previous statement and this one.
    pub directives: Vec<Directive>,
}

/// dbmate's `-- migrate:up` marker and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbmateUp {
    /// False for `-- migrate:up transaction:false`: dbmate runs the section outside a transaction.
    pub transaction: bool,
}

/// How the client reads the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexer {
    /// `psql`: dollar quotes, `E''` escapes, nested block comments, `\` meta-commands.
    Postgres,
    /// `mysql`: backslash escapes in strings, backticks, `#` comments.
    MySql,
}

/// Reading stops at the first of these: the rest of the file cannot be split reliably.
#[derive(Debug)]
pub enum SplitError {
    /// A string, quoted name or comment that never ends.
    Unterminated(PlanError),
    Io(std::io::Error),
    /// Bytes that are not UTF-8, at this position and byte offset.
    Utf8 {
        pos: Pos,
        byte: u64,
    },
}

impl SplitError {
    /// As a located error (I/O errors at the start of the file).
    pub fn into_plan_error(self) -> PlanError {
        match self {
            SplitError::Unterminated(e) => e,
            SplitError::Io(e) => PlanError::new(Pos { line: 1, column: 1 }, e.to_string()),
            SplitError::Utf8 { pos, byte } => PlanError::new(
                pos,
                format!("not valid UTF-8 (byte {byte}); safeshift reads SQL text files"),
            ),
        }
    }
}

/// The statements of one text, in order.
pub struct Splitter<R> {
    reader: R,
    /// Bytes read; `buf[consumed..]` is the text not yet split, and starts between two
    /// statements.
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out. Dropped only when more is read: removing
    /// each statement from the front as it was taken moved the rest of the buffer every time
    /// (almost half the reading thread's instructions on real histories).
    consumed: usize,
    eof: bool,
    lexer: Lexer,
    delimiter: Vec<u8>,
    /// Position of `buf[consumed]`.
    line: u64,
    column: u64,
    /// Bytes of the text before `buf[consumed]`.
    offset: u64,
    /// Stop at dbmate's `-- migrate:down`.
    sections: bool,
    /// Seen `-- migrate:up`.
    pub dbmate: Option<DbmateUp>,
    /// The first line of the text is `-- no-transaction` (sqlx's marker).
    pub no_transaction: bool,
    done: bool,
}

const CHUNK: usize = 64 * 1024;

/// A statement found in the buffer, as byte offsets.
struct Found {
    start: usize,
    end: usize,
    /// Where scanning resumes (past the delimiter).
    next: usize,
    pos: Pos,
    directives: Vec<Directive>,
    /// Position just past `next`.
    line: u64,
    column: u64,
    /// dbmate's `-- migrate:down` ends the statement and the text.
    stop: bool,
}

enum Scan {
    Found(Found),
    /// The client's `DELIMITER x` command: statements end with `x` from `next` on.
    Delimiter {
        delimiter: Vec<u8>,
        next: usize,
        line: u64,
        column: u64,
    },
    /// Only whitespace and comments up to the end of the text.
    End,
    /// The buffer ends inside a statement or comment: read more.
    More,
    Unterminated(PlanError),
}

impl Splitter<std::io::Cursor<Vec<u8>>> {
    /// Splits text already in memory.
    pub fn from_text(lexer: Lexer, text: &str) -> Self {
        Splitter::new(lexer, std::io::Cursor::new(text.as_bytes().to_vec()))
    }
}

impl<R: Read> Splitter<R> {
    pub fn new(lexer: Lexer, reader: R) -> Self {
        Splitter {
            reader,
            buf: Vec::new(),
            consumed: 0,
            eof: false,
            lexer,
            delimiter: b";".to_vec(),
            line: 1,
            column: 1,
            offset: 0,
            sections: false,
            dbmate: None,
            no_transaction: false,
            done: false,
        }
    }

    /// Stop at dbmate's `-- migrate:down` line once a `-- migrate:up` line was seen: only the up
    /// section runs on deploy.
    pub fn up_section_only(mut self) -> Self {
        self.sections = true;
        self
    }

    /// The text not yet split.
    fn rest(&self) -> &[u8] {
        &self.buf[self.consumed..]
    }

    fn fill(&mut self) -> Result<(), SplitError> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        // Double what is buffered, so rescanning a long statement stays linear overall.
        let want = self.buf.len().max(CHUNK) as u64;
        let before = self.buf.len();
        // A first chunk's room up front: `read_to_end` then reads a small file straight into it
        // instead of probing and growing (a dozen `read` calls per file). Only the first time:
        // reserving more on every fill made jemalloc move the buffer.
        if self.buf.capacity() == 0 {
            self.buf.reserve(CHUNK);
        }
        loop {
            match (&mut self.reader).take(want).read_to_end(&mut self.buf) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SplitError::Io(e)),
            }
        }
        if self.buf.len() == before {
            self.eof = true;
        }
        Ok(())
    }

    /// The next statement, or `None` at the end of the text.
    pub fn next_statement(&mut self) -> Option<Result<Raw, SplitError>> {
        if self.done {
            return None;
        }
        loop {
            if self.rest().is_empty() && !self.eof {
                if let Err(e) = self.fill() {
                    self.done = true;
                    return Some(Err(e));
                }
                if self.offset == 0 {
                    self.no_transaction = first_line_is(self.rest(), b"-- no-transaction");
                }
            }
            match self.scan() {
                Scan::More => {
                    if let Err(e) = self.fill() {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Scan::End => {
                    self.done = true;
                    return None;
                }
                Scan::Unterminated(e) => {
                    self.done = true;
                    return Some(Err(SplitError::Unterminated(e)));
                }
                Scan::Found(found) => return Some(self.take(found)),
                Scan::Delimiter {
                    delimiter,
                    next,
                    line,
                    column,
                } => {
                    if !delimiter.is_empty() {
                        self.delimiter = delimiter;
                    }
                    self.consumed += next;
                    self.offset += next as u64;
                    (self.line, self.column) = (line, column);
                }
            }
        }
    }

    fn take(&mut self, found: Found) -> Result<Raw, SplitError> {
        let mut end = found.end;
        let rest = self.rest();
        if self.delimiter != b";" {
            // `END;` before a custom delimiter: the semicolon is the statement's own end.
            while end > found.start && matches!(rest[end - 1], b';' | b' ' | b'\t' | b'\r' | b'\n')
            {
                end -= 1;
            }
        }
        let text = match std::str::from_utf8(&rest[found.start..end]) {
            Ok(text) => text.to_string(),
            Err(e) => {
                self.done = true;
                let bad = found.start + e.valid_up_to();
                return Err(SplitError::Utf8 {
                    pos: self.position_of(bad),
                    byte: self.offset + bad as u64,
                });
            }
        };
        self.consumed += found.next;
        self.offset += found.next as u64;
        (self.line, self.column) = (found.line, found.column);
        if found.stop {
            self.done = true;
        }
        Ok(Raw {
            pos: found.pos,
            text,
            directives: found.directives,
        })
    }

    /// The position of byte `at` of the text not yet split (counting characters, as sqlparser
    /// does).
    fn position_of(&self, at: usize) -> Pos {
        let rest = self.rest();
        let before = &rest[..at.min(rest.len())];
        match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => Pos {
                line: self.line + before.iter().filter(|&&b| b == b'\n').count() as u64,
                column: chars(&before[nl + 1..]) + 1,
            },
            None => Pos {
                line: self.line,
                column: self.column + chars(before),
            },
        }
    }

    /// Finds the next statement in the buffer.
    fn scan(&mut self) -> Scan {
        let mut cursor = Cursor {
            buf: &self.buf[self.consumed..],
            i: 0,
            line: self.line,
            line_start: None,
            column0: self.column,
        };
        let (lexer, eof) = (self.lexer, self.eof);
        let more = |pos: Pos, what: &str| {
            if eof {
                Scan::Unterminated(PlanError::new(pos, format!("Unterminated {what}")))
            } else {
                Scan::More
            }
        };
        let mut directives = Vec::new();
        // The gap: whitespace, comments, client commands and empty statements.
        let start = loop {
            cursor.skip_whitespace();
            let Some(&c) = cursor.peek() else {
                return if eof { Scan::End } else { Scan::More };
            };
            if c == b'-' || c == b'#' {
                let at_line_start = cursor.at_line_start();
                if let Some(comment) = cursor.line_comment(lexer, eof) {
                    let Some(comment) = comment else {
                        return Scan::More;
                    };
                    // Most comments are prose: read the text only when it may be a marker.
                    if self.sections
                        && at_line_start
                        && memchr::memmem::find(comment.text, b"migrate:").is_some()
                    {
                        match dbmate_marker(&String::from_utf8_lossy(comment.text)) {
                            Some(Marker::Up(up)) => self.dbmate = Some(up),
                            Some(Marker::Down) if self.dbmate.is_some() => return Scan::End,
                            _ => {}
                        }
                    }
                    if memchr::memmem::find(comment.text, b"safeshift:").is_some()
                        && let Some(d) =
                            super::directive(&String::from_utf8_lossy(comment.text), comment.pos)
                    {
                        directives.push(d);
                    }
                    continue;
                }
            }
            match cursor.block_comment(lexer) {
                Some(Ok(())) => continue,
                Some(Err(pos)) => return more(pos, "multi-line comment"),
                None => {}
            }
            // psql meta-commands (`\restrict …` in recent pg_dump output, `\connect`) are not SQL.
            if c == b'\\' && cursor.at_line_start() {
                if !cursor.skip_line() && !eof {
                    return Scan::More;
                }
                continue;
            }
            if c == b'd' || c == b'D' {
                match cursor.delimiter_command(eof) {
                    Some(Some(delimiter)) => {
                        // Applied at once: what follows is read with the new delimiter.
                        return Scan::Delimiter {
                            delimiter,
                            next: cursor.i,
                            line: cursor.line,
                            column: cursor.column(),
                        };
                    }
                    Some(None) => return Scan::More,
                    None => {}
                }
            }
            if cursor.rest().starts_with(&self.delimiter) {
                cursor.advance(self.delimiter.len());
                continue;
            }
            break cursor.i;
        };
        let pos = cursor.pos();
        let found = |cursor: &Cursor, end: usize, next: usize, stop: bool, directives| Found {
            start,
            end,
            next,
            pos,
            directives,
            line: cursor.line,
            column: cursor.column(),
            stop,
        };
        // The statement: up to the delimiter at the top level.
        let mut end = start;
        let delimiter = self.delimiter.as_slice();
        let special = special_bytes(lexer, delimiter[0]);
        loop {
            // Ordinary bytes in one step: only the special ones can start or end anything.
            let rest = cursor.rest();
            let run = rest
                .iter()
                .position(|&b| special[usize::from(b)])
                .unwrap_or(rest.len());
            if run > 0 {
                if let Some(last) = rest[..run].iter().rposition(|b| !b.is_ascii_whitespace()) {
                    end = cursor.i + last + 1;
                }
                cursor.i += run; // no newline in the run: newlines are special
            }
            let Some(&c) = cursor.peek() else {
                if !eof {
                    return Scan::More;
                }
                return Scan::Found(found(&cursor, end, cursor.i, false, directives));
            };
            if c == delimiter[0] && cursor.rest().starts_with(delimiter) {
                cursor.advance(delimiter.len());
                return Scan::Found(found(&cursor, end, cursor.i, false, directives));
            }
            match c {
                b'\n' => {
                    cursor.advance(1);
                    // A `DELIMITER` line ends the statement before it, as the mysql client (and
                    // the script runners that copy it) read it.
                    if delimiter_line(cursor.rest()) {
                        let next = cursor.i;
                        return Scan::Found(found(&cursor, end, next, false, directives));
                    }
                    continue;
                }
                b'-' | b'#' => {
                    let comment_start = cursor.i;
                    let at_line_start = cursor.at_line_start();
                    if let Some(comment) = cursor.line_comment(lexer, eof) {
                        let Some(comment) = comment else {
                            return Scan::More;
                        };
                        if self.sections
                            && at_line_start
                            && self.dbmate.is_some()
                            && memchr::memmem::find(comment.text, b"migrate:down").is_some()
                            && matches!(
                                dbmate_marker(&String::from_utf8_lossy(comment.text)),
                                Some(Marker::Down)
                            )
                        {
                            // dbmate cuts the file at this line, semicolon or not.
                            return Scan::Found(found(
                                &cursor,
                                end,
                                comment_start,
                                true,
                                directives,
                            ));
                        }
                        if delimiter_line(cursor.rest()) {
                            let next = cursor.i;
                            return Scan::Found(found(&cursor, end, next, false, directives));
                        }
                        continue;
                    }
                }
                b'/' => match cursor.block_comment(lexer) {
                    Some(Ok(())) => continue,
                    Some(Err(pos)) => return more(pos, "multi-line comment"),
                    None => {}
                },
                b'\'' | b'"' | b'`' | b'$' => match cursor.quoted(lexer, eof) {
                    Some(Ok(())) => {
                        end = cursor.i;
                        continue;
                    }
                    Some(Err((pos, what))) => return more(pos, what),
                    None => {}
                },
                _ => {}
            }
            // A special byte that starts nothing here (a minus, a `$1`): an ordinary character.
            cursor.advance_char();
            end = cursor.i;
        }
    }
}

/// Whether a line (from its start) is the client's `DELIMITER x` command.
fn delimiter_line(line: &[u8]) -> bool {
    let blanks = line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let line = &line[blanks..];
    line.len() > 10
        && line[..9].eq_ignore_ascii_case(b"delimiter")
        && matches!(line[9], b' ' | b'\t')
}

/// The bytes that may start a comment, a quote, the delimiter or a new line.
fn special_bytes(lexer: Lexer, delimiter: u8) -> [bool; 256] {
    let mut table = [false; 256];
    for b in [b'\n', b'-', b'/', b'\'', b'"', delimiter] {
        table[usize::from(b)] = true;
    }
    let extra: &[u8] = match lexer {
        Lexer::Postgres => b"$",
        Lexer::MySql => b"#`",
    };
    for &b in extra {
        table[usize::from(b)] = true;
    }
    table
}

impl<R: Read> Iterator for Splitter<R> {
    type Item = Result<Raw, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_statement()
    }
}

enum Marker {
    Up(DbmateUp),
    Down,
}

/// dbmate's section markers: `-- migrate:up [transaction:false]` and `-- migrate:down`.
fn dbmate_marker(comment: &str) -> Option<Marker> {
    let rest = comment.trim_start_matches('-').trim_start();
    if let Some(options) = rest.strip_prefix("migrate:up") {
        let transaction = !options
            .split_whitespace()
            .any(|o| o.eq_ignore_ascii_case("transaction:false"));
        return Some(Marker::Up(DbmateUp { transaction }));
    }
    rest.starts_with("migrate:down").then_some(Marker::Down)
}

fn first_line_is(buf: &[u8], marker: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    line.trim_ascii() == marker
}

/// Characters (not bytes) in UTF-8 text: every byte that does not continue a character.
fn chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64
}

struct Comment<'a> {
    /// Without the `--` or `#`.
    text: &'a [u8],
    pos: Pos,
}

struct Cursor<'a> {
    buf: &'a [u8],
    i: usize,
    line: u64,
    /// Byte where the current line starts, `None` while still on the line `buf` starts on.
    line_start: Option<usize>,
    /// The column of `buf[0]`.
    column0: u64,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&u8> {
        self.buf.get(self.i)
    }

    fn rest(&self) -> &'a [u8] {
        &self.buf[self.i.min(self.buf.len())..]
    }

    fn column(&self) -> u64 {
        match self.line_start {
            Some(start) => chars(&self.buf[start..self.i]) + 1,
            None => self.column0 + chars(&self.buf[..self.i]),
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column(),
        }
    }

    fn at_line_start(&self) -> bool {
        let from = self.line_start.unwrap_or(0);
        let only_blanks = self.buf[from..self.i]
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || b == b'\r');
        only_blanks && (self.line_start.is_some() || self.column0 == 1)
    }

    /// Moves over `n` bytes, counting lines.
    fn advance(&mut self, n: usize) {
        let end = (self.i + n).min(self.buf.len());
        let skipped = &self.buf[self.i..end];
        if let Some(last) = memchr::memrchr(b'\n', skipped) {
            self.line += memchr::memchr_iter(b'\n', skipped).count() as u64;
            self.line_start = Some(self.i + last + 1);
        }
        self.i = end;
    }

    /// Moves over one character (a whole UTF-8 sequence).
    fn advance_char(&mut self) {
        self.advance(1);
        while self.peek().is_some_and(|&b| b & 0xC0 == 0x80) {
            self.i += 1;
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.advance(1);
        }
    }

    /// Moves past the end of the line; false when the buffer ends first.
    fn skip_line(&mut self) -> bool {
        match memchr::memchr(b'\n', self.rest()) {
            Some(nl) => {
                self.advance(nl + 1);
                true
            }
            None => {
                self.i = self.buf.len();
                false
            }
        }
    }

    /// A `--` (or MySQL `#`) comment here: `Some(None)` when the buffer ends before its line does
    /// and more text may follow.
    fn line_comment(&mut self, lexer: Lexer, eof: bool) -> Option<Option<Comment<'a>>> {
        let rest = self.rest();
        let prefix = if rest.starts_with(b"--")
            && (lexer == Lexer::Postgres
                || rest
                    .get(2)
                    .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control()))
        {
            2
        } else if lexer == Lexer::MySql && rest.starts_with(b"#") {
            1
        } else {
            return None;
        };
        let pos = self.pos();
        let (text, len) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (&rest[prefix..nl], nl + 1),
            None if eof => (&rest[prefix..], rest.len()),
            None => {
                self.i = self.buf.len();
                return Some(None);
            }
        };
        self.advance(len);
        Some(Some(Comment { text, pos }))
    }

    /// A block comment here: `Some(Err(start))` when the buffer ends inside it.
    fn block_comment(&mut self, lexer: Lexer) -> Option<Result<(), Pos>> {
        if !self.rest().starts_with(b"/*") {
            return None;
        }
        let pos = self.pos();
        self.advance(2);
        let mut depth = 1;
        loop {
            let rest = self.rest();
            // Only `*/` (and, nested in PostgreSQL, `/*`) matter.
            let Some(at) = memchr::memchr2(b'*', b'/', rest) else {
                self.advance(rest.len());
                return Some(Err(pos));
            };
            let rest = &rest[at..];
            if rest.starts_with(b"*/") {
                self.advance(at + 2);
                depth -= 1;
                if depth == 0 {
                    return Some(Ok(()));
                }
            } else if lexer == Lexer::Postgres && rest.starts_with(b"/*") {
                self.advance(at + 2);
                depth += 1;
            } else {
                self.advance(at + 1);
            }
        }
    }

    /// The client's `DELIMITER x` command at the start of a statement: `Some(Some(x))`, or
    /// `Some(None)` when the buffer ends before its line does.
    fn delimiter_command(&mut self, eof: bool) -> Option<Option<Vec<u8>>> {
        let rest = self.rest();
        const WORD: &[u8] = b"delimiter";
        if rest.len() < WORD.len() + 1
            || !rest[..WORD.len()].eq_ignore_ascii_case(WORD)
            || !(rest[WORD.len()] == b' ' || rest[WORD.len()] == b'\t')
        {
            return None;
        }
        let nl = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => nl,
            None if eof => rest.len(),
            None => return Some(None),
        };
        let value = rest[WORD.len()..nl].trim_ascii();
        let value = value
            .split(|b| b.is_ascii_whitespace())
            .next()
            .unwrap_or_default()
            .to_vec();
        self.advance((nl + 1).min(rest.len()));
        Some(Some(value))
    }

    /// A quoted string or name here: `Some(Err((start, what)))` when the buffer ends inside it.
    fn quoted(&mut self, lexer: Lexer, eof: bool) -> Option<Result<(), (Pos, &'static str)>> {
        let c = *self.peek()?;
        let pos = self.pos();
        let result = match (c, lexer) {
            (b'\'', _) => {
                // PostgreSQL reads backslash escapes only in E'…' strings.
                let escapes = lexer == Lexer::MySql || self.escape_string_prefix();
                self.until_quote(b'\'', escapes)
                    .map_err(|()| "string literal")
            }
            (b'"', Lexer::Postgres) => self
                .until_quote(b'"', false)
                .map_err(|()| "quoted identifier"),
            (b'"', Lexer::MySql) => self.until_quote(b'"', true).map_err(|()| "string literal"),
            (b'`', Lexer::MySql) => self
                .until_quote(b'`', false)
                .map_err(|()| "quoted identifier"),
            (b'$', Lexer::Postgres) => match self.dollar_tag(eof)? {
                None => Err("dollar-quoted string"),
                Some(tag) => {
                    self.advance(tag.len());
                    match memchr::memmem::find(self.rest(), tag) {
                        Some(at) => {
                            self.advance(at + tag.len());
                            Ok(())
                        }
                        None => {
                            self.advance(self.rest().len());
                            Err("dollar-quoted string")
                        }
                    }
                }
            },
            _ => return None,
        };
        Some(result.map_err(|what| (pos, what)))
    }

    /// `E'…'` (or `e'…'`): the quote at `i` follows an `E` that starts a word.
    fn escape_string_prefix(&self) -> bool {
        let before = &self.buf[..self.i];
        match before {
            [.., p, e] if (*e == b'E' || *e == b'e') => !is_ident_byte(*p),
            [e] => *e == b'E' || *e == b'e',
            _ => false,
        }
    }

    /// `$tag$` at `i` (not a `$1` parameter, not the `$` inside a name): `Some(Some(tag))`,
    /// `Some(None)` when the buffer ends before the tag does, `None` when this is no tag.
    fn dollar_tag(&self, eof: bool) -> Option<Option<&'a [u8]>> {
        if self.i > 0 && is_ident_byte(self.buf[self.i - 1]) {
            return None;
        }
        let rest = self.rest();
        let Some(close) = rest[1..].iter().position(|&b| !is_tag_byte(b)) else {
            return if eof { None } else { Some(None) };
        };
        let close = close + 1;
        if rest[close] != b'$' {
            return None;
        }
        if rest.get(1).is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Some(&rest[..=close]))
    }

    /// Moves past the closing quote (a doubled quote is part of the text).
    fn until_quote(&mut self, quote: u8, escapes: bool) -> Result<(), ()> {
        self.advance(1);
        loop {
            let rest = self.rest();
            let next = if escapes {
                memchr::memchr2(quote, b'\\', rest)
            } else {
                memchr::memchr(quote, rest)
            };
            let Some(at) = next else {
                self.advance(rest.len());
                return Err(());
            };
            if rest[at] == b'\\' {
                if at + 1 >= rest.len() {
                    self.advance(rest.len());
                    return Err(());
                }
                self.advance(at + 2);
                continue;
            }
            if rest.get(at + 1) == Some(&quote) {
                self.advance(at + 2);
                continue;
            }
            // A quote at the very end of the buffer may be the first of a doubled pair: then the
            // statement is not complete either, and is scanned again with more text.
            self.advance(at + 1);
            return Ok(());
        }
    }
}

fn is_ident_byte(b: u8) -> bool {
    is_tag_byte(b) || b == b'$'
}

/// What a dollar quote's tag is made of.
fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(lexer: Lexer, text: &str) -> Vec<(u64, u64, String)> {
        Splitter::from_text(lexer, text)
            .map(|r| {
                let r = r.unwrap();
                (r.pos.line, r.pos.column, r.text)
            })
            .collect()
    }

    /// A reader that hands out one byte at a time: every statement straddles a refill.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            out[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let text = "SELECT ';' ; -- c;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n/* a; /* nested; */ b; */ SELECT E'it\\'s;', \"a;b\"  -- tail\n;\nSELECT $1";
        assert_eq!(
            split(Lexer::Postgres, text),
            [
                (1, 1, "SELECT ';'".to_string()),
                (
                    2,
                    1,
                    "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql"
                        .to_string()
                ),
                (3, 27, "SELECT E'it\\'s;', \"a;b\"".to_string()),
                (5, 1, "SELECT $1".to_string()),
            ]
        );
    }

    #[test]
    fn mysql_quotes_comments_and_delimiter() {
        let text = "# note;\nSELECT 'a\\';', \"b;\", `c;`;\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;\nSELECT 2;";
        assert_eq!(
            split(Lexer::MySql, text),
            [
                (2, 1, "SELECT 'a\\';', \"b;\", `c;`".to_string()),
                (4, 1, "CREATE PROCEDURE p() BEGIN SELECT 1; END".to_string()),
                (6, 1, "SELECT 2".to_string()),
            ]
        );
    }

    #[test]
    fn a_delimiter_line_ends_the_statement_before_it() {
        let text =
            "delimiter //\nUPDATE a SET x = 1//\nUPDATE b SET y = 2;\n-- c\ndelimiter ;\nSELECT 3;";
        assert_eq!(
            split(Lexer::MySql, text),
            [
                (2, 1, "UPDATE a SET x = 1".to_string()),
                (3, 1, "UPDATE b SET y = 2".to_string()),
                (6, 1, "SELECT 3".to_string()),
            ]
        );
    }

    #[test]
    fn the_same_statements_whatever_the_read_size() {
        let text = "-- safeshift: ignore x\nALTER TABLE «ü» ADD COLUMN c text DEFAULT 'a''b';\n\n  SELECT $tag$ x $tag$; DO $$ BEGIN END $$";
        let whole: Vec<_> = Splitter::from_text(Lexer::Postgres, text)
            .map(|r| r.unwrap())
            .map(|r| (r.pos, r.text, r.directives))
            .collect();
        let trickled: Vec<_> = Splitter::new(Lexer::Postgres, Trickle(text.as_bytes()))
            .map(|r| r.unwrap())
            .map(|r| (r.pos, r.text, r.directives))
            .collect();
        assert_eq!(whole, trickled);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].2[0].key, "ignore");
        assert_eq!(whole[1].0, Pos { line: 4, column: 3 });
        assert_eq!(
            whole[2].0,
            Pos {
                line: 4,
                column: 25
            }
        );
    }

    #[test]
    fn unterminated_strings_and_comments_say_where_they_start() {
        for (text, pos, what) in [
            ("SELECT 1;\nSELECT 'oops;\n", (2, 8), "string literal"),
            ("DO $x$ BEGIN NULL; END;\n", (1, 4), "dollar-quoted"),
            ("/* ALTER TABLE t;\n", (1, 1), "multi-line comment"),
        ] {
            let err = Splitter::from_text(Lexer::Postgres, text)
                .find_map(|r| r.err())
                .unwrap();
            let SplitError::Unterminated(e) = err else {
                panic!("{err:?}")
            };
            assert_eq!((e.pos.line, e.pos.column), pos, "{text}");
            assert!(e.message.contains(what), "{}", e.message);
        }
    }

    #[test]
    fn dbmate_sections() {
        let text = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (c)\n-- migrate:down\nDROP INDEX i;\n";
        let mut splitter = Splitter::from_text(Lexer::Postgres, text).up_section_only();
        let all: Vec<_> = splitter.by_ref().map(|r| r.unwrap().text).collect();
        assert_eq!(all, ["CREATE INDEX CONCURRENTLY i ON t (c)"]);
        assert_eq!(splitter.dbmate, Some(DbmateUp { transaction: false }));
    }

    #[test]
    fn meta_commands_and_sqlx_marker() {
        let text = "-- no-transaction\n\\restrict abc\nCREATE INDEX CONCURRENTLY i ON t (c);\n";
        let mut splitter = Splitter::from_text(Lexer::Postgres, text);
        let all: Vec<_> = splitter.by_ref().map(|r| r.unwrap().text).collect();
        assert_eq!(all, ["CREATE INDEX CONCURRENTLY i ON t (c)"]);
        assert!(splitter.no_transaction);
    }
}
