//! How long each stage should take, from row counts: a backfill is batches × the time of one
//! batch, an index build or a validation is a scan at a typical rate. Brief catalog changes and
//! deploys get no estimate. Every figure says what it rests on, and which parts are assumptions,
//! because a reviewer must be able to tell a measurement from a guess.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Estimate, Stage};

/// A stage longer than this is flagged: someone should watch it, or schedule it.
pub const LONG_STAGE: Duration = Duration::from_secs(10 * 60);

/// Assumed when nothing was measured: an UPDATE batch on a table with a few indexes, on
/// ordinary SSD storage, without a pause between batches.
const BACKFILL_ROWS_PER_SEC: f64 = 50_000.0;
/// `CREATE INDEX CONCURRENTLY` scans the table twice and sorts; validation is one plain scan.
const INDEX_BUILD_ROWS_PER_SEC: f64 = 300_000.0;
const VALIDATE_ROWS_PER_SEC: f64 = 1_000_000.0;

/// Row counts and measured timings the estimates can use.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    /// Rows per table, by the name the plan uses (`users` or `app.users`), with where the figure
    /// came from (`--rows`, `the live catalog`).
    pub rows: BTreeMap<String, (u64, &'static str)>,
    /// A measured time for one backfill batch (`--batch-time`).
    pub batch_time: Option<Duration>,
}

impl Sizes {
    fn rows_of(&self, table: &str) -> Option<(u64, &'static str)> {
        let plain = table.trim_matches('"');
        self.rows
            .get(plain)
            .or_else(|| {
                plain
                    .strip_prefix("public.")
                    .and_then(|name| self.rows.get(name))
            })
            .or_else(|| self.rows.get(&format!("public.{plain}")))
            .copied()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn human(seconds: f64) -> String {
    let secs = seconds.round().max(1.0) as u64;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// The stage's estimate, or `None` when it is brief (or a deploy).
pub fn estimate(stage: &Stage, sizes: &Sizes) -> Option<Estimate> {
    let mut seconds = 0.0;
    let mut basis = Vec::new();
    let mut unknown = Vec::new();
    let mut any = false;
    for step in &stage.steps {
        if let Some(spec) = &step.backfill {
            any = true;
            let table = step
                .locks
                .first()
                .map(|l| l.table.clone())
                .unwrap_or_else(|| spec.table.clone());
            let Some((rows, source)) = sizes.rows_of(&table) else {
                unknown.push(table);
                continue;
            };
            let batches = rows.div_ceil(spec.batch_size.max(1));
            let (per_batch, how) = match sizes.batch_time {
                Some(t) => (t.as_secs_f64(), "measured".to_string()),
                None => (
                    spec.batch_size as f64 / BACKFILL_ROWS_PER_SEC,
                    format!("assumed ({} rows/s)", BACKFILL_ROWS_PER_SEC as u64),
                ),
            };
            seconds += batches as f64 * per_batch;
            basis.push(format!(
                "{table}: {rows} rows ({source}) = {batches} batches of {} × {:.2}s per batch, {how}",
                spec.batch_size, per_batch
            ));
            continue;
        }
        for lock in &step.locks {
            let rate = if lock.held.contains("build") {
                Some((INDEX_BUILD_ROWS_PER_SEC, "index build"))
            } else if lock.held.contains("validat") {
                Some((VALIDATE_ROWS_PER_SEC, "validation scan"))
            } else {
                None
            };
            let Some((per_sec, what)) = rate else {
                continue;
            };
            any = true;
            let Some((rows, source)) = sizes.rows_of(&lock.table) else {
                unknown.push(lock.table.clone());
                continue;
            };
            seconds += rows as f64 / per_sec;
            basis.push(format!(
                "{}: {rows} rows ({source}) at an assumed {} rows/s ({what})",
                lock.table, per_sec as u64
            ));
        }
    }
    if !any {
        return None;
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        basis.push(format!(
            "size unknown for {}: pass --rows TABLE=N (or --database-url) for a figure",
            unknown.join(", ")
        ));
        if basis.len() == 1 {
            return Some(Estimate {
                seconds: None,
                long: false,
                basis: basis.join("; "),
            });
        }
    }
    Some(Estimate {
        seconds: Some(seconds),
        long: seconds >= LONG_STAGE.as_secs_f64(),
        basis: basis.join("; "),
    })
}

impl Estimate {
    /// `~12m 30s`, `unknown`, with `LONG` when it should be watched.
    pub fn short(&self) -> String {
        let Some(seconds) = self.seconds else {
            return "size unknown".into();
        };
        let mut text = format!("~{}", human(seconds));
        if self.long {
            text.push_str(" LONG");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::LockMode;
    use crate::plan::{BackfillSpec, Phase, Step, StepKind};

    fn stage(steps: Vec<Step>) -> Stage {
        Stage {
            index: 1,
            name: "s".into(),
            dir: "01-s".into(),
            phase: Phase::Migrate,
            kind: StepKind::Backfill,
            up: None,
            down: None,
            transactional: false,
            transactions: Vec::new(),
            reversible: true,
            depends_on: vec![],
            steps,
            estimate: None,
        }
    }

    fn backfill(batch_size: u64) -> Step {
        let mut step = Step::backfill("b", "b").lock("users", LockMode::RowExclusive, "per batch");
        step.backfill = Some(BackfillSpec {
            table: "users".into(),
            key: "id".into(),
            key_columns: Vec::new(),
            column: "c".into(),
            value: "1".into(),
            pending: "c IS NULL".into(),
            batch_size,
        });
        step
    }

    #[test]
    fn backfills_are_batches_times_batch_time() {
        let mut sizes = Sizes::default();
        sizes.rows.insert("users".into(), (2_000_000, "--rows"));
        let e = estimate(&stage(vec![backfill(10_000)]), &sizes).unwrap();
        // 200 batches × 0.2 s (assumed 50k rows/s)
        assert!((e.seconds.unwrap() - 40.0).abs() < 1e-9, "{e:?}");
        assert!(
            e.basis.contains("assumed") && e.basis.contains("--rows"),
            "{}",
            e.basis
        );
        sizes.batch_time = Some(Duration::from_secs(4));
        let e = estimate(&stage(vec![backfill(10_000)]), &sizes).unwrap();
        assert_eq!(e.seconds, Some(800.0));
        assert!(e.long && e.basis.contains("measured"));
        assert_eq!(e.short(), "~13m 20s LONG");
    }

    #[test]
    fn unknown_sizes_are_said_and_brief_stages_have_none() {
        let e = estimate(&stage(vec![backfill(100)]), &Sizes::default()).unwrap();
        assert_eq!(e.seconds, None);
        assert_eq!(e.short(), "size unknown");
        assert!(e.basis.contains("--rows TABLE=N"));
        let brief = Step::database(Phase::Expand, "a", "a").lock(
            "users",
            LockMode::AccessExclusive,
            "brief",
        );
        assert_eq!(estimate(&stage(vec![brief]), &Sizes::default()), None);
    }

    #[test]
    fn index_builds_scale_with_rows() {
        let mut sizes = Sizes::default();
        sizes
            .rows
            .insert("public.users".into(), (3_000_000, "the live catalog"));
        let build = Step::database(Phase::Expand, "i", "i").lock(
            "users",
            LockMode::ShareUpdateExclusive,
            "while it builds",
        );
        let e = estimate(&stage(vec![build]), &sizes).unwrap();
        assert!((e.seconds.unwrap() - 10.0).abs() < 1e-9, "{e:?}");
    }
}
