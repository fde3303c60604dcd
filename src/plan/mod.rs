//! From changes to a staged plan: steps (`step`), the dependency graph (`graph`), stages (`stage`).

pub mod estimate;
pub mod graph;
pub mod stage;
pub mod step;

pub use stage::{Estimate, Plan, Stage};
pub use step::{
    BLOCK_WALK, BackfillSpec, Check, Expansion, Lock, Phase, Release, Sql, Step, StepKind,
};
