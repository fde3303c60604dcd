//! Stages: the step graph cut into deploy units. A step's level is the length of the longest
//! chain of steps before it; steps on the same level that can run together (same kind, same
//! transactionality) share a stage, so independent changes are planned side by side. Application
//! steps of one release are lifted to a common level, so a plan needs one deploy per release.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use serde::Serialize;

use super::graph::StepGraph;
use super::{Phase, Release, Step, StepKind};

#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    /// 1-based position in run order.
    pub index: usize,
    pub name: String,
    /// Directory name in the plan: `01-add-column-users-email`.
    pub dir: String,
    pub phase: Phase,
    pub kind: StepKind,
    /// `up.sql` relative to the plan root; none for application stages.
    pub up: Option<String>,
    /// `down.sql` relative to the plan root; none for application stages and points of no return.
    pub down: Option<String>,
    pub transactional: bool,
    /// A stage of brief schema changes on unrelated tables does not run as one transaction: it
    /// commits once per group of steps that lock the same tables (`commit_per_table`), so it
    /// never holds the locks of unrelated tables together. Each entry lists the indexes into
    /// `steps` of one transaction, in run order; empty when the stage is one transaction
    /// (`transactional`) or none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<Vec<usize>>,
    /// False when a step cannot be undone: the stage is a point of no return.
    pub reversible: bool,
    pub depends_on: Vec<usize>,
    pub steps: Vec<Step>,
    /// How long the stage should take on the target database, when safeshift can tell (backfills,
    /// index builds, validations: from row counts); `None` for brief catalog changes and deploys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

/// An estimated duration and what it rests on, so reviewers can tell measured from assumed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// `None` when a table's size is unknown.
    pub seconds: Option<f64>,
    /// Long enough that someone should watch it, or schedule it (see `LONG_STAGE`).
    pub long: bool,
    /// The figures it rests on, and which of them are assumptions.
    pub basis: String,
}

impl Stage {
    /// A step of this stage runs a statement of the change file as written (passed through, a
    /// CREATE TABLE, or a data change, batched or not): on MySQL it must run in the session's own
    /// sql_mode, where it runs as written, not in the stricter one the plan's own statements use.
    /// (A batched data change's procedure keeps the sql_mode it was created in.)
    pub fn runs_as_written(&self) -> bool {
        self.steps.iter().any(|s| {
            s.rule == crate::ops::other::RULE.id
                || s.rule == crate::ops::create_table::RULE.id
                || s.rule == crate::ops::data_change::RULE.id
        })
    }

    pub fn has_sql(&self) -> bool {
        !matches!(self.kind, StepKind::Application | StepKind::Tool)
    }
}

/// Orders kinds within one level: schema first, then data, then people.
fn kind_rank(step: &Step) -> u8 {
    match (step.kind, step.transactional) {
        (StepKind::Database, true) => 0,
        (StepKind::Database, false) => 1,
        (StepKind::Backfill, _) => 2,
        (StepKind::Verify, _) => 3,
        (StepKind::Application, _) => 4,
        (StepKind::Tool, _) => 5,
    }
}

pub fn stages(graph: StepGraph) -> Result<Vec<Stage>, String> {
    let order = graph.order()?;
    let StepGraph {
        graph: g,
        steps: all_steps,
    } = graph;
    let g = &g;
    let mut level = vec![0usize; g.node_count()];
    let propagate = |level: &mut Vec<usize>| {
        for &n in &order {
            let from_preds = g
                .neighbors_directed(n, Direction::Incoming)
                .map(|p| level[p.index()] + 1)
                .max()
                .unwrap_or(0);
            level[n.index()] = level[n.index()].max(from_preds);
        }
    };
    propagate(&mut level);
    for release in [Release::DualWrite, Release::ReadNew, Release::NewVersion] {
        let wave: Vec<usize> = order
            .iter()
            .map(|n| n.index())
            .filter(|&n| all_steps[g[petgraph::graph::NodeIndex::new(n)]].release == Some(release))
            .collect();
        if let Some(top) = wave.iter().map(|&n| level[n]).max() {
            for &n in &wave {
                level[n] = top;
            }
            propagate(&mut level);
        }
    }

    // Group nodes by (level, kind rank).
    let mut groups: BTreeMap<(usize, u8), Vec<petgraph::graph::NodeIndex>> = BTreeMap::new();
    for n in g.node_indices() {
        let step = &all_steps[g[n]];
        groups
            .entry((level[n.index()], kind_rank(step)))
            .or_default()
            .push(n);
    }
    let mut pool: Vec<Option<Step>> = all_steps.into_iter().map(Some).collect();
    let mut stage_of = vec![0usize; g.node_count()];
    let mut stages = Vec::new();
    for (position, (_, mut nodes)) in groups.into_iter().enumerate() {
        nodes.sort_by_key(|n| g[*n]);
        let index = position + 1;
        for n in &nodes {
            stage_of[n.index()] = index;
        }
        let steps: Vec<Step> = nodes.iter().filter_map(|n| pool[g[*n]].take()).collect();
        let first = &steps[0];
        let name = match (steps.len(), first.release) {
            (1, _) => first.title.clone(),
            (_, Some(release)) => release.title().to_string(),
            (n, None) => format!("{} (+{} more)", first.title, n - 1),
        };
        let slug = match (steps.len(), first.release) {
            (1, _) | (_, None) => first.slug.clone(),
            (_, Some(Release::DualWrite)) => "deploy-dual-write".into(),
            (_, Some(Release::ReadNew)) => "deploy-read-new".into(),
            (_, Some(Release::NewVersion)) => "deploy-new-version".into(),
        };
        let dir = format!("{index:02}-{}", dir_slug(&slug));
        let is_sql = !matches!(first.kind, StepKind::Application | StepKind::Tool);
        let reversible =
            first.kind == StepKind::Application || steps.iter().all(|s| s.down.is_some());
        stages.push(Stage {
            index,
            up: is_sql.then(|| format!("{dir}/up.sql")),
            down: (is_sql && reversible).then(|| format!("{dir}/down.sql")),
            dir,
            name,
            // The latest phase present: a stage that contracts anything is a contract stage.
            phase: steps.iter().map(|s| s.phase).max().unwrap_or(Phase::Expand),
            kind: first.kind,
            transactional: first.transactional && first.kind == StepKind::Database,
            transactions: Vec::new(),
            reversible,
            depends_on: Vec::new(),
            estimate: None,
            steps,
        });
    }
    for n in g.node_indices() {
        let here = stage_of[n.index()];
        let deps: BTreeSet<usize> = g
            .neighbors_directed(n, Direction::Incoming)
            .map(|p| stage_of[p.index()])
            .filter(|&s| s != here)
            .collect();
        if let Some(stage) = stages.get_mut(here - 1) {
            for d in deps {
                if !stage.depends_on.contains(&d) {
                    stage.depends_on.push(d);
                }
            }
            stage.depends_on.sort_unstable();
        }
    }
    // A rollout moves forward through its phases: a deploy that comes after a contract stage is
    // part of the contract (the release that stops using what the next stage drops), so phases
    // never go back in run order.
    let mut phase = Phase::Expand;
    for stage in &mut stages {
        phase = phase.max(stage.phase);
        stage.phase = phase;
    }
    Ok(stages)
}

/// Cuts every transactional stage whose steps lock unrelated tables into one transaction per
/// group of steps that share a table (PostgreSQL: a stage of 60 independent changes otherwise
/// holds ACCESS EXCLUSIVE on all 60 tables until its one COMMIT, and the longer the list of locks
/// held, the likelier a deadlock with the app). Steps on one level of the graph never depend on
/// each other, so any cut keeps the plan's meaning. Steps that lock no existing table (a new
/// table, a type) run together in one transaction; a statement passed through as written, whose
/// locks safeshift does not know, runs in one of its own.
pub fn commit_per_table(stages: &mut [Stage]) {
    for stage in stages.iter_mut() {
        if !stage.transactional || stage.steps.len() < 2 {
            continue;
        }
        let groups = lock_groups(&stage.steps);
        if groups.len() > 1 {
            stage.transactional = false;
            stage.transactions = groups;
        }
    }
}

/// The steps' indexes grouped by the tables they lock (connected through shared tables), in the
/// order each group's first step comes.
fn lock_groups(steps: &[Step]) -> Vec<Vec<usize>> {
    let mut tables: BTreeMap<&str, usize> = BTreeMap::new();
    for lock in steps.iter().flat_map(|s| &s.locks) {
        let next = steps.len() + 1 + tables.len();
        tables.entry(lock.table.as_str()).or_insert(next);
    }
    // Node `steps.len()` gathers the steps that lock nothing.
    let lockless = steps.len();
    let mut sets = petgraph::unionfind::UnionFind::<usize>::new(steps.len() + 1 + tables.len());
    for (i, step) in steps.iter().enumerate() {
        if step.locks.is_empty() {
            if step.rule != crate::ops::other::RULE.id {
                sets.union(i, lockless);
            }
            continue;
        }
        for lock in &step.locks {
            if let Some(&t) = tables.get(lock.table.as_str()) {
                sets.union(i, t);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_root: std::collections::HashMap<usize, usize> = Default::default();
    for i in 0..steps.len() {
        let k = *group_of_root.entry(sets.find(i)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[k].push(i);
    }
    groups
}

/// File-name-safe, lower-case, at most 48 bytes.
fn dir_slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        "stage".into()
    } else {
        slug
    }
}

/// The plan: stages in run order plus what a reviewer needs to trust it.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Version of this file format.
    pub version: u32,
    pub generator: String,
    pub dialect: &'static str,
    pub server_version: String,
    pub source: String,
    pub schema: Option<String>,
    /// The schema file's text, kept in the plan directory as `schema.sql` so `rehearse` loads
    /// exactly what the plan was made against.
    #[serde(skip)]
    pub schema_sql: Option<String>,
    pub dual_write: crate::ops::DualWrite,
    pub changes: Vec<ChangeInfo>,
    pub stages: Vec<Stage>,
    pub assumptions: Vec<String>,
    pub warnings: Vec<String>,
    /// MySQL: the SET statements the change file opens with; a stage that runs statements of the
    /// file as written runs them first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub session: Vec<String>,
}

/// One change of the input, as safeshift understood and assessed it.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeInfo {
    pub index: usize,
    pub kind: &'static str,
    pub line: u64,
    pub column: u64,
    pub sql: String,
    /// Lines of later statements of the file that are part of this change (`UPDATE … SET c` and
    /// `SET NOT NULL` after an `ADD COLUMN c`: one intent, planned as one change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub folded_lines: Vec<u64>,
    #[serde(flatten)]
    pub assessment: crate::ops::Assessment,
}
