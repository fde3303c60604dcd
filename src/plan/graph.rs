//! The step graph: every step of every change, with "must finish before" edges — inside a change
//! (from its expansion) and between changes that touch the same table (later ones start after the
//! earlier one's anchor step). Changes with unknown reach (passed-through statements, types) are
//! barriers: ordered after everything before them and before everything after.

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::name::QName;
use crate::plan::{Expansion, Step};

pub struct StepGraph {
    /// Node weights are indexes into `steps`.
    pub graph: DiGraph<usize, ()>,
    pub steps: Vec<Step>,
}

/// One change's contribution: its index, the tables it touches, and its expansion.
pub struct Planned {
    pub change: usize,
    pub tables: Vec<QName>,
    /// Columns touched; empty means the whole table (see `Op::columns`).
    pub columns: Vec<String>,
    pub expansion: Expansion,
}

impl StepGraph {
    pub fn build(planned: &[Planned]) -> StepGraph {
        let mut graph = DiGraph::new();
        let mut steps = Vec::new();
        let mut nodes: Vec<Vec<NodeIndex>> = Vec::new();
        for p in planned {
            let mut mine = Vec::new();
            for step in &p.expansion.steps {
                let mut step = step.clone();
                step.change = p.change;
                mine.push(graph.add_node(steps.len()));
                steps.push(step);
            }
            for (i, step) in p.expansion.steps.iter().enumerate() {
                for &before in &step.after {
                    if let (Some(&from), Some(&to)) = (mine.get(before), mine.get(i)) {
                        graph.add_edge(from, to, ());
                    }
                }
            }
            nodes.push(mine);
        }
        // Earlier changes are found through an index by table, not by scanning them all: planning
        // stays linear in the number of changes. A barrier orders everything before it, so only
        // changes since the last barrier need direct edges.
        let mut by_table: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut last_barrier: Option<usize> = None;
        let mut since_barrier: Vec<usize> = Vec::new();
        for (j, later) in planned.iter().enumerate() {
            let roots: Vec<NodeIndex> = later
                .expansion
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.after.is_empty())
                .map(|(i, _)| nodes[j][i])
                .collect();
            let mut from: Vec<NodeIndex> = Vec::new();
            let nodes_ref = &nodes;
            let sinks_of = |i: usize| -> Vec<NodeIndex> {
                sinks(&planned[i].expansion)
                    .into_iter()
                    .map(|k| nodes_ref[i][k])
                    .collect()
            };
            if let Some(b) = last_barrier {
                from.extend(sinks_of(b));
            }
            if later.tables.is_empty() {
                for &i in &since_barrier {
                    from.extend(sinks_of(i));
                }
                last_barrier = Some(j);
                since_barrier.clear();
            } else {
                let mut seen: Vec<usize> = Vec::new();
                for table in &later.tables {
                    for &i in by_table.get(&table.key()).into_iter().flatten() {
                        let earlier = &planned[i];
                        let overlap = earlier.columns.is_empty()
                            || later.columns.is_empty()
                            || earlier.columns.iter().any(|c| later.columns.contains(c));
                        if overlap && !seen.contains(&i) {
                            seen.push(i);
                            from.extend(nodes[i].get(earlier.expansion.anchor).copied());
                        }
                    }
                }
                for table in &later.tables {
                    by_table.entry(table.key()).or_default().push(j);
                }
                since_barrier.push(j);
            }
            for &f in &from {
                for &r in &roots {
                    graph.update_edge(f, r, ());
                }
            }
        }
        StepGraph { graph, steps }
    }

    /// Steps in an order that respects every edge (ties broken by change order, then step order).
    pub fn order(&self) -> Result<Vec<NodeIndex>, String> {
        toposort(&self.graph, None)
            .map_err(|_| "internal error: the step graph has a cycle".to_string())
    }
}

/// Steps nothing else in the expansion waits for.
fn sinks(expansion: &Expansion) -> Vec<usize> {
    (0..expansion.steps.len())
        .filter(|i| !expansion.steps.iter().any(|s| s.after.contains(i)))
        .collect()
}
