//! The proof that plans do what they say, on a real PostgreSQL, for every kind of change:
//!
//! 1. plan the naive change against the schema (pure, no database);
//! 2. on a seeded scratch database, apply every stage's `up.sql` with the real `psql`;
//! 3. after each stage: run its `down.sql` and check the catalog is back to the stage before, then
//!    re-apply (stages are safe to re-run); run the checklist's verify queries; run the statements
//!    the old and the new application versions would run while they are live;
//! 4. at the end, compare the catalog with the naive change applied to an empty copy, and check
//!    that no safeshift helper object is left behind.

mod support;

use std::fs;

use safeshift::ops::{DualWrite, Options};
use support::ScratchDb;

struct Case {
    name: &'static str,
    schema: &'static str,
    seed: &'static str,
    change: &'static str,
    /// Statements of the application version that runs before the change (each must succeed
    /// whenever that version is live).
    old_app: &'static [&'static str],
    /// Statements of the version that expects the change.
    new_app: &'static [&'static str],
    dual_write: DualWrite,
    /// Expected number of stages: guards against over- and under-staging.
    stages: usize,
    /// The end state to compare with, when the change as written cannot run (PostgreSQL refuses
    /// to change the type of a column a view reads): what a person would run instead.
    expected: Option<&'static str>,
}

const USERS: &str = "CREATE TABLE public.users (
    id bigint NOT NULL,
    email text NOT NULL,
    name text,
    n integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE INDEX users_name_idx ON public.users USING btree (name);
";

const SEED: &str = "INSERT INTO users (id, email, name, n) SELECT g, 'User' || g || '@Example.com', CASE WHEN g % 3 = 0 THEN NULL ELSE 'name ' || g END, g FROM generate_series(1, 2500) g;";

fn case(name: &'static str, change: &'static str, stages: usize) -> Case {
    Case {
        name,
        schema: USERS,
        seed: SEED,
        change,
        old_app: &[],
        new_app: &[],
        dual_write: DualWrite::Trigger,
        stages,
        expected: None,
    }
}

/// Plans, runs and compares `case`; returns the database at the end state for data checks.
fn run(case: Case) -> Option<ScratchDb> {
    let db = ScratchDb::create(case.name)?;
    let naive = ScratchDb::create(&format!("{}_naive", case.name))?;

    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: case.change,
        schema: Some(("schema.sql", case.schema)),
        dialect: support::server_dialect().into(),
        options: Options {
            dual_write: case.dual_write,
            batch_size: 1000,
            ..Options::default()
        },
    };
    let plan =
        safeshift::plan(&input).unwrap_or_else(|e| panic!("{}: planning failed: {e}", case.name));
    assert_eq!(
        plan.stages.len(),
        case.stages,
        "{}: stages were\n{}",
        case.name,
        safeshift::render::summary(&plan, None)
    );
    let dir = support::stages::write_plan(&plan);

    if support::server_major() < 13 {
        // gen_random_uuid() is built in from 13; before, pgcrypto has it (extension objects stay
        // out of catalog snapshots).
        for db in [&db, &naive] {
            db.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto");
        }
    }
    naive.execute(case.schema);
    // As a user would run the naive file: psql, each statement in its own transaction.
    let naive_file = dir.path().join("naive.sql");
    fs::write(&naive_file, case.expected.unwrap_or(case.change)).unwrap();
    naive
        .psql_file(&naive_file)
        .unwrap_or_else(|e| panic!("{}: the naive change itself fails:\n{e}", case.name));
    let expected = naive.catalog();

    db.execute(case.schema);
    db.execute(case.seed);
    support::stages::apply_stages(
        case.name,
        &db,
        &plan,
        dir.path(),
        case.old_app,
        case.new_app,
    );
    let actual = db.catalog();
    assert!(
        actual == expected,
        "{}: final schema differs from the naive change:\n{}",
        case.name,
        ScratchDb::catalog_diff(&expected, &actual)
    );
    assert!(
        !actual.contains("safeshift_"),
        "{}: helper objects left behind:\n{actual}",
        case.name
    );
    let nulls = first_value(
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database()",
    );
    assert_eq!(nulls.as_deref(), Some("0"));
    Some(db)
}

/// Plans `change` against `schema` for the server the tests run on, with default options.
fn plan_for(change: &str, schema: &str) -> Result<safeshift::Plan, safeshift::Error> {
    safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", schema)),
        dialect: support::server_dialect().into(),
        options: Options::default(),
    })
}

fn first_value(db: &ScratchDb, sql: &str) -> Option<String> {
    db.first_value(sql)
}

#[test]
fn add_nullable_column_is_one_stage() {
    run(Case {
        old_app: &[
            "INSERT INTO users (id, email) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c')",
        ],
        new_app: &[
            "INSERT INTO users (id, email, nickname) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c', 'nick')",
        ],
        ..case(
            "add_nullable",
            "ALTER TABLE users ADD COLUMN nickname text;",
            1,
        )
    });
}

#[test]
fn add_column_with_constant_default_is_one_stage() {
    run(Case {
        old_app: &[
            "INSERT INTO users (id, email) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c')",
        ],
        new_app: &["SELECT count(*) FROM users WHERE active"],
        ..case(
            "add_default",
            "ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;",
            1,
        )
    });
}

const OLD_INSERT: &str = "INSERT INTO users (id, email) SELECT max(id) + 1, 'Old' || (max(id) + 1) || '@App.io' FROM users";

#[test]
fn add_required_column_with_trigger() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET email = 'Changed@App.io' WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'New@App.io', 'new@app.io')",
        ],
        ..case(
            "add_required_trigger",
            "-- safeshift: backfill = lower(email)\nALTER TABLE users ADD COLUMN email_lower text NOT NULL;",
            5,
        )
    });
}

const TOKENS: &str = "CREATE TABLE public.tokens (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    label text NOT NULL
);
ALTER TABLE ONLY public.tokens ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);
CREATE TABLE public.words (
    word text NOT NULL,
    n integer
);
ALTER TABLE ONLY public.words ADD CONSTRAINT words_pkey PRIMARY KEY (word);
";

const TOKENS_SEED: &str =
    "INSERT INTO tokens (label) SELECT 'label ' || g FROM generate_series(1, 2500) g;
INSERT INTO words SELECT 'w' || g, g FROM generate_series(1, 2500) g;";

/// Keys without max(): the backfill walks uuid and text primary keys in batches (1,000 rows,
/// 2,500 seeded), and every row ends with its value.
#[test]
fn backfill_walks_uuid_and_text_keys() {
    let Some(db) = run(Case {
        schema: TOKENS,
        seed: TOKENS_SEED,
        old_app: &["INSERT INTO tokens (label) VALUES ('old app')"],
        ..case(
            "backfill_uuid_text_keys",
            "-- safeshift: backfill = upper(label)\nALTER TABLE tokens ADD COLUMN code text NOT NULL;\n-- safeshift: backfill = length(word)\nALTER TABLE words ADD COLUMN len integer NOT NULL;",
            5,
        )
    }) else {
        return;
    };
    let wrong = |sql: &str| first_value(&db, sql);
    assert_eq!(
        wrong("SELECT count(*) FROM tokens WHERE code IS DISTINCT FROM upper(label)").as_deref(),
        Some("0")
    );
    assert_eq!(
        wrong("SELECT count(*) FROM tokens WHERE label LIKE 'label %'").as_deref(),
        Some("2500")
    );
    assert_eq!(
        wrong("SELECT count(*) FROM words WHERE len IS DISTINCT FROM length(word)").as_deref(),
        Some("0")
    );
}

const MEMBERSHIPS: &str = "CREATE TABLE public.memberships (
    tenant_id integer NOT NULL,
    id bigint NOT NULL,
    role text NOT NULL
);
ALTER TABLE ONLY public.memberships ADD CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, id);
";

/// A composite key walks by row value: three tenants of 900 rows each, batches of 1,000, so a
/// batch ends in the middle of a tenant and the next one must start right after it (a walk of
/// `tenant_id` alone would put a whole tenant in a batch, or skip the rest of one).
#[test]
fn backfill_walks_a_composite_key_by_row_value() {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "-- safeshift: backfill = upper(role)\nALTER TABLE memberships ADD COLUMN role_code text NOT NULL;",
        schema: Some(("schema.sql", MEMBERSHIPS)),
        dialect: safeshift::dialect::Dialect::default(),
        options: Options::default(),
    };
    let plan = safeshift::plan(&input).expect("plans");
    let backfill = plan
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .find_map(|s| s.backfill.clone())
        .expect("a backfill step");
    assert_eq!(backfill.key, "(tenant_id, id)");
    assert_eq!(backfill.key_columns, ["tenant_id", "id"]);
    let Some(db) = run(Case {
        schema: MEMBERSHIPS,
        seed: "INSERT INTO memberships SELECT t, g, 'role ' || g FROM generate_series(1, 3) t, generate_series(1, 900) g;",
        old_app: &[
            "INSERT INTO memberships (tenant_id, id, role) VALUES (2, (SELECT max(id) + 1 FROM memberships WHERE tenant_id = 2), 'old app')",
        ],
        ..case(
            "backfill_composite_key",
            "-- safeshift: backfill = upper(role)\nALTER TABLE memberships ADD COLUMN role_code text NOT NULL;",
            5,
        )
    }) else {
        return;
    };
    assert_eq!(
        first_value(
            &db,
            "SELECT count(*) FROM memberships WHERE role_code IS DISTINCT FROM upper(role)"
        )
        .as_deref(),
        Some("0")
    );
}

const SORTS: &str = "CREATE TYPE public.sort_type_enum AS ENUM ('Hot', 'New');
CREATE TABLE public.local_user (
    id integer NOT NULL,
    default_sort_type public.sort_type_enum DEFAULT 'Hot'::public.sort_type_enum NOT NULL,
    sorts public.sort_type_enum[]
);
ALTER TABLE ONLY public.local_user ADD CONSTRAINT local_user_pkey PRIMARY KEY (id);
";

/// lemmy's shape: a type renamed, then a column of it renamed in the same file. The stand-in
/// column, its default and the sync trigger's casts name the type by its new name, which the
/// first stage gives it; the down of that stage gives the old name back.
#[test]
fn a_type_renamed_before_a_column_of_it_is_renamed() {
    run(Case {
        schema: SORTS,
        seed: "INSERT INTO local_user (id, default_sort_type) SELECT g, CASE WHEN g % 2 = 0 THEN 'New'::sort_type_enum ELSE 'Hot' END FROM generate_series(1, 1500) g;",
        old_app: &["INSERT INTO local_user (id) VALUES ((SELECT max(id) + 1 FROM local_user))"],
        new_app: &[
            "INSERT INTO local_user (id, default_post_sort_type) VALUES ((SELECT max(id) + 1 FROM local_user), 'New')",
        ],
        ..case(
            "rename_type_then_column",
            "ALTER TYPE sort_type_enum RENAME TO post_sort_type_enum;\nALTER TABLE local_user RENAME COLUMN default_sort_type TO default_post_sort_type;",
            5,
        )
    });
}

const PEOPLE: &str = "CREATE TABLE public.person (
    id integer NOT NULL,
    preferred_username text,
    name text NOT NULL
);
ALTER TABLE ONLY public.person ADD CONSTRAINT person_pkey PRIMARY KEY (id);
CREATE VIEW public.person_alias_1 AS
 SELECT person.id, person.preferred_username, person.name FROM public.person;
CREATE VIEW public.person_alias_2 AS
 SELECT person.id, person.preferred_username, person.name FROM public.person;
";

/// lemmy's shape: a column renamed, and the views over the table dropped and made again in the
/// same file. Each DROP and CREATE is one replacement (the view is never missing: the old app
/// reads it at every stage), and the downs recreate the views as PostgreSQL rewrote them for
/// the rename.
#[test]
fn views_dropped_and_made_again_around_a_rename_are_replaced() {
    run(Case {
        schema: PEOPLE,
        seed: "INSERT INTO person SELECT g, 'u' || g, 'n' || g FROM generate_series(1, 1200) g;",
        old_app: &[
            "SELECT id, name FROM person_alias_1 WHERE id = 3",
            "SELECT count(*) FROM person_alias_2",
            "INSERT INTO person (id, preferred_username, name) VALUES ((SELECT max(id) + 1 FROM person), 'old', 'old')",
        ],
        new_app: &[
            "SELECT id, name FROM person_alias_1 WHERE id = 4",
            "INSERT INTO person (id, display_name, name) VALUES ((SELECT max(id) + 1 FROM person), 'new', 'new')",
        ],
        ..case(
            "replace_views_around_rename",
            "ALTER TABLE person RENAME preferred_username TO display_name;\nDROP VIEW person_alias_1, person_alias_2;\nCREATE VIEW person_alias_1 AS SELECT * FROM person;\nCREATE VIEW person_alias_2 AS SELECT * FROM person;",
            5,
        )
    });
}

const PEOPLE_VIEWS: &str = "CREATE TABLE public.person (
    id integer NOT NULL,
    name character varying(20) NOT NULL
);
ALTER TABLE ONLY public.person ADD CONSTRAINT person_pkey PRIMARY KEY (id);
CREATE VIEW public.person_view AS
 SELECT person.id, person.name FROM public.person;
CREATE VIEW public.person_names AS
 SELECT person_view.name FROM public.person_view;
";

/// Where the drop cannot move, a DROP VIEW … CREATE VIEW pair stays a drop and a create: another
/// view reads the view (its drop would fail while that one stands), or a change between the two
/// needs the view gone (a type change of a column it reads).
#[test]
fn views_that_cannot_be_replaced_in_place_keep_the_files_order() {
    run(Case {
        schema: PEOPLE_VIEWS,
        seed: "INSERT INTO person SELECT g, 'n' || g FROM generate_series(1, 500) g;",
        ..case(
            "views_keep_order",
            "DROP VIEW person_names;\nDROP VIEW person_view;\nALTER TABLE person ALTER COLUMN name TYPE varchar(40);\nCREATE VIEW person_view AS SELECT person.id, person.name, upper(person.name) AS shout FROM person;\nCREATE VIEW person_names AS SELECT person_view.name, person_view.shout FROM person_view;",
            7,
        )
    });
}

/// `IF NOT EXISTS` on a column and an index that are already there: nothing changes, and the
/// downs (checked by `run` to restore the catalog) must not drop them.
#[test]
fn if_not_exists_on_existing_objects_is_undone_by_nothing() {
    let Some(db) = run(case(
        "if_not_exists_existing",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS name text;\nCREATE INDEX IF NOT EXISTS users_name_idx ON users (name);",
        2,
    )) else {
        return;
    };
    assert_eq!(
        first_value(&db, "SELECT count(name) FROM users").as_deref(),
        Some("1667")
    );
}

#[test]
fn create_index_whose_name_exists_is_refused() {
    let error = plan_for("CREATE INDEX users_name_idx ON users (email);", USERS)
        .unwrap_err()
        .to_string();
    assert!(error.contains("users_name_idx already exists"), "{error}");
}

const EVENTS: &str = "CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text
) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
";

const EVENTS_SEED: &str = "INSERT INTO events SELECT g, '2024-06-01+00'::timestamptz + g * interval '1 hour', 'k' || (g % 7) FROM generate_series(1, 12000) g;";

/// PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table: the parent's index is
/// made ON ONLY, each partition's built concurrently under the name PostgreSQL gives it, then
/// attached. The end state (names included) is the naive build's; the downs restore the catalog.
#[test]
fn create_index_on_a_partitioned_table() {
    run(Case {
        schema: EVENTS,
        seed: EVENTS_SEED,
        old_app: &["INSERT INTO events SELECT max(id) + 1, '2025-03-01+00', 'old app' FROM events"],
        ..case(
            "partitioned_index",
            "CREATE INDEX events_kind_idx ON events (kind);\nCREATE UNIQUE INDEX ON events (id, at);\nCREATE INDEX ON events (lower(kind));",
            2,
        )
    });
}

const EVENTS_KEYED: &str = "CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    kind text NOT NULL,
    n integer
) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
ALTER TABLE ONLY public.events ADD CONSTRAINT events_pkey PRIMARY KEY (id, at);
ALTER TABLE ONLY public.events_2024 ADD CONSTRAINT events_2024_pkey PRIMARY KEY (id, at);
ALTER TABLE ONLY public.events_2025 ADD CONSTRAINT events_2025_pkey PRIMARY KEY (id, at);
ALTER INDEX public.events_pkey ATTACH PARTITION public.events_2024_pkey;
ALTER INDEX public.events_pkey ATTACH PARTITION public.events_2025_pkey;
";

/// Column changes on a partitioned table (a required column, a type change, a rename) keep the
/// new column filled by a row trigger on the parent, which PostgreSQL 13+ clones to every
/// partition. Before 13 a partitioned table takes no row trigger: refused, saying so.
#[test]
fn column_changes_on_a_partitioned_table() {
    let changes = [
        (
            "partitioned_required",
            "-- safeshift: backfill = upper(kind)\nALTER TABLE events ADD COLUMN kind_upper text NOT NULL;",
            5,
        ),
        (
            "partitioned_retype",
            "ALTER TABLE events ALTER COLUMN n TYPE bigint;",
            4,
        ),
        (
            "partitioned_rename",
            "ALTER TABLE events RENAME COLUMN kind TO event_kind;",
            4,
        ),
    ];
    for (name, change, stages) in changes {
        if support::server_major() < 13 {
            let input = safeshift::PlanInput {
                change_name: "change.sql",
                change_sql: change,
                schema: Some(("schema.sql", EVENTS_KEYED)),
                dialect: support::server_dialect().into(),
                options: Options::default(),
            };
            let error = safeshift::plan(&input).unwrap_err().to_string();
            assert!(
                error.contains("cannot put the row trigger") && error.contains("13 and later"),
                "{name}: {error}"
            );
            continue;
        }
        run(Case {
            schema: EVENTS_KEYED,
            seed: "INSERT INTO events SELECT g, '2024-06-01+00'::timestamptz + g * interval '1 hour', 'k' || (g % 7), g FROM generate_series(1, 6000) g;",
            old_app: &[
                "INSERT INTO events (id, at, kind, n) SELECT max(id) + 1, '2025-03-01+00', 'old app', 1 FROM events",
            ],
            ..case(name, change, stages)
        });
    }
}

const EVENTS_FK: &str = "CREATE TABLE public.customers (id bigint NOT NULL, name text);
ALTER TABLE ONLY public.customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
CREATE TABLE public.events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    customer_id bigint
) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
";

/// A foreign key on a partitioned table (PostgreSQL before 18 refuses NOT VALID there): each
/// partition's key NOT VALID + VALIDATE, then the parent's ADD takes them over.
#[test]
fn add_foreign_key_on_a_partitioned_table() {
    if support::server_major() < 12 {
        support::say_skipping(
            "PostgreSQL 11: the parent's foreign key checks each partition again; the plan refuses (needs 12+)",
        );
        return;
    }
    run(Case {
        schema: EVENTS_FK,
        seed: "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO events SELECT g, '2024-06-01+00'::timestamptz + g * interval '1 hour', 1 + g % 50 FROM generate_series(1, 12000) g;",
        old_app: &["INSERT INTO events SELECT max(id) + 1, '2025-03-01+00', 7 FROM events"],
        ..case(
            "partitioned_fk",
            "ALTER TABLE events ADD CONSTRAINT events_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);",
            1,
        )
    });
}

/// lemmy: two type changes in one file whose columns share an index; each would copy the index
/// under the same helper name (the plan failed at its second copy). Refused with the reason.
#[test]
fn two_type_changes_under_one_index_are_refused() {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "ALTER TABLE users ALTER COLUMN n TYPE bigint;\nALTER TABLE users ALTER COLUMN created_at TYPE timestamp;",
        schema: Some((
            "schema.sql",
            "CREATE TABLE public.users (id bigint PRIMARY KEY, n integer, created_at timestamp with time zone);\nCREATE INDEX users_n_created_idx ON public.users (n, created_at DESC) WHERE n <> 0;",
        )),
        dialect: support::server_dialect().into(),
        options: Options::default(),
    };
    let error = format!("{:?}", safeshift::plan(&input).unwrap_err());
    assert!(
        error.contains("users_n_created_idx covers n and created_at"),
        "{error}"
    );
}

#[test]
fn unique_constraint_on_a_partitioned_table_is_refused_with_the_index_alternative() {
    let error = format!(
        "{:?}",
        plan_for(
            "ALTER TABLE events ADD CONSTRAINT events_id_at_key UNIQUE (id, at);",
            EVENTS
        )
        .unwrap_err()
    );
    assert!(error.contains("partitioned"), "{error}");
    assert!(error.contains("CREATE UNIQUE INDEX"), "{error}");
}

const KEYLESS: &str = "CREATE TABLE public.downloads (
    version_id integer NOT NULL,
    day date NOT NULL,
    n integer
);
";

const KEYLESS_SEED: &str = "INSERT INTO downloads SELECT g % 500, date '2024-01-01' + g % 300, g FROM generate_series(1, 30000) g; ANALYZE downloads;";

/// A table without a primary key (PostgreSQL 14+: walked by heap blocks, then swept): a
/// required column is backfilled for every row, and `ADD COLUMN id bigserial PRIMARY KEY` (the
/// ORM way to give it a key) is planned without a rewrite, numbering rows in the order the naive
/// change does.
#[test]
fn backfill_and_serial_key_on_a_table_without_a_key() {
    let change = "-- safeshift: backfill = coalesce(n, 0) * 2\nALTER TABLE downloads ADD COLUMN doubled integer NOT NULL;\nALTER TABLE downloads ADD COLUMN id bigserial PRIMARY KEY;";
    if support::server_major() < 14 {
        let input = safeshift::PlanInput {
            change_name: "change.sql",
            change_sql: change,
            schema: Some(("schema.sql", KEYLESS)),
            dialect: support::server_dialect().into(),
            options: Options::default(),
        };
        let error = format!("{:?}", safeshift::plan(&input).unwrap_err());
        assert!(error.contains("no primary key"), "{error}");
        return;
    }
    let Some(db) = run(Case {
        schema: KEYLESS,
        seed: KEYLESS_SEED,
        old_app: &[
            "INSERT INTO downloads (version_id, day, n) VALUES (1, '2024-02-01', 7)",
            "UPDATE downloads SET n = n + 1 WHERE version_id = 3",
        ],
        ..case("keyless_backfill", change, 6)
    }) else {
        return;
    };
    let value = |sql: &str| first_value(&db, sql);
    assert_eq!(
        value("SELECT count(*) FROM downloads WHERE doubled IS DISTINCT FROM coalesce(n, 0) * 2")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        value("SELECT count(DISTINCT id) = count(*) FROM downloads").as_deref(),
        Some("t")
    );
}

/// Shapes the replay of public histories found wrong, each checked by `run` (every down.sql
/// restores the catalog before its stage, the end state is the naive change's).
#[test]
fn replayed_shapes_keep_their_downs_and_end_state() {
    // authelia: DROP NOT NULL on a column that is already nullable; its down must not set it.
    run(case(
        "replay_noop_drop_not_null",
        "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;",
        1,
    ));
    // hydra: DROP INDEX … CASCADE; its down rebuilds the index CONCURRENTLY, outside a transaction.
    run(case(
        "replay_drop_index_cascade",
        "DROP INDEX users_name_idx CASCADE;",
        1,
    ));
    // crates.io: a key moved onto an existing unique index; the down rebuilds that index.
    run(Case {
        schema: "CREATE TABLE public.downloads (id integer NOT NULL, version_id integer NOT NULL, day date NOT NULL);
ALTER TABLE ONLY public.downloads ADD CONSTRAINT downloads_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX downloads_unique ON public.downloads USING btree (version_id, day);
",
        seed: "INSERT INTO downloads SELECT g, g % 50, date '2024-01-01' + g / 50 FROM generate_series(1, 2000) g;",
        ..case(
            "replay_pk_using_index",
            "ALTER TABLE downloads DROP CONSTRAINT downloads_pkey, ADD CONSTRAINT downloads_pkey PRIMARY KEY USING INDEX downloads_unique;",
            2,
        )
    });
    // lemmy: views dropped, a column they read retyped, the views made again, a table made
    // from one of them (each waits for what it reads).
    run(Case {
        schema: "CREATE TABLE public.users (id bigint NOT NULL, name character varying(100));
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE VIEW public.user_names AS SELECT users.id, users.name FROM public.users;
",
        seed: "INSERT INTO users SELECT g, 'n' || g FROM generate_series(1, 500) g;",
        ..case(
            "replay_views_around_a_retype",
            "DROP VIEW user_names;\nALTER TABLE users ALTER COLUMN name TYPE varchar(300);\nCREATE VIEW user_names AS SELECT id, name FROM users;\nCREATE TABLE name_copy AS SELECT * FROM user_names;",
            5,
        )
    });
    // hydra: DROP INDEX … CASCADE of a unique index foreign keys reference; the down brings
    // them back.
    run(Case {
        schema: "CREATE TABLE public.clients (pk bigint NOT NULL, id text NOT NULL);
ALTER TABLE ONLY public.clients ADD CONSTRAINT clients_pkey PRIMARY KEY (pk);
CREATE UNIQUE INDEX clients_id_uq ON public.clients USING btree (id);
CREATE TABLE public.tokens (x bigint NOT NULL, client_id text);
ALTER TABLE ONLY public.tokens ADD CONSTRAINT tokens_client_id_fk FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;
",
        seed: "INSERT INTO clients SELECT g, 'c' || g FROM generate_series(1, 100) g; INSERT INTO tokens SELECT g, 'c' || (1 + g % 100) FROM generate_series(1, 500) g;",
        ..case(
            "replay_drop_index_cascade_fk",
            "DROP INDEX clients_id_uq CASCADE;",
            1,
        )
    });
    // lemmy: the primary key moved to another column in one file (the old key dropped first).
    run(Case {
        schema:
            "CREATE TABLE public.answers (id integer NOT NULL, uuid uuid NOT NULL, answer text);
ALTER TABLE ONLY public.answers ADD CONSTRAINT answers_pkey PRIMARY KEY (id);
",
        seed: "INSERT INTO answers SELECT g, md5(g::text)::uuid, 'a' FROM generate_series(1, 300) g;",
        ..case(
            "replay_primary_key_moved",
            "ALTER TABLE answers DROP CONSTRAINT answers_pkey;\nALTER TABLE answers ADD PRIMARY KEY (uuid);",
            2,
        )
    });
    // hydra, crates.io: a column renamed, then constrained under its new name (the constraint
    // must land on the renamed column, not on the stand-in the contract drops).
    run(case(
        "replay_rename_then_constrain",
        "ALTER TABLE users RENAME COLUMN n TO score;\nALTER TABLE users ADD CONSTRAINT users_score_check CHECK (score >= 0);\nALTER TABLE users ALTER COLUMN score SET NOT NULL;",
        6,
    ));
}

#[test]
fn add_required_column_with_app_dual_write() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'New@App.io', 'new@app.io')",
        ],
        dual_write: DualWrite::App,
        ..case(
            "add_required_app",
            "-- safeshift: backfill = lower(email)\nALTER TABLE users ADD COLUMN email_lower text NOT NULL;",
            4,
        )
    });
}

#[test]
fn add_column_with_volatile_default() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &["SELECT token FROM users WHERE id = 1"],
        ..case(
            "add_volatile",
            "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
            3,
        )
    });
}

#[test]
fn set_not_null_with_backfill() {
    run(Case {
        // The old app still inserts rows without a name: the fill trigger covers it.
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, name) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'n@a.io', 'named')",
        ],
        ..case(
            "set_not_null_backfill",
            "-- safeshift: backfill = 'anonymous'\nALTER TABLE users ALTER COLUMN name SET NOT NULL;",
            5,
        )
    });
}

#[test]
fn set_not_null_without_nulls() {
    run(Case {
        old_app: &[
            "INSERT INTO users (id, email, n) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c', 1)",
        ],
        ..case(
            "set_not_null",
            "ALTER TABLE users ALTER COLUMN n SET NOT NULL;",
            1,
        )
    });
}

#[test]
fn create_index_concurrently() {
    run(Case {
        old_app: &[OLD_INSERT, "SELECT id FROM users WHERE email = 'x'"],
        ..case("create_index", "CREATE INDEX ON users (email);", 1)
    });
}

#[test]
fn create_unique_index_concurrently() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case(
            "create_unique_index",
            "CREATE UNIQUE INDEX users_lower_email ON users (lower(email));",
            1,
        )
    });
}

#[test]
fn drop_index_concurrently() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case("drop_index", "DROP INDEX users_name_idx;", 1)
    });
}

#[test]
fn add_unique_constraint_via_index() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case(
            "add_unique",
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            1,
        )
    });
}

#[test]
fn add_primary_key_via_index() {
    run(Case {
        schema: "CREATE TABLE public.events (id bigint, payload text);",
        seed: "INSERT INTO events SELECT g, 'p' FROM generate_series(1, 500) g;",
        old_app: &[
            "INSERT INTO events (id, payload) VALUES ((SELECT max(id) + 1 FROM events), 'x')",
        ],
        ..case(
            "add_primary_key",
            "ALTER TABLE events ADD PRIMARY KEY (id);",
            2,
        )
    });
}

const ORDERS: &str = "CREATE TABLE public.users (id bigint NOT NULL, email text NOT NULL);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE TABLE public.orders (id bigint NOT NULL, user_id bigint, amount integer NOT NULL DEFAULT 0);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
CREATE INDEX orders_amount_idx ON public.orders USING btree (amount);
";
const ORDERS_SEED: &str = "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, 1 + g % 100, g FROM generate_series(1, 3000) g;";

#[test]
fn add_foreign_key_not_valid_then_validate() {
    run(Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        old_app: &["INSERT INTO orders (id, user_id) VALUES ((SELECT max(id) + 1 FROM orders), 1)"],
        ..case(
            "add_foreign_key",
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);",
            1,
        )
    });
}

#[test]
fn add_check_not_valid_then_validate() {
    run(Case {
        old_app: &[OLD_INSERT],
        ..case(
            "add_check",
            "ALTER TABLE users ADD CONSTRAINT users_email_at CHECK (email LIKE '%@%');",
            1,
        )
    });
}

#[test]
fn change_column_type_through_a_new_column() {
    run(Case {
        schema: ORDERS,
        seed: ORDERS_SEED,
        old_app: &[
            "INSERT INTO orders (id, user_id, amount) VALUES ((SELECT max(id) + 1 FROM orders), 1, 5)",
            "UPDATE orders SET amount = amount + 1 WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO orders (id, user_id, amount) VALUES ((SELECT max(id) + 1 FROM orders), 1, 5000000000)",
        ],
        ..case(
            "change_type",
            "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
            5,
        )
    });
}

#[test]
fn binary_coercible_type_change_is_one_stage() {
    run(Case {
        schema: "CREATE TABLE public.users (id bigint NOT NULL PRIMARY KEY, name character varying(50));",
        seed: "INSERT INTO users SELECT g, 'n' FROM generate_series(1, 100) g;",
        ..case(
            "coercible_type",
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(200);",
            1,
        )
    });
}

const RENAME_SCHEMA: &str = "CREATE TABLE public.users (id bigint NOT NULL, email text NOT NULL, name text DEFAULT 'anon' NOT NULL);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE INDEX users_name_idx ON public.users USING btree (name);
";

#[test]
fn rename_column_with_sync_trigger() {
    run(Case {
        schema: RENAME_SCHEMA,
        seed: "INSERT INTO users SELECT g, 'u' || g, 'name ' || g FROM generate_series(1, 2000) g;",
        old_app: &[
            "INSERT INTO users (id, email, name) VALUES ((SELECT max(id) + 1 FROM users), 'o@a.io', 'old')",
            "INSERT INTO users (id, email) VALUES ((SELECT max(id) + 1 FROM users), 'o2@a.io')",
            "UPDATE users SET name = 'renamed by old' WHERE id = 1",
            "SELECT name FROM users WHERE name = 'old'",
        ],
        new_app: &[
            "INSERT INTO users (id, email, display_name) VALUES ((SELECT max(id) + 1 FROM users), 'n@a.io', 'new')",
            "INSERT INTO users (id, email) VALUES ((SELECT max(id) + 1 FROM users), 'n2@a.io')",
            "SELECT display_name FROM users WHERE display_name = 'renamed by old'",
        ],
        ..case(
            "rename_column_trigger",
            "ALTER TABLE users RENAME COLUMN name TO display_name;",
            5,
        )
    });
}

#[test]
fn rename_column_with_app_dual_write() {
    run(Case {
        schema: RENAME_SCHEMA,
        seed: "INSERT INTO users SELECT g, 'u' || g, 'name ' || g FROM generate_series(1, 2000) g;",
        old_app: &["SELECT name FROM users WHERE id = 1"],
        new_app: &[
            "INSERT INTO users (id, email, display_name) VALUES ((SELECT max(id) + 1 FROM users), 'n@a.io', 'new')",
        ],
        dual_write: DualWrite::App,
        ..case(
            "rename_column_app",
            "ALTER TABLE users RENAME COLUMN name TO display_name;",
            8,
        )
    });
}

#[test]
fn rename_table_behind_a_view() {
    run(Case {
        old_app: &[
            OLD_INSERT,
            "UPDATE users SET name = 'x' WHERE id = 1",
            "SELECT count(*) FROM users",
        ],
        new_app: &[
            "INSERT INTO accounts (id, email) VALUES ((SELECT max(id) + 1 FROM accounts), 'a@b.c')",
        ],
        ..case("rename_table", "ALTER TABLE users RENAME TO accounts;", 3)
    });
}

#[test]
fn drop_not_null_column_after_deploy() {
    run(Case {
        schema: "CREATE TABLE public.users (id bigint NOT NULL PRIMARY KEY, email text NOT NULL, legacy text NOT NULL);",
        seed: "INSERT INTO users SELECT g, 'u', 'l' FROM generate_series(1, 100) g;",
        old_app: &[
            "INSERT INTO users (id, email, legacy) VALUES ((SELECT max(id) + 1 FROM users), 'a', 'l')",
        ],
        new_app: &["INSERT INTO users (id, email) VALUES ((SELECT max(id) + 1 FROM users), 'a')"],
        ..case("drop_column", "ALTER TABLE users DROP COLUMN legacy;", 3)
    });
}

#[test]
fn drop_table_after_deploy() {
    run(Case {
        schema: "CREATE TABLE public.users (id bigint PRIMARY KEY); CREATE TABLE public.audit (id bigint PRIMARY KEY, what text);",
        seed: "INSERT INTO audit VALUES (1, 'x');",
        old_app: &["INSERT INTO audit VALUES ((SELECT max(id) + 1 FROM audit), 'y')"],
        new_app: &["SELECT count(*) FROM users"],
        ..case("drop_table", "DROP TABLE audit;", 2)
    });
}

#[test]
fn add_enum_value() {
    run(Case {
        schema: "CREATE TYPE public.mood AS ENUM ('sad', 'happy'); CREATE TABLE public.people (id bigint PRIMARY KEY, mood public.mood);",
        seed: "INSERT INTO people VALUES (1, 'sad');",
        new_app: &["INSERT INTO people VALUES (2, 'ok')"],
        ..case(
            "add_enum_value",
            "ALTER TYPE mood ADD VALUE 'ok' BEFORE 'happy';",
            1,
        )
    });
}

#[test]
fn new_table_and_its_index_share_one_stage() {
    run(case(
        "create_table",
        "CREATE TABLE teams (id bigint PRIMARY KEY, name text NOT NULL);\nCREATE INDEX teams_name_idx ON teams (name);\nALTER TABLE teams ADD COLUMN slug text NOT NULL;",
        1,
    ));
}

#[test]
fn independent_changes_share_stages() {
    // Two tables, each needing the full NOT NULL path: their stages line up side by side.
    run(Case {
        schema: "CREATE TABLE public.a (id bigint PRIMARY KEY, x text); CREATE TABLE public.b (id bigint PRIMARY KEY, y text);",
        seed: "INSERT INTO a SELECT g, 'x' FROM generate_series(1, 100) g; INSERT INTO b SELECT g, 'y' FROM generate_series(1, 100) g;",
        ..case(
            "independent",
            "-- safeshift: backfill = upper(x)\nALTER TABLE a ADD COLUMN x2 text NOT NULL;\n-- safeshift: backfill = upper(y)\nALTER TABLE b ADD COLUMN y2 text NOT NULL;",
            5,
        )
    });
}

#[test]
fn unknown_statements_pass_through_in_their_own_stage() {
    run(case("other", "COMMENT ON TABLE users IS 'people';", 1));
}

/// Names that try to break out of quotes, comments and dollar-quoted bodies. Every path that
/// puts a name into SQL runs here (trigger bodies, backfill, constraint and index names); the
/// canary table must survive and the final schema must equal the naive change's.
const HOSTILE: &str = "CREATE TABLE public.canary (x integer);
CREATE TABLE public.\"Tab\"\"le; DROP TABLE canary; --\" (
    id bigint NOT NULL,
    \"select\" text DEFAULT 'd' NOT NULL,
    \"$safeshift$ x\" text,
    \"Ünï cödé\" integer
);
ALTER TABLE ONLY public.\"Tab\"\"le; DROP TABLE canary; --\" ADD CONSTRAINT hostile_pkey PRIMARY KEY (id);
CREATE INDEX \"idx; DROP TABLE canary\" ON public.\"Tab\"\"le; DROP TABLE canary; --\" USING btree (\"select\");
";

#[test]
fn hostile_names_change_only_the_named_objects() {
    let change = "-- safeshift: backfill = upper(\"select\")
ALTER TABLE \"Tab\"\"le; DROP TABLE canary; --\" ADD COLUMN \"new
line; DROP TABLE canary; --\" text NOT NULL;
ALTER TABLE \"Tab\"\"le; DROP TABLE canary; --\" RENAME COLUMN \"select\" TO \"$safeshift$; DROP TABLE canary; --\";
-- safeshift: backfill = 0
ALTER TABLE \"Tab\"\"le; DROP TABLE canary; --\" ALTER COLUMN \"Ünï cödé\" SET NOT NULL;
CREATE INDEX ON \"Tab\"\"le; DROP TABLE canary; --\" (\"$safeshift$ x\");
ALTER TABLE \"Tab\"\"le; DROP TABLE canary; --\" ADD CONSTRAINT \"chk'; DROP TABLE canary; --\" CHECK (id > 0);";
    run(Case {
        schema: HOSTILE,
        seed: "INSERT INTO \"Tab\"\"le; DROP TABLE canary; --\" (id, \"select\") SELECT g, 'v' || g FROM generate_series(1, 300) g; INSERT INTO canary VALUES (1);",
        old_app: &[
            "INSERT INTO \"Tab\"\"le; DROP TABLE canary; --\" (id, \"select\") SELECT max(id) + 1, 'old' FROM \"Tab\"\"le; DROP TABLE canary; --\"",
            "SELECT x FROM canary",
        ],
        new_app: &["SELECT x FROM canary"],
        ..case("hostile", change, 7)
    });
    // `run` compared the final schema with the naive change, canary included; say it plainly too.
    let Some(db) = ScratchDb::create("hostile_canary") else {
        return;
    };
    db.execute(HOSTILE);
    assert_eq!(
        first_value(&db, "SELECT to_regclass('canary') IS NOT NULL").as_deref(),
        Some("t")
    );
}

/// The order Rails and Django migrations write: add, fill every row with the default's constant,
/// NOT NULL, then the default. One intent: `ADD COLUMN … NOT NULL DEFAULT 'en'`, one brief stage.
#[test]
fn orm_add_update_not_null_default_is_one_add_column_with_its_default() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, locale) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c', 'fr')",
            "INSERT INTO users (id, email) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'd@e.f')",
        ],
        ..case(
            "orm_default",
            "ALTER TABLE users ADD COLUMN locale text;\nUPDATE users SET locale = 'en';\nALTER TABLE users ALTER COLUMN locale SET NOT NULL;\nALTER TABLE users ALTER COLUMN locale SET DEFAULT 'en';",
            1,
        )
    });
}

/// The same order with a value computed per row: one added NOT NULL column backfilled with the
/// UPDATE's expression (the old app's inserts keep working throughout), the default its own
/// brief step.
#[test]
fn orm_add_update_not_null_default_is_one_required_column() {
    run(Case {
        old_app: &[OLD_INSERT],
        new_app: &[
            "INSERT INTO users (id, email, handle) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'a@b.c', 'a')",
            "INSERT INTO users (id, email) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM users), 'd@e.f')",
        ],
        ..case(
            "orm_required",
            "ALTER TABLE users ADD COLUMN handle text;\nALTER TABLE users ALTER COLUMN handle SET DEFAULT 'anonymous';\nUPDATE users SET handle = lower(email);\nALTER TABLE users ALTER COLUMN handle SET NOT NULL;",
            6,
        )
    });
}

/// ADD COLUMN + UPDATE every row + a constraint on the column (issue 14 item 4): one column,
/// filled for the running app by a trigger and for existing rows by a batched backfill, then the
/// constraint after the backfill. The old app's inserts and updates keep working and its rows
/// satisfy the constraint when it comes (with the statements as written, its later inserts
/// would lack the value). Every row ends up with the value, as the UPDATE gives it.
#[test]
fn orm_add_update_add_constraint_is_one_filled_column() {
    for (name, change) in [
        (
            "orm_check",
            "ALTER TABLE users ADD COLUMN email_lower text;\nUPDATE users SET email_lower = lower(email);\nALTER TABLE users ADD CONSTRAINT users_email_lower_check CHECK (email_lower IS NOT NULL);",
        ),
        (
            "orm_fk",
            "ALTER TABLE users ADD COLUMN home_id bigint;\nUPDATE users SET home_id = 1;\nALTER TABLE users ADD CONSTRAINT users_home_id_fkey FOREIGN KEY (home_id) REFERENCES users (id);",
        ),
    ] {
        let column = if name == "orm_check" {
            "email_lower"
        } else {
            "home_id"
        };
        let Some(db) = run(Case {
            old_app: &[
                OLD_INSERT,
                "UPDATE users SET email = 'Changed.' || email WHERE id % 7 = 0",
            ],
            ..case(name, change, 5)
        }) else {
            return;
        };
        let expected = if name == "orm_check" {
            "lower(email)"
        } else {
            "1"
        };
        assert_eq!(
            first_value(
                &db,
                &format!("SELECT count(*) FROM users WHERE {column} IS DISTINCT FROM {expected}")
            )
            .as_deref(),
            Some("0"),
            "{name}: every row, also those the old app wrote, holds the value"
        );
    }
}

#[test]
fn example_add_required_column() {
    run(Case {
        schema: include_str!("../examples/add-required-column/schema.sql"),
        seed: "INSERT INTO users (id, email) SELECT g, 'User' || g || '@Example.com' FROM generate_series(1, 3000) g;",
        old_app: &[
            "INSERT INTO users (id, email) SELECT max(id) + 1, 'Old' || (max(id) + 1) || '@App.io' FROM users",
        ],
        new_app: &[
            "INSERT INTO users (id, email, email_lower) SELECT max(id) + 1, 'N' || (max(id) + 1), 'n' || (max(id) + 1) FROM users",
        ],
        ..case(
            "example_required",
            include_str!("../examples/add-required-column/change.sql"),
            // the unique index waits for the backfill: it joins the NOT NULL stage
            5,
        )
    });
}

#[test]
fn example_rename_and_retype() {
    run(Case {
        schema: include_str!("../examples/rename-and-retype/schema.sql"),
        seed: "INSERT INTO customers (id, email, full_name, fax) SELECT g, 'c' || g, 'Name ' || g, NULL FROM generate_series(1, 500) g;
               INSERT INTO orders (id, customer_id, quantity, note) SELECT g, 1 + g % 500, g, 'n' FROM generate_series(1, 2000) g;",
        old_app: &[
            "INSERT INTO customers (id, email, full_name, fax) SELECT max(id) + 1, 'o', 'Old', '123' FROM customers",
            "INSERT INTO orders (id, customer_id, quantity) SELECT max(id) + 1, 1, 7 FROM orders",
            "SELECT full_name, fax FROM customers WHERE id = 1",
        ],
        new_app: &[
            "INSERT INTO customers (id, email, display_name) SELECT max(id) + 1, 'n', 'New' FROM customers",
            "INSERT INTO orders (id, customer_id, quantity) SELECT max(id) + 1, 1, 7000000000 FROM orders",
        ],
        ..case("example_rename_retype", include_str!("../examples/rename-and-retype/change.sql"), 8)
    });
}

/// Found in issue 7: the index was built on the old column right after the shadow column was
/// added, and dropped with the old column at the swap; the plan ended without it.
#[test]
fn index_on_a_column_whose_type_changes_in_the_same_file() {
    run(case(
        "type_then_index",
        "ALTER TABLE users ALTER COLUMN n TYPE bigint;\nCREATE INDEX users_n_idx ON users (n);",
        5,
    ));
}

/// A schema shaped like production ones (issue 13): a serial key that another table references
/// (ON DELETE CASCADE, DEFERRABLE), a unique key, a CHECK, a partial expression index and a view
/// over both tables.
const SHOP: &str = "CREATE TABLE public.users (
    id integer NOT NULL,
    email text NOT NULL,
    name text,
    age integer,
    CONSTRAINT users_age_check CHECK ((age > 0))
);
CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;
ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_email_key UNIQUE (email);
CREATE INDEX users_lower_email_idx ON public.users USING btree (lower(email)) WHERE (name IS NOT NULL);
CREATE TABLE public.orders (
    id bigint NOT NULL,
    user_id integer NOT NULL,
    total numeric(10,2),
    note text
);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
CREATE INDEX orders_user_id_idx ON public.orders USING btree (user_id);
ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
COMMENT ON COLUMN public.users.id IS 'the user''s number';
COMMENT ON COLUMN public.orders.user_id IS 'who ordered';
CREATE VIEW public.user_orders AS
 SELECT u.id,
    u.email,
    o.total
   FROM (public.users u
     JOIN public.orders o ON ((o.user_id = u.id)));
";

const SHOP_SEED: &str = "INSERT INTO users (email, name, age) SELECT 'u' || g || '@x.com', CASE WHEN g % 4 = 0 THEN NULL ELSE 'n' || g END, 20 + g % 50 FROM generate_series(1, 2500) g;
INSERT INTO orders (id, user_id, total) SELECT g, 1 + g % 2500, g / 100.0 FROM generate_series(1, 5000) g;";

/// PostgreSQL refuses to change the type of a column a view reads: the change a person runs
/// instead drops the view, changes the column and creates the view again.
fn under_view(alter: &str) -> Option<&'static str> {
    let sql = format!(
        "DROP VIEW user_orders;\n{alter}\nCREATE VIEW public.user_orders AS SELECT u.id, u.email, o.total FROM (public.users u JOIN public.orders o ON ((o.user_id = u.id)));"
    );
    Some(Box::leak(sql.into_boxed_str()))
}

fn shop(name: &'static str, change: &'static str, stages: usize) -> Case {
    Case {
        schema: SHOP,
        seed: SHOP_SEED,
        ..case(name, change, stages)
    }
}

#[test]
fn rename_a_unique_column_that_a_view_and_an_expression_index_read() {
    run(Case {
        old_app: &[
            "INSERT INTO users (email, name) VALUES ('old' || txid_current() || '@x.com', 'o')",
            "UPDATE users SET email = 'changed' || id || '@x.com' WHERE id = 3",
            "SELECT email FROM user_orders WHERE id = 3",
        ],
        new_app: &[
            "INSERT INTO users (email_address, name) VALUES ('new' || txid_current() || '@x.com', 'n') ON CONFLICT (email_address) DO NOTHING",
            "UPDATE users SET email_address = 'renamed' || id || '@x.com' WHERE id = 4",
            "SELECT email_address FROM users WHERE lower(email_address) = 'renamed4@x.com' AND name IS NOT NULL",
            "SELECT email FROM user_orders WHERE id = 4",
        ],
        ..shop(
            "rename_unique_viewed",
            "ALTER TABLE users RENAME COLUMN email TO email_address;",
            5,
        )
    });
}

#[test]
fn rename_a_serial_primary_key_that_a_foreign_key_references() {
    run(Case {
        old_app: &[
            "INSERT INTO users (email) VALUES ('old' || txid_current() || '@x.com')",
            "INSERT INTO orders (id, user_id) SELECT max(o.id) + 1, max(u.id) FROM orders o, users u",
            "DELETE FROM users WHERE id = 7",
        ],
        new_app: &[
            "INSERT INTO users (email) VALUES ('new' || txid_current() || '@x.com') RETURNING user_id",
            "INSERT INTO orders (id, user_id) SELECT max(o.id) + 1, max(u.user_id) FROM orders o, users u",
            "DELETE FROM users WHERE user_id = 8",
            "SELECT id FROM user_orders LIMIT 1",
        ],
        ..shop(
            "rename_referenced_pk",
            "ALTER TABLE users RENAME COLUMN id TO user_id;",
            5,
        )
    });
}

#[test]
fn rename_a_foreign_key_column() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &[
            "INSERT INTO orders (id, customer_id) SELECT max(id) + 1, 5 FROM orders",
            "SELECT count(*) FROM orders WHERE customer_id = 5",
        ],
        ..shop(
            "rename_fk_column",
            "ALTER TABLE orders RENAME COLUMN user_id TO customer_id;",
            5,
        )
    });
}

#[test]
fn int_to_bigint_of_a_serial_primary_key_that_a_foreign_key_and_a_view_read() {
    run(Case {
        old_app: &[
            "INSERT INTO users (email) VALUES ('old' || txid_current() || '@x.com')",
            "INSERT INTO orders (id, user_id) SELECT max(o.id) + 1, max(u.id) FROM orders o, users u",
            "DELETE FROM users WHERE id = (SELECT min(id) FROM users)",
            "SELECT id, email FROM user_orders LIMIT 3",
        ],
        new_app: &[
            "INSERT INTO users (email) VALUES ('new' || txid_current() || '@x.com') RETURNING id",
            "INSERT INTO users (id, email) VALUES (3000000000 + txid_current(), 'big' || txid_current() || '@x.com')",
            "INSERT INTO orders (id, user_id) SELECT max(o.id) + 1, min(u.id) FROM orders o, users u",
            "DELETE FROM users WHERE id = (SELECT min(id) FROM users)",
            "SELECT id, email FROM user_orders LIMIT 3",
        ],
        expected: under_view("ALTER TABLE users ALTER COLUMN id TYPE bigint;"),
        ..shop(
            "bigint_referenced_pk",
            "ALTER TABLE users ALTER COLUMN id TYPE bigint;",
            6,
        )
    });
}

/// A key's swap holds the table while it waits for the tables whose foreign keys move. An app
/// transaction that holds one of those and then reads the table closes a cycle, and everyone else
/// queues behind the swap until a side gives up (PostgreSQL's deadlock check: 1s). So holding the
/// table the swap waits for nothing longer than 50ms, a bound that `apply --lock-timeout` (which
/// rewrites the file's `SET lock_timeout`s) does not lift; it gives up, changes nothing, and runs
/// again later.
/// The key swap locks the referencing table first and the table last, the order in which the
/// app's writes of the referencing table lock them (its foreign key check reads the table): an
/// app transaction inside a write of accounts finishes while the swap waits. One that takes them
/// the other way round closes a cycle, and the swap, holding accounts, gives up within 50 ms.
#[test]
fn a_key_swap_locks_in_the_order_of_the_apps_writes_and_gives_up_a_cycle_fast() {
    let Some(db) = ScratchDb::create("swap_cycle") else {
        return;
    };
    let schema = "CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.accounts (id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES public.customers (id));";
    let change = "ALTER TABLE customers ALTER COLUMN id TYPE bigint;";
    db.execute(schema);
    db.execute(
        "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 100) g;
         INSERT INTO accounts SELECT g, g FROM generate_series(1, 100) g;",
    );
    let plan = plan_for(change, schema).expect("plans");
    let dir = support::stages::write_plan(&plan);
    let swap = plan
        .stages
        .iter()
        .position(|s| s.name.starts_with("swap"))
        .expect("a swap stage");
    for stage in &plan.stages[..swap] {
        if let Some(up) = &stage.up {
            db.psql_file(&dir.path().join(up)).unwrap();
        }
    }
    let up = dir.path().join(plan.stages[swap].up.as_deref().unwrap());
    let text = fs::read_to_string(&up).unwrap();
    let first = text.find("LOCK TABLE public.accounts").expect(&text);
    let last = text.find("LOCK TABLE customers").expect(&text);
    assert!(first < last, "{text}");
    // As `apply --lock-timeout 5s` runs it.
    let patient = dir.path().join("patient-up.sql");
    fs::write(
        &patient,
        text.replace("lock_timeout = '500ms'", "lock_timeout = '5s'")
            .replace("lock_timeout = '2s'", "lock_timeout = '5s'"),
    )
    .unwrap();
    let id_type = "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'id'";

    // The app, in a transaction, reads customers and then writes accounts: the other order.
    let mut app = db.client();
    app.batch_execute("BEGIN; SELECT count(*) FROM customers")
        .unwrap();
    let started = std::time::Instant::now();
    let failed = db.psql_file(&patient).unwrap_err();
    let waited = started.elapsed();
    assert!(failed.contains("lock timeout"), "{failed}");
    assert!(
        waited < std::time::Duration::from_millis(2500),
        "the swap held accounts for {waited:?} waiting for customers (5s lock_timeout)"
    );
    // Nothing changed, and the app goes on.
    app.batch_execute("UPDATE accounts SET customer_id = 2 WHERE id = 1; COMMIT")
        .unwrap();
    assert_eq!(db.first_value(id_type).as_deref(), Some("integer"));

    // The app's own order: a write of accounts, whose key check then reads customers. The swap
    // waits for accounts holding nothing, so the app's transaction finishes and the swap goes on.
    app.batch_execute("BEGIN; UPDATE accounts SET customer_id = 3 WHERE id = 1")
        .unwrap();
    std::thread::scope(|scope| {
        let swapping = scope.spawn(|| db.psql_file(&patient));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let started = std::time::Instant::now();
        app.batch_execute("INSERT INTO accounts VALUES (1000, 4); COMMIT")
            .unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1000),
            "the app's write waited {:?} on the swap",
            started.elapsed()
        );
        swapping.join().unwrap().unwrap();
    });
    assert_eq!(db.first_value(id_type).as_deref(), Some("bigint"));
}

/// The copy trigger fires on the UPDATEs that set a column its conversion reads (not on the
/// backfill's own UPDATE, which sets only the copy): with a USING over two columns, app writes of
/// either one during the plan still end in the data the naive change gives.
#[test]
fn a_type_change_using_two_columns_copies_the_writes_of_either() {
    let Some(db) = ScratchDb::create("using_two") else {
        return;
    };
    let Some(naive) = ScratchDb::create("using_two_naive") else {
        return;
    };
    let schema = "CREATE TABLE public.items (id bigint PRIMARY KEY, price integer NOT NULL, qty integer NOT NULL, note text);";
    let change = "ALTER TABLE items ALTER COLUMN price TYPE bigint USING price::bigint * qty;";
    let seed = "INSERT INTO items SELECT g, g, 1 + g % 7, NULL FROM generate_series(1, 500) g;";
    // What the app writes while the plan runs: after the copy trigger exists, after the backfill.
    let writes = [
        "UPDATE items SET qty = qty + 10 WHERE id % 5 = 0; UPDATE items SET note = 'n' WHERE id % 3 = 0; INSERT INTO items VALUES (1001, 7, 3, NULL)",
        "UPDATE items SET qty = 2 WHERE id % 4 = 0; UPDATE items SET price = 9, note = 'm' WHERE id % 11 = 0",
    ];
    let plan = plan_for(change, schema).expect("plans");
    let dir = support::stages::write_plan(&plan);
    let first = dir.path().join(plan.stages[0].up.as_deref().unwrap());
    let text = fs::read_to_string(first).unwrap();
    assert!(
        text.contains("BEFORE INSERT OR UPDATE OF price, qty ON items"),
        "{text}"
    );
    db.execute(schema);
    db.execute(seed);
    for (i, stage) in plan.stages.iter().enumerate() {
        if let Some(up) = &stage.up {
            db.psql_file(&dir.path().join(up)).unwrap();
        }
        // Stage 1 adds the copy, stage 2 fills it.
        if let Some(w) = writes.get(i) {
            db.execute(w);
        }
    }
    naive.execute(schema);
    naive.execute(seed);
    for w in writes {
        naive.execute(w);
    }
    naive.execute(change);
    let rows = "SELECT string_agg(id || ':' || price || ':' || qty, ',' ORDER BY id) FROM items";
    assert_eq!(db.first_value(rows), naive.first_value(rows));
    assert_eq!(
        db.first_value(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'price'"
        )
        .as_deref(),
        Some("bigint")
    );
}

/// Django's and many ORMs' keys today: an identity column (pg_dump's spelling), referenced by a
/// foreign key.
const ACCOUNTS: &str = "CREATE TABLE public.accounts (
    id integer NOT NULL,
    name text NOT NULL
);
ALTER TABLE public.accounts ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.accounts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);
ALTER TABLE ONLY public.accounts ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);
CREATE TABLE public.sessions (
    id bigint NOT NULL,
    account_id integer NOT NULL
);
ALTER TABLE ONLY public.sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id) ON DELETE CASCADE;
";

/// int → bigint of an identity key: the new column gets its own identity, numbering on from
/// where the old one stopped; the down of the swap gives the identity back to the old column.
#[test]
fn int_to_bigint_of_an_identity_primary_key_that_a_foreign_key_references() {
    let Some(db) = run(Case {
        schema: ACCOUNTS,
        seed: "INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 2500) g;
INSERT INTO sessions SELECT g, 1 + g % 2500 FROM generate_series(1, 3000) g;",
        old_app: &[
            "INSERT INTO accounts (name) VALUES ('old app')",
            "INSERT INTO sessions (id, account_id) SELECT max(s.id) + 1, max(a.id) FROM sessions s, accounts a",
            "DELETE FROM accounts WHERE id = (SELECT min(id) FROM accounts)",
        ],
        new_app: &[
            "INSERT INTO accounts (name) VALUES ('new app') RETURNING id",
            "INSERT INTO sessions (id, account_id) SELECT max(s.id) + 1, max(a.id) FROM sessions s, accounts a",
            "DELETE FROM accounts WHERE id = (SELECT min(id) FROM accounts)",
        ],
        ..case(
            "bigint_identity_pk",
            "ALTER TABLE accounts ALTER COLUMN id TYPE bigint;",
            6,
        )
    }) else {
        return;
    };
    // Numbering went on: a new row gets a number above every one given before.
    assert_eq!(
        first_value(
            &db,
            "WITH n AS (INSERT INTO accounts (name) VALUES ('after') RETURNING id) SELECT (SELECT id FROM n) > (SELECT max(id) FROM accounts WHERE name <> 'after')"
        )
        .as_deref(),
        Some("t")
    );
}

#[test]
fn int_to_bigint_of_a_foreign_key_column() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &[
            "INSERT INTO orders (id, user_id) SELECT max(id) + 1, 6 FROM orders",
            "SELECT count(*) FROM orders WHERE user_id = 6",
        ],
        expected: under_view("ALTER TABLE orders ALTER COLUMN user_id TYPE bigint;"),
        ..shop(
            "bigint_fk_column",
            "ALTER TABLE orders ALTER COLUMN user_id TYPE bigint;",
            6,
        )
    });
}

#[test]
fn type_change_of_a_unique_column_with_an_expression_index_and_a_view() {
    run(Case {
        old_app: &[
            "INSERT INTO users (email, name) VALUES ('o' || txid_current() || '@x.com', 'o')",
        ],
        new_app: &[
            "INSERT INTO users (email, name) VALUES ('n' || txid_current() || '@x.com', 'n') ON CONFLICT (email) DO NOTHING",
            "SELECT email FROM user_orders LIMIT 1",
        ],
        expected: under_view("ALTER TABLE users ALTER COLUMN email TYPE varchar(320);"),
        ..shop(
            "retype_unique_viewed",
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);",
            5,
        )
    });
}

/// Django's add-reference: a nullable column with its foreign key written on it, then its index.
/// Added in one statement, the all-NULL column's key needs no validation scan: two stages, and
/// DEFERRABLE INITIALLY DEFERRED survives.
#[test]
fn django_add_reference_is_two_stages_and_keeps_deferrable() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &[
            "INSERT INTO orders (id, user_id, coupon_id) SELECT max(id) + 1, 5, 6 FROM orders",
        ],
        ..shop(
            "django_add_reference",
            "ALTER TABLE \"orders\" ADD COLUMN \"coupon_id\" integer NULL CONSTRAINT \"orders_coupon_id_fk_users_id\" REFERENCES \"users\"(\"id\") DEFERRABLE INITIALLY DEFERRED;\nCREATE INDEX \"orders_coupon_id_idx\" ON \"orders\" (\"coupon_id\");",
            2,
        )
    });
}

/// A CHECK written on an added column is the developer's CHECK, not `CHECK (true)`.
#[test]
fn inline_check_on_an_added_column_keeps_its_expression() {
    run(Case {
        old_app: &["INSERT INTO users (email) VALUES ('o' || txid_current())"],
        new_app: &["INSERT INTO users (email, external_id) VALUES ('n' || txid_current(), 'x1')"],
        ..shop(
            "inline_check",
            "ALTER TABLE users ADD COLUMN external_id varchar(64) NULL CHECK (external_id IS NULL OR external_id <> '');",
            2,
        )
    });
}

/// Unnamed indexes get the names PostgreSQL gives them: `users_lower_idx` for `lower(email)`,
/// cast arguments, `coalesce`, `expr` for operators, repeated names numbered.
#[test]
fn unnamed_expression_indexes_get_postgresql_names() {
    run(shop(
        "unnamed_expression_indexes",
        "CREATE UNIQUE INDEX ON users (lower(email));\nCREATE INDEX ON users ((age::text), coalesce(name, 'x'), lower(email), lower(name), (age + 1));",
        2,
    ));
}

#[test]
fn add_serial_column_without_a_rewrite() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &[
            "INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders RETURNING seq",
        ],
        ..shop("add_serial", "ALTER TABLE orders ADD COLUMN seq serial;", 3)
    });
}

#[test]
fn add_identity_column_without_a_rewrite() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &[
            "INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders RETURNING number",
            "SELECT count(*) FROM orders WHERE number IS NULL",
        ],
        ..shop(
            "add_identity",
            "ALTER TABLE orders ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY;",
            4,
        )
    });
}

#[test]
fn add_identity_column_by_default_with_options() {
    run(Case {
        old_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        new_app: &["INSERT INTO orders (id, user_id, number) SELECT max(id) + 1, 5, 7 FROM orders"],
        ..shop(
            "add_identity_options",
            "ALTER TABLE orders ADD COLUMN number integer GENERATED BY DEFAULT AS IDENTITY (INCREMENT BY 2 START WITH 100);",
            4,
        )
    });
}

#[test]
fn add_stored_generated_column_is_refused_with_the_reason() {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS ((total * 100)::bigint) STORED;",
        schema: Some(("schema.sql", SHOP)),
        dialect: safeshift::dialect::Postgres::parse_version("15")
            .unwrap()
            .into(),
        options: Options::default(),
    };
    let error =
        safeshift::plan(&input).expect_err("a stored generated column cannot be added online");
    let text = error.to_string();
    assert!(
        text.contains("stored generated column") && text.contains("rewrites"),
        "{text}"
    );
}

/// Renaming a table that foreign keys reference and a view reads: the compatibility view keeps
/// the old name working; the keys and the view follow the table, as with the naive rename.
#[test]
fn rename_a_referenced_table_that_a_view_reads() {
    run(Case {
        old_app: &[
            "INSERT INTO users (email) VALUES ('old' || txid_current() || '@x.com') RETURNING id",
            "INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders",
            "UPDATE users SET name = 'x' WHERE id = 5",
            "SELECT count(*) FROM user_orders",
        ],
        new_app: &[
            "INSERT INTO accounts (email) VALUES ('new' || txid_current() || '@x.com') ON CONFLICT (email) DO NOTHING",
            "DELETE FROM accounts WHERE id = 9",
            "SELECT count(*) FROM user_orders",
        ],
        ..shop(
            "rename_referenced_table",
            "ALTER TABLE users RENAME TO accounts;",
            3,
        )
    });
}

/// A rename of a table, then a change of one of its columns in the same file: the later change
/// sees the table under its new name, the foreign keys that reference it and the views that read
/// it.
#[test]
fn rename_a_table_then_change_the_type_of_its_key() {
    run(Case {
        expected: Some(
            "ALTER TABLE users RENAME TO accounts;\nDROP VIEW user_orders;\nALTER TABLE accounts ALTER COLUMN id TYPE bigint;\nCREATE VIEW public.user_orders AS SELECT u.id, u.email, o.total FROM (public.accounts u JOIN public.orders o ON ((o.user_id = u.id)));",
        ),
        ..shop(
            "rename_table_then_retype",
            "ALTER TABLE users RENAME TO accounts;\nALTER TABLE accounts ALTER COLUMN id TYPE bigint;",
            9,
        )
    });
}

#[test]
fn dropping_a_column_a_view_reads_is_refused_at_plan_time_with_the_view_named() {
    let input = safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: "ALTER TABLE orders DROP COLUMN total;",
        schema: Some(("schema.sql", SHOP)),
        dialect: safeshift::dialect::Postgres::parse_version("15")
            .unwrap()
            .into(),
        options: Options::default(),
    };
    let error = safeshift::plan(&input).expect_err("the view reads the column");
    let text = error.to_string();
    assert!(
        text.contains("user_orders") && text.contains("change.sql:1:1"),
        "{text}"
    );
}

#[test]
fn dropping_a_column_with_cascade_drops_the_views_that_read_it() {
    run(Case {
        old_app: &["SELECT count(*) FROM orders"],
        new_app: &["INSERT INTO orders (id, user_id) SELECT max(id) + 1, 5 FROM orders"],
        ..shop(
            "drop_column_cascade",
            "ALTER TABLE orders DROP COLUMN total CASCADE;",
            2,
        )
    });
}

/// A column created, used by the file's own statement, then dropped: the statement passed through
/// as written sees the table as the file had it at that line.
#[test]
fn a_temporary_column_outlives_the_statement_that_uses_it() {
    run(shop(
        "temporary_column",
        "CREATE TABLE p (id bigint PRIMARY KEY, tmp text);\nINSERT INTO p (id, tmp) SELECT id, email FROM users;\nALTER TABLE p DROP COLUMN tmp;",
        3,
    ));
}

fn plan_error(change: &str) -> String {
    safeshift::plan(&safeshift::PlanInput {
        change_name: "change.sql",
        change_sql: change,
        schema: Some(("schema.sql", SHOP)),
        dialect: safeshift::dialect::Postgres::parse_version("15")
            .unwrap()
            .into(),
        options: Options::default(),
    })
    .expect_err("refused")
    .to_string()
}

/// A file that renames a table or column away and reuses the old name, or uses a temporary table
/// across statements, cannot be staged: refused at plan time, saying why, where.
#[test]
fn reusing_a_renamed_name_or_a_temporary_table_is_refused_with_the_reason() {
    let e = plan_error(
        "ALTER TABLE orders RENAME TO orders_old;\nCREATE TABLE orders (id bigint PRIMARY KEY);",
    );
    assert!(
        e.contains("change.sql:2:1") && e.contains("renamed away at 1:1"),
        "{e}"
    );
    let e = plan_error(
        "ALTER TABLE orders RENAME COLUMN note TO memo;\nALTER TABLE orders ADD COLUMN note text;",
    );
    assert!(
        e.contains("change.sql:2:1") && e.contains("`orders.note`"),
        "{e}"
    );
    let e = plan_error(
        "CREATE TEMP TABLE scratch AS SELECT id FROM users;\nUPDATE users SET name = 'x' WHERE id IN (SELECT id FROM scratch);",
    );
    assert!(
        e.contains("change.sql:1:1") && e.contains("TEMPORARY"),
        "{e}"
    );
}

/// Indexes on materialized views (the schema's and the file's own) are planned like a table's.
#[test]
fn indexes_on_materialized_views() {
    run(Case {
        schema: "CREATE TABLE public.post (id integer NOT NULL, score integer);\nALTER TABLE ONLY public.post ADD CONSTRAINT post_pkey PRIMARY KEY (id);\nCREATE MATERIALIZED VIEW public.post_mv AS SELECT id, score FROM public.post;\n",
        seed: "INSERT INTO post SELECT g, g % 7 FROM generate_series(1, 3000) g; REFRESH MATERIALIZED VIEW post_mv;",
        ..case(
            "matview_indexes",
            "CREATE UNIQUE INDEX post_mv_id ON post_mv (id);\nCREATE MATERIALIZED VIEW top_posts AS SELECT id FROM post WHERE score > 5;\nCREATE UNIQUE INDEX top_posts_id ON top_posts (id);",
            3,
        )
    });
}

/// `CREATE TABLE … AS SELECT` makes the columns its select list names; later statements of the
/// file on them are planned (the table is new: nothing uses it yet).
#[test]
fn create_table_as_then_constrain_its_columns() {
    run(shop(
        "create_table_as",
        "CREATE TABLE user_emails AS SELECT id AS user_id, email FROM users;\nALTER TABLE user_emails ALTER COLUMN email SET NOT NULL;\nALTER TABLE user_emails ADD PRIMARY KEY (user_id);",
        1,
    ));
}

/// Plans `change` against USERS for this server, written to a temporary directory.
fn plan_users(change: &str) -> (safeshift::Plan, tempfile::TempDir) {
    let plan = plan_for(change, USERS).unwrap();
    let dir = support::stages::write_plan(&plan);
    (plan, dir)
}

/// An interrupted `CREATE UNIQUE INDEX CONCURRENTLY` leaves an INVALID index (here: the build
/// met duplicates, which the app then fixed). Running the stage's `up.sql` again with psql must
/// build it for real — `IF NOT EXISTS` alone would keep the invalid one and report success.
#[test]
fn an_invalid_index_left_by_an_interrupted_build_is_rebuilt_by_the_rerun() {
    let Some(db) = ScratchDb::create("invalid_index_rerun") else {
        return;
    };
    db.execute(USERS);
    db.execute(SEED);
    db.execute("UPDATE users SET email = 'same@example.com' WHERE id IN (1, 2)");
    let (plan, dir) =
        plan_users("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);");
    let up = dir.path().join(plan.stages[0].up.as_ref().unwrap());
    let failed = db.psql_file(&up).expect_err("the build meets duplicates");
    assert!(failed.contains("could not create unique index"), "{failed}");
    let invalid = "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('users_email_key') AND NOT indisvalid";
    assert_eq!(db.first_value(invalid).as_deref(), Some("1"));
    db.execute("UPDATE users SET email = 'other@example.com' WHERE id = 2");
    db.psql_file(&up).unwrap();
    assert_eq!(db.first_value(invalid).as_deref(), Some("0"));
    assert_eq!(
        db.first_value(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'users_email_key' AND contype = 'u'"
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        db.first_value("SELECT count(*) FROM pg_class WHERE relname LIKE 'safeshift_invalid%'")
            .as_deref(),
        Some("0")
    );
}

/// A guard never skips over what the plan did not make: a column of that name with another
/// type stops the stage with the reason (the naive ADD COLUMN would have failed too).
#[test]
fn a_rerun_guard_fails_loudly_on_a_column_of_another_type() {
    let Some(db) = ScratchDb::create("rerun_conflict") else {
        return;
    };
    db.execute(USERS);
    let (plan, dir) = plan_users("ALTER TABLE users ADD COLUMN nickname text;");
    db.execute("ALTER TABLE users ADD COLUMN nickname integer");
    let up = dir.path().join(plan.stages[0].up.as_ref().unwrap());
    let failed = db
        .psql_file(&up)
        .expect_err("a nickname integer is not the plan's");
    assert!(
        failed.contains("users.nickname already exists with another type"),
        "{failed}"
    );
    // The same name and type (the plan's own, from an earlier run) is skipped.
    db.execute(
        "ALTER TABLE users DROP COLUMN nickname; ALTER TABLE users ADD COLUMN nickname text",
    );
    db.psql_file(&up).unwrap();
}

/// Issue 14: a stage that gathers brief changes on unrelated tables commits table by table. While
/// its last table waits for a lock the app holds, the tables before it are already committed and
/// unlocked: the app reads and writes them as usual, instead of queueing behind a stage that holds
/// every table it touched until one COMMIT at the end.
#[test]
fn a_stage_over_unrelated_tables_never_holds_their_locks_together() {
    let Some(db) = ScratchDb::create("per_table") else {
        return;
    };
    let schema = "CREATE TABLE public.a (id bigint PRIMARY KEY);
CREATE TABLE public.b (id bigint PRIMARY KEY);
CREATE TABLE public.c (id bigint PRIMARY KEY);
CREATE TABLE public.d (id bigint PRIMARY KEY);";
    // b's new foreign key locks a and b together: one transaction; c and d one each.
    let change = "ALTER TABLE a ADD COLUMN note text;
ALTER TABLE b ADD COLUMN a_id bigint REFERENCES a (id);
ALTER TABLE c ADD COLUMN note text;
ALTER TABLE d ADD COLUMN note text;";
    let plan = plan_for(change, schema).expect("plans");
    let first = &plan.stages[0];
    assert!(
        !first.transactional,
        "{}",
        safeshift::render::summary(&plan, None)
    );
    let tables_of = |group: &Vec<usize>| -> Vec<String> {
        let mut t: Vec<String> = group
            .iter()
            .flat_map(|&i| first.steps[i].locks.iter().map(|l| l.table.clone()))
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let groups: Vec<Vec<String>> = first.transactions.iter().map(tables_of).collect();
    assert_eq!(groups, [vec!["a", "b"], vec!["c"], vec!["d"]], "{groups:?}");
    let dir = support::stages::write_plan(&plan);
    let up = fs::read_to_string(dir.path().join(first.up.as_deref().unwrap())).unwrap();
    assert_eq!(up.matches("\nBEGIN;").count(), 3, "{up}");
    assert_eq!(up.matches("\nCOMMIT;").count(), 3, "{up}");

    db.execute(schema);
    db.execute("INSERT INTO a VALUES (1); INSERT INTO b VALUES (1); INSERT INTO c VALUES (1); INSERT INTO d VALUES (1);");
    // The app holds c (a long transaction that read it); the stage will wait there. The test's
    // copy waits longer than the plan's 2 s so the checks below have time.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE c IN ACCESS SHARE MODE;")
        .unwrap();
    let slow = dir.path().join("slow-up.sql");
    fs::write(
        &slow,
        up.replace("lock_timeout = '2s'", "lock_timeout = '60s'"),
    )
    .unwrap();
    let url = db.url.clone();
    let run = std::thread::spawn(move || {
        std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
            .arg(&slow)
            .output()
    });
    let mut watcher = db.client();
    let waiting_pid = (0..400)
        .find_map(|_| {
            let row = watcher
                .query_opt(
                    "SELECT l.pid FROM pg_locks l JOIN pg_class r ON r.oid = l.relation \
                     WHERE NOT l.granted AND r.relname = 'c' AND l.database = \
                     (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .unwrap();
            match row {
                Some(r) => Some(r.get::<_, i32>(0)),
                None => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    None
                }
            }
        })
        .expect("the stage never waited for c");
    let held: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation \
             WHERE l.pid = $1 AND r.relname IN ('a', 'b', 'd')",
            &[&waiting_pid],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        held, 0,
        "the stage holds locks on other tables while it waits for c"
    );
    // a and b are done and free: the app writes them (a lock queue would time out here).
    let mut app = db.client();
    app.batch_execute(
        "SET lock_timeout = '1s'; INSERT INTO a (id, note) VALUES (2, 'new'); INSERT INTO b (id, a_id) VALUES (2, 2);",
    )
    .expect("a and b are usable while the stage waits for c");
    holder.batch_execute("COMMIT").unwrap();
    let out = run.join().unwrap().expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in ["c", "d"] {
        assert_eq!(
            db.first_value(&format!(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = '{t}' AND column_name = 'note'"
            ))
            .as_deref(),
            Some("1")
        );
    }
}
