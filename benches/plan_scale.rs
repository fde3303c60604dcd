//! Planning time at scale, against a baseline measured in the same run (not a test).
//!
//! For each change size N it times, best of up to 3 runs each:
//!   baseline     `sqlparser::parser::Parser::parse_sql` of the change file alone
//!   schema       `safeshift::schema::Catalog::from_sql` of the schema file (part of every plan)
//!   split+parse  `safeshift::parse::parse` of the change file (safeshift's own statement splitter)
//!   plan         `safeshift::plan()` (schema load, parse, lower, ops, step graph, stages)
//!   render       `safeshift::render::plan_files()` of that plan (every file, in memory);
//!                reported as plan+render (best plan() + best render)
//! and prints them with the ratio plan/baseline and µs per statement. A run longer than
//! `SLOW_RUN` is not repeated, so a superlinear size cannot hold the benchmark for hours.
//!
//! Inputs come from `scripts/gen-bench-input`:
//!   cargo bench --bench plan_scale -- [--input DIR] [--tsv FILE] [N ...]
//! Without `--input` it generates them into `target/bench-input` (python3 needed). Default N:
//! 1000 10000 100000.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

const RUNS: usize = 3;
const SLOW_RUN: Duration = Duration::from_secs(15);

/// Best (shortest) time of up to `RUNS` runs of `f`, how many runs that took, and the last
/// result. Results are dropped outside the timed region.
fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, usize, T) {
    let mut best = Duration::MAX;
    let mut runs = 0;
    loop {
        let start = Instant::now();
        let out = f();
        let took = start.elapsed();
        runs += 1;
        best = best.min(took);
        if runs == RUNS || took > SLOW_RUN {
            return (best, runs, out);
        }
        drop(out);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Args {
    input: Option<PathBuf>,
    tsv: Option<PathBuf>,
    sizes: Vec<usize>,
}

fn args() -> Args {
    let mut args = Args {
        input: None,
        tsv: None,
        sizes: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--input" => args.input = it.next().map(PathBuf::from),
            "--tsv" => args.tsv = it.next().map(PathBuf::from),
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            n => match n.parse() {
                Ok(n) => args.sizes.push(n),
                Err(_) => {
                    panic!("unexpected argument `{n}` (expected --input DIR, --tsv FILE or a size)")
                }
            },
        }
    }
    if args.sizes.is_empty() {
        args.sizes = vec![1_000, 10_000, 100_000];
    }
    args
}

/// Generates the inputs with the repository's script unless they are already there.
fn ensure_inputs(dir: &Path, sizes: &[usize]) {
    let missing = !dir.join("schema.sql").exists()
        || sizes
            .iter()
            .any(|n| !dir.join(format!("change-{n}.sql")).exists());
    if !missing {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-bench-input");
    eprintln!("generating inputs: {} {}", script.display(), dir.display());
    let status = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .args(sizes.iter().map(|n| n.to_string()))
        .status()
        .expect("python3 scripts/gen-bench-input");
    assert!(status.success(), "scripts/gen-bench-input failed");
}

struct Row {
    n: usize,
    baseline: Duration,
    split: Duration,
    plan: Duration,
    plan_render: Duration,
    stages: usize,
    files: usize,
    runs: usize,
}

fn main() {
    let args = args();
    let dir = args
        .input
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-input"));
    ensure_inputs(&dir, &args.sizes);
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
    };
    let schema = read("schema.sql");

    let (schema_time, _, _) = best_of(|| safeshift::schema::Catalog::from_sql(&schema).unwrap());
    let (schema_parse, _, _) =
        best_of(|| Parser::parse_sql(&PostgreSqlDialect {}, &schema).map(|s| s.len()));
    println!(
        "schema.sql: {} bytes; sqlparser parse_sql {:.1} ms, Catalog::from_sql {:.1} ms (inside every plan)",
        schema.len(),
        ms(schema_parse),
        ms(schema_time)
    );

    let mut rows = Vec::new();
    for &n in &args.sizes {
        let change = read(&format!("change-{n}.sql"));
        let input = safeshift::PlanInput {
            change_name: "change.sql",
            change_sql: &change,
            schema: Some(("schema.sql", &schema)),
            dialect: safeshift::dialect::Dialect::default(),
            options: safeshift::ops::Options::default(),
        };
        let (baseline, _, _) = best_of(|| {
            Parser::parse_sql(&PostgreSqlDialect {}, &change)
                .unwrap_or_else(|e| panic!("change-{n}.sql: {e}"))
        });
        let (split, _, _) = best_of(|| safeshift::parse::parse(&change).unwrap());
        // Fails (and shows why) if the generated change does not plan.
        let (plan_time, runs, plan) =
            best_of(|| safeshift::plan(&input).unwrap_or_else(|e| panic!("change-{n}.sql: {e}")));
        let (render, _, files) = best_of(|| safeshift::render::plan_files(&plan).unwrap());
        let (stages, files) = (plan.stages.len(), files.len());
        drop(plan);
        let row = Row {
            n,
            baseline,
            split,
            plan: plan_time,
            plan_render: plan_time + render,
            stages,
            files,
            runs,
        };
        println!(
            "N={n}: baseline {:.1} ms, split+parse {:.1} ms, plan {:.1} ms ({} run(s)), plan+render {:.1} ms, {stages} stages, {files} files",
            ms(row.baseline),
            ms(row.split),
            ms(row.plan),
            row.runs,
            ms(row.plan_render)
        );
        rows.push(row);
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n{:>7} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "N",
        "baseline",
        "split+parse",
        "plan()",
        "plan+rend",
        "plan/",
        "p+r/",
        "plan",
        "p+r",
        "marginal",
        "stages",
        "files"
    );
    let _ = writeln!(
        table,
        "{:>7} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "", "ms", "ms", "ms", "ms", "base", "base", "µs/stmt", "µs/stmt", "µs/stmt", "", ""
    );
    for r in &rows {
        let base = r.baseline.as_secs_f64();
        let _ = writeln!(
            table,
            "{:>7} {:>11.1} {:>11.1} {:>11.1} {:>11.1} {:>7.1} {:>7.1} {:>9.1} {:>9.1} {:>9.1} {:>7} {:>6}",
            r.n,
            ms(r.baseline),
            ms(r.split),
            ms(r.plan),
            ms(r.plan_render),
            r.plan.as_secs_f64() / base,
            r.plan_render.as_secs_f64() / base,
            r.plan.as_secs_f64() * 1e6 / r.n as f64,
            r.plan_render.as_secs_f64() * 1e6 / r.n as f64,
            r.plan.saturating_sub(schema_time).as_secs_f64() * 1e6 / r.n as f64,
            r.stages,
            r.files
        );
    }
    // Linearity: each size against the previous one (10× more statements should take ~10×).
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let _ = writeln!(
            table,
            "growth {}→{} ({:.0}× statements): baseline {:.1}×, plan() {:.1}×, plan+render {:.1}×",
            a.n,
            b.n,
            b.n as f64 / a.n as f64,
            b.baseline.as_secs_f64() / a.baseline.as_secs_f64(),
            b.plan.as_secs_f64() / a.plan.as_secs_f64(),
            b.plan_render.as_secs_f64() / a.plan_render.as_secs_f64()
        );
    }
    let _ = writeln!(
        table,
        "marginal: (plan() − Catalog::from_sql of the schema) per statement, the cost that should stay flat"
    );
    print!("{table}");

    if let Some(path) = &args.tsv {
        let mut tsv = String::from(
            "n\tbaseline_ms\tsplit_ms\tplan_ms\tplan_render_ms\tschema_load_ms\tstages\tfiles\n",
        );
        for r in &rows {
            let _ = writeln!(
                tsv,
                "{}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{}\t{}",
                r.n,
                ms(r.baseline),
                ms(r.split),
                ms(r.plan),
                ms(r.plan_render),
                ms(schema_time),
                r.stages,
                r.files
            );
        }
        std::fs::write(path, tsv).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
