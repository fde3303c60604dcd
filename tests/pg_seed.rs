//! Real-PostgreSQL tests for `model` and `seed`. Admin URL from `SAFESHIFT_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth); each test works in its own
//! scratch database, dropped (even with its session open) when the guard goes out of scope.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use postgres::{Client, NoTls};
use safeshift::rehearse::model::{
    ColumnModel, ForeignKey, TableModel, quote_ident, read_tables, value_sql,
};
use safeshift::rehearse::seed::{SeedError, seed};

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn admin_url() -> String {
    std::env::var("SAFESHIFT_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

struct TestDb {
    client: Client,
    name: String,
}

impl TestDb {
    fn new(setup: &str) -> TestDb {
        let name = format!(
            "ss_seed_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = Client::connect(&admin_url(), NoTls).expect("connect admin");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create scratch db");
        let mut cfg: postgres::Config = admin_url().parse().expect("admin url");
        cfg.dbname(&name);
        let mut client = cfg.connect(NoTls).expect("connect scratch db");
        if support::server_major() < 13 && setup.contains("gen_random_uuid") {
            // Built in from 13; pgcrypto has it before (extension objects are not read).
            client
                .batch_execute("CREATE EXTENSION pgcrypto")
                .expect("pgcrypto");
        }
        client.batch_execute(setup).expect("setup SQL");
        TestDb { client, name }
    }

    fn count(&mut self, sql: &str) -> i64 {
        self.client
            .query_one(sql, &[])
            .and_then(|r| r.try_get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&admin_url(), NoTls) {
            let _ = safeshift::db::drop_database(&mut admin, &self.name);
        }
    }
}

fn table<'a>(tables: &'a [TableModel], schema: &str, name: &str) -> &'a TableModel {
    tables
        .iter()
        .find(|t| t.schema == schema && t.name == name)
        .unwrap_or_else(|| panic!("{schema}.{name} not read"))
}

/// (column, type, unique?) — every type `value_sql` supports, plus two it does not.
const ALL_TYPES: &[(&str, &str, bool)] = &[
    ("c_int2", "int2", true),
    ("c_int4", "int4", true),
    ("c_int8", "int8", true),
    ("c_num", "numeric", true),
    ("c_num72", "numeric(7,2)", true),
    ("c_num_neg", "numeric(6,-2)", true),
    ("c_f4", "real", true),
    ("c_f8", "double precision", true),
    ("c_money", "money", true),
    ("c_text", "text", true),
    ("c_vc12", "varchar(12)", true),
    ("c_vc5", "varchar(5)", true),
    ("c_vc", "varchar", true),
    ("c_bpchar", "char(12)", true),
    ("c_name", "name", true),
    ("c_bytea", "bytea", true),
    ("c_bool", "boolean", false),
    ("c_uuid", "uuid", true),
    ("c_date", "date", true),
    ("c_ts", "timestamp", true),
    ("c_ts0", "timestamp(0)", true),
    ("c_tstz", "timestamptz", true),
    ("c_time", "time", true),
    ("c_time0", "time(0)", true),
    ("c_timetz", "timetz", true),
    ("c_interval", "interval", true),
    ("c_interval_day", "interval day", true),
    ("c_json", "json", false),
    ("c_jsonb", "jsonb", true),
    ("c_xml", "xml", false),
    ("c_inet", "inet", true),
    ("c_cidr", "cidr", true),
    ("c_mac", "macaddr", true),
    ("c_mac8", "macaddr8", true),
    ("c_enum", "mood", false),
    ("c_enum_dom", "mood_d", false),
    ("c_i4r", "int4range", true),
    ("c_i8r", "int8range", true),
    ("c_numr", "numrange", true),
    ("c_dater", "daterange", true),
    ("c_tsr", "tsrange", true),
    ("c_tstzr", "tstzrange", true),
    ("c_int_arr", "int4[]", true),
    ("c_text_arr", "text[]", true),
    ("c_vc_arr", "varchar(12)[]", true),
    ("c_uuid_arr", "uuid[]", true),
    ("c_enum_arr", "mood[]", false),
    ("c_dom_int", "posint", true),
    ("c_dom_code", "code", true),
    ("c_dom_arr", "intlist", true),
    ("c_dom_arr_elem", "posint[]", true),
    ("c_citext", "citext", true),
    ("c_point", "point", false),
    ("c_bit", "bit(8)", false),
];
const UNSUPPORTED: &[&str] = &["c_point", "c_bit"];

/// [`ALL_TYPES`] that the server has: a negative numeric scale needs PostgreSQL 15.
fn all_types() -> Vec<(&'static str, &'static str, bool)> {
    ALL_TYPES
        .iter()
        .copied()
        .filter(|(c, _, _)| *c != "c_num_neg" || support::server_major() >= 15)
        .collect()
}

const TYPES_SETUP: &str = "
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic');
CREATE DOMAIN mood_d AS mood;
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE DOMAIN code AS varchar(12);
CREATE DOMAIN intlist AS int4[];";

fn all_types_table(name: &str) -> String {
    let types = all_types();
    let mut parts: Vec<String> = types.iter().map(|(c, ty, _)| format!("{c} {ty}")).collect();
    parts.extend(
        types
            .iter()
            .filter(|(_, _, u)| *u)
            .map(|(c, _, _)| format!("UNIQUE ({c})")),
    );
    format!("CREATE TABLE {name} ({});", parts.join(", "))
}

#[test]
fn every_supported_type_is_distinct_over_2000_rows() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(&format!("{TYPES_SETUP}{}", all_types_table("t")));
    let tables = read_tables(&mut db.client).unwrap();
    let report = seed(&mut db.client, &tables, 2000).unwrap();
    assert_eq!(report.tables, vec![("public.t".to_string(), 2000)]);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    for (c, _, unique) in &all_types() {
        let (non_null, distinct) = (
            db.count(&format!("SELECT count({c}) FROM t")),
            db.count(&format!("SELECT count(DISTINCT {c}::text) FROM t")),
        );
        if UNSUPPORTED.contains(c) {
            assert_eq!(non_null, 0, "{c} should be left NULL");
        } else if *unique {
            assert_eq!((non_null, distinct), (2000, 2000), "{c}");
        } else {
            assert_eq!(non_null, 2000, "{c}");
        }
    }
    // Enums cycle through every label; bool takes both values.
    assert_eq!(db.count("SELECT count(DISTINCT c_enum) FROM t"), 4);
    assert_eq!(db.count("SELECT count(DISTINCT c_bool) FROM t"), 2);
    assert_eq!(db.count("SELECT count(DISTINCT c_json::text) FROM t"), 2000);
    // ANALYZE ran.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_stats WHERE tablename = 't' AND attname = 'c_int4'"),
        1
    );
}

#[test]
fn salts_never_collide_for_the_same_n() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(&format!("{TYPES_SETUP}{}", all_types_table("t")));
    let tables = read_tables(&mut db.client).unwrap();
    let t = table(&tables, "public", "t");
    for col in &t.columns {
        if UNSUPPORTED.contains(&col.name.as_str()) {
            assert_eq!(value_sql(col, "1", "s"), None, "{}", col.name);
            continue;
        }
        // bool has two values; varchar(5) cuts a 10-digit n before the salt.
        if col.base_type == "bool" || col.max_len.is_some_and(|m| m < 11) {
            continue;
        }
        for n in ["7", "123456789", "g"] {
            let values: Vec<String> = ["s", "o", "n", "x"]
                .iter()
                .map(|salt| value_sql(col, n, salt).unwrap())
                .collect();
            let from = if n == "g" {
                " FROM (SELECT 1000000017 AS g) AS s"
            } else {
                ""
            };
            let c = quote_ident(&col.name);
            // Unique columns prove it by accepting all four rows; the others by text.
            let ins = format!(
                "INSERT INTO t ({c}) SELECT v FROM (SELECT {}{from}) AS a(v0, v1, v2, v3), \
                 LATERAL (VALUES (v0), (v1), (v2), (v3)) AS l(v)",
                values.join(", ")
            );
            db.client
                .batch_execute(&ins)
                .unwrap_or_else(|e| panic!("{}: {:?}\n{ins}", col.name, e.as_db_error()));
            let distinct = db.count(&format!(
                "SELECT count(DISTINCT v::text) FROM (SELECT {}{from}) AS a(v0, v1, v2, v3), \
                 LATERAL (VALUES (v0), (v1), (v2), (v3)) AS l(v)",
                values.join(", ")
            ));
            assert_eq!(distinct, 4, "{} n={n}", col.name);
        }
    }
}

#[test]
fn foreign_keys_self_references_composites_and_cycles() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(
        "
        CREATE TABLE c_root (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
        CREATE TABLE b_mid (id serial PRIMARY KEY, root_id bigint NOT NULL REFERENCES c_root,
                            label varchar(30));
        CREATE TABLE a_leaf (code uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                             mid_id int NOT NULL REFERENCES b_mid UNIQUE, note text);
        CREATE TABLE profile (root_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
                                REFERENCES c_root, bio text);
        CREATE TABLE emp (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                          manager_id int REFERENCES emp, name text NOT NULL);
        CREATE TABLE node (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES node);
        CREATE TABLE orders (region text, no int, placed date NOT NULL, PRIMARY KEY (region, no));
        CREATE TABLE lines (region text NOT NULL, order_no int NOT NULL, line int NOT NULL,
                            qty int, PRIMARY KEY (region, order_no, line),
                            FOREIGN KEY (region, order_no) REFERENCES orders MATCH FULL);
        CREATE TABLE x (id int PRIMARY KEY, y_id int);
        CREATE TABLE y (id int PRIMARY KEY, x_id int NOT NULL REFERENCES x);
        ALTER TABLE x ADD FOREIGN KEY (y_id) REFERENCES y;
        CREATE TABLE p (id int PRIMARY KEY, q_id int NOT NULL);
        CREATE TABLE q (id int PRIMARY KEY, p_id int NOT NULL REFERENCES p);
        ALTER TABLE p ADD FOREIGN KEY (q_id) REFERENCES q;
        CREATE TABLE r (id int PRIMARY KEY, p_id int NOT NULL REFERENCES p);
        CREATE VIEW root_v AS SELECT id, name FROM c_root;",
    );
    let tables = read_tables(&mut db.client).unwrap();
    let n = 1000;
    let report = seed(&mut db.client, &tables, n).unwrap();
    let seeded: Vec<&str> = report.tables.iter().map(|(t, _)| t.as_str()).collect();
    let pos = |t: &str| seeded.iter().position(|s| *s == t).unwrap();
    assert!(
        pos("public.c_root") < pos("public.b_mid") && pos("public.b_mid") < pos("public.a_leaf")
    );
    assert!(pos("public.orders") < pos("public.lines"));
    for (t, rows) in &report.tables {
        assert_eq!(*rows, n, "{t}");
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {t}")),
            n as i64,
            "{t}"
        );
    }
    let mut skipped = report.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            (
                "public.p".to_string(),
                "foreign-key cycle through NOT NULL columns only".to_string()
            ),
            (
                "public.q".to_string(),
                "NOT NULL foreign key (p_id) references public.p, which has no rows".to_string()
            ),
            (
                "public.r".to_string(),
                "NOT NULL foreign key (p_id) references public.p, which has no rows".to_string()
            ),
            (
                "public.root_v".to_string(),
                "view: gets its rows from its base tables".to_string()
            ),
        ]
    );
    // Every parent row is used once (pools are as large as the child), so unique FKs hold.
    assert_eq!(db.count("SELECT count(DISTINCT root_id) FROM b_mid"), 1000);
    assert_eq!(db.count("SELECT count(DISTINCT mid_id) FROM a_leaf"), 1000);
    assert_eq!(
        db.count("SELECT count(*) FROM profile JOIN c_root ON id = root_id"),
        1000
    );
    // Nullable self-reference: a binary tree, only the root NULL.
    assert_eq!(
        db.count("SELECT count(*) FROM emp WHERE manager_id IS NULL"),
        1
    );
    assert_eq!(
        db.count(
            "WITH RECURSIVE t AS (SELECT id, 0 AS depth FROM emp WHERE manager_id IS NULL
             UNION ALL SELECT e.id, depth + 1 FROM emp e JOIN t ON e.manager_id = t.id)
             SELECT max(depth)::int8 FROM t"
        ),
        9
    );
    assert_eq!(
        db.count("SELECT count(*) FROM node WHERE parent_id = id"),
        1
    );
    // The nullable side of the x <-> y cycle was filled after both tables had rows.
    assert_eq!(db.count("SELECT count(*) FROM x WHERE y_id IS NULL"), 0);
    assert_eq!(db.count("SELECT count(*) FROM y WHERE x_id IS NULL"), 0);
    assert_eq!(
        db.count("SELECT count(DISTINCT (region, order_no)) FROM lines"),
        1000
    );
    // Belt and braces: the constraints hold (they are checked on insert anyway).
    assert_eq!(
        db.count("SELECT count(*) FROM lines l LEFT JOIN orders o ON (o.region, o.no) = (l.region, l.order_no) WHERE o.no IS NULL"),
        0
    );
}

#[test]
fn check_constraints_are_satisfied_or_reported() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(
        "
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE TABLE prod (id int PRIMARY KEY, price numeric(10,2) NOT NULL CHECK (price > 0),
                           status text CHECK (status IN ('a', 'b')), qty posint);
        CREATE TABLE strict (id int PRIMARY KEY, status text NOT NULL CHECK (status IN ('a', 'b')));",
    );
    let tables = read_tables(&mut db.client).unwrap();
    let prod: Vec<TableModel> = tables
        .iter()
        .filter(|t| t.name == "prod")
        .cloned()
        .collect();
    let report = seed(&mut db.client, &prod, 500).unwrap();
    assert_eq!(report.tables, vec![("public.prod".to_string(), 500)]);
    assert_eq!(db.count("SELECT count(*) FROM prod WHERE price > 0"), 500);
    // status could not be generated to satisfy its CHECK, so the retry left it NULL;
    // qty's domain CHECK columns are NULLed too on the retry (they are nullable).
    assert_eq!(db.count("SELECT count(status) FROM prod"), 0);

    let strict: Vec<TableModel> = tables.into_iter().filter(|t| t.name == "strict").collect();
    let err = seed(&mut db.client, &strict, 500).unwrap_err();
    let SeedError::Table { table, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(table, "public.strict");
    assert!(
        message.contains("violates check constraint \"strict_status_check\"")
            && message.contains("[SQLSTATE 23514]"),
        "{message}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot seed public.strict: new row for relation")
    );
    assert_eq!(db.count("SELECT count(*) FROM strict"), 0);
}

#[test]
fn hostile_identifiers_are_quoted() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(
        r#"
        CREATE SCHEMA "we""ird; x";
        CREATE TABLE "we""ird; x"."MixedCase" ("select" int PRIMARY KEY,
            "we""ird; x" text NOT NULL UNIQUE, "Upper" varchar(10), "user" text);
        CREATE TABLE "select" ("from" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            "MixedCase_ref" int NOT NULL REFERENCES "we""ird; x"."MixedCase" ("select"),
            "a""); DROP TABLE canary; --" text, "parent" bigint REFERENCES "select");
        CREATE TABLE canary (id int);"#,
    );
    let tables = read_tables(&mut db.client).unwrap();
    let mixed = table(&tables, "we\"ird; x", "MixedCase");
    assert_eq!(mixed.qualified(), r#""we""ird; x"."MixedCase""#);
    let report = seed(&mut db.client, &tables, 300).unwrap();
    assert_eq!(
        db.count(r#"SELECT count(*) FROM "we""ird; x"."MixedCase""#),
        300
    );
    assert_eq!(
        db.count(
            r#"SELECT count(DISTINCT "MixedCase_ref") FROM "select" WHERE parent IS NOT NULL"#
        ),
        299
    );
    // The would-be injection stayed a column name: canary exists and was seeded like the rest.
    assert_eq!(report.tables.len(), 3);
    assert_eq!(db.count("SELECT count(*) FROM canary"), 300);
    assert_eq!(
        db.count(r#"SELECT count(DISTINCT "a""); DROP TABLE canary; --") FROM "select""#),
        300
    );

    // Our quoting agrees with the server's wherever the server quotes, for every keyword.
    let words: Vec<String> = db
        .client
        .query("SELECT word FROM pg_get_keywords()", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .chain(["MixedCase", "a$b", "_x1", "1x", "we\"ird; x", "é", ""].map(String::from))
        .collect();
    for w in &words {
        let server: String = db
            .client
            .query_one("SELECT quote_ident($1)", &[w])
            .unwrap()
            .get(0);
        let ours = quote_ident(w);
        // The server also quotes `$`, which is valid after the first character; the brief
        // leaves it bare, and the SELECT below proves that parses.
        let server_quotes = server.starts_with('"') && !w.contains('$');
        assert!(server == ours || !server_quotes, "{w}: {server} vs {ours}");
        if !w.is_empty() {
            db.client
                .batch_execute(&format!("SELECT 1 AS {ours}"))
                .unwrap_or_else(|e| panic!("{w}: {e:?}"));
        }
    }
}

#[test]
fn read_tables_describes_the_catalog() {
    if support::reachable_admin_url().is_none()
        || !support::server_has(12, "read_tables_describes_the_catalog (a generated column)")
    {
        return;
    }
    let mut db = TestDb::new(
        "
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN short AS varchar(12) NOT NULL;
        CREATE TABLE parent (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            gone int, code varchar(20) NOT NULL, kind char(3), m mood DEFAULT 'ok', s short,
            tags mood[], total numeric(10,2), UNIQUE (code), UNIQUE (kind, code));
        ALTER TABLE parent DROP COLUMN gone;
        CREATE UNIQUE INDEX ON parent (total);
        CREATE UNIQUE INDEX ON parent (lower(code));
        CREATE UNIQUE INDEX ON parent (kind) WHERE kind IS NOT NULL;
        CREATE UNIQUE INDEX ON parent (code) INCLUDE (kind);
        CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent,
            doubled int GENERATED ALWAYS AS (parent_id * 2) STORED, p_kind char(3), p_code text,
            FOREIGN KEY (p_kind, p_code) REFERENCES parent (kind, code));
        CREATE VIEW parent_v AS SELECT id, code FROM parent;
        CREATE VIEW agg AS SELECT count(*) FROM parent;
        CREATE TABLE ev (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE ev_all PARTITION OF ev FOR VALUES FROM ('2000-01-01') TO ('9999-01-01');
        CREATE SCHEMA safeshift; CREATE TABLE safeshift.state (id int);
        CREATE EXTENSION citext;",
    );
    let tables = read_tables(&mut db.client).unwrap();
    let names: Vec<(&str, &str, bool)> = tables
        .iter()
        .map(|t| (t.schema.as_str(), t.name.as_str(), t.is_view))
        .collect();
    assert_eq!(
        names,
        vec![
            ("public", "child", false),
            ("public", "ev", false),
            ("public", "parent", false),
            ("public", "parent_v", true)
        ]
    );
    let p = table(&tables, "public", "parent");
    let col_names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(col_names, ["id", "code", "kind", "m", "s", "tags", "total"]);
    assert_eq!(p.primary_key, ["id"]);
    assert_eq!(
        p.unique,
        vec![
            vec!["code".to_string()],
            vec!["kind".to_string(), "code".to_string()],
            vec!["total".to_string()]
        ]
    );
    let id = p.column("id").unwrap();
    assert!(id.identity && id.has_default && id.not_null && !id.serial && !id.generated);
    let code = p.column("code").unwrap();
    assert_eq!(
        (
            code.type_sql.as_str(),
            code.base_type.as_str(),
            code.max_len
        ),
        ("character varying(20)", "varchar", Some(20))
    );
    let kind = p.column("kind").unwrap();
    assert_eq!((kind.base_type.as_str(), kind.max_len), ("bpchar", Some(3)));
    let m = p.column("m").unwrap();
    assert_eq!(m.type_sql, "public.mood");
    assert!(m.has_default && !m.not_null);
    let labels = Some(vec![
        "sad".to_string(),
        "ok".to_string(),
        "happy".to_string(),
    ]);
    assert_eq!(m.enum_labels, labels);
    let s = p.column("s").unwrap();
    assert_eq!(
        (
            s.type_sql.as_str(),
            s.base_type.as_str(),
            s.max_len,
            s.not_null
        ),
        ("public.short", "varchar", Some(12), true)
    );
    let tags = p.column("tags").unwrap();
    assert_eq!(
        (
            tags.type_sql.as_str(),
            tags.base_type.as_str(),
            &tags.enum_labels
        ),
        ("public.mood[]", "_mood", &labels)
    );
    assert_eq!(p.column("total").unwrap().type_mod, ((10 << 16) | 2) + 4);

    let c = table(&tables, "public", "child");
    let cid = c.column("id").unwrap();
    assert!(cid.serial && cid.has_default && !cid.identity);
    let doubled = c.column("doubled").unwrap();
    assert!(doubled.generated && !doubled.serial);
    assert_eq!(
        c.foreign_keys,
        vec![
            ForeignKey {
                columns: vec!["p_kind".into(), "p_code".into()],
                ref_schema: "public".into(),
                ref_table: "parent".into(),
                ref_columns: vec!["kind".into(), "code".into()],
            },
            ForeignKey {
                columns: vec!["parent_id".into()],
                ref_schema: "public".into(),
                ref_table: "parent".into(),
                ref_columns: vec!["id".into()],
            },
        ]
    );
    let v = table(&tables, "public", "parent_v");
    assert!(v.primary_key.is_empty() && v.columns.len() == 2);

    // The whole thing seeds: identity parent, serial child, generated column, partitions.
    let report = seed(&mut db.client, &tables, 200).unwrap();
    assert_eq!(report.tables.len(), 3, "{report:?}");
    assert_eq!(db.count("SELECT count(*) FROM ev_all"), 200);
    assert_eq!(
        db.count("SELECT count(*) FROM child WHERE doubled = parent_id * 2"),
        200
    );
}

#[test]
fn unsupported_not_null_column_skips_the_table() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(
        "CREATE TABLE g (id int PRIMARY KEY, at point NOT NULL);
         CREATE TABLE h (id int PRIMARY KEY, at point NOT NULL DEFAULT point(0, 0));
         CREATE TABLE only_identity (id int GENERATED ALWAYS AS IDENTITY);",
    );
    let tables = read_tables(&mut db.client).unwrap();
    let report = seed(&mut db.client, &tables, 50).unwrap();
    assert_eq!(
        report.skipped,
        vec![(
            "public.g".to_string(),
            "NOT NULL column at has type point, which cannot be generated, and no default"
                .to_string()
        )]
    );
    assert_eq!(db.count("SELECT count(*) FROM h"), 50);
    assert_eq!(db.count("SELECT count(DISTINCT id) FROM only_identity"), 50);
}

#[test]
fn seeds_100k_rows_quickly() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    let mut db = TestDb::new(
        "
        CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            email text NOT NULL UNIQUE, name varchar(100));
        CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            customer_id bigint NOT NULL REFERENCES customers, amount numeric(12,2) NOT NULL,
            status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), note text);",
    );
    let tables = read_tables(&mut db.client).unwrap();
    let (customers, orders): (Vec<TableModel>, Vec<TableModel>) =
        tables.into_iter().partition(|t| t.name == "customers");
    let start = Instant::now();
    seed(&mut db.client, &customers, 100_000).unwrap();
    let parent = start.elapsed();
    let start = Instant::now();
    let report = seed(&mut db.client, &orders, 100_000).unwrap();
    let child = start.elapsed();
    eprintln!(
        "seed timing: customers (3 cols) 100k rows {parent:?}; orders (6 cols, FK) 100k rows \
         {child:?} (each including ANALYZE)"
    );
    assert_eq!(report.tables, vec![("public.orders".to_string(), 100_000)]);
    assert!(child.as_secs() < 30, "{child:?}");
}

#[test]
fn column_model_is_plain_data() {
    if support::reachable_admin_url().is_none() {
        return;
    }
    // value_sql needs nothing but the model, so callers can build one by hand.
    let col = ColumnModel {
        name: "n".into(),
        type_sql: "integer".into(),
        base_type: "int4".into(),
        not_null: true,
        has_default: false,
        identity: false,
        generated: false,
        serial: false,
        enum_labels: None,
        max_len: None,
        type_mod: -1,
    };
    assert_eq!(
        value_sql(&col, "g", "o").as_deref(),
        Some("(((g)::int8 % 500000000 + 1000000000))::integer")
    );
}
