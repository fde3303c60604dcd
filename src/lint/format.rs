//! How findings are shown: annotated snippets for people, JSON for scripts, SARIF for code
//! scanning, workflow commands for GitHub Actions annotations.

use std::io::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde_json::json;

use super::{Finding, Report, Settings};
use crate::rules::{self, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Annotated source snippets, like a compiler (colour only on a terminal)
    Human,
    /// A JSON array of findings
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers
    Sarif,
    /// GitHub Actions workflow commands: annotations on the pull request's diff
    Github,
}

/// Writes a report whose findings were kept.
pub fn render(
    format: Format,
    report: &Report,
    settings: &Settings,
    color: bool,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    let mut stream = Stream::begin(format, settings, color, out)?;
    for f in &report.findings {
        stream.finding(f);
    }
    stream.end(report)
}

/// Writes findings as they are found, so none is kept: what is before them (SARIF's header, the
/// opening of a JSON array) goes out first, what closes the document after the last.
pub struct Stream<'a> {
    format: Format,
    out: &'a mut (dyn Write + Send),
    renderer: Renderer,
    /// SARIF: the rules listed in the header, for each result's index.
    rules: Vec<&'static str>,
    /// SARIF: what closes the document.
    tail: String,
    written: usize,
    /// JSON and SARIF: the finding being written, reused from one to the next.
    buf: Vec<u8>,
    /// The first write error; later findings are dropped.
    error: Option<std::io::Error>,
}

impl<'a> Stream<'a> {
    pub fn begin(
        format: Format,
        settings: &Settings,
        color: bool,
        out: &'a mut (dyn Write + Send),
    ) -> std::io::Result<Stream<'a>> {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut stream = Stream {
            format,
            out,
            renderer,
            rules: Vec::new(),
            tail: String::new(),
            written: 0,
            buf: Vec::new(),
            error: None,
        };
        match format {
            Format::Json => write!(stream.out, "[")?,
            Format::Sarif => {
                let (head, tail, rules) = sarif_frame(settings);
                stream.rules = rules;
                stream.tail = tail;
                write!(stream.out, "{head}")?;
            }
            Format::Human | Format::Github => {}
        }
        Ok(stream)
    }

    /// Writes one finding (a write error is kept for [`Stream::end`]).
    pub fn finding(&mut self, f: &Finding) {
        if self.error.is_some() {
            return;
        }
        let first = self.written == 0;
        self.written += 1;
        let result = match self.format {
            Format::Human => human_finding(f, &self.renderer, self.out),
            Format::Json => json_item(&JsonFinding::of(f), first, &mut self.buf, self.out),
            Format::Sarif => {
                let result = sarif_result(f, &self.rules);
                json_item(&result, first, &mut self.buf, self.out)
            }
            Format::Github => github_finding(f, self.out),
        };
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    /// Closes the document and writes the summary.
    pub fn end(self, report: &Report) -> std::io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.format {
            Format::Human | Format::Github => writeln!(self.out, "{}", summary(report)),
            Format::Json if self.written == 0 => writeln!(self.out, "]"),
            Format::Json => writeln!(self.out, "\n]"),
            Format::Sarif => {
                let close = if self.written == 0 { "" } else { "\n" };
                writeln!(self.out, "{close}{}", self.tail)
            }
        }
    }
}

/// An element of a pretty-printed JSON array, indented one level.
/// A finding as the JSON format writes it: its keys in alphabetical order (the order the format
/// has always had, from `serde_json::Value`'s sorted maps), serialized straight from the finding
/// rather than through a `Value`, which cost a tenth of lint's checking thread.
#[derive(serde::Serialize)]
struct JsonFinding<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<&'a str>,
    column: u64,
    end_column: u64,
    end_line: u64,
    file: &'a str,
    help: &'a str,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_command: Option<&'a str>,
    rule: &'a str,
    severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<&'a str>,
}

impl<'a> JsonFinding<'a> {
    fn of(f: &'a Finding) -> JsonFinding<'a> {
        JsonFinding {
            blocks: f.blocks.as_deref(),
            column: f.column,
            end_column: f.end_column,
            end_line: f.end_line,
            file: &f.file,
            help: &f.help,
            line: f.line,
            lock: f.lock.as_deref(),
            message: &f.message,
            plan_command: f.plan_command.as_deref(),
            rule: f.rule,
            severity: f.severity,
            table: f.table.as_deref(),
        }
    }
}

fn json_item(
    value: &impl serde::Serialize,
    first: bool,
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    buf.clear();
    serde_json::to_writer_pretty(&mut *buf, value)?;
    out.write_all(if first { b"\n  " } else { b",\n  " })?;
    // One level deeper than serde_json puts it: JSON text has no line break but those between
    // its tokens (strings escape theirs).
    let mut rest = &buf[..];
    while let Some(n) = memchr::memchr(b'\n', rest) {
        out.write_all(&rest[..=n])?;
        out.write_all(b"  ")?;
        rest = &rest[n + 1..];
    }
    out.write_all(rest)
}

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Info => Level::INFO,
    }
}

/// At most this many lines of a statement are shown; the rest is elided.
const SNIPPET_LINES: usize = 6;

fn human_finding(f: &Finding, renderer: &Renderer, out: &mut dyn Write) -> std::io::Result<()> {
    {
        // The snippet starts at the statement's line; pad the first line so columns line up.
        let pos = f.statement_pos;
        let indent = " ".repeat(usize::try_from(pos.column.saturating_sub(1)).unwrap_or(0));
        let mut source = format!("{indent}{}", f.statement);
        if let Some((cut, _)) = source.match_indices('\n').nth(SNIPPET_LINES - 1) {
            source.truncate(cut);
            source.push_str("\n…");
        }
        let (start, end) = if (f.line, f.column) == (pos.line, pos.column) {
            let start = indent.len();
            (
                start,
                source.trim_end_matches('…').trim_end().len().max(start),
            )
        } else {
            // A point inside the statement (a syntax error): mark that one character.
            // Mark the whole character: a byte range ending inside a multibyte one is no range.
            let at = offset_of(&source, f.line.saturating_sub(pos.line), f.column);
            let width = source[at..].chars().next().map_or(0, char::len_utf8);
            (at, at + width)
        };
        let label = match (&f.lock, &f.table, &f.blocks) {
            (Some(lock), Some(table), Some(blocks)) => {
                format!("takes {lock} on {table}: blocks {blocks}")
            }
            _ => String::new(),
        };
        let line_start = usize::try_from(pos.line).unwrap_or(1);
        let help = match &f.plan_command {
            Some(c) => f
                .help
                .trim_end_matches(&format!(" Run `{c}` for the staged plan."))
                .to_string(),
            None => f.help.clone(),
        };
        let title = level(f.severity)
            .primary_title(f.message.as_str())
            .id(f.rule);
        let mut annotation = AnnotationKind::Primary.span(start..end);
        if !label.is_empty() {
            annotation = annotation.label(label.as_str());
        }
        let group: Group = title
            .element(
                Snippet::source(source.as_str())
                    .line_start(line_start)
                    .path(f.file.as_str())
                    .annotation(annotation),
            )
            .element(Level::HELP.message(help.as_str()));
        let group = match &f.plan_command {
            Some(c) => group.element(Level::NOTE.message(format!("staged plan: {c}"))),
            None => group,
        };
        writeln!(out, "{}\n", renderer.render(&[group]))?;
    }
    Ok(())
}

/// Byte offset of (line `lines_down` below the first, 1-based `column`) in `text`.
fn offset_of(text: &str, lines_down: u64, column: u64) -> usize {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i as u64 == lines_down {
            let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
            return offset
                + line
                    .char_indices()
                    .nth(skip)
                    .map(|(at, _)| at)
                    .unwrap_or(line.trim_end().len());
        }
        offset += line.len();
    }
    text.len()
}

/// One line: what was checked and what was found.
pub fn summary(report: &Report) -> String {
    let checked = format!(
        "{} statement{} in {} file{}",
        report.statements,
        plural(report.statements),
        report.files,
        plural(report.files)
    );
    let mut suppressed = if report.suppressed > 0 {
        format!("; {} suppressed by ignore directives", report.suppressed)
    } else {
        String::new()
    };
    if report.baselined > 0 {
        suppressed.push_str(&format!("; {} accepted by the baseline", report.baselined));
    }
    if report.baseline_unmatched > 0 {
        suppressed.push_str(&format!(
            "; {} baseline entr{} no longer found (rewrite it with --write-baseline)",
            report.baseline_unmatched,
            if report.baseline_unmatched == 1 {
                "y"
            } else {
                "ies"
            }
        ));
    }
    if report.total() == 0 {
        return format!("safeshift lint: no findings ({checked} checked{suppressed})");
    }
    let mut counts = Vec::new();
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let n = report.count(severity);
        if n > 0 {
            counts.push(format!("{n} {severity}{}", if n == 1 { "" } else { "s" }));
        }
    }
    format!(
        "safeshift lint: {} ({checked} checked{suppressed})",
        counts.join(", ")
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// GitHub's workflow commands escape `%`, CR and LF in the message, and also `:` and `,` in
/// property values.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn github_finding(f: &Finding, out: &mut dyn Write) -> std::io::Result<()> {
    {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},title={}::{}",
            escape_property(&f.file),
            f.line,
            f.column,
            f.end_line,
            escape_property(&format!("safeshift {}", f.rule)),
            escape_data(&format!("{}\n{}", f.message, f.help)),
        )?;
    }
    Ok(())
}

/// A file name as a SARIF artifact URI: relative paths stay relative (GitHub resolves them against
/// the repository root), absolute ones become `file://` URIs; both percent-encoded.
fn artifact_uri(file: &str) -> String {
    if file == "<stdin>" {
        return "stdin".to_string();
    }
    let path = file.replace('\\', "/");
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out.trim_start_matches("./").to_string()
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// SARIF's document around the results: the text before them, the text after them, and the rule
/// ids in the order of the header's rule list.
fn sarif_frame(settings: &Settings) -> (String, String, Vec<&'static str>) {
    let rules: Vec<_> = rules::all()
        .into_iter()
        .filter_map(|r| settings.severity_of(r).map(|s| (r, s)))
        .collect();
    let descriptors: Vec<_> = rules
        .iter()
        .map(|(r, severity)| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.why },
                "help": {
                    "text": format!("{}\n\nExample:\n{}", r.safe, r.example),
                    "markdown": format!("{}\n\nExample:\n\n```sql\n{}\n```\n\nMore: `safeshift explain {}`", r.safe, r.example, r.id),
                },
                "defaultConfiguration": { "level": sarif_level(*severity) },
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "safeshift",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": descriptors,
                }
            },
            "results": [],
        }]
    });
    let text = serde_json::to_string_pretty(&log).unwrap_or_default();
    // No string value can hold this text unescaped: it is the results key itself.
    let marker = "\"results\": []";
    let (head, tail) = match text.rfind(marker) {
        Some(at) => (
            format!("{}\"results\": [", &text[..at]),
            format!("]{}", &text[at + marker.len()..]),
        ),
        None => (text, String::new()),
    };
    (head, tail, rules.iter().map(|(r, _)| r.id).collect())
}

fn sarif_result(f: &Finding, rules: &[&'static str]) -> serde_json::Value {
    let mut result = json!({
        "ruleId": f.rule,
        "level": sarif_level(f.severity),
        "message": { "text": format!("{}\n{}", f.message, f.help) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": artifact_uri(&f.file) },
                "region": {
                    "startLine": f.line,
                    "startColumn": f.column,
                    "endLine": f.end_line,
                    // SARIF's end column is the one after the region.
                    "endColumn": f.end_column + 1,
                }
            }
        }],
    });
    if let (Some(i), Some(obj)) = (
        rules.iter().position(|r| *r == f.rule),
        result.as_object_mut(),
    ) {
        obj.insert("ruleIndex".into(), json!(i));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_findings_keep_the_keys_and_order_of_a_serialized_finding() {
        let mut f = Finding {
            file: "db/1.sql".into(),
            line: 3,
            column: 1,
            end_line: 4,
            end_column: 20,
            rule: "non-concurrent-index",
            severity: Severity::Warning,
            message: "takes \"SHARE\"\nlock".into(),
            help: "use CONCURRENTLY".into(),
            lock: None,
            table: None,
            blocks: None,
            plan_command: None,
            statement: String::new(),
            statement_pos: crate::error::Pos { line: 3, column: 1 },
            fingerprint: String::new(),
        };
        let via_value =
            |f: &Finding| serde_json::to_string_pretty(&serde_json::to_value(f).unwrap()).unwrap();
        let direct = |f: &Finding| serde_json::to_string_pretty(&JsonFinding::of(f)).unwrap();
        assert_eq!(direct(&f), via_value(&f));
        f.lock = Some("SHARE".into());
        f.table = Some("users".into());
        f.blocks = Some("writes".into());
        f.plan_command = Some("safeshift plan db/1.sql".into());
        assert_eq!(direct(&f), via_value(&f));
    }

    #[test]
    fn workflow_commands_escape_their_separators() {
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        assert_eq!(escape_data("one\ntwo: 50%"), "one%0Atwo: 50%25");
    }

    #[test]
    fn artifact_uris_are_relative_and_encoded() {
        assert_eq!(
            artifact_uri("./db/migrations/1 add.sql"),
            "db/migrations/1%20add.sql"
        );
        assert_eq!(artifact_uri("/abs/x.sql"), "file:///abs/x.sql");
    }
}
