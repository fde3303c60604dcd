//! Engine facts and SQL spelling. Ops ask the dialect instead of hard-coding versions or quoting.

pub mod postgres;

pub use postgres::{LockMode, Postgres};
