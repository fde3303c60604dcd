//! `plan.html`: the whole plan on one self-contained page for the reviewer who signs the rollout
//! off — the stage graph drawn as SVG (laid out here: stages as columns, steps as boxes, arrows
//! for what waits on what), the stages table, each stage's SQL and checklist, assumptions and
//! sign-off boxes. Inline CSS, no script, no request: it works from `file://` and prints.
//! askama escapes everything in the `.html` template, so names from the change cannot inject
//! markup; the SVG geometry is numbers computed here.

use std::collections::{HashMap, HashSet};

use askama::Template;

use super::{Engine, StageView, oneline};
use crate::error::Error;
use crate::ops::Risk;
use crate::plan::{Plan, Stage, StepKind};

// The graph is drawn in rows of ROW_STAGES stages, each row its own SVG no wider than an A4 page's
// text column (668 px, printed at 1:1), so it fits a 1024 px window and prints without shrinking
// its text; rows break between pages. A stage shows at most MAX_BOXES step boxes, then one box
// counting the rest (every step is listed in the stage's section).
const COLUMN_WIDTH: u32 = 196;
const COLUMN_GAP: u32 = 30;
const MARGIN: u32 = 10;
const HEADER: u32 = 76;
const ROW_STAGES: usize = 3;
const MAX_BOXES: usize = 8;
const LINE_HEIGHT: u32 = 15;
const BOX_PAD: u32 = 10;
const BOX_GAP: u32 = 10;
/// Characters per line of a box (164 px of text at 11.5 px; a conservative average width).
const LINE_CHARS: usize = 26;
/// Vertical room for each arrow that skips columns.
const LANE: u32 = 9;

/// The engine's name for people, from plan.json's `dialect`.
pub fn engine_name(dialect: &str) -> &str {
    match dialect {
        "postgres" => "PostgreSQL",
        "mysql" => "MySQL",
        "mariadb" => "MariaDB",
        other => other,
    }
}

struct Column {
    x: u32,
    index: usize,
    label: String,
    sub: String,
    /// The stages it waits for, when one of them is in an earlier row (no arrow reaches it).
    after: String,
    phase: &'static str,
    application: bool,
    irreversible: bool,
}

struct StepBox {
    x: u32,
    y: u32,
    height: u32,
    /// The step's title in whole words, one line each, with the baseline of each.
    lines: Vec<(u32, String)>,
    title: String,
    phase: &'static str,
    application: bool,
    stage: usize,
}

/// The box that stands for the steps of a stage past the first MAX_BOXES.
struct MoreBox {
    x: u32,
    y: u32,
    height: u32,
    stage: usize,
    count: usize,
}

/// An arrow to draw: from a box (top-left corner and height) in one stage to a box in a later one.
type Anchor = (u32, u32, u32);
type Link = (usize, Anchor, usize, Anchor);

struct Arrow {
    /// SVG path data: numbers only.
    d: String,
}

struct Row {
    width: u32,
    height: u32,
    column_height: u32,
    columns: Vec<Column>,
    boxes: Vec<StepBox>,
    more: Vec<MoreBox>,
    arrows: Vec<Arrow>,
}

struct Graph {
    column_width: u32,
    box_width: u32,
    rows: Vec<Row>,
}

/// A step title in lines of at most LINE_CHARS, broken between words only. A word longer than a
/// line (an identifier) keeps a line of its own, broken after a `.` or `_` only if it must be.
fn wrap(text: &str) -> Vec<String> {
    let flat = oneline(text);
    let options = textwrap::Options::new(LINE_CHARS)
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut lines = Vec::new();
    for line in textwrap::wrap(&flat, options) {
        let mut rest: &str = &line;
        while rest.chars().count() > LINE_CHARS + 4 {
            // The last `.` or `_` that keeps the piece within the line, else a plain cut.
            let limit = rest
                .char_indices()
                .nth(LINE_CHARS + 4)
                .map_or(rest.len(), |(i, _)| i);
            let cut = rest[..limit]
                .rfind('.')
                .or_else(|| rest[..limit].rfind('_'))
                .map_or(limit, |i| i + 1);
            lines.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        lines.push(rest.to_string());
    }
    lines
}

fn curve(from: (u32, u32), to: (u32, u32)) -> String {
    let (x1, y1) = from;
    let (x2, y2) = to;
    let bend = (x2.saturating_sub(x1) / 2).max(12);
    format!(
        "M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}",
        x1 + bend,
        x2.saturating_sub(bend)
    )
}

/// Right to `out`, down to the lane, along it to `into`, up to the target's level, right.
fn lane_path(start: (u32, u32), out: u32, lane: u32, into: u32, end: (u32, u32)) -> String {
    let (sx, sy) = start;
    let (ex, ey) = end;
    format!(
        "M{sx},{sy} L{},{sy} Q{out},{sy} {out},{} L{out},{} Q{out},{lane} {},{lane} L{},{lane} Q{into},{lane} {into},{} L{into},{} Q{into},{ey} {},{ey} L{ex},{ey}",
        out - 6,
        sy + 6,
        lane - 6,
        out + 6,
        into - 6,
        lane - 6,
        ey + 6,
        into + 6
    )
}

fn box_height(lines: usize) -> u32 {
    2 * BOX_PAD + lines.max(1) as u32 * LINE_HEIGHT
}

/// Lays the graph out: stages in rows of ROW_STAGES columns; a step's box sits in its stage's
/// column; an arrow joins a step to the previous step of the same change, and a stage to each
/// stage it depends on where no step arrow says so already. Arrows stay within a row: a column
/// whose stage waits for one in an earlier row names it in its header instead.
fn graph(plan: &Plan) -> Graph {
    let box_width = COLUMN_WIDTH - 16;
    let row_of = |position: usize| position / ROW_STAGES;
    let position: HashMap<usize, usize> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.index, i))
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    // Every step's anchor: (stage index, change, anchor), in run order.
    let mut placed: Vec<(usize, usize, Anchor)> = Vec::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        if i % ROW_STAGES == 0 {
            rows.push(Row {
                width: 0,
                height: 0,
                column_height: 0,
                columns: Vec::new(),
                boxes: Vec::new(),
                more: Vec::new(),
                arrows: Vec::new(),
            });
        }
        let Some(row) = rows.last_mut() else { break };
        let x = MARGIN + (i % ROW_STAGES) as u32 * (COLUMN_WIDTH + COLUMN_GAP);
        let earlier: Vec<String> = stage
            .depends_on
            .iter()
            .filter(|d| position.get(d).is_some_and(|&p| row_of(p) < row_of(i)))
            .map(|d| d.to_string())
            .collect();
        row.columns.push(Column {
            x,
            index: stage.index,
            label: format!("{} · {}", stage.index, stage.phase.as_str()),
            sub: stage_how(stage).to_string(),
            // Five at most, so the header line stays inside the column (the table lists all).
            after: if earlier.len() > 5 {
                format!("{} +{}", earlier[..5].join(", "), earlier.len() - 5)
            } else {
                earlier.join(", ")
            },
            phase: stage.phase.as_str(),
            application: stage.kind == StepKind::Application,
            irreversible: !stage.reversible,
        });
        let shown = if stage.steps.len() > MAX_BOXES + 1 {
            MAX_BOXES
        } else {
            stage.steps.len()
        };
        let bx = x + 8;
        let mut by = MARGIN + HEADER;
        for step in &stage.steps[..shown] {
            let lines = wrap(&step.title);
            let height = box_height(lines.len());
            row.boxes.push(StepBox {
                x: bx,
                y: by,
                height,
                lines: lines
                    .into_iter()
                    .zip(0u32..)
                    .map(|(line, k)| (by + BOX_PAD + 11 + k * LINE_HEIGHT, line))
                    .collect(),
                title: oneline(&step.title),
                phase: step.phase.as_str(),
                application: step.kind == StepKind::Application,
                stage: stage.index,
            });
            placed.push((stage.index, step.change, (bx, by, height)));
            by += height + BOX_GAP;
        }
        if shown < stage.steps.len() {
            let height = box_height(2);
            row.more.push(MoreBox {
                x: bx,
                y: by,
                height,
                stage: stage.index,
                count: stage.steps.len() - shown,
            });
            for step in &stage.steps[shown..] {
                placed.push((stage.index, step.change, (bx, by, height)));
            }
            by += height + BOX_GAP;
        }
        row.column_height = row.column_height.max(by - MARGIN);
    }
    // (from stage, from anchor, to stage, to anchor)
    let mut links: Vec<Link> = Vec::new();
    let mut seen_links: HashSet<(usize, Anchor, usize, Anchor)> = HashSet::new();
    // Looked up in maps, not by scanning `placed`: a plan can have a million steps in a stage.
    // change → its last anchor in an earlier stage; filled in after each stage is linked.
    let mut last_of_change: HashMap<usize, (usize, Anchor)> = HashMap::new();
    let mut pending: Vec<(usize, (usize, Anchor))> = Vec::new();
    let mut current_stage = None;
    for &(stage, change, anchor) in &placed {
        if current_stage != Some(stage) {
            last_of_change.extend(pending.drain(..));
            current_stage = Some(stage);
        }
        if let Some(&(from_stage, from)) = last_of_change.get(&change)
            && seen_links.insert((from_stage, from, stage, anchor))
        {
            links.push((from_stage, from, stage, anchor));
        }
        pending.push((change, (stage, anchor)));
    }
    let linked: HashSet<(usize, usize)> = links.iter().map(|l| (l.0, l.2)).collect();
    let mut first_box: HashMap<usize, Anchor> = HashMap::new();
    let mut last_box: HashMap<usize, Anchor> = HashMap::new();
    for &(stage, _, anchor) in &placed {
        first_box.entry(stage).or_insert(anchor);
        last_box.insert(stage, anchor);
    }
    for stage in &plan.stages {
        for &dep in &stage.depends_on {
            if linked.contains(&(dep, stage.index)) {
                continue;
            }
            if let (Some(&from), Some(&to)) = (last_box.get(&dep), first_box.get(&stage.index)) {
                links.push((dep, from, stage.index, to));
            }
        }
    }
    // An arrow to the next column is a curve; one that skips a column runs along its own lane
    // below the boxes, so it never hides behind (or seems to start from) a box in between.
    let mut lanes = vec![0u32; rows.len()];
    for (from_stage, (fx, fy, fh), to_stage, (x, y, h)) in links {
        let (Some(&from_pos), Some(&to_pos)) = (position.get(&from_stage), position.get(&to_stage))
        else {
            continue;
        };
        if row_of(from_pos) != row_of(to_pos) {
            continue;
        }
        let r = row_of(to_pos);
        let start = (fx + box_width, fy + fh / 2);
        let end = (x, y + h / 2);
        let d = if to_pos == from_pos + 1 {
            curve(start, end)
        } else {
            let lane = MARGIN + rows[r].column_height + 2 + lanes[r] * LANE;
            lanes[r] += 1;
            let out = fx + box_width + 8 + COLUMN_GAP / 2 - 4;
            let into = x - 8 - COLUMN_GAP / 2 + 4;
            lane_path(start, out, lane, into, end)
        };
        rows[r].arrows.push(Arrow { d });
    }
    let many_rows = rows.len() > 1;
    for (row, lanes) in rows.iter_mut().zip(lanes) {
        row.column_height += lanes * LANE + if lanes > 0 { 8 } else { 0 };
        // Every row as wide as a full one, so centred rows keep their columns aligned.
        let count = if many_rows {
            ROW_STAGES as u32
        } else {
            row.columns.len().max(1) as u32
        };
        row.width = 2 * MARGIN + count * COLUMN_WIDTH + (count - 1) * COLUMN_GAP;
        row.height = 2 * MARGIN + row.column_height;
    }
    Graph {
        column_width: COLUMN_WIDTH,
        box_width,
        rows,
    }
}

fn stage_how(stage: &Stage) -> &'static str {
    match (stage.kind, stage.transactional) {
        (StepKind::Application, _) => "deploy",
        (_, true) => "SQL, one transaction",
        (StepKind::Database, false) if !stage.transactions.is_empty() => {
            "SQL, one transaction per table"
        }
        (StepKind::Backfill, _) => "backfill, batch by batch",
        _ => "SQL, statement by statement",
    }
}

/// A piece of prose: plain text, or a `code span` as the Markdown files write it.
struct Span {
    code: bool,
    text: String,
}

/// Prose with backtick code spans, for `<code>` on the page (the text is still escaped).
fn spans(text: &str) -> Vec<Span> {
    oneline(text)
        .split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| Span {
            code: i % 2 == 1,
            text: t.to_string(),
        })
        .collect()
}

struct LockLine {
    mode: &'static str,
    table: String,
    held: &'static str,
    blocks: &'static str,
    blocks_traffic: bool,
}

struct CheckLine {
    what: Vec<Span>,
    query: String,
    /// The "query" is an instruction to a person (`-- check your deploy tool…`), not SQL.
    manual: bool,
    expect: String,
}

struct HtmlStage<'a> {
    view: &'a StageView<'a>,
    how: &'static str,
    locks: Vec<LockLine>,
    before: Vec<CheckLine>,
    verify: Vec<CheckLine>,
    app: Vec<Vec<Span>>,
    notes: Vec<Vec<Span>>,
    points_of_no_return: Vec<Vec<Span>>,
    /// What the estimate rests on, when there is one.
    estimate_note: Option<String>,
    long: bool,
    up_sql: String,
    down_sql: String,
    /// The client command that runs the stage's up.sql.
    run_up: String,
}

impl<'a> std::ops::Deref for HtmlStage<'a> {
    type Target = StageView<'a>;
    fn deref(&self) -> &StageView<'a> {
        self.view
    }
}

struct HtmlChange {
    line: u64,
    sql: String,
    risk: &'static str,
    why: String,
    rule: &'static str,
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanHtml<'a> {
    source: String,
    engine: &'a str,
    server_version: &'a str,
    generator: &'a str,
    changes: Vec<HtmlChange>,
    stages: Vec<HtmlStage<'a>>,
    graph: Graph,
    deploys: usize,
    points_of_no_return: Vec<usize>,
    long_stages: Vec<usize>,
    assumptions: Vec<Vec<Span>>,
    warnings: Vec<Vec<Span>>,
    /// A stage's statements may run again after a partial run (not on MySQL).
    rerunnable: bool,
    row_stages: usize,
}

fn checks(checks: &[crate::plan::Check]) -> Vec<CheckLine> {
    checks
        .iter()
        .map(|c| {
            let manual = c.query.trim_start().starts_with("--");
            CheckLine {
                what: spans(&c.what),
                query: if manual {
                    oneline(c.query.trim_start().trim_start_matches('-').trim())
                } else {
                    c.query.clone()
                },
                manual,
                expect: oneline(&c.expect),
            }
        })
        .collect()
}

/// Renders `plan.html`.
pub(super) fn plan_html(plan: &Plan, views: &[StageView]) -> Result<String, Error> {
    let err = |e: askama::Error| Error::Write {
        path: "plan.html".into(),
        message: e.to_string(),
    };
    let total = plan.stages.len();
    let engine = Engine::of(plan.dialect);
    let mut stages = Vec::with_capacity(total);
    for (stage, view) in plan.stages.iter().zip(views) {
        // One line per lock mode and duration, naming every table it is taken on (a stage over
        // sixty tables would otherwise list a hundred lines in one table cell).
        let mut locks: Vec<LockLine> = Vec::new();
        let mut line_of: HashMap<(&str, &str), usize> = HashMap::new();
        let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
        for lock in stage.steps.iter().flat_map(|s| &s.locks) {
            let mode = lock.mode.sql_name();
            if !seen.insert((mode, lock.table.as_str(), lock.held)) {
                continue;
            }
            let table = oneline(&lock.table);
            match line_of.get(&(mode, lock.held)) {
                Some(&i) => {
                    locks[i].table.push_str(", ");
                    locks[i].table.push_str(&table);
                }
                None => {
                    line_of.insert((mode, lock.held), locks.len());
                    locks.push(LockLine {
                        mode,
                        table,
                        held: lock.held,
                        blocks: lock.mode.blocks(),
                        blocks_traffic: lock.mode.blocks_traffic(),
                    });
                }
            }
        }
        let (up_sql, down_sql) = if stage.has_sql() {
            let up = engine.up(view, total).map_err(err)?;
            let down = if stage.reversible {
                engine.down(view, total).map_err(err)?
            } else {
                String::new()
            };
            (up, down)
        } else {
            (String::new(), String::new())
        };
        stages.push(HtmlStage {
            view,
            how: stage_how(stage),
            locks,
            before: checks(
                &stage
                    .steps
                    .iter()
                    .flat_map(|s| s.before.clone())
                    .collect::<Vec<_>>(),
            ),
            verify: checks(
                &stage
                    .steps
                    .iter()
                    .flat_map(|s| s.verify.clone())
                    .collect::<Vec<_>>(),
            ),
            app: stage
                .steps
                .iter()
                .flat_map(|s| s.app.iter().map(|a| spans(a)))
                .collect(),
            notes: stage
                .steps
                .iter()
                .flat_map(|s| &s.notes)
                .filter(|n| !n.starts_with("Point of no return"))
                .map(|n| spans(n))
                .collect(),
            points_of_no_return: stage
                .steps
                .iter()
                .flat_map(|s| &s.notes)
                .filter(|n| n.starts_with("Point of no return"))
                .map(|n| spans(n))
                .collect(),
            estimate_note: stage.estimate.as_ref().map(|e| match e.seconds {
                Some(_) => format!("estimate {}: {}", e.short(), oneline(&e.basis)),
                None => oneline(&e.basis),
            }),
            long: stage.estimate.as_ref().is_some_and(|e| e.long),
            up_sql,
            down_sql,
            run_up: engine.run(&format!("{}/up.sql", stage.dir)),
        });
    }
    PlanHtml {
        source: oneline(&plan.source),
        engine: engine_name(plan.dialect),
        server_version: &plan.server_version,
        generator: &plan.generator,
        changes: plan
            .changes
            .iter()
            .map(|c| HtmlChange {
                line: c.line,
                sql: c.sql.clone(),
                risk: match c.assessment.risk {
                    Risk::Safe => "safe",
                    Risk::Staged => "staged",
                    Risk::Destructive => "destructive",
                    Risk::Unknown => "unknown",
                },
                why: oneline(&c.assessment.why),
                rule: c.assessment.rule,
            })
            .collect(),
        deploys: plan
            .stages
            .iter()
            .filter(|s| s.kind == StepKind::Application)
            .count(),
        points_of_no_return: plan
            .stages
            .iter()
            .filter(|s| !s.reversible)
            .map(|s| s.index)
            .collect(),
        long_stages: plan
            .stages
            .iter()
            .filter(|s| s.estimate.as_ref().is_some_and(|e| e.long))
            .map(|s| s.index)
            .collect(),
        graph: graph(plan),
        stages,
        assumptions: plan.assumptions.iter().map(|a| spans(a)).collect(),
        warnings: plan.warnings.iter().map(|w| spans(w)).collect(),
        rerunnable: engine.rerunnable(),
        row_stages: ROW_STAGES,
    }
    .render()
    .map(|mut s| {
        s.push('\n');
        s
    })
    .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_wrap_between_words_and_keep_every_word() {
        let title = "swap in the BIGINT copy of orders.customer_reference_number for customer_reference_number (the old column is kept)";
        let lines = wrap(title);
        // Lines join back into the title: with a space, or with nothing after a `.` or `_`.
        let mut joined = String::new();
        for line in &lines {
            if !joined.is_empty() && !joined.ends_with(['.', '_']) {
                joined.push(' ');
            }
            joined.push_str(line);
            assert!(line.chars().count() <= LINE_CHARS + 4, "{line}");
        }
        assert_eq!(joined, title);
        assert!(lines.contains(&"orders.".to_string()), "{lines:?}");
        assert_eq!(wrap("short"), vec!["short".to_string()]);
        // An identifier longer than any line breaks after a `.` or `_`, never inside a word part.
        let long = "a_very_long_identifier_name_that_goes_on_and_on_forever";
        let lines = wrap(long);
        assert_eq!(lines.concat(), long);
        assert!(
            lines[..lines.len() - 1].iter().all(|l| l.ends_with('_')),
            "{lines:?}"
        );
    }

    #[test]
    fn curves_run_left_to_right() {
        assert_eq!(curve((10, 20), (110, 40)), "M10,20 C60,20 60,40 110,40");
        assert_eq!(curve((10, 20), (30, 40)), "M10,20 C22,20 18,40 30,40");
    }

    #[test]
    fn backticks_become_code_spans() {
        let s = spans("run `DROP INDEX x` then `y`");
        let shape: Vec<(bool, &str)> = s.iter().map(|s| (s.code, s.text.as_str())).collect();
        assert_eq!(
            shape,
            [
                (false, "run "),
                (true, "DROP INDEX x"),
                (false, " then "),
                (true, "y")
            ]
        );
    }
}
