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

const COLUMN_WIDTH: u32 = 184;
const COLUMN_GAP: u32 = 36;
const MARGIN: u32 = 16;
const HEADER: u32 = 64;
const BOX_HEIGHT: u32 = 58;
const BOX_GAP: u32 = 12;
const LINE_CHARS: usize = 28;
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
    phase: &'static str,
    application: bool,
    irreversible: bool,
}

struct StepBox {
    x: u32,
    y: u32,
    /// Up to three lines of the step's title, with the baseline of each.
    lines: Vec<(u32, String)>,
    title: String,
    phase: &'static str,
    application: bool,
}

/// An arrow to draw: from a box (its top-left corner) in one stage to a box in a later one.
type Link = (usize, (u32, u32), usize, (u32, u32));

struct Arrow {
    /// SVG path data: numbers only.
    d: String,
}

struct Graph {
    width: u32,
    height: u32,
    column_width: u32,
    column_height: u32,
    box_width: u32,
    box_height: u32,
    columns: Vec<Column>,
    boxes: Vec<StepBox>,
    arrows: Vec<Arrow>,
}

fn wrap(text: &str) -> Vec<String> {
    let flat = oneline(text);
    let mut lines: Vec<String> = textwrap::wrap(&flat, LINE_CHARS)
        .into_iter()
        .map(|l| l.into_owned())
        .collect();
    if lines.len() > 3 {
        lines.truncate(3);
        let last = &mut lines[2];
        let keep: String = last.chars().take(LINE_CHARS - 1).collect();
        *last = format!("{keep}…");
    }
    lines
}

fn curve(from: (u32, u32), to: (u32, u32)) -> String {
    let (x1, y1) = from;
    let (x2, y2) = to;
    let bend = (x2.saturating_sub(x1) / 2).max(16);
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

/// Lays the graph out: stage i is column i; a step's box sits in its stage's column; an arrow
/// joins a step to the previous step of the same change, and a stage to each stage it depends
/// on where no step arrow says so already.
fn graph(plan: &Plan) -> Graph {
    let box_width = COLUMN_WIDTH - 16;
    let tallest = plan.stages.iter().map(|s| s.steps.len()).max().unwrap_or(1) as u32;
    let column_height = HEADER + tallest * (BOX_HEIGHT + BOX_GAP) + 4;
    let mut columns = Vec::new();
    let mut boxes = Vec::new();
    // (stage index, change) → position of the step's box (first box of that change in the stage).
    let mut placed: Vec<(usize, usize, u32, u32)> = Vec::new();
    for (i, stage) in plan.stages.iter().enumerate() {
        let x = MARGIN + i as u32 * (COLUMN_WIDTH + COLUMN_GAP);
        columns.push(Column {
            x,
            index: stage.index,
            label: format!("{} · {}", stage.index, stage.phase.as_str()),
            sub: stage_how(stage).to_string(),
            phase: stage.phase.as_str(),
            application: stage.kind == StepKind::Application,
            irreversible: !stage.reversible,
        });
        for (j, step) in stage.steps.iter().enumerate() {
            let bx = x + 8;
            let by = MARGIN + HEADER + j as u32 * (BOX_HEIGHT + BOX_GAP);
            boxes.push(StepBox {
                x: bx,
                y: by,
                lines: wrap(&step.title)
                    .into_iter()
                    .zip(0u32..)
                    .map(|(line, k)| (by + 19 + k * 15, line))
                    .collect(),
                title: oneline(&step.title),
                phase: step.phase.as_str(),
                application: step.kind == StepKind::Application,
            });
            placed.push((stage.index, step.change, bx, by));
        }
    }
    // (from stage, from box, to stage, to box)
    let mut links: Vec<Link> = Vec::new();
    // Looked up in maps, not by scanning `placed`: a plan can have a million steps in a stage.
    // change → its last box in an earlier stage; filled in after each stage is linked.
    let mut last_of_change: HashMap<usize, (usize, u32, u32)> = HashMap::new();
    let mut pending: Vec<(usize, (usize, u32, u32))> = Vec::new();
    let mut current_stage = None;
    for &(stage, change, x, y) in &placed {
        if current_stage != Some(stage) {
            last_of_change.extend(pending.drain(..));
            current_stage = Some(stage);
        }
        if let Some(&(from_stage, fx, fy)) = last_of_change.get(&change) {
            links.push((from_stage, (fx, fy), stage, (x, y)));
        }
        pending.push((change, (stage, x, y)));
    }
    let linked: HashSet<(usize, usize)> = links.iter().map(|l| (l.0, l.2)).collect();
    let mut first_box: HashMap<usize, (u32, u32)> = HashMap::new();
    let mut last_box: HashMap<usize, (u32, u32)> = HashMap::new();
    for &(stage, _, x, y) in &placed {
        first_box.entry(stage).or_insert((x, y));
        last_box.insert(stage, (x, y));
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
    // An arrow to the next column is a curve; one that skips columns runs along its own lane
    // below the boxes, so it never hides behind (or seems to start from) a box in between.
    let boxes_bottom = MARGIN + HEADER + tallest * (BOX_HEIGHT + BOX_GAP);
    let mut lanes = 0;
    let mut arrows = Vec::new();
    for (from_stage, (fx, fy), to_stage, (x, y)) in links {
        let start = (fx + box_width, fy + BOX_HEIGHT / 2);
        let end = (x, y + BOX_HEIGHT / 2);
        let d = if to_stage == from_stage + 1 {
            curve(start, end)
        } else {
            let lane = boxes_bottom + 4 + lanes * LANE;
            lanes += 1;
            let out = fx + box_width + 8 + COLUMN_GAP / 2 - 4;
            let into = x - 8 - COLUMN_GAP / 2 + 4;
            lane_path(start, out, lane, into, end)
        };
        arrows.push(Arrow { d });
    }
    let column_height = column_height + lanes * LANE + if lanes > 0 { 6 } else { 0 };
    let count = plan.stages.len().max(1) as u32;
    Graph {
        width: 2 * MARGIN + count * COLUMN_WIDTH + (count - 1) * COLUMN_GAP,
        height: 2 * MARGIN + column_height,
        column_width: COLUMN_WIDTH,
        column_height,
        box_width,
        box_height: BOX_HEIGHT,
        columns,
        boxes,
        arrows,
    }
}

fn stage_how(stage: &Stage) -> &'static str {
    match (stage.kind, stage.transactional) {
        (StepKind::Application, _) => "deploy",
        (_, true) => "SQL, one transaction",
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
        let mut locks: Vec<LockLine> = Vec::new();
        let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
        for lock in stage.steps.iter().flat_map(|s| &s.locks) {
            if !seen.insert((lock.mode.sql_name(), lock.table.as_str(), lock.held)) {
                continue;
            }
            locks.push(LockLine {
                mode: lock.mode.sql_name(),
                table: oneline(&lock.table),
                held: lock.held,
                blocks: lock.mode.blocks(),
                blocks_traffic: lock.mode.blocks_traffic(),
            });
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
    fn titles_wrap_to_three_lines_at_most() {
        let lines = wrap(&"word ".repeat(40));
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with('…'));
        assert_eq!(wrap("short"), vec!["short".to_string()]);
    }

    #[test]
    fn curves_run_left_to_right() {
        assert_eq!(curve((10, 20), (110, 40)), "M10,20 C60,20 60,40 110,40");
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
