//! `safeshift graph`: the stage graph of a written plan as Graphviz DOT or Mermaid, for docs,
//! pull requests (GitHub renders Mermaid) and `dot -Tsvg`. Stages are nodes in run order, coloured
//! by phase; deploys are hexagons; a point of no return has a red border.

use askama::Template;

use crate::plan_dir::PlanFile;

struct StageNode {
    index: usize,
    label: String,
    phase: String,
    fill: &'static str,
    is_application: bool,
    reversible: bool,
    depends_on: Vec<usize>,
}

#[derive(Template)]
#[template(path = "graph.dot", escape = "none")]
struct Dot<'a> {
    source: &'a str,
    stages: &'a [StageNode],
}

#[derive(Template)]
#[template(path = "graph.mmd", escape = "none")]
struct Mermaid<'a> {
    source: &'a str,
    stages: &'a [StageNode],
}

/// One line, at most `max` characters: labels come from user-written names.
fn short(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max - 1).collect::<String>())
    } else {
        flat
    }
}

fn nodes(plan: &PlanFile, escape: fn(&str) -> String, newline: &str) -> Vec<StageNode> {
    plan.stages
        .iter()
        .map(|s| StageNode {
            index: s.index,
            label: format!(
                "{}{newline}{} · {}",
                escape(&format!("{}. {}", s.index, short(&s.name, 60))),
                escape(&s.phase),
                escape(&s.kind)
            ),
            phase: match s.phase.as_str() {
                "expand" | "migrate" | "contract" => s.phase.clone(),
                _ => "migrate".into(),
            },
            fill: match s.phase.as_str() {
                "expand" => "#e3f4e1",
                "contract" => "#fdeede",
                _ => "#e3edf9",
            },
            is_application: s.is_application(),
            reversible: s.reversible,
            depends_on: s.depends_on.clone(),
        })
        .collect()
}

/// DOT string escaping: backslash and double quote.
fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid labels are quoted; quotes and the characters Mermaid reads as markup become entities.
fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

pub fn dot(plan: &PlanFile) -> Result<String, askama::Error> {
    let stages = nodes(plan, dot_escape, "\\n");
    Dot {
        source: &short(&plan.source, 80),
        stages: &stages,
    }
    .render()
    .map(|mut s| {
        s.push('\n');
        s
    })
}

pub fn mermaid(plan: &PlanFile) -> Result<String, askama::Error> {
    let stages = nodes(plan, mermaid_escape, "<br/>");
    Mermaid {
        source: &short(&plan.source, 80),
        stages: &stages,
    }
    .render()
    .map(|mut s| {
        s.push('\n');
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlanFile {
        serde_json::from_value(serde_json::json!({
            "version": 1, "source": "change.sql",
            "stages": [
                {"index": 1, "name": "add \"x\" column", "dir": "01", "phase": "expand", "kind": "database",
                 "up": "01/up.sql", "down": "01/down.sql", "transactional": true, "depends_on": []},
                {"index": 2, "name": "deploy", "dir": "02", "phase": "migrate", "kind": "application",
                 "up": null, "down": null, "transactional": false, "depends_on": [1]},
                {"index": 3, "name": "drop old", "dir": "03", "phase": "contract", "kind": "database",
                 "up": "03/up.sql", "down": null, "transactional": true, "reversible": false, "depends_on": [2]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn dot_has_every_stage_and_edge() {
        let dot = dot(&plan()).unwrap();
        assert!(
            dot.contains(r#"s1 [label="1. add \"x\" column\nexpand · database""#),
            "{dot}"
        );
        assert!(dot.contains("s2 [label=\"2. deploy\\nmigrate · application\", fillcolor=\"#e3edf9\", shape=hexagon]"), "{dot}");
        assert!(
            dot.contains("s1 -> s2;") && dot.contains("s2 -> s3;"),
            "{dot}"
        );
        assert!(
            dot.contains("penwidth=2"),
            "the point of no return stands out: {dot}"
        );
    }

    #[test]
    fn mermaid_has_every_stage_and_edge() {
        let m = mermaid(&plan()).unwrap();
        assert!(
            m.contains(r#"s1["1. add #quot;x#quot; column<br/>expand · database"]:::expand"#),
            "{m}"
        );
        assert!(
            m.contains(r#"s2{{"2. deploy<br/>migrate · application"}}:::migrate"#),
            "{m}"
        );
        assert!(m.contains("s1 --> s2") && m.contains("s2 --> s3"), "{m}");
        assert!(m.contains("style s3 stroke:#b00020"), "{m}");
    }
}
