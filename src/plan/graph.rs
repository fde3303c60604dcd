//! The step graph: every step of every change, with "must finish before" edges — inside a change
//! (from its expansion) and between changes that touch the same columns of a table (a later one
//! starts after the earlier one's anchor step). Changes with unknown reach (passed-through
//! statements, types) are barriers: ordered after everything before them and before everything
//! after.

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

/// One change's contribution: its index, what it touches, and its expansion.
pub struct Planned {
    pub change: usize,
    pub tables: Vec<QName>,
    /// Of `tables`, those it only reads (see `Op::reads_only`).
    pub reads_only: Vec<QName>,
    /// Columns touched; empty means the whole table (see `Op::columns`).
    pub columns: Vec<String>,
    pub expansion: Expansion,
    /// Steps of earlier changes (index into the planned changes, index into its steps) that must
    /// finish before this change starts, beyond its anchor: a unique index on a backfilled column
    /// waits for the backfill.
    pub wait_for: Vec<(usize, usize)>,
}

/// What the cross-change pass needs of a change once its steps are in the graph.
struct Placed {
    tables: Vec<QName>,
    reads_only: Vec<QName>,
    columns: Vec<String>,
    anchor: Option<NodeIndex>,
    roots: Vec<NodeIndex>,
    sinks: Vec<NodeIndex>,
}

impl StepGraph {
    /// Takes the changes' steps by value: plans can hold hundreds of thousands of steps.
    pub fn build(planned: Vec<Planned>) -> StepGraph {
        let mut graph = DiGraph::new();
        let mut steps = Vec::new();
        let mut placed = Vec::with_capacity(planned.len());
        let mut nodes_of: Vec<Vec<NodeIndex>> = Vec::with_capacity(planned.len());
        let mut waits: Vec<Vec<(usize, usize)>> = Vec::with_capacity(planned.len());
        for p in planned {
            let nodes: Vec<NodeIndex> = (0..p.expansion.steps.len())
                .map(|i| graph.add_node(steps.len() + i))
                .collect();
            let mut waited_for = vec![false; nodes.len()];
            for (i, step) in p.expansion.steps.iter().enumerate() {
                for &before in &step.after {
                    if let (Some(&from), Some(&to)) = (nodes.get(before), nodes.get(i)) {
                        graph.add_edge(from, to, ());
                        waited_for[before] = true;
                    }
                }
            }
            placed.push(Placed {
                anchor: nodes.get(p.expansion.anchor).copied(),
                roots: p
                    .expansion
                    .steps
                    .iter()
                    .zip(&nodes)
                    .filter(|(s, _)| s.after.is_empty())
                    .map(|(_, n)| *n)
                    .collect(),
                sinks: nodes
                    .iter()
                    .zip(&waited_for)
                    .filter(|(_, w)| !**w)
                    .map(|(n, _)| *n)
                    .collect(),
                tables: p.tables,
                reads_only: p.reads_only,
                columns: p.columns,
            });
            nodes_of.push(nodes);
            waits.push(p.wait_for);
            for mut step in p.expansion.steps {
                step.change = p.change;
                steps.push(step);
            }
        }

        // Earlier changes are found through an index by table, not by scanning them all: planning
        // stays linear in the number of changes. A barrier orders everything before it, so only
        // changes since the last barrier need direct edges.
        let mut by_table: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut last_barrier: Option<usize> = None;
        let mut since_barrier: Vec<usize> = Vec::new();
        for (j, later) in placed.iter().enumerate() {
            let mut from: Vec<NodeIndex> = Vec::new();
            if let Some(b) = last_barrier {
                from.extend(&placed[b].sinks);
            }
            if later.tables.is_empty() {
                for &i in &since_barrier {
                    from.extend(&placed[i].sinks);
                }
                last_barrier = Some(j);
                since_barrier.clear();
            } else {
                let mut seen: Vec<usize> = Vec::new();
                for table in &later.tables {
                    for &i in by_table.get(&table.key()).into_iter().flatten() {
                        let earlier = &placed[i];
                        let only_read = |p: &Placed| p.reads_only.iter().any(|r| r.same(table));
                        let overlap = (earlier.columns.is_empty()
                            || later.columns.is_empty()
                            || earlier.columns.iter().any(|c| later.columns.contains(c)))
                            && !(only_read(earlier) && only_read(later));
                        if overlap && !seen.contains(&i) {
                            seen.push(i);
                            from.extend(earlier.anchor);
                        }
                    }
                }
                for table in &later.tables {
                    by_table.entry(table.key()).or_default().push(j);
                }
                since_barrier.push(j);
            }
            for &(p, step) in &waits[j] {
                if p < j {
                    from.extend(nodes_of.get(p).and_then(|n| n.get(step)));
                }
            }
            from.sort_unstable();
            from.dedup();
            for &f in &from {
                for &r in &later.roots {
                    graph.add_edge(f, r, ());
                }
            }
        }
        StepGraph { graph, steps }
    }

    /// Steps in an order that respects every edge.
    pub fn order(&self) -> Result<Vec<NodeIndex>, String> {
        toposort(&self.graph, None)
            .map_err(|_| "internal error: the step graph has a cycle".to_string())
    }
}
