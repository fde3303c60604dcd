//! How a rehearsal reads: in a terminal (`human`), in a pull-request comment (`markdown`, from
//! `templates/REHEARSAL.md`), or as JSON (the `Rehearsal` itself, serialized).

use askama::Template;

use super::traffic::VersionStats;
use super::values::ValueCheck;
use super::{Rehearsal, StageResult, Verdict};

fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.1} s", value / 1000.0)
    } else {
        format!("{value:.0} ms")
    }
}

fn app_line(app: &VersionStats) -> String {
    format!(
        "{} app: {} statement(s), {} error(s), worst {}",
        app.version,
        app.statements,
        app.errors,
        ms(app.worst_ms)
    )
}

fn locks_line(stage: &StageResult) -> String {
    if stage.locks.is_empty() {
        // Statements outside a transaction (CONCURRENTLY) are only sampled every 10 ms.
        return "none seen".into();
    }
    stage
        .locks
        .iter()
        .map(|l| match l.held_ms {
            Some(held) => format!(
                "{} {} for ≤ {} (blocks {})",
                l.table,
                l.mode,
                ms(held.max(1.0)),
                l.blocks
            ),
            None => format!("{} {} (blocks {})", l.table, l.mode, l.blocks),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn result(stage: &StageResult) -> &'static str {
    if !stage.ran {
        "not run"
    } else if stage.passed {
        "pass"
    } else {
        "FAIL"
    }
}

fn verdict(v: &Verdict) -> String {
    match (v.checked, v.ok) {
        (true, true) => format!("✓ {}", v.detail),
        (true, false) => format!("✗ {}", v.detail),
        (false, _) => format!("– {}", v.detail),
    }
}

/// For a terminal: one block per stage, problems first-class.
pub fn human(r: &Rehearsal) -> String {
    let mut out = format!(
        "rehearsal of {} on {} {} · {} row(s) per table · {}\n",
        r.plan,
        r.engine,
        r.server_version,
        r.rows,
        if r.passed { "PASSED" } else { "FAILED" }
    );
    for app in &r.baseline {
        out.push_str(&format!("baseline: {}\n", app_line(app)));
    }
    for s in &r.stages {
        out.push_str(&format!(
            "\n{:<7} {}. {} ({}, {})\n",
            result(s),
            s.index,
            s.name,
            s.kind,
            ms(s.duration_ms)
        ));
        if !s.ran {
            continue;
        }
        if s.kind != "application" {
            out.push_str(&format!("        locks: {}\n", locks_line(s)));
        }
        for app in &s.apps {
            out.push_str(&format!("        {}\n", app_line(app)));
        }
        if s.down.checked || !s.down.ok {
            out.push_str(&format!("        down:  {}\n", indent(&verdict(&s.down))));
        }
        for v in &s.values {
            out.push_str(&format!("        values: {}\n", value_line(v)));
            for row in offending(v) {
                out.push_str(&format!("          {row}\n"));
            }
        }
        for p in &s.problems {
            out.push_str(&format!("        ✗ {}\n", indent(p)));
        }
        for n in &s.notes {
            out.push_str(&format!("        note: {n}\n"));
        }
    }
    for app in &r.after {
        out.push_str(&format!("\nafter the last stage: {}\n", app_line(app)));
        for (message, count) in &app.error_samples {
            out.push_str(&format!("        ✗ ({count}×) {message}\n"));
        }
    }
    out.push_str(&format!(
        "\nend state: {}\n",
        indent(&verdict(&r.end_state))
    ));
    for v in &r.end_values {
        out.push_str(&format!("end values: {}\n", value_line(v)));
        for row in offending(v) {
            out.push_str(&format!("          {row}\n"));
        }
    }
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if r.interrupted {
        out.push_str("interrupted: the scratch databases were dropped\n");
    }
    out
}

/// One value check on one line: `✓ users.email_lower = lower(email): 2,040 row(s), all equal`.
fn value_line(v: &ValueCheck) -> String {
    let mark = match (v.checked, v.ok) {
        (true, true) => "✓",
        (true, false) => "✗",
        (false, _) => "–",
    };
    format!("{mark} {}: {}", v.what, v.detail)
}

/// The failing checks' offending rows, one per line.
fn offending(v: &ValueCheck) -> impl Iterator<Item = &String> {
    v.rows.iter().filter(move |_| v.failed())
}

fn values_summary(values: &[ValueCheck]) -> String {
    let failed = values.iter().filter(|v| v.failed()).count();
    let checked = values.iter().filter(|v| v.checked).count();
    if values.is_empty() {
        "–".into()
    } else if failed > 0 {
        format!("❌ {failed} of {checked} failed")
    } else {
        format!("✅ {checked} checked")
    }
}

fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n          ")
}

struct StageRow {
    index: usize,
    name: String,
    result: &'static str,
    passed: bool,
    took: String,
    locks: String,
    apps: String,
    down: String,
    values: String,
    details: Vec<String>,
}

#[derive(Template)]
#[template(path = "REHEARSAL.md", escape = "none")]
struct Markdown<'a> {
    r: &'a Rehearsal,
    baseline: Option<String>,
    stages: Vec<StageRow>,
    end_state: String,
    end_values: Vec<String>,
    notes: Vec<String>,
}

/// Markdown table cells: one line, no pipes.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A value check as a list item; a failure lists its first offending rows after it.
fn value_item(v: &ValueCheck) -> String {
    let mut item = cell(&value_line(v)).replacen('✗', "❌", 1);
    for row in offending(v) {
        item.push_str(&format!("<br>`{}`", cell(row).replace('`', "'")));
    }
    item
}

/// Sized for a pull-request comment: a table, then details per stage (open where it failed).
pub fn markdown(r: &Rehearsal) -> Result<String, askama::Error> {
    let stages = r
        .stages
        .iter()
        .map(|s| StageRow {
            index: s.index,
            name: cell(&s.name),
            result: match result(s) {
                "pass" => "✅ pass",
                "FAIL" => "❌ fail",
                _ => "⏭ not run",
            },
            passed: s.passed,
            took: ms(s.duration_ms),
            locks: cell(&locks_line(s)),
            apps: cell(
                &s.apps
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {} · {} · {}",
                            a.version,
                            a.statements,
                            a.errors,
                            ms(a.worst_ms)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            down: match (s.down.checked, s.down.ok) {
                (true, true) => "✅ restores".into(),
                (true, false) => "❌ see below".into(),
                (false, _) => cell(&s.down.detail),
            },
            values: values_summary(&s.values),
            details: s
                .problems
                .iter()
                .map(|p| format!("❌ {}", cell(p)))
                .chain(
                    (s.down.checked && !s.down.ok).then(|| format!("❌ {}", cell(&s.down.detail))),
                )
                .chain(s.values.iter().filter(|v| v.failed()).map(value_item))
                .chain(s.notes.iter().map(|n| format!("note: {}", cell(n))))
                .collect(),
        })
        .collect();
    Markdown {
        r,
        baseline: r.baseline.first().map(|a| cell(&app_line(a))),
        stages,
        end_state: cell(&verdict(&r.end_state)),
        end_values: r.end_values.iter().map(value_item).collect(),
        notes: r.notes.iter().map(|n| cell(n)).collect(),
    }
    .render()
}
