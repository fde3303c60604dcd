//! UPDATE, DELETE and INSERT … SELECT planned as batched stages, on a real PostgreSQL: every
//! stage runs with `psql` (and through `safeshift apply`), the end data equals the naive
//! statement's on an identical copy, and a run stopped half way (a batch that waits past the
//! lock timeout, a batch that fails, Ctrl-C of `apply`) resumes without applying any batch twice,
//! `SET n = n + 1` included.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use safeshift::ops::Options;
use support::ScratchDb;

/// A table's rows as one hash, in key order: two tables hold the same data when it is equal.
fn data_hash(db: &ScratchDb, table: &str, order: &str) -> String {
    db.first_value(&format!(
        "SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY {order})), 'empty') FROM {table} t"
    ))
    .unwrap_or_default()
}

fn plan(schema: &str, change: &str, batch_size: u64) -> safeshift::Plan {
    safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect: support::server_dialect().into(),
        options: Options {
            batch_size,
            ..Options::default()
        },
    })
    .unwrap_or_else(|e| panic!("planning failed: {e}"))
}

struct Case {
    name: &'static str,
    schema: &'static str,
    seed: &'static str,
    change: &'static str,
    /// (table, ORDER BY) pairs whose data must equal the naive change's.
    compare: &'static [(&'static str, &'static str)],
    /// What to run on the copy when the change as written cannot run there (an added NOT NULL
    /// column that a directive fills): what a person would run instead.
    expected: Option<&'static str>,
}

/// Plans `case`, applies every stage with psql through the shared walk (downs, verifies), and
/// compares schema and data with the naive change run on an identical copy. Returns the
/// database and the plan at the end state.
fn run(case: &Case) -> Option<(ScratchDb, safeshift::Plan)> {
    let db = ScratchDb::create(case.name)?;
    let naive = ScratchDb::create(&format!("{}_naive", case.name))?;
    let plan = plan(case.schema, case.change, 1000);
    let dir = support::stages::write_plan(&plan);
    for d in [&db, &naive] {
        d.execute(case.schema);
        d.execute(case.seed);
    }
    let naive_file = dir.path().join("naive.sql");
    fs::write(&naive_file, case.expected.unwrap_or(case.change)).unwrap();
    naive
        .psql_file(&naive_file)
        .unwrap_or_else(|e| panic!("{}: the naive change fails:\n{e}", case.name));
    support::stages::apply_stages(case.name, &db, &plan, dir.path(), &[], &[]);
    let (expected, actual) = (naive.catalog(), db.catalog());
    assert!(
        expected == actual,
        "{}: schema differs from the naive change:\n{}",
        case.name,
        ScratchDb::catalog_diff(&expected, &actual)
    );
    assert!(
        !actual.contains("safeshift_"),
        "{}: helper objects left behind:\n{actual}",
        case.name
    );
    for (table, order) in case.compare {
        assert_eq!(
            data_hash(&db, table, order),
            data_hash(&naive, table, order),
            "{}: the data of {table} differs from the naive change's",
            case.name
        );
    }
    Some((db, plan))
}

/// The stage of `plan` that holds the batched walk; it is the only one, and a point of no return.
fn batched_stage(plan: &safeshift::Plan) -> &safeshift::plan::stage::Stage {
    let stage = plan
        .stages
        .iter()
        .find(|s| s.kind == safeshift::plan::StepKind::Backfill)
        .unwrap_or_else(|| {
            panic!(
                "no batched stage:\n{}",
                safeshift::render::summary(plan, None)
            )
        });
    assert!(stage.down.is_none() && !stage.reversible);
    assert!(
        stage
            .steps
            .iter()
            .all(|s| s.rule == "unbatched-data-change"),
        "{:?}",
        stage.steps.iter().map(|s| s.rule).collect::<Vec<_>>()
    );
    stage
}

const ORDERS: &str = "CREATE TABLE public.orders (
    id bigint NOT NULL,
    coupon text,
    amount integer NOT NULL
);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);";

#[test]
fn an_update_runs_in_batches_and_ends_with_the_naive_data() {
    let case = Case {
        name: "dc_update",
        schema: ORDERS,
        seed: "INSERT INTO orders SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'Save' || g END, g FROM generate_series(1, 5000) g;",
        change: "UPDATE orders SET coupon = upper(coupon) WHERE coupon IS NOT NULL;",
        compare: &[("orders", "id")],
        expected: None,
    };
    let Some((db, plan)) = run(&case) else {
        return;
    };
    assert_eq!(
        plan.stages.len(),
        1,
        "{}",
        safeshift::render::summary(&plan, None)
    );
    batched_stage(&plan);
    assert_eq!(
        db.first_value("SELECT count(*) FROM orders WHERE coupon LIKE 'SAVE%'")
            .as_deref(),
        Some("3750")
    );
}

#[test]
fn a_delete_runs_in_batches_and_ends_with_the_naive_data() {
    let case = Case {
        name: "dc_delete",
        schema: "CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text
);
ALTER TABLE ONLY public.events ADD CONSTRAINT events_pkey PRIMARY KEY (id);",
        seed: "INSERT INTO events SELECT g, '2023-09-01+00'::timestamptz + g * interval '1 hour', 'k' || g % 7 FROM generate_series(1, 6000) g;",
        change: "DELETE FROM events WHERE at < '2024-01-01';",
        compare: &[("events", "id")],
        expected: None,
    };
    let Some((db, plan)) = run(&case) else {
        return;
    };
    batched_stage(&plan);
    assert_eq!(
        db.first_value("SELECT count(*) FROM events").as_deref(),
        Some("3073")
    );
}

#[test]
fn composite_and_uuid_keys_are_walked_in_key_order() {
    let case = Case {
        name: "dc_keys",
        schema: "CREATE TABLE public.memberships (
    tenant_id integer NOT NULL,
    id integer NOT NULL,
    n integer NOT NULL
);
ALTER TABLE ONLY public.memberships ADD CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, id);
CREATE TABLE public.tokens (
    id uuid NOT NULL,
    label text NOT NULL
);
ALTER TABLE ONLY public.tokens ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);",
        // Few tenants, many rows each: a walk of the first key column alone would put a whole
        // tenant in one batch. The uuids are the same in both copies, so the data compares.
        seed: "INSERT INTO memberships SELECT g % 3, g, g FROM generate_series(1, 4500) g;
INSERT INTO tokens SELECT md5('t' || g)::uuid, 'label ' || g FROM generate_series(1, 3500) g;",
        change: "UPDATE memberships SET n = n + 1 WHERE tenant_id <> 1;
UPDATE tokens SET label = upper(label);",
        compare: &[("memberships", "tenant_id, id"), ("tokens", "id")],
        expected: None,
    };
    let Some((_, plan)) = run(&case) else {
        return;
    };
    assert_eq!(batched_stage(&plan).steps.len(), 2);
}

#[test]
fn a_data_change_after_an_added_column_runs_after_the_column_is_there() {
    let case = Case {
        name: "dc_after_add",
        schema: ORDERS,
        seed: "INSERT INTO orders SELECT g, NULL, g FROM generate_series(1, 3000) g;",
        change: "ALTER TABLE orders ADD COLUMN note text;
UPDATE orders SET note = 'big ' || amount WHERE amount > 1000;",
        compare: &[("orders", "id")],
        expected: None,
    };
    let Some((_, plan)) = run(&case) else {
        return;
    };
    assert_eq!(
        plan.stages.len(),
        2,
        "{}",
        safeshift::render::summary(&plan, None)
    );
}

#[test]
fn a_data_change_after_a_backfilled_column_waits_for_its_backfill() {
    // Run before the backfill, the UPDATEs would see the column still NULL and the backfill
    // would then give those rows its own value.
    let case = Case {
        name: "dc_after_backfill",
        schema: ORDERS,
        seed: "INSERT INTO orders SELECT g, NULL, g FROM generate_series(1, 3000) g;",
        change: "-- safeshift: backfill = 'a' || id
ALTER TABLE orders ADD COLUMN c text NOT NULL;
UPDATE orders SET c = c || '!' WHERE id = 5;
UPDATE orders SET c = upper(c) WHERE amount > 2000;",
        compare: &[("orders", "id")],
        expected: Some(
            "ALTER TABLE orders ADD COLUMN c text;
UPDATE orders SET c = 'a' || id;
ALTER TABLE orders ALTER COLUMN c SET NOT NULL;
UPDATE orders SET c = c || '!' WHERE id = 5;
UPDATE orders SET c = upper(c) WHERE amount > 2000;",
        ),
    };
    let Some((db, _)) = run(&case) else {
        return;
    };
    assert_eq!(
        db.first_value("SELECT string_agg(c, ' ' ORDER BY id) FROM orders WHERE id IN (5, 2999)")
            .as_deref(),
        Some("a5! A2999")
    );
}

#[test]
fn a_data_change_after_a_rename_runs_once_the_new_name_is_the_column() {
    let case = Case {
        name: "dc_after_rename",
        schema: ORDERS,
        seed: "INSERT INTO orders SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'Save' || g END, g FROM generate_series(1, 3000) g;",
        change: "ALTER TABLE orders RENAME COLUMN coupon TO code;
UPDATE orders SET code = upper(code) WHERE code IS NOT NULL;",
        compare: &[("orders", "id")],
        expected: None,
    };
    let Some((_, plan)) = run(&case) else {
        return;
    };
    let last = plan.stages.last().unwrap();
    assert_eq!(
        last.steps[0].rule,
        "unbatched-data-change",
        "{}",
        safeshift::render::summary(&plan, None)
    );
}

const COUNTERS: &str = "CREATE TABLE public.counters (
    tenant_id integer NOT NULL,
    id integer NOT NULL,
    n integer NOT NULL
);
ALTER TABLE ONLY public.counters ADD CONSTRAINT counters_pkey PRIMARY KEY (tenant_id, id);";

const COUNTERS_SEED: &str =
    "INSERT INTO counters SELECT g / 1000, g, 0 FROM generate_series(1, 3000) g;";

/// Holds the row lock of one row until dropped: a batch that reaches it waits past the stage's
/// lock timeout and fails, after the batches before it committed.
struct RowLock(postgres::Client);

impl RowLock {
    fn take(db: &ScratchDb, sql: &str) -> RowLock {
        let mut client = db.client();
        client.batch_execute("BEGIN").unwrap();
        client.batch_execute(sql).unwrap();
        RowLock(client)
    }

    fn release(mut self) {
        self.0.batch_execute("ROLLBACK").unwrap();
    }
}

#[test]
fn a_non_idempotent_update_stopped_half_way_resumes_and_applies_each_row_once() {
    let Some(db) = ScratchDb::create("dc_counters") else {
        return;
    };
    db.execute(COUNTERS);
    db.execute(COUNTERS_SEED);
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 100);
    let dir = support::stages::write_plan(&plan);
    let stage = batched_stage(&plan);
    let up = dir.path().join(stage.up.as_deref().unwrap());
    fs::write(
        dir.path().join("fast.sql"),
        fs::read_to_string(&up)
            .unwrap()
            .replace("lock_timeout = '2s'", "lock_timeout = '300ms'"),
    )
    .unwrap();
    let fast = dir.path().join("fast.sql");

    // Row (1, 1500) is locked: the batches before it commit, the one that holds it fails.
    let lock = RowLock::take(
        &db,
        "SELECT * FROM counters WHERE tenant_id = 1 AND id = 1500 FOR UPDATE",
    );
    let failed = db
        .psql_file(&fast)
        .expect_err("the locked row must stop the walk");
    assert!(failed.contains("lock timeout"), "{failed}");
    let done = db
        .first_value("SELECT count(*) FROM counters WHERE n = 1")
        .unwrap();
    assert_eq!(
        db.first_value("SELECT count(*) FROM counters WHERE n > 1")
            .as_deref(),
        Some("0")
    );
    let done: i64 = done.parse().unwrap();
    assert!(
        done > 0 && done < 1500 && done % 100 == 0,
        "{done} rows done"
    );
    assert_eq!(
        done, 1400,
        "rows before (1, 1500) in key order, in whole batches"
    );
    // The composite key's last row done, as a JSON array of its columns.
    assert_eq!(
        db.first_value("SELECT last_key FROM safeshift_progress")
            .as_deref(),
        Some("[\"1\", \"1400\"]")
    );

    // Run again while still locked: it resumes after the recorded key and stops at the same row.
    assert!(db.psql_file(&fast).is_err());
    assert_eq!(
        db.first_value("SELECT count(*) FROM counters WHERE n = 1")
            .as_deref(),
        Some(done.to_string().as_str())
    );
    lock.release();
    db.psql_file(&up).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        db.first_value("SELECT count(*) FILTER (WHERE n = 1) || '/' || count(*) FROM counters")
            .as_deref(),
        Some("3000/3000"),
        "every row incremented exactly once"
    );
    assert_eq!(
        db.first_value("SELECT to_regclass('safeshift_progress') IS NULL")
            .as_deref(),
        Some("t"),
        "the progress table is gone at the end"
    );
}

#[test]
fn an_insert_select_that_failed_half_way_copies_each_row_once() {
    // The archive has no key, so a second copy of a row would not be refused: only the
    // progress keeps the count right. A trigger fails the batch that reaches row 2500.
    let schema = "CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text
);
ALTER TABLE ONLY public.events ADD CONSTRAINT events_pkey PRIMARY KEY (id);
CREATE TABLE public.archive (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text
);";
    let change =
        "INSERT INTO archive (id, at, kind) SELECT id, at, kind FROM events WHERE kind <> 'k0';";
    let Some(db) = ScratchDb::create("dc_insert") else {
        return;
    };
    let Some(naive) = ScratchDb::create("dc_insert_naive") else {
        return;
    };
    let seed = "INSERT INTO events SELECT g, '2023-09-01+00'::timestamptz + g * interval '1 hour', 'k' || g % 7 FROM generate_series(1, 4000) g;";
    for d in [&db, &naive] {
        d.execute(schema);
        d.execute(seed);
    }
    naive.execute(change);
    let plan = plan(schema, change, 500);
    let dir = support::stages::write_plan(&plan);
    let stage = batched_stage(&plan);
    assert_eq!(plan.stages.len(), 1);
    let up = dir.path().join(stage.up.as_deref().unwrap());
    db.execute(
        "CREATE TABLE stop_at (id bigint);
INSERT INTO stop_at VALUES (2500);
CREATE FUNCTION stop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM stop_at WHERE id = NEW.id) THEN
    RAISE EXCEPTION 'stopped at %', NEW.id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER stop BEFORE INSERT ON archive FOR EACH ROW EXECUTE FUNCTION stop();",
    );
    let failed = db
        .psql_file(&up)
        .expect_err("the trigger must stop the walk");
    assert!(failed.contains("stopped at 2500"), "{failed}");
    assert_eq!(
        db.first_value("SELECT max(id) FROM archive").as_deref(),
        Some("2000"),
        "the batches before the failing one are committed"
    );
    db.execute("DELETE FROM stop_at");
    db.psql_file(&up).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        db.first_value("SELECT count(*) - count(DISTINCT id) FROM archive")
            .as_deref(),
        Some("0"),
        "no row copied twice"
    );
    assert_eq!(
        data_hash(&db, "archive", "id"),
        data_hash(&naive, "archive", "id")
    );
    assert_eq!(
        db.first_value("SELECT to_regclass('safeshift_progress') IS NULL")
            .as_deref(),
        Some("t")
    );
}

fn apply(db: &ScratchDb, plan_dir: &Path, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("safeshift"))
        .env_remove("DATABASE_URL")
        .arg("apply")
        .arg(plan_dir)
        .args(["--stage", "1", "--database-url", &db.url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output(child: std::process::Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn apply_interrupted_in_a_data_change_resumes_without_applying_a_batch_twice() {
    let Some(db) = ScratchDb::create("dc_apply") else {
        return;
    };
    db.execute(COUNTERS);
    db.execute(COUNTERS_SEED);
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("plan");
    let plan = plan(COUNTERS, "UPDATE counters SET n = n + 1;", 100);
    for (path, text) in safeshift::render::plan_files(&plan).unwrap() {
        let full = plan_dir.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    // The batch that reaches the locked row waits, gives up at the lock timeout, and apply
    // retries the stage's walk, which resumes after the last batch done; Ctrl-C then stops it.
    let lock = RowLock::take(
        &db,
        "SELECT * FROM counters WHERE tenant_id = 2 AND id = 2050 FOR UPDATE",
    );
    let child = apply(
        &db,
        &plan_dir,
        &["--lock-timeout", "200ms", "--retries", "50"],
    );
    std::thread::sleep(Duration::from_millis(2500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (code, out) = output(child);
    assert_eq!(code, Some(130), "{out}");
    assert!(
        out.contains("retry"),
        "the walk was retried behind the lock: {out}"
    );
    assert_eq!(
        db.first_value("SELECT count(*) FILTER (WHERE n = 1) || '/' || count(*) FILTER (WHERE n > 1) FROM counters")
            .as_deref(),
        Some("2000/0"),
        "the batches before the locked row are done once, however often the walk was retried"
    );
    lock.release();
    let (code, out) = output(apply(&db, &plan_dir, &[]));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        db.first_value("SELECT count(*) FILTER (WHERE n = 1) || '/' || count(*) FROM counters")
            .as_deref(),
        Some("3000/3000"),
        "every row incremented exactly once"
    );
    assert_eq!(
        db.first_value("SELECT to_regclass('safeshift_progress') IS NULL")
            .as_deref(),
        Some("t")
    );
}
