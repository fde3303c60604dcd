//! How findings are shown: annotated snippets for people, JSON for scripts, SARIF for code
//! scanning, workflow commands for GitHub Actions annotations.

use std::io::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde_json::json;

use super::{Report, Settings};
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

/// Writes the report as it is rendered: a large report is never held twice in memory.
pub fn render(
    format: Format,
    report: &Report,
    settings: &Settings,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Human => human(report, color, out),
        Format::Json => json(report, out),
        Format::Sarif => sarif(report, settings, out),
        Format::Github => github(report, out),
    }
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

pub fn human(report: &Report, color: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    for f in &report.findings {
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
    writeln!(out, "{}", summary(report))
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
    let suppressed = if report.suppressed > 0 {
        format!("; {} suppressed by ignore directives", report.suppressed)
    } else {
        String::new()
    };
    if report.findings.is_empty() {
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

pub fn json(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &report.findings)?;
    writeln!(out)
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

pub fn github(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    for f in &report.findings {
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
    writeln!(out, "{}", summary(report))
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

pub fn sarif(report: &Report, settings: &Settings, out: &mut dyn Write) -> std::io::Result<()> {
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
    let results: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|(r, _)| r.id == f.rule);
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
            if let (Some(i), Some(obj)) = (index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            result
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
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
