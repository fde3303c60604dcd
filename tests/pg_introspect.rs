//! `read_schema` against a real PostgreSQL (`SAFESHIFT_TEST_PG`, default the local trust server).
//! Every test works in its own scratch database, dropped again even when the test fails.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::{Client, NoTls};
use safeshift::change::canonical_type;
use safeshift::introspect::{IntrospectError, LiveSchema, RowEstimate, read_schema};
use safeshift::name::QName;
use safeshift::schema::{Catalog, ConstraintKind};

fn admin_url() -> String {
    std::env::var("SAFESHIFT_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn admin() -> Client {
    Client::connect(&admin_url(), NoTls).expect("connect to SAFESHIFT_TEST_PG")
}

/// `admin_url()` with its database swapped for `name` (query parameters kept).
fn url_for(name: &str) -> String {
    let url = admin_url();
    let authority = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url.as_str(), ""),
    };
    let base = match head[authority..].find('/') {
        Some(slash) => &head[..authority + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A database of its own, dropped (even with sessions open) on drop; also drops `role` if one was made.
struct Scratch {
    name: String,
    role: Option<String>,
}

impl Scratch {
    fn new() -> Scratch {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("ss_introspect_{}_{n}", std::process::id());
        let mut admin = admin();
        safeshift::db::drop_database(&mut admin, &name).expect("drop a leftover scratch database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create scratch database");
        Scratch { name, role: None }
    }

    fn client(&self) -> Client {
        Client::connect(&url_for(&self.name), NoTls).expect("connect to scratch database")
    }

    fn with(sql: &str) -> (Scratch, LiveSchema) {
        let db = Scratch::new();
        let mut client = db.client();
        client.batch_execute(sql).expect("load the test schema");
        let live = read_schema(&mut client).expect("read_schema");
        (db, live)
    }

    /// Loads DDL the way a user would: psql, stopping at the first error.
    fn psql(&self, sql: &str) {
        let file = std::env::temp_dir().join(format!("{}.sql", self.name));
        std::fs::write(&file, sql).unwrap();
        let out = Command::new("psql")
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-d",
                &url_for(&self.name),
                "-f",
            ])
            .arg(&file)
            .output()
            .expect("run psql");
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "psql could not load the introspected DDL:\n{}\n--- DDL ---\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&admin_url(), NoTls) {
            let _ = safeshift::db::drop_database(&mut c, &self.name);
            if let Some(role) = &self.role {
                let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
            }
        }
    }
}

/// `pg_dump --schema-only`, without the per-run `\restrict` key; None when pg_dump is missing.
fn pg_dump(db: &Scratch) -> Option<String> {
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--exclude-schema=safeshift",
            "-d",
            &url_for(&db.name),
        ])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Loads `live.sql` into a fresh database with psql; reading that one must give the same text,
/// and pg_dump, which sees more than read_schema prints, must not tell the two apart either.
fn assert_round_trip(original: &Scratch, live: &LiveSchema) {
    let copy = Scratch::new();
    copy.psql(&live.sql);
    let again = read_schema(&mut copy.client()).unwrap();
    assert_eq!(live.sql, again.sql, "second read differs");
    assert_eq!(live.row_estimates.len(), again.row_estimates.len());
    if let (Some(a), Some(b)) = (pg_dump(original), pg_dump(&copy)) {
        assert_eq!(a, b, "pg_dump of the copy differs");
    }
}

const RICH: &str = r#"
CREATE SCHEMA app;
CREATE SCHEMA "Other Schema";
CREATE SCHEMA safeshift;
CREATE TABLE safeshift.runs (id int);
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'it''s "fine"', 'back\slash');
CREATE TYPE status AS ENUM ('new', 'done');
CREATE DOMAIN app.positive AS numeric(10,2) DEFAULT 1 NOT NULL CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a int, b text);
CREATE SEQUENCE app.ticket_no START WITH 1000 INCREMENT BY 5;
CREATE FUNCTION app.is_even(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT n % 2 = 0';
CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(100) COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT now(),
    manager_id integer REFERENCES users (id),
    status status NOT NULL DEFAULT 'new',
    CHECK (app.is_even(id) OR id > 0)
);
CREATE TABLE app.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id integer NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    ticket bigint DEFAULT nextval('app.ticket_no'),
    qty integer NOT NULL CHECK (qty > 0),
    price app.positive,
    total numeric GENERATED ALWAYS AS (qty * price) STORED,
    mood app.mood,
    pair app.pair,
    during tstzrange,
    EXCLUDE USING gist (during WITH &&)
);
ALTER TABLE app.orders ADD CONSTRAINT price_cap CHECK (price < 1000) NOT VALID;
ALTER TABLE app.orders DROP COLUMN pair;
CREATE TABLE app.order_lines (
    order_id bigint NOT NULL,
    line_no smallint NOT NULL,
    sku text NOT NULL,
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku)
);
ALTER TABLE app.order_lines ADD CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id) REFERENCES app.orders (id) NOT VALID;
CREATE TABLE "Other Schema"."MixedCase" ("Id" int GENERATED BY DEFAULT AS IDENTITY (START WITH 10), "we""ird; name" text);
CREATE TABLE "we""ird; drop table x" ("col""; drop" bigserial PRIMARY KEY, "MixedCol" int);
CREATE TABLE x (id int);
CREATE TABLE renamed (id serial);
ALTER TABLE renamed RENAME TO renamed_later;
CREATE INDEX users_lower_email ON users (lower(email));
CREATE INDEX ON app.orders (user_id) WHERE qty > 10;
CREATE UNIQUE INDEX ON "Other Schema"."MixedCase" ("we""ird; name");
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX ON events (at);
CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v jsonb);
CREATE VIEW app.big_orders AS SELECT o.id, u.email FROM app.orders o JOIN users u ON u.id = o.user_id WHERE o.qty > 10;
CREATE VIEW a_view_on_view AS SELECT * FROM app.big_orders;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE FUNCTION app.recent() RETURNS SETOF users LANGUAGE sql STABLE AS $$ SELECT * FROM users ORDER BY created_at DESC $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION app.touch();
"#;

#[test]
fn rich_schema_round_trips_through_psql() {
    // Generated columns (12); catalog_reads_introspected_ddl_like_the_hand_written_one covers 11.
    if support::reachable_admin_url().is_none()
        || !support::server_has(12, "rich_schema_round_trips_through_psql")
    {
        return;
    }
    let (original, live) = Scratch::with(RICH);
    for wanted in [
        "CREATE SCHEMA IF NOT EXISTS \"Other Schema\";",
        "CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'it''s \"fine\"', 'back\\slash');",
        "CREATE TABLE public.\"we\"\"ird; drop table x\" (\n    \"col\"\"; drop\" bigserial NOT NULL,",
        "    id serial NOT NULL,",
        "    \"Id\" integer GENERATED BY DEFAULT AS IDENTITY (INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 10 CACHE 1) NOT NULL,",
        "    total numeric GENERATED ALWAYS AS (((qty)::numeric * (price)::numeric)) STORED,",
        "    created_at timestamp with time zone DEFAULT now() NOT NULL,",
        "ALTER SEQUENCE public.renamed_id_seq OWNED BY public.renamed_later.id;",
        "ADD CONSTRAINT price_cap CHECK (((price)::numeric < (1000)::numeric)) NOT VALID;",
        "CREATE INDEX orders_user_id_idx ON app.orders USING btree (user_id) WHERE (qty > 10);",
        ") PARTITION BY RANGE (at);",
        "CREATE TRIGGER users_touch BEFORE UPDATE ON public.users",
    ] {
        assert!(
            live.sql.contains(wanted),
            "missing {wanted:?} in:\n{}",
            live.sql
        );
    }
    assert!(!live.sql.contains("safeshift."), "{}", live.sql);
    assert!(
        !live.sql.contains("    pair app.pair"),
        "dropped column came back:\n{}",
        live.sql
    );
    let fk = live.sql.find("FOREIGN KEY").unwrap();
    assert!(live.sql[..fk].contains("CREATE TABLE public.x"));
    assert!(
        !live.sql[fk..].contains("PRIMARY KEY"),
        "keys after foreign keys"
    );

    assert_round_trip(&original, &live);

    // The caller's search_path changes neither the text nor survives the read.
    let mut client = original.client();
    client
        .batch_execute("SET search_path = app, \"Other Schema\"")
        .unwrap();
    assert_eq!(read_schema(&mut client).unwrap().sql, live.sql);
    let path: String = client.query_one("SHOW search_path", &[]).unwrap().get(0);
    assert_eq!(path, "app, \"Other Schema\"");

    let catalog = Catalog::from_sql(&live.sql).unwrap();
    // 2 CREATE SCHEMA, the domain, the composite type, SET check_function_bodies, 3 functions,
    // the EXCLUDE constraint and the trigger (sequences and views are read).
    assert_eq!(catalog.skipped, 10, "{}", live.sql);
    let weird = QName {
        schema: Some("public".into()),
        name: "we\"ird; drop table x".into(),
    };
    // A bigserial: a bigint whose default draws from the sequence it owns.
    let serial = catalog.column(&weird, "col\"; drop").unwrap();
    assert!(serial.default.is_some() && serial.generated.is_none());
    assert_eq!(
        catalog
            .owned_sequence(&weird, "col\"; drop")
            .map(|s| s.data_type.as_str()),
        Some("bigint")
    );
    assert!(catalog.column(&weird, "MixedCol").is_some());
    let mood = QName {
        schema: Some("app".into()),
        name: "mood".into(),
    };
    assert_eq!(
        catalog.enum_labels(&mood).unwrap(),
        &["sad", "ok", "it's \"fine\"", "back\\slash"]
    );
    for t in &live.row_estimates {
        let name = QName {
            schema: Some(t.schema.clone()),
            name: t.table.clone(),
        };
        assert!(
            catalog.table(&name).is_some(),
            "{name:?} unknown to Catalog"
        );
    }
}

const SHAPES: &str = r#"
CREATE SCHEMA "MiXed";
CREATE TYPE empty_enum AS ENUM ();
CREATE DOMAIN "MiXed".email AS text CHECK (VALUE ~ '@');
CREATE FUNCTION next_code() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT md5(random()::text) $$;
CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE FUNCTION add(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE PROCEDURE noop() LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE TABLE nothing ();
CREATE TABLE "MiXed"."Types" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code text NOT NULL DEFAULT next_code(),
    tags text[] DEFAULT '{}',
    grid int[][],
    amounts numeric(5,2)[],
    at timestamp(3) without time zone,
    bits bit(3),
    flag "char",
    span interval day to second,
    fixed character(5),
    ratio double precision,
    blob bytea,
    doc tsvector,
    pos point,
    info jsonb NOT NULL DEFAULT '{}'::jsonb,
    "ünïcode" text,
    mail "MiXed".email,
    total int GENERATED ALWAYS AS (add(1, 2)) STORED
);
CREATE INDEX types_info ON "MiXed"."Types" USING gin (info);
CREATE INDEX types_cover ON "MiXed"."Types" (code DESC NULLS LAST) INCLUDE (tags);
CREATE UNIQUE INDEX types_nnd ON "MiXed"."Types" (fixed) NULLS NOT DISTINCT;
CREATE TABLE parent (id int PRIMARY KEY, CONSTRAINT u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE child (id int REFERENCES parent (id) ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE measurements (id int NOT NULL, region text NOT NULL, at date NOT NULL, v int CHECK (v >= 0), PRIMARY KEY (id, region, at)) PARTITION BY LIST (region);
CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu') PARTITION BY RANGE (at);
CREATE TABLE measurements_eu_2024 PARTITION OF measurements_eu FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_other PARTITION OF measurements DEFAULT;
CREATE TABLE readings (id int, region text, at date, FOREIGN KEY (id, region, at) REFERENCES measurements);
CREATE TABLE audit (mid int, region text, at date) PARTITION BY HASH (mid);
CREATE TABLE audit_0 PARTITION OF audit FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE audit_1 PARTITION OF audit FOR VALUES WITH (MODULUS 2, REMAINDER 1);
ALTER TABLE audit ADD FOREIGN KEY (mid, region, at) REFERENCES measurements;
CREATE INDEX ON audit (mid);
ALTER TABLE measurements_eu_2024 ADD CONSTRAINT local_check CHECK (id > 0);
CREATE VIEW checked WITH (security_barrier) AS SELECT * FROM parent WHERE id > 0 WITH LOCAL CHECK OPTION;
CREATE FUNCTION vtrig() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER instead INSTEAD OF INSERT ON checked FOR EACH ROW EXECUTE FUNCTION vtrig();
CREATE TRIGGER off_trigger AFTER INSERT ON parent FOR EACH ROW EXECUTE FUNCTION vtrig();
ALTER TABLE parent DISABLE TRIGGER off_trigger;
CREATE TRIGGER part_trigger AFTER INSERT ON measurements FOR EACH ROW EXECUTE FUNCTION vtrig();
CREATE TABLE inh_parent (a int CHECK (a > 0));
CREATE TABLE inh_child (b int) INHERITS (inh_parent);
"#;

#[test]
fn other_shapes_round_trip() {
    // NULLS NOT DISTINCT (15), SQL-standard function bodies (14), generated columns (12).
    if support::reachable_admin_url().is_none()
        || !support::server_has(15, "other_shapes_round_trip")
    {
        return;
    }
    let (original, live) = Scratch::with(SHAPES);
    for wanted in [
        "CREATE TYPE public.empty_enum AS ENUM ();",
        "CREATE TABLE public.nothing (\n);",
        ") INHERITS (public.inh_parent);",
        "CREATE TABLE public.measurements_eu PARTITION OF public.measurements FOR VALUES IN ('eu') PARTITION BY RANGE (at);",
        "ALTER TABLE public.inh_parent ADD CONSTRAINT inh_parent_a_check CHECK ((a > 0));",
        "CREATE INDEX audit_mid_idx ON public.audit USING btree (mid);",
        "CREATE VIEW public.checked WITH (security_barrier=true, check_option=local) AS",
        "ALTER TABLE public.parent DISABLE TRIGGER off_trigger;",
    ] {
        assert!(
            live.sql.contains(wanted),
            "missing {wanted:?} in:\n{}",
            live.sql
        );
    }
    // A function used by a column default must exist before the table.
    let function = live.sql.find("FUNCTION public.next_code()").unwrap();
    assert!(function < live.sql.find("CREATE TABLE").unwrap());
    assert_round_trip(&original, &live);
    // Only what is not a table, column, key, index, enum, sequence or view is skipped.
    let skipped = Catalog::from_sql(&live.sql).unwrap().skipped;
    assert_eq!(skipped, 12, "{}", live.sql);
}

const PLAIN: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE accounts (
    id serial PRIMARY KEY,
    email varchar(200) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    mood mood DEFAULT 'ok',
    balance numeric(12,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    parent_id int REFERENCES accounts (id)
);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts (id),
    qty integer NOT NULL,
    price numeric(10,2) NOT NULL,
    total numeric GENERATED ALWAYS AS (qty * price) STORED,
    note text
);
ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0) NOT VALID;
CREATE TABLE order_lines (
    order_id bigint NOT NULL REFERENCES orders (id),
    line_no smallint NOT NULL,
    sku text NOT NULL,
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku)
);
CREATE TABLE "MixedCase" ("Id" bigserial PRIMARY KEY, "we""ird; name" text);
CREATE INDEX ON orders (account_id) WHERE qty > 10;
CREATE INDEX accounts_lower_email ON accounts (lower(email));
CREATE UNIQUE INDEX ON "MixedCase" ("we""ird; name");
"#;

/// What safeshift's reader should agree on, whichever DDL it read. Known differences are
/// normalised here, each with its reason.
fn shape(catalog: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    for name in catalog.table_names() {
        let table = catalog.table(name).unwrap();
        let (schema, table_name) = name.key();
        out.push(format!("table {schema}.{table_name}"));
        for c in &table.columns {
            // format_type qualifies user types (`public.mood`); the hand-written DDL does not.
            let ty = canonical_type(&c.data_type);
            let ty = ty.strip_prefix("public.").unwrap_or(&ty);
            out.push(format!(
                "  column {} {ty} not_null={} generated={:?} default={}",
                c.name,
                c.not_null,
                c.generated,
                c.default.is_some()
            ));
        }
        let mut constraints: Vec<String> = table
            .constraints
            .iter()
            .map(|k| {
                let kind = match &k.kind {
                    // Constraints added by ALTER TABLE (as read_schema and pg_dump write them)
                    // come out of Catalog without referenced columns and check columns.
                    ConstraintKind::ForeignKey { table, .. } => {
                        format!("fk -> {:?}", table.key())
                    }
                    ConstraintKind::Check => "check".into(),
                    kind => format!("{kind:?} {:?}", k.columns),
                };
                format!("  constraint {} {kind} not_valid={}", k.name, k.not_valid)
            })
            .collect();
        constraints.sort();
        out.extend(constraints);
        let mut indexes: Vec<String> = table
            .indexes
            .iter()
            .map(|i| {
                format!(
                    "  index {:?} {:?} unique={}",
                    i.name.key(),
                    i.columns,
                    i.unique
                )
            })
            .collect();
        indexes.sort();
        out.extend(indexes);
    }
    out
}

#[test]
fn catalog_reads_introspected_ddl_like_the_hand_written_one() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    // PostgreSQL 11 has no generated columns: the same schema without `total`.
    let generated = support::server_major() >= 12;
    let plain = if generated {
        PLAIN.to_string()
    } else {
        PLAIN.replace(
            "    total numeric GENERATED ALWAYS AS (qty * price) STORED,\n",
            "",
        )
    };
    let (_db, live) = Scratch::with(&plain);
    let hand = Catalog::from_sql(&plain).unwrap();
    let read = Catalog::from_sql(&live.sql).unwrap();
    assert_eq!(hand.skipped, 0);
    assert_eq!(read.skipped, 0, "{}", live.sql);
    assert_eq!(shape(&hand), shape(&read), "{}", live.sql);
    assert_eq!(
        read.enum_labels(&QName::new("mood")),
        Some(&vec!["sad".to_string(), "ok".into(), "happy".into()])
    );
    let orders = read.table(&QName::new("orders")).unwrap();
    assert!(orders.column("id").unwrap().generated.is_some());
    assert_eq!(
        orders.column("total").map(|c| c.generated.is_some()),
        generated.then_some(true)
    );
    assert!(!orders.column("note").unwrap().not_null);
    assert_eq!(orders.primary_key(), Some(&["id".to_string()][..]));

    // The differences `shape` papers over, pinned so a change in either reader shows up here.
    let hand_orders = hand.table(&QName::new("orders")).unwrap();
    assert_eq!(hand_orders.name.schema, None);
    assert_eq!(orders.name.schema.as_deref(), Some("public"));
    let fk = |t: &safeshift::schema::Table| {
        t.constraints
            .iter()
            .find(|k| k.name == "orders_account_id_fkey")
            .unwrap()
            .clone()
    };
    // Both readers keep the referenced columns (inside CREATE TABLE or in pg_dump's ALTER TABLE).
    assert_eq!(
        fk(hand_orders).kind,
        ConstraintKind::ForeignKey {
            table: QName::new("accounts"),
            columns: vec!["id".into()]
        }
    );
    assert_eq!(
        fk(orders).kind,
        ConstraintKind::ForeignKey {
            table: QName {
                schema: Some("public".into()),
                name: "accounts".into()
            },
            columns: vec!["id".into()]
        }
    );
    assert_eq!(fk(orders).columns, vec!["account_id".to_string()]);
    let check = |c: &Catalog| {
        let t = c.table(&QName::new("accounts")).unwrap();
        let k = t
            .constraints
            .iter()
            .find(|k| k.name == "accounts_balance_check");
        k.unwrap().columns.clone()
    };
    assert_eq!(check(&hand), vec!["balance".to_string()]);
    assert!(check(&read).is_empty());
    let mood = |c: &Catalog| {
        let column = c.column(&QName::new("accounts"), "mood").unwrap();
        (
            column.data_type.to_string(),
            column.default.as_ref().unwrap().to_string(),
        )
    };
    assert_eq!(mood(&hand), ("mood".into(), "'ok'".into()));
    assert_eq!(
        mood(&read),
        ("public.mood".into(), "'ok'::public.mood".into())
    );
}

#[test]
fn row_estimates_come_from_analyze() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let (_db, live) = Scratch::with(
        "CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 1000); ANALYZE big;
         CREATE TABLE empty (id int);",
    );
    assert_eq!(
        live.row_estimates,
        vec![
            RowEstimate {
                schema: "public".into(),
                table: "big".into(),
                rows: Some(1000)
            },
            RowEstimate {
                schema: "public".into(),
                table: "empty".into(),
                rows: None
            },
        ]
    );
    let major = live.server_version.split('.').next().unwrap();
    assert_eq!(
        major.parse::<u32>().unwrap(),
        support::server_major(),
        "{}",
        live.server_version
    );
    assert!(
        live.server_version
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    );
}

#[test]
fn extension_objects_are_left_out() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let wanted = ["citext", "earthdistance", "pgcrypto"];
    let available: Vec<String> = admin()
        .query(
            "SELECT name FROM pg_available_extensions WHERE name = ANY($1) ORDER BY name",
            &[&&wanted[..]],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    if available.is_empty() {
        eprintln!("none of {wanted:?} is available: skipping");
        return;
    }
    let mut sql = String::from("CREATE SCHEMA ext;\n");
    for name in &available {
        // earthdistance brings cube along: read_schema must create cube first.
        sql.push_str(&format!(
            "CREATE EXTENSION {name} WITH SCHEMA ext CASCADE;\n"
        ));
    }
    sql.push_str("CREATE TABLE t (id int PRIMARY KEY);\n");
    if available.iter().any(|n| n == "citext") {
        sql.push_str("ALTER TABLE t ADD COLUMN email ext.citext;\n");
    }
    let (db, live) = Scratch::with(&sql);
    let installed: Vec<String> = db
        .client()
        .query(
            "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let at = |name: &str| {
        let line = format!("CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA ext;");
        live.sql
            .find(&line)
            .unwrap_or_else(|| panic!("no {line} in:\n{}", live.sql))
    };
    for name in &installed {
        at(name);
    }
    if installed.iter().any(|n| n == "earthdistance") {
        assert!(at("cube") < at("earthdistance"), "{}", live.sql);
    }
    let objects = live
        .sql
        .lines()
        .filter(|l| l.starts_with("CREATE "))
        .count();
    // The schema, the extensions and t: none of the extensions' types or functions.
    assert_eq!(objects, 2 + installed.len(), "{}", live.sql);
    assert!(!live.sql.contains("FUNCTION"), "{}", live.sql);
    assert_round_trip(&db, &live);
}

#[test]
fn errors_carry_the_server_message() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = Scratch::new();
    let role = format!("{}_reader", db.name);
    db.role = Some(role.clone());
    let mut client = db.client();
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} NOLOGIN; REVOKE SELECT ON pg_catalog.pg_sequence FROM PUBLIC; SET ROLE {role}"
        ))
        .unwrap();
    let err: IntrospectError = read_schema(&mut client).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("(sequences)"), "{text}");
    assert!(
        text.contains("permission denied for table pg_sequence"),
        "{text}"
    );
    assert!(text.contains("SQLSTATE 42501"), "{text}");
}
