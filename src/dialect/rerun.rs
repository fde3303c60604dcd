//! PostgreSQL: the re-runnable spelling of a stage's statements.
//!
//! A stage's `up.sql` or `down.sql` may stop half way (a lock timeout, Ctrl-C, a lost
//! connection: each statement of a non-transactional stage commits on its own) or be run again
//! after it finished (`apply --rerun`, a person re-running a file). Either way, running the whole
//! file again must give what one run gives. Each statement a plan emits goes through
//! [`statements`], which spells it so a second run finds its work done and moves on:
//!
//! - native clauses where PostgreSQL has them: `ADD COLUMN IF NOT EXISTS`, `DROP … IF EXISTS`,
//!   `CREATE OR REPLACE FUNCTION / VIEW`, `CREATE … IF NOT EXISTS` (index, sequence, table),
//!   `CREATE OR REPLACE TRIGGER` on 14+;
//! - elsewhere a `DO` block that runs the statement only when its work is not there yet (an
//!   added constraint, a trigger on 11–13, a rename that already happened, an attached partition,
//!   an identity, an enum type) and says so with a NOTICE when it skips;
//! - before `CREATE INDEX CONCURRENTLY`, an INVALID index of that name (what an interrupted build
//!   leaves, which `IF NOT EXISTS` alone would keep) is renamed aside and dropped concurrently.
//!
//! A skip must never hide a real conflict — something of that name the plan did not make. So a
//! guard compares what it can cheaply see and raises otherwise: an added column of another type,
//! a constraint of another kind, an index of that name on another table (or a relation that is
//! no index), a table without the planned columns, an enum without the planned labels. A rename
//! is skipped only when the old name is gone and the new one is there; with both there (or
//! neither) it runs and fails as it would have. What is not compared (a column's type modifier
//! or default, a constraint's expression, an index's columns) is listed in docs/status.md.
//!
//! Statements it does not recognise are kept as they are (they are either naturally re-runnable,
//! such as `SET NOT NULL`, `VALIDATE CONSTRAINT`, `COMMENT ON`, the batched `DO` blocks, or passed
//! through as written).

use askama::Template;

use super::postgres::{Postgres, dollar_tag, fit_ident, literal};
use crate::plan::Sql;

/// The comment that marks a [`changes_nothing`] block.
const PRELUDE_MARK: &str = "-- safeshift: re-run check (changes nothing the stage makes)";

/// Whether `statement` is one of the checks this module puts before a statement (a type or
/// name check, the clean-up of an INVALID index an interrupted build left): running it is not
/// the stage taking effect, so a failure after it still means "nothing changed".
pub fn changes_nothing(statement: &str) -> bool {
    let t = statement.trim_start();
    (t.starts_with("DO ") && t.contains(PRELUDE_MARK))
        || (t.starts_with("DROP INDEX CONCURRENTLY IF EXISTS ") && t.contains("safeshift_invalid_"))
}

#[derive(Template)]
#[template(path = "sql/guard.sql", escape = "none")]
struct Guard<'a> {
    tag: &'a str,
    /// Only checks, or clears what an interrupted run left: the stage's own work is untouched.
    prelude: bool,
    conflicts: &'a [Conflict],
    statement: Option<&'a str>,
    run_when: &'a str,
    /// A string literal for the NOTICE that says what was skipped, if it is worth saying.
    skipped: Option<String>,
}

struct Conflict {
    /// A boolean SQL expression that is true when the object exists but is not what the plan
    /// would have made.
    when: String,
    /// The exception's text, as a SQL string literal.
    message: String,
}

/// `sql`, spelled so that running it again (whole, or after it stopped at any statement) gives
/// the result of one run.
pub fn statements(sql: &[Sql], pg: Postgres) -> Vec<Sql> {
    let mut out = Vec::with_capacity(sql.len());
    let mut i = 0;
    while i < sql.len() {
        if let Some((len, block)) = transaction_group(&sql[i..]) {
            out.extend(block);
            i += len;
            continue;
        }
        if let Some((len, block)) = column_group(&sql[i..]) {
            out.push(Sql {
                text: block,
                why: sql[i..i + len].iter().find_map(|s| s.why.clone()),
            });
            i += len;
            continue;
        }
        let s = &sql[i];
        i += 1;
        for text in rerunnable(&s.text, pg) {
            out.push(Sql { text, why: None });
        }
        // The reason belongs to the statement itself, which comes last.
        if let Some(last) = out.last_mut() {
            last.why = s.why.clone();
        }
    }
    out
}

/// One statement in its re-runnable spelling: the statement itself, possibly preceded by a
/// check or clean-up, or wrapped in a guard.
pub fn rerunnable(text: &str, pg: Postgres) -> Vec<String> {
    let toks = lex(text);
    let words: Vec<String> = toks.iter().take(6).map(|t| t.word(text)).collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let result = match (w(0), w(1)) {
        ("create", _) => create(text, &toks, pg),
        ("drop", _) => drop(text, &toks).map(|t| vec![t]),
        ("alter", "table") => alter_table(text, &toks),
        ("alter", "index" | "sequence" | "view") => alter_relation(text, &toks),
        ("alter", "materialized") => alter_relation(text, &toks),
        ("alter", "type") => alter_type(text, &toks),
        _ => None,
    };
    result.unwrap_or_else(|| vec![text.to_string()])
}

// ── column groups ────────────────────────────────────────────────────────────────────────────

/// A single-action `ALTER TABLE t …` on one column: what a swap of columns is made of.
#[derive(Debug)]
enum ColumnOp {
    Rename { from: String, to: String },
    Drop(String),
    Add(String),
}

fn column_op(sql: &str) -> Option<(String, ColumnOp)> {
    let toks = lex(sql);
    if !at(sql, &toks, 0, &["alter", "table"]) {
        return None;
    }
    let mut i = 2;
    if at(sql, &toks, i, &["if", "exists"]) {
        i += 2;
    }
    if toks.get(i).is_some_and(|t| t.is(sql, "only")) {
        i += 1;
    }
    let table = name_at(sql, &toks, i)?;
    let acts = actions(sql, &toks, table.next);
    let [(a, end)] = acts[..] else {
        return None;
    };
    let mut c = a + 1;
    let verb = toks.get(a)?.word(sql);
    let second = toks.get(c).map(|t| t.word(sql)).unwrap_or_default();
    if matches!(
        second.as_str(),
        "constraint" | "primary" | "unique" | "check" | "foreign" | "exclude" | "to"
    ) {
        return None;
    }
    if second == "column" {
        c += 1;
    }
    let op = match verb.as_str() {
        "rename" => {
            let from = toks.get(c)?.ident(sql)?;
            if !toks.get(c + 1)?.is(sql, "to") || c + 3 != end {
                return None;
            }
            ColumnOp::Rename {
                from,
                to: toks.get(c + 2)?.ident(sql)?,
            }
        }
        "drop" => {
            if at(sql, &toks, c, &["if", "exists"]) {
                c += 2;
            }
            ColumnOp::Drop(toks.get(c)?.ident(sql)?)
        }
        "add" => {
            if at(sql, &toks, c, &["if", "not", "exists"]) {
                c += 3;
            }
            ColumnOp::Add(toks.get(c)?.ident(sql)?)
        }
        _ => return None,
    };
    Some((table.text, op))
}

/// An explicit `BEGIN … COMMIT` inside a step whose statements swap columns (a type change's
/// swap: columns, indexes, constraints and sequences renamed, triggers and views made again)
/// is all or nothing, so it is done exactly when its column swap is: everything between the
/// locks (and the settings among them) and the COMMIT runs as one block under the swap's guard.
/// Returns how many statements it takes and what replaces them.
fn transaction_group(sql: &[Sql]) -> Option<(usize, Vec<Sql>)> {
    let is = |s: &Sql, w: &str| s.text.trim().eq_ignore_ascii_case(w);
    if !is(sql.first()?, "BEGIN") {
        return None;
    }
    let end = sql.iter().position(|s| is(s, "COMMIT"))?;
    let mut body_start = 1;
    while body_start < end && {
        let t = sql[body_start].text.trim_start().to_ascii_uppercase();
        t.starts_with("LOCK ") || t.starts_with("SET ") || t.starts_with("SELECT SET_CONFIG(")
    } {
        body_start += 1;
    }
    let body = &sql[body_start..end];
    let mut table: Option<String> = None;
    let mut ops = Vec::new();
    for s in body {
        if let Some((t, op)) = column_op(&s.text)
            && table.get_or_insert_with(|| t.clone()) == &t
        {
            ops.push(op);
        }
    }
    let table = table?;
    if !ops.iter().any(|o| matches!(o, ColumnOp::Rename { .. })) {
        return None;
    }
    let run_when = group_condition(&table, &ops)?;
    let text = body
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(";\n    ");
    let block = render_guard(
        &[],
        Some(&text),
        &run_when,
        &format!("the columns of {table} are already swapped"),
    )?;
    let mut out: Vec<Sql> = sql[..body_start].to_vec();
    out.push(Sql {
        text: block,
        why: body.iter().find_map(|s| s.why.clone()),
    });
    out.push(sql[end].clone());
    Some((end + 1, out))
}

/// Consecutive column drops, adds and renames of one table that contain a rename (a swap: `DROP
/// COLUMN b; RENAME a TO b`, or `RENAME a TO x; RENAME b TO a`) cannot be guarded one by one: a
/// name a statement looks for is the name another one reuses, and a second run would drop or
/// rename the wrong column. They run as one block, guarded by a name whose existence the group
/// changes: a column there before and gone after (the group runs while it is there), else one
/// gone before and there after (the group runs while it is missing). Returns how many
/// statements the block takes.
fn column_group(sql: &[Sql]) -> Option<(usize, String)> {
    let mut table = None;
    let mut ops = Vec::new();
    for s in sql {
        let Some((t, op)) = column_op(&s.text) else {
            break;
        };
        if table.get_or_insert_with(|| t.clone()) != &t {
            break;
        }
        ops.push(op);
    }
    let table = table?;
    // Only up to the last rename: drops and adds after it guard themselves.
    let last = ops
        .iter()
        .rposition(|o| matches!(o, ColumnOp::Rename { .. }))?;
    let mut len = last + 1;
    if matches!(ops.get(len), Some(ColumnOp::Add(_))) {
        len += 1;
    }
    if len < 2 {
        return None;
    }
    let run_when = group_condition(&table, &ops[..len])?;
    let body = sql[..len]
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(";\n    ");
    let block = render_guard(
        &[],
        Some(&body),
        &run_when,
        &format!("the columns of {table} are already swapped"),
    )?;
    Some((len, block))
}

/// When a group of column `ops` on `table` should run: while a column it removes is there, or
/// else while a column it makes is missing.
fn group_condition(table: &str, ops: &[ColumnOp]) -> Option<String> {
    // Simulate from the state the group expects, to find what it changes.
    let mut before: Vec<String> = Vec::new();
    let mut now: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for op in ops {
        let (gone, made) = match op {
            ColumnOp::Rename { from, to } => (Some(from), Some(to)),
            ColumnOp::Drop(c) => (Some(c), None),
            ColumnOp::Add(c) => (None, Some(c)),
        };
        if let Some(g) = gone {
            if !seen.contains(g) {
                before.push(g.clone());
                now.push(g.clone());
                seen.push(g.clone());
            }
            now.retain(|c| c != g);
        }
        if let Some(m) = made {
            seen.push(m.clone());
            now.push(m.clone());
        }
    }
    let tlit = literal(table);
    let exists = |c: &str| {
        format!(
            "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({tlit}) AND attname = {} AND NOT attisdropped)",
            literal(c)
        )
    };
    if let Some(c) = before.iter().find(|c| !now.contains(c)) {
        Some(exists(c))
    } else {
        now.iter()
            .find(|c| !before.contains(c))
            .map(|c| format!("NOT {}", exists(c)))
    }
}

// ── tokens ───────────────────────────────────────────────────────────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Str,
    Dollar,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Tok {
    fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.start..self.end]
    }
    /// A keyword or unquoted identifier, lower-cased; other tokens as written.
    fn word(&self, sql: &str) -> String {
        match self.kind {
            Kind::Word => self.text(sql).to_ascii_lowercase(),
            _ => self.text(sql).to_string(),
        }
    }
    fn is(&self, sql: &str, word: &str) -> bool {
        self.kind == Kind::Word && self.text(sql).eq_ignore_ascii_case(word)
    }
    fn is_punct(&self, sql: &str, p: &str) -> bool {
        self.kind == Kind::Punct && self.text(sql) == p
    }
    /// The name an identifier token stands for: unquoted folded to lower case, quoted as is.
    fn ident(&self, sql: &str) -> Option<String> {
        match self.kind {
            Kind::Word => Some(self.text(sql).to_lowercase()),
            Kind::Quoted => {
                let t = self.text(sql);
                Some(t[1..t.len() - 1].replace("\"\"", "\""))
            }
            _ => None,
        }
    }
}

/// A small PostgreSQL lexer: words, quoted identifiers, strings (also `E'…'`), dollar quotes and
/// punctuation, skipping whitespace and comments. Enough to find the names in statements.
fn lex(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' {
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            toks.push(Tok {
                kind: Kind::Quoted,
                start,
                end: i,
            });
        } else if c == b'\''
            || ((c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'') && {
                i += 1;
                true
            })
        {
            let escapes = b[start] != b'\'';
            i += 1;
            while i < b.len() {
                if escapes && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            toks.push(Tok {
                kind: Kind::Str,
                start,
                end: i.min(b.len()),
            });
        } else if c == b'$' && {
            let tag_end = sql[i + 1..].find('$').map(|p| i + 1 + p);
            tag_end.is_some_and(|e| {
                sql[i + 1..e]
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'_')
                    && !sql[i + 1..e].starts_with(|x: char| x.is_ascii_digit())
            })
        } {
            let tag_end = sql[i + 1..].find('$').map(|p| i + 2 + p).unwrap_or(b.len());
            let tag = &sql[i..tag_end];
            let close = sql[tag_end..]
                .find(tag)
                .map(|p| tag_end + p + tag.len())
                .unwrap_or(b.len());
            i = close;
            toks.push(Tok {
                kind: Kind::Dollar,
                start,
                end: i,
            });
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            toks.push(Tok {
                kind: Kind::Word,
                start,
                end: i,
            });
        } else {
            i += 1;
            // Keep `::` together so it is never taken for a name separator.
            if c == b':' && b.get(i) == Some(&b':') {
                i += 1;
            }
            toks.push(Tok {
                kind: Kind::Punct,
                start,
                end: i,
            });
        }
    }
    toks
}

/// A possibly qualified name starting at token `i`.
struct Name {
    /// The name as written (quoted where it was), e.g. `public."Users"`.
    text: String,
    /// Its parts, unquoted.
    parts: Vec<String>,
    /// The token after it.
    next: usize,
    /// Where it starts in the statement text.
    start: usize,
}

impl Name {
    /// The name as a string literal that `to_regclass`, `to_regtype` and `::regclass` read.
    fn lit(&self) -> String {
        literal(&self.text)
    }
    fn last(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }
    /// The schema part as written (`public` of `public."Users"`), when qualified.
    fn schema_text(&self) -> Option<&str> {
        if self.parts.len() < 2 {
            return None;
        }
        self.text.rfind('.').map(|dot| &self.text[..dot])
    }
}

fn name_at(sql: &str, toks: &[Tok], i: usize) -> Option<Name> {
    let first = toks.get(i)?;
    first.ident(sql)?;
    let mut parts = vec![first.ident(sql)?];
    let mut j = i + 1;
    while toks.get(j).is_some_and(|t| t.is_punct(sql, "."))
        && let Some(part) = toks.get(j + 1).and_then(|t| t.ident(sql))
    {
        parts.push(part);
        j += 2;
    }
    let start = first.start;
    let end = toks[j - 1].end;
    Some(Name {
        text: sql[start..end].to_string(),
        parts,
        next: j,
        start,
    })
}

/// Index of the first token from `from` that is the word `word`, at parenthesis depth 0.
fn find_word(sql: &str, toks: &[Tok], from: usize, word: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(from) {
        if t.is_punct(sql, "(") || t.is_punct(sql, "[") {
            depth += 1;
        } else if t.is_punct(sql, ")") || t.is_punct(sql, "]") {
            depth -= 1;
        } else if depth == 0 && t.is(sql, word) {
            return Some(i);
        }
    }
    None
}

/// Whether tokens `i..` spell `words` (keywords).
fn at(sql: &str, toks: &[Tok], i: usize, words: &[&str]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| toks.get(i + k).is_some_and(|t| t.is(sql, w)))
}

/// `text` with `insert` put in at byte `at` (a space added after it).
fn insert_at(text: &str, at: usize, insert: &str) -> String {
    format!("{}{insert} {}", &text[..at], &text[at..])
}

fn render_guard(
    conflicts: &[Conflict],
    statement: Option<&str>,
    run_when: &str,
    skipped: &str,
) -> Option<String> {
    let body = format!(
        "{} {} {run_when} {skipped}",
        statement.unwrap_or(""),
        conflicts
            .iter()
            .map(|c| format!("{} {}", c.when, c.message))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let tag = dollar_tag(&body);
    Guard {
        tag: &tag,
        prelude: statement.is_none_or(|s| {
            s.starts_with("ALTER INDEX ") && s.contains(" RENAME TO safeshift_invalid_")
        }),
        conflicts,
        statement,
        run_when,
        skipped: (!skipped.is_empty()).then(|| literal(skipped)),
    }
    .render()
    .ok()
}

/// `statement`, run only when `run_when` holds (else a NOTICE says `skipped`), after `conflicts`.
fn guarded(
    conflicts: Vec<Conflict>,
    statement: &str,
    run_when: &str,
    skipped: &str,
) -> Option<Vec<String>> {
    render_guard(&conflicts, Some(statement), run_when, skipped).map(|g| vec![g])
}

/// A `DO` block that only raises on `conflicts`.
fn check(conflicts: Vec<Conflict>) -> Option<String> {
    if conflicts.is_empty() {
        return None;
    }
    render_guard(&conflicts, None, "true", "")
}

fn is_helper(name: &str) -> bool {
    name.starts_with("safeshift_")
}

// ── CREATE ───────────────────────────────────────────────────────────────────────────────────

fn create(sql: &str, toks: &[Tok], pg: Postgres) -> Option<Vec<String>> {
    let mut i = 1;
    if at(sql, toks, i, &["or", "replace"]) {
        return None;
    }
    let unique = toks.get(i).is_some_and(|t| t.is(sql, "unique"));
    if unique {
        i += 1;
    }
    let kind = toks.get(i)?.word(sql);
    match kind.as_str() {
        "index" => create_index(sql, toks, i + 1),
        "function" | "procedure" | "view" => {
            // CREATE [RECURSIVE] VIEW is rare; plain CREATE VIEW and functions take OR REPLACE.
            let at_kind = toks[1].start;
            Some(vec![insert_at(sql, at_kind, "OR REPLACE")])
        }
        "trigger" => create_trigger(sql, toks, pg),
        "sequence" | "schema" | "extension" => {
            if at(sql, toks, i + 1, &["if", "not", "exists"]) {
                return None;
            }
            let after = toks.get(i + 1)?.start;
            Some(vec![insert_at(sql, after, "IF NOT EXISTS")])
        }
        "materialized" if toks.get(i + 1).is_some_and(|t| t.is(sql, "view")) => {
            if at(sql, toks, i + 2, &["if", "not", "exists"]) {
                return None;
            }
            let after = toks.get(i + 2)?.start;
            Some(vec![insert_at(sql, after, "IF NOT EXISTS")])
        }
        "table" => create_table(sql, toks, i + 1),
        "type" => create_enum(sql, toks, i + 1),
        _ => None,
    }
}

fn create_index(sql: &str, toks: &[Tok], mut i: usize) -> Option<Vec<String>> {
    let concurrently = toks.get(i).is_some_and(|t| t.is(sql, "concurrently"));
    if concurrently {
        i += 1;
    }
    let has_if = at(sql, toks, i, &["if", "not", "exists"]);
    let name_at_i = if has_if { i + 3 } else { i };
    // An index without a name gets a new one on every run: nothing to guard by.
    if toks.get(name_at_i).is_none_or(|t| t.is(sql, "on")) {
        return None;
    }
    let index = name_at(sql, toks, name_at_i)?;
    let on = index.next;
    if !toks.get(on)?.is(sql, "on") {
        return None;
    }
    let mut t = on + 1;
    if toks.get(t).is_some_and(|x| x.is(sql, "only")) {
        t += 1;
    }
    let table = name_at(sql, toks, t)?;
    // The index lives in its table's schema.
    let index_text = match table.schema_text() {
        Some(schema) if index.parts.len() == 1 => format!("{schema}.{}", index.text),
        _ => index.text.clone(),
    };
    let index_lit = literal(&index_text);
    let statement = if has_if {
        sql.to_string()
    } else {
        insert_at(sql, index.start, "IF NOT EXISTS")
    };
    let mut out = Vec::new();
    let mut conflicts = vec![Conflict {
        when: format!(
            "to_regclass({index_lit}) IS NOT NULL AND NOT EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass({index_lit}) AND indrelid = to_regclass({}))",
            table.lit()
        ),
        message: literal(&format!(
            "{} already exists and is not an index of {}: not building the index",
            index_text, table.text
        )),
    }];
    if concurrently {
        // An interrupted concurrent build leaves an INVALID index; `IF NOT EXISTS` would keep it.
        // It cannot be dropped concurrently inside a DO block, so it is renamed aside (a brief
        // lock on the unused index) and dropped concurrently by the next statement.
        let aside = fit_ident(&format!("safeshift_invalid_{}", index.last()));
        let aside_q = super::postgres::quote(&aside);
        let aside_text = match index.parts.len() {
            1 => match table.schema_text() {
                Some(schema) => format!("{schema}.{aside_q}"),
                None => aside_q.clone(),
            },
            _ => format!(
                "{}.{aside_q}",
                &index.text[..index.text.rfind('.').unwrap_or(0)]
            ),
        };
        let block = render_guard(
            &std::mem::take(&mut conflicts),
            Some(&format!("ALTER INDEX {index_text} RENAME TO {aside_q}")),
            &format!(
                "EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass({index_lit}) AND NOT indisvalid)"
            ),
            // Nothing to say on every ordinary run.
            "",
        )?;
        out.push(block);
        out.push(format!("DROP INDEX CONCURRENTLY IF EXISTS {aside_text}"));
    } else {
        out.push(check(conflicts)?);
    }
    out.push(statement);
    Some(out)
}

fn create_trigger(sql: &str, toks: &[Tok], pg: Postgres) -> Option<Vec<String>> {
    let name = name_at(sql, toks, 2)?;
    let on = find_word(sql, toks, name.next, "on")?;
    let table = name_at(sql, toks, on + 1)?;
    if pg.major >= 14 {
        return Some(vec![insert_at(sql, toks[1].start, "OR REPLACE")]);
    }
    // 11–13 have no CREATE OR REPLACE TRIGGER; a DROP first would leave the table without the
    // trigger between the two statements, so the CREATE runs only where it is missing.
    guarded(
        Vec::new(),
        sql,
        &format!(
            "NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass({}) AND tgname = {})",
            table.lit(),
            literal(name.last())
        ),
        &format!("trigger {} on {} already exists", name.text, table.text),
    )
}

fn create_table(sql: &str, toks: &[Tok], i: usize) -> Option<Vec<String>> {
    if at(sql, toks, i, &["if", "not", "exists"]) {
        return None;
    }
    let table = name_at(sql, toks, i)?;
    // Only a plain column list is compared; `AS`, `PARTITION OF`, `LIKE` keep the native skip.
    let columns = table_columns(sql, toks, table.next);
    let statement = insert_at(sql, table.start, "IF NOT EXISTS");
    let Some(columns) = columns.filter(|c| !c.is_empty()) else {
        return Some(vec![statement]);
    };
    let list = columns
        .iter()
        .map(|c| literal(c))
        .collect::<Vec<_>>()
        .join(", ");
    let conflict = Conflict {
        when: format!(
            "to_regclass({t}) IS NOT NULL AND NOT ARRAY[{list}]::name[] <@ ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = to_regclass({t}) AND attnum > 0 AND NOT attisdropped)",
            t = table.lit()
        ),
        message: literal(&format!(
            "{} already exists without the columns this plan creates it with",
            table.text
        )),
    };
    Some(vec![check(vec![conflict])?, statement])
}

/// The column names of `CREATE TABLE name (…)`, or `None` for another form.
fn table_columns(sql: &str, toks: &[Tok], open: usize) -> Option<Vec<String>> {
    if !toks.get(open)?.is_punct(sql, "(") {
        return None;
    }
    let mut columns = Vec::new();
    let mut depth = 0;
    let mut element_start = true;
    for t in &toks[open..] {
        if t.is_punct(sql, "(") {
            depth += 1;
            if depth == 1 {
                element_start = true;
                continue;
            }
        } else if t.is_punct(sql, ")") {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if depth == 1 && t.is_punct(sql, ",") {
            element_start = true;
            continue;
        }
        if depth == 1 && element_start {
            element_start = false;
            let word = t.word(sql);
            if t.kind == Kind::Word
                && matches!(
                    word.as_str(),
                    "constraint" | "primary" | "unique" | "check" | "foreign" | "exclude" | "like"
                )
            {
                continue;
            }
            columns.push(t.ident(sql)?);
        }
    }
    Some(columns)
}

fn create_enum(sql: &str, toks: &[Tok], i: usize) -> Option<Vec<String>> {
    let name = name_at(sql, toks, i)?;
    if !at(sql, toks, name.next, &["as", "enum"]) {
        return None;
    }
    let labels: Vec<String> = toks[name.next..]
        .iter()
        .filter(|t| t.kind == Kind::Str && t.text(sql).starts_with('\''))
        .map(|t| t.text(sql).to_string())
        .collect();
    let lit = name.lit();
    let conflict = Conflict {
        when: format!(
            "to_regtype({lit}) IS NOT NULL AND NOT ARRAY[{}]::text[] <@ ARRAY(SELECT enumlabel::text FROM pg_enum WHERE enumtypid = to_regtype({lit}))",
            if labels.is_empty() {
                "NULL".to_string()
            } else {
                labels.join(", ")
            }
        ),
        message: literal(&format!(
            "type {} already exists without the labels this plan creates it with",
            name.text
        )),
    };
    guarded(
        vec![conflict],
        sql,
        &format!("to_regtype({lit}) IS NULL"),
        &format!("type {} already exists", name.text),
    )
}

// ── DROP ─────────────────────────────────────────────────────────────────────────────────────

fn drop(sql: &str, toks: &[Tok]) -> Option<String> {
    let mut i = 1;
    let kind = toks.get(i)?.word(sql);
    match kind.as_str() {
        "table" | "view" | "index" | "sequence" | "function" | "procedure" | "trigger" | "type"
        | "schema" | "domain" | "extension" => i += 1,
        "materialized" => i += 2,
        _ => return None,
    }
    if kind == "index" && toks.get(i).is_some_and(|t| t.is(sql, "concurrently")) {
        i += 1;
    }
    if at(sql, toks, i, &["if", "exists"]) {
        // `DROP VIEW IF EXISTS v` fails when `v` is a table (and the reverse): after a rename
        // behind a view, a second run of the undo meets the table back under the view's name.
        if kind != "view" {
            return None;
        }
        let relkinds = "'v'";
        let name = name_at(sql, toks, i + 2)?;
        if toks.get(name.next).is_some_and(|t| t.is_punct(sql, ",")) {
            return None;
        }
        return render_guard(
            &[],
            Some(sql),
            &format!(
                "EXISTS (SELECT FROM pg_class WHERE oid = to_regclass({}) AND relkind IN ({relkinds}))",
                name.lit()
            ),
            &format!("no {kind} {} to drop", name.text),
        );
    }
    Some(insert_at(sql, toks.get(i)?.start, "IF EXISTS"))
}

// ── ALTER ────────────────────────────────────────────────────────────────────────────────────

/// The top-level, comma-separated actions of an ALTER, as token ranges.
fn actions(sql: &str, toks: &[Tok], from: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = from;
    for (i, t) in toks.iter().enumerate().skip(from) {
        if t.is_punct(sql, "(") {
            depth += 1;
        } else if t.is_punct(sql, ")") {
            depth -= 1;
        } else if depth == 0 && t.is_punct(sql, ",") {
            out.push((start, i));
            start = i + 1;
        }
    }
    if start < toks.len() {
        out.push((start, toks.len()));
    }
    out
}

fn alter_table(sql: &str, toks: &[Tok]) -> Option<Vec<String>> {
    let mut i = 2;
    if at(sql, toks, i, &["if", "exists"]) {
        i += 2;
    }
    if toks.get(i).is_some_and(|t| t.is(sql, "only")) {
        i += 1;
    }
    let table = name_at(sql, toks, i)?;
    let mut first = table.next;
    if toks.get(first).is_some_and(|t| t.is_punct(sql, "*")) {
        first += 1;
    }
    let acts = actions(sql, toks, first);
    let tlit = table.lit();
    if let [(a, _)] = acts[..] {
        // Single-action forms that have no native clause: guard the whole statement.
        if toks.get(a).is_some_and(|t| t.is(sql, "rename")) {
            return rename(sql, toks, a + 1, &table, "table");
        }
        if at(sql, toks, a, &["add", "constraint"]) {
            let name = toks.get(a + 2)?.ident(sql)?;
            let kind = toks.get(a + 3)?.word(sql);
            let contype = match kind.as_str() {
                "check" => "c",
                "foreign" => "f",
                "unique" => "u",
                "primary" => "p",
                "exclude" => "x",
                "not" => "n",
                _ => return None,
            };
            let name_lit = literal(&name);
            let existing = format!(
                "SELECT FROM pg_constraint WHERE conrelid = to_regclass({tlit}) AND conname = {name_lit}"
            );
            return guarded(
                vec![Conflict {
                    when: format!("EXISTS ({existing} AND contype <> {})", literal(contype)),
                    message: literal(&format!(
                        "{} already has a constraint {name} of another kind",
                        table.text
                    )),
                }],
                sql,
                &format!("NOT EXISTS ({existing})"),
                &format!("constraint {name} on {} already exists", table.text),
            );
        }
        if at(sql, toks, a, &["attach", "partition"]) {
            let part = name_at(sql, toks, a + 2)?;
            return guarded(
                Vec::new(),
                sql,
                &format!(
                    "NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = to_regclass({}) AND inhparent = to_regclass({tlit}))",
                    part.lit()
                ),
                &format!("{} is already a partition of {}", part.text, table.text),
            );
        }
        let mut c = a + 1;
        if toks.get(a).is_some_and(|t| t.is(sql, "alter")) {
            if toks.get(c).is_some_and(|t| t.is(sql, "column")) {
                c += 1;
            }
            let column = toks.get(c)?.ident(sql)?;
            if at(sql, toks, c + 1, &["drop", "default"]) {
                // An identity column refuses DROP DEFAULT: a later statement made it one.
                return guarded(
                    Vec::new(),
                    sql,
                    &format!(
                        "NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({tlit}) AND attname = {} AND attidentity <> '')",
                        literal(&column)
                    ),
                    &format!("{}.{column} is an identity column already", table.text),
                );
            }
            if at(sql, toks, c + 1, &["add", "generated"]) {
                return guarded(
                    Vec::new(),
                    sql,
                    &format!(
                        "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({tlit}) AND attname = {} AND attidentity = '')",
                        literal(&column)
                    ),
                    &format!("{}.{column} is already an identity column", table.text),
                );
            }
        }
    }
    // Multi-action (or native) forms: fix each action in place, from the end so offsets hold.
    let mut text = sql.to_string();
    let mut conflicts = Vec::new();
    for &(a, end) in acts.iter().rev() {
        let word = |k: usize| toks.get(k).filter(|_| k < end).map(|t| t.word(sql));
        match (word(a).as_deref(), word(a + 1).as_deref()) {
            (Some("add"), second) => {
                if matches!(
                    second,
                    Some("constraint" | "primary" | "unique" | "check" | "foreign" | "exclude")
                ) {
                    continue;
                }
                let mut c = a + 1;
                if second == Some("column") {
                    c += 1;
                }
                if at(sql, toks, c, &["if", "not", "exists"]) {
                    c += 3;
                } else {
                    text = insert_at(&text, toks.get(c)?.start, "IF NOT EXISTS");
                }
                let column = toks.get(c)?.ident(sql)?;
                // Before PostgreSQL 13 (seen on 11) `ADD COLUMN IF NOT EXISTS` still adds the
                // column's inline constraints when the column is there: guard the whole
                // statement instead, on every version alike.
                let inline = acts.len() == 1
                    && (c + 1..end).any(|k| {
                        ["references", "constraint", "check", "unique", "primary"]
                            .iter()
                            .any(|w| toks[k].is(sql, w))
                    });
                if !is_helper(&column)
                    && let Some(ty) = column_type(sql, toks, c + 1, end)
                {
                    conflicts.push(Conflict {
                        when: format!(
                            "to_regtype({ty}) IS NOT NULL AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({tlit}) AND attname = {} AND NOT attisdropped AND atttypid <> to_regtype({ty}))",
                            literal(&column)
                        ),
                        message: literal(&format!(
                            "{}.{column} already exists with another type than this plan adds",
                            table.text
                        )),
                    });
                }
                if inline {
                    return guarded(
                        conflicts,
                        sql,
                        &format!(
                            "NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({tlit}) AND attname = {} AND NOT attisdropped)",
                            literal(&column)
                        ),
                        &format!("{}.{column} already exists", table.text),
                    );
                }
            }
            (Some("drop"), second) => {
                let mut c = a + 1;
                if matches!(second, Some("column" | "constraint")) {
                    c += 1;
                }
                if at(sql, toks, c, &["if", "exists"]) {
                    continue;
                }
                text = insert_at(&text, toks.get(c)?.start, "IF EXISTS");
            }
            (Some("alter"), _) => {
                // ALTER [COLUMN] c DROP IDENTITY → DROP IDENTITY IF EXISTS.
                let mut c = a + 1;
                if toks.get(c).is_some_and(|t| t.is(sql, "column")) {
                    c += 1;
                }
                if at(sql, toks, c + 1, &["drop", "identity"])
                    && !at(sql, toks, c + 3, &["if", "exists"])
                {
                    let after = toks[c + 2].end;
                    text = format!("{} IF EXISTS{}", &text[..after], &text[after..]);
                }
            }
            _ => {}
        }
    }
    conflicts.reverse();
    let mut out = Vec::new();
    if let Some(check) = check(conflicts) {
        out.push(check);
    }
    out.push(text);
    Some(out)
}

/// The type of an added column as a string literal for `to_regtype`: the tokens after its name
/// up to its first constraint keyword. `serial` types are their integer types.
fn column_type(sql: &str, toks: &[Tok], from: usize, end: usize) -> Option<String> {
    let stop = [
        "not",
        "null",
        "default",
        "constraint",
        "references",
        "check",
        "unique",
        "primary",
        "generated",
        "collate",
    ];
    let mut last = None;
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().take(end).skip(from) {
        if t.is_punct(sql, "(") {
            depth += 1;
        } else if t.is_punct(sql, ")") {
            depth -= 1;
        } else if depth == 0 && t.kind == Kind::Word && stop.contains(&t.word(sql).as_str()) {
            break;
        }
        last = Some(k);
    }
    let last = last?;
    let text = sql[toks[from].start..toks[last].end].trim();
    let ty = match text.to_ascii_lowercase().as_str() {
        "serial" | "serial4" => "integer".to_string(),
        "bigserial" | "serial8" => "bigint".to_string(),
        "smallserial" | "serial2" => "smallint".to_string(),
        _ => text.to_string(),
    };
    Some(literal(&ty))
}

/// `… RENAME [COLUMN|CONSTRAINT] a TO b` / `… RENAME TO b` of `object` (of kind `kind`): run
/// unless the old name is gone and the new one is there (done before). With both there, or
/// neither, it runs and fails as it would have.
fn rename(sql: &str, toks: &[Tok], i: usize, object: &Name, kind: &str) -> Option<Vec<String>> {
    let olit = object.lit();
    let first = toks.get(i)?;
    let (old, new) = if first.is(sql, "to") {
        let to = toks.get(i + 1)?.ident(sql)?;
        // The new name is in the old one's schema.
        let to_q = toks.get(i + 1)?.text(sql);
        let new_text = match object.schema_text() {
            Some(schema) => format!("{schema}.{to_q}"),
            None => to_q.to_string(),
        };
        let _ = to;
        let nlit = literal(&new_text);
        if kind == "type" {
            (
                format!("to_regtype({olit}) IS NOT NULL"),
                format!("to_regtype({nlit}) IS NOT NULL"),
            )
        } else {
            // The old name may be taken again by then (a view in the renamed table's place):
            // it counts only as the same kind of relation as the new one.
            (
                format!(
                    "coalesce((SELECT relkind FROM pg_class WHERE oid = to_regclass({olit})) = (SELECT relkind FROM pg_class WHERE oid = to_regclass({nlit})), to_regclass({olit}) IS NOT NULL)"
                ),
                format!("to_regclass({nlit}) IS NOT NULL"),
            )
        }
    } else {
        let (what, at_name) = if first.is(sql, "constraint") {
            ("constraint", i + 1)
        } else if first.is(sql, "column") {
            ("column", i + 1)
        } else {
            ("column", i)
        };
        let from = toks.get(at_name)?.ident(sql)?;
        if !toks.get(at_name + 1)?.is(sql, "to") {
            return None;
        }
        let to = toks.get(at_name + 2)?.ident(sql)?;
        let exists = |name: &str| match what {
            "constraint" => format!(
                "EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass({olit}) AND conname = {})",
                literal(name)
            ),
            _ => format!(
                "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass({olit}) AND attname = {} AND NOT attisdropped)",
                literal(name)
            ),
        };
        (exists(&from), exists(&to))
    };
    guarded(
        Vec::new(),
        sql,
        &format!("{old} OR NOT {new}"),
        &format!("already renamed: {}", sql.trim()),
    )
}

fn alter_relation(sql: &str, toks: &[Tok]) -> Option<Vec<String>> {
    let mut i = if toks.get(1)?.is(sql, "materialized") {
        3
    } else {
        2
    };
    if at(sql, toks, i, &["if", "exists"]) {
        i += 2;
    }
    let object = name_at(sql, toks, i)?;
    if toks.get(object.next)?.is(sql, "rename") {
        return rename(sql, toks, object.next + 1, &object, "relation");
    }
    None
}

fn alter_type(sql: &str, toks: &[Tok]) -> Option<Vec<String>> {
    let object = name_at(sql, toks, 2)?;
    let next = object.next;
    if at(sql, toks, next, &["rename", "to"]) {
        return rename(sql, toks, next + 1, &object, "type");
    }
    if at(sql, toks, next, &["add", "value"]) && !at(sql, toks, next + 2, &["if", "not", "exists"])
    {
        return Some(vec![insert_at(
            sql,
            toks.get(next + 2)?.start,
            "IF NOT EXISTS",
        )]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str, major: u32) -> Vec<String> {
        rerunnable(sql, Postgres { major, minor: None })
    }

    #[test]
    fn native_clauses() {
        assert_eq!(
            one(
                "ALTER TABLE users ADD COLUMN safeshift_users_n_new bigint",
                15
            ),
            vec!["ALTER TABLE users ADD COLUMN IF NOT EXISTS safeshift_users_n_new bigint"]
        );
        assert_eq!(
            one(
                r#"ALTER TABLE "Users" DROP COLUMN "Old""x", DROP CONSTRAINT c"#,
                15
            ),
            vec![
                r#"ALTER TABLE "Users" DROP COLUMN IF EXISTS "Old""x", DROP CONSTRAINT IF EXISTS c"#
            ]
        );
        assert_eq!(
            one("DROP INDEX CONCURRENTLY public.i", 15),
            vec!["DROP INDEX CONCURRENTLY IF EXISTS public.i"]
        );
        assert_eq!(
            one("DROP TABLE IF EXISTS t", 15),
            vec!["DROP TABLE IF EXISTS t"]
        );
        assert_eq!(
            one("CREATE FUNCTION f() RETURNS trigger AS $$ x $$", 15),
            vec!["CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ x $$"]
        );
        assert_eq!(
            one(
                "CREATE TRIGGER t BEFORE INSERT ON s.u FOR EACH ROW EXECUTE FUNCTION f()",
                14
            ),
            vec![
                "CREATE OR REPLACE TRIGGER t BEFORE INSERT ON s.u FOR EACH ROW EXECUTE FUNCTION f()"
            ]
        );
        assert_eq!(
            one("ALTER TYPE mood ADD VALUE 'meh'", 15),
            vec!["ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'"]
        );
    }

    #[test]
    fn user_columns_are_checked_for_their_type() {
        let out = one(
            "ALTER TABLE users ADD COLUMN email_lower varchar(20) NOT NULL",
            15,
        );
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("to_regtype('varchar(20)')"), "{}", out[0]);
        assert!(out[0].contains("attname = 'email_lower'"), "{}", out[0]);
        assert_eq!(
            out[1],
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS email_lower varchar(20) NOT NULL"
        );
        let serial = one("ALTER TABLE t ADD COLUMN n bigserial", 15);
        assert!(serial[0].contains("to_regtype('bigint')"), "{}", serial[0]);
    }

    #[test]
    fn guards_name_what_they_skip() {
        let add = one("ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID", 15);
        assert_eq!(add.len(), 1);
        assert!(add[0].starts_with("DO $safeshift$"), "{}", add[0]);
        assert!(add[0].contains("contype <> 'c'"));
        let trigger = one(
            "CREATE TRIGGER t BEFORE INSERT ON u FOR EACH ROW EXECUTE FUNCTION f()",
            13,
        );
        assert!(trigger[0].contains("tgname = 't'"), "{}", trigger[0]);
        let rename = one(r#"ALTER TABLE s."T" RENAME COLUMN a TO "B""""#, 15);
        assert!(rename[0].contains(r#"attname = 'B"'"#), "{}", rename[0]);
        let table = one("ALTER TABLE s.a RENAME TO b", 15);
        assert!(table[0].contains("to_regclass('s.b')"), "{}", table[0]);
    }

    #[test]
    fn concurrent_builds_drop_an_invalid_leftover_first() {
        let out = one("CREATE UNIQUE INDEX CONCURRENTLY i ON s.t (c)", 15);
        assert_eq!(out.len(), 3);
        assert!(
            out[0].contains("ALTER INDEX s.i RENAME TO safeshift_invalid_i"),
            "{}",
            out[0]
        );
        assert_eq!(
            out[1],
            "DROP INDEX CONCURRENTLY IF EXISTS s.safeshift_invalid_i"
        );
        assert_eq!(
            out[2],
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t (c)"
        );
    }

    #[test]
    fn swaps_run_as_one_guarded_block() {
        let sql = |t: &str| Sql {
            text: t.to_string(),
            why: None,
        };
        let pg = Postgres::default();
        let swap = statements(
            &[
                sql("ALTER TABLE users RENAME COLUMN n TO safeshift_users_n_old"),
                sql("ALTER TABLE users RENAME COLUMN safeshift_users_n_new TO n"),
                sql("SELECT 1"),
            ],
            pg,
        );
        assert_eq!(swap.len(), 2);
        assert!(
            swap[0]
                .text
                .contains("attname = 'safeshift_users_n_new' AND NOT attisdropped) THEN"),
            "{}",
            swap[0].text
        );
        let contract = statements(
            &[
                sql("ALTER TABLE users DROP COLUMN IF EXISTS display_name"),
                sql("ALTER TABLE users RENAME COLUMN name TO display_name"),
            ],
            pg,
        );
        assert_eq!(contract.len(), 1);
        assert!(
            contract[0]
                .text
                .contains("attname = 'name' AND NOT attisdropped) THEN")
        );
        let undo = statements(
            &[
                sql("ALTER TABLE users RENAME COLUMN display_name TO name"),
                sql("ALTER TABLE users ADD COLUMN display_name text"),
            ],
            pg,
        );
        assert_eq!(undo.len(), 1);
        assert!(undo[0].text.contains("IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('users') AND attname = 'name'"), "{}", undo[0].text);
    }

    #[test]
    fn checks_are_marked_as_changing_nothing() {
        let out = one("CREATE UNIQUE INDEX CONCURRENTLY i ON s.t (c)", 15);
        assert!(changes_nothing(&out[0]), "{}", out[0]);
        assert!(changes_nothing(&out[1]));
        assert!(!changes_nothing(&out[2]));
        let add = one("ALTER TABLE t ADD COLUMN c int", 15);
        assert!(changes_nothing(&add[0]));
        assert!(!changes_nothing(&add[1]));
        let fk = one(
            "ALTER TABLE t ADD COLUMN c int CONSTRAINT f REFERENCES u (id)",
            15,
        );
        assert_eq!(fk.len(), 1);
        assert!(!changes_nothing(&fk[0]));
        assert!(
            fk[0].contains("ALTER TABLE t ADD COLUMN c int CONSTRAINT"),
            "{}",
            fk[0]
        );
    }

    #[test]
    fn unknown_statements_are_kept() {
        for sql in [
            "SET lock_timeout = '2s'",
            "ALTER TABLE t ALTER COLUMN c SET NOT NULL",
            "ALTER TABLE t VALIDATE CONSTRAINT c",
            "DO $$ BEGIN END $$",
            "UPDATE t SET a = 1",
        ] {
            assert_eq!(one(sql, 15), vec![sql.to_string()]);
        }
    }
}
