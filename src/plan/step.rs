//! Step: one action of a plan, produced by an op's `expand` as plain data (no I/O).

use serde::Serialize;

use crate::dialect::LockMode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Expand,
    Migrate,
    Contract,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Migrate => "migrate",
            Phase::Contract => "contract",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// DDL, run by psql; transactional or not (see `Step::transactional`).
    Database,
    /// A batched data change: many short transactions, resumable.
    Backfill,
    /// A check that must hold before going on.
    Verify,
    /// A code deploy a person performs.
    Application,
    /// MySQL/MariaDB: a person runs an online schema change tool (gh-ost, pt-osc); the checklist
    /// holds the command line.
    Tool,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Database => "database",
            StepKind::Backfill => "backfill",
            StepKind::Verify => "verify",
            StepKind::Application => "application",
            StepKind::Tool => "tool",
        }
    }
}

/// Application deploys are merged across changes: every application step of the same release goes
/// into one deploy stage, so a plan with many changes still needs as few deploys as possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Release {
    /// `--dual-write app`: code that writes both the old and the new shape.
    DualWrite,
    /// `--dual-write app`: code that reads the new shape (and still writes both).
    ReadNew,
    /// The new application version: uses only the new shape.
    NewVersion,
}

impl Release {
    pub fn title(self) -> &'static str {
        match self {
            Release::DualWrite => "deploy code that writes both old and new",
            Release::ReadNew => "deploy code that reads the new shape",
            Release::NewVersion => "deploy the new application version",
        }
    }
}

/// One SQL statement with the reason it is there, shown to reviewers as a comment above it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sql {
    pub text: String,
    pub why: Option<String>,
}

/// A query a person (or `rehearse`) runs, with the answer that means "go on".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub what: String,
    pub query: String,
    pub expect: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lock {
    pub table: String,
    pub mode: LockMode,
    /// "brief" for catalog-only changes, "while it scans" for validations and index builds.
    pub held: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Stable, file-name-safe identifier (`add-column-users-email_lower`).
    pub slug: String,
    pub title: String,
    pub phase: Phase,
    pub kind: StepKind,
    /// Whether all of `up` may run in one transaction. `CONCURRENTLY`, `VALIDATE` after `NOT VALID`,
    /// and batched backfills must not.
    pub transactional: bool,
    /// The SQL lives in the stage's `up.sql` / `down.sql`; plan.json points there instead of
    /// repeating it (a large plan would otherwise carry every statement twice).
    #[serde(skip)]
    pub up: Vec<Sql>,
    /// `None` when the step cannot be undone (it destroys data): the point of no return.
    #[serde(skip)]
    pub down: Option<Vec<Sql>>,
    pub locks: Vec<Lock>,
    pub before: Vec<Check>,
    pub verify: Vec<Check>,
    /// For application steps: what the code must do.
    pub app: Vec<String>,
    /// For tool steps: the command line a person runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub release: Option<Release>,
    pub notes: Vec<String>,
    /// The rule id of the change this step comes from (filled by the planner).
    pub rule: &'static str,
    /// Index of the change this step comes from (filled by the planner).
    pub change: usize,
    /// Steps of the same expansion that must finish first (indexes into the expansion's steps).
    #[serde(skip)]
    pub after: Vec<usize>,
    /// For backfill steps: the walk in a form `safeshift apply` can run batch by batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillSpec>,
}

/// [`BackfillSpec::key`] of a walk by heap blocks (`ctid` ranges) for a table without a key.
pub const BLOCK_WALK: &str = "ctid";

/// A backfill as data: the same walk as the stage's `DO` block, which `safeshift apply` runs itself
/// so it can show progress, pause between batches, and resume where it stopped. Every field is SQL
/// text already quoted where it names something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BackfillSpec {
    /// The table, qualified and quoted as in the SQL files.
    pub table: String,
    /// The column the walk follows (the first primary-key column), quoted; or [`BLOCK_WALK`]
    /// for a table without a primary key, walked by heap blocks.
    pub key: String,
    /// A key of several columns, each quoted, in key order; then `key` is their row value
    /// (`("tenant_id", "id")`) and batch ends are JSON arrays of the columns' text. Empty for a
    /// one-column key or a walk by blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_columns: Vec<String>,
    /// The column being filled, quoted.
    pub column: String,
    /// The value, an SQL expression over the row's columns.
    pub value: String,
    /// True for rows still to fill: rows already done are skipped, so a re-run is cheap.
    pub pending: String,
    pub batch_size: u64,
}

impl Step {
    fn new(
        kind: StepKind,
        phase: Phase,
        slug: impl Into<String>,
        title: impl Into<String>,
    ) -> Step {
        Step {
            slug: slug.into(),
            title: title.into(),
            phase,
            kind,
            transactional: kind == StepKind::Database,
            up: Vec::new(),
            down: Some(Vec::new()),
            locks: Vec::new(),
            before: Vec::new(),
            verify: Vec::new(),
            app: Vec::new(),
            command: None,
            release: None,
            notes: Vec::new(),
            rule: "",
            change: 0,
            after: Vec::new(),
            backfill: None,
        }
    }

    pub fn database(phase: Phase, slug: impl Into<String>, title: impl Into<String>) -> Step {
        Step::new(StepKind::Database, phase, slug, title)
    }

    pub fn backfill(slug: impl Into<String>, title: impl Into<String>) -> Step {
        let mut step = Step::new(StepKind::Backfill, Phase::Migrate, slug, title);
        step.transactional = false;
        step
    }

    pub fn application(
        release: Release,
        phase: Phase,
        slug: impl Into<String>,
        title: impl Into<String>,
    ) -> Step {
        let mut step = Step::new(StepKind::Application, phase, slug, title);
        step.transactional = false;
        step.release = Some(release);
        step.down = None;
        step
    }

    /// A run of an online schema change tool (`app` holds the command and what to watch).
    pub fn tool(
        tool: crate::ops::OnlineTool,
        phase: Phase,
        slug: impl Into<String>,
        title: impl Into<String>,
    ) -> Step {
        let mut step = Step::new(StepKind::Tool, phase, slug, title);
        step.transactional = false;
        step.down = None;
        step.notes.push(format!(
            "Point of no return: {} swaps the copied table in; undoing it means running the tool again with the reverse change.",
            match tool {
                crate::ops::OnlineTool::GhOst => "gh-ost",
                crate::ops::OnlineTool::PtOsc => "pt-online-schema-change",
            }
        ));
        step
    }

    pub fn non_transactional(mut self) -> Step {
        self.transactional = false;
        self
    }

    pub fn sql(mut self, text: impl Into<String>, why: impl Into<String>) -> Step {
        let why: String = why.into();
        self.up.push(Sql {
            text: text.into(),
            why: (!why.is_empty()).then_some(why),
        });
        self
    }

    pub fn down_sql(mut self, text: impl Into<String>, why: impl Into<String>) -> Step {
        let why: String = why.into();
        if let Some(down) = self.down.as_mut() {
            down.push(Sql {
                text: text.into(),
                why: (!why.is_empty()).then_some(why),
            });
        }
        self
    }

    /// Marks the step as one that cannot be undone.
    /// An `IF NOT EXISTS` statement on an object that is already there: it changes nothing, so its
    /// undo must not drop what existed before the stage.
    pub fn nothing_to_undo(mut self, why: impl Into<String>) -> Step {
        self.down = Some(Vec::new());
        self.notes.push(why.into());
        self
    }

    pub fn irreversible(mut self, why: impl Into<String>) -> Step {
        self.down = None;
        self.notes
            .push(format!("Point of no return: {}", why.into()));
        self
    }

    pub fn lock(mut self, table: impl Into<String>, mode: LockMode, held: &'static str) -> Step {
        self.locks.push(Lock {
            table: table.into(),
            mode,
            held,
        });
        self
    }

    pub fn before(
        mut self,
        what: impl Into<String>,
        query: impl Into<String>,
        expect: impl Into<String>,
    ) -> Step {
        self.before.push(Check {
            what: what.into(),
            query: query.into(),
            expect: expect.into(),
        });
        self
    }

    pub fn verify(
        mut self,
        what: impl Into<String>,
        query: impl Into<String>,
        expect: impl Into<String>,
    ) -> Step {
        self.verify.push(Check {
            what: what.into(),
            query: query.into(),
            expect: expect.into(),
        });
        self
    }

    pub fn app(mut self, instruction: impl Into<String>) -> Step {
        self.app.push(instruction.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Step {
        self.notes.push(note.into());
        self
    }

    pub fn after(mut self, steps: &[usize]) -> Step {
        self.after.extend_from_slice(steps);
        self
    }
}

/// What an op's `expand` returns: its steps, and which of them makes the change's new shape exist,
/// so a later change on the same table can start right after it instead of after the whole chain.
#[derive(Clone, Debug)]
pub struct Expansion {
    pub steps: Vec<Step>,
    pub anchor: usize,
}

impl Expansion {
    /// A change done in one step.
    pub fn single(step: Step) -> Expansion {
        Expansion {
            steps: vec![step],
            anchor: 0,
        }
    }
}
