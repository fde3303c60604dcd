//! Reads the schema of a live PostgreSQL database and writes it back as DDL, so safeshift can plan
//! against what is really deployed instead of a hand-maintained `--schema` file.
//!
//! Every statement is built by the server (`format('%I')`, `pg_get_*def`) rather than pieced
//! together here: the server knows its own quoting and syntax, so hostile names cannot inject and
//! new syntax comes out right. Each query sorts by name under `COLLATE "C"`, so two reads of the
//! same schema give the same bytes whatever the database's collation.
//!
//! Needs PostgreSQL 13 or later. Covers what safeshift plans around (schemas, extensions, enum,
//! domain and composite types, sequences, tables and partitions, constraints, indexes, views,
//! functions, triggers). Not recreated: owners, grants, comments, policies and RLS, rules,
//! materialized views, foreign tables, aggregates, operators, range and base types, storage
//! parameters, per-column storage/statistics settings, and the names of identity sequences.
//! The text assumes `standard_conforming_strings = on` (the default since PostgreSQL 9.1), as
//! the server's own `pg_get_expr` output does.

pub mod mysql;

use crate::db::catalog_sql;
use postgres::types::FromSqlOwned;
use postgres::{Client, IsolationLevel, Row, Transaction};

/// A live database as safeshift plans against it: its shape, its sizes and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveSchema {
    /// DDL that recreates the user schema, in dependency order, deterministic (sorted by name) so two reads of the same database give identical text.
    pub sql: String,
    /// pg_class.reltuples per user table, None when never analyzed (reltuples < 0).
    pub row_estimates: Vec<RowEstimate>,
    /// e.g. "15.19" (from `SHOW server_version`, leading numeric part only)
    pub server_version: String,
    /// Where the row estimates come from, for the plan's assumptions.
    pub estimates_from: &'static str,
}

/// The planner's idea of a table's size, which decides whether a rewrite is risky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowEstimate {
    pub schema: String,
    pub table: String,
    pub rows: Option<u64>,
}

/// Why the schema could not be read; the live database is never changed either way.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// `postgres::Error` alone prints just "db error"; the step and the server's words say what to fix.
    #[error("could not read the database schema ({step}): {}", describe(.source))]
    Query {
        step: &'static str,
        #[source]
        source: postgres::Error,
    },
}

fn describe(error: &postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return error.to_string();
    };
    let mut text = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

/// Namespaces that are not the user's: the system's, temporary ones and safeshift's bookkeeping.
macro_rules! user_ns {
    ($n:literal) => {
        concat!(
            " ",
            $n,
            ".nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'safeshift') AND ",
            $n,
            ".nspname !~ '^pg_(toast_)?temp_' "
        )
    };
}

/// Objects an extension created come back with `CREATE EXTENSION`; recreating them would clash.
macro_rules! not_ext {
    ($catalog:literal, $oid:literal) => {
        concat!(
            " NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = '",
            $catalog,
            "'::regclass AND e.objid = ",
            $oid,
            " AND e.deptype = 'e') "
        )
    };
}

/// Options of the sequence `s` (a pg_sequence row), in the one order sqlparser 0.63 reads inside
/// `AS IDENTITY (…)` (it rejects `START WITH` before `INCREMENT BY`).
macro_rules! seq_options {
    () => {
        "format('INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s%s', s.seqincrement, \
         s.seqmin, s.seqmax, s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END)"
    };
}
/// Whether they are what a bare `serial` / `AS IDENTITY` picks, so the common case prints without them.
macro_rules! seq_is_default {
    () => {
        " (s.seqstart = 1 AND s.seqincrement = 1 AND s.seqmin = 1 AND s.seqcache = 1 AND NOT s.seqcycle \
         AND s.seqmax = CASE s.seqtypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype \
         THEN 2147483647 ELSE 9223372036854775807 END) "
    };
}

/// Extensions after those they require (earthdistance needs cube), each in its original schema.
const EXTENSIONS: &str = "WITH RECURSIVE req AS (SELECT oid, 0 AS level FROM pg_extension \
       UNION ALL SELECT d.objid, req.level + 1 FROM req JOIN pg_depend d ON d.refobjid = req.oid \
       AND d.classid = 'pg_extension'::regclass AND d.refclassid = 'pg_extension'::regclass WHERE req.level < 100) \
     SELECT format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I;', x.extname, n.nspname) \
     FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace \
     JOIN (SELECT oid, max(level) AS level FROM req GROUP BY oid) r ON r.oid = x.oid \
     WHERE x.extname <> 'plpgsql' ORDER BY r.level, x.extname::text COLLATE \"C\"";

const SCHEMAS: &str = concat!(
    "SELECT format('CREATE SCHEMA IF NOT EXISTS %I;', n.nspname) FROM pg_namespace n WHERE n.nspname <> 'public' AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_namespace", "n.oid"),
    "ORDER BY n.nspname::text COLLATE \"C\""
);

/// Enums, then domains (which may be over enums), then composite types (which may use both).
/// Enum labels are quoted by hand, not with quote_literal: its `E'…'` form (for backslashes) is
/// beyond sqlparser's CREATE TYPE, and pg_get_expr assumes standard_conforming_strings anyway.
const TYPES: &str = concat!(
    "SELECT CASE t.typtype \
       WHEN 'e' THEN format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname, (SELECT string_agg('''' || replace(l.enumlabel, '''', '''''') || '''', ', ' ORDER BY l.enumsortorder) FROM pg_enum l WHERE l.enumtypid = t.oid)) \
       WHEN 'd' THEN format('CREATE DOMAIN %I.%I AS %s%s%s%s%s;', n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod), \
         (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace JOIN pg_type b ON b.oid = t.typbasetype WHERE co.oid = t.typcollation AND t.typcollation <> b.typcollation), \
         ' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0), CASE WHEN t.typnotnull THEN ' NOT NULL' END, \
         (SELECT string_agg(format(' CONSTRAINT %I %s', k.conname, pg_get_constraintdef(k.oid)), '' ORDER BY k.conname::text COLLATE \"C\") FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype <> 'n')) \
       ELSE format('CREATE TYPE %I.%I AS (%s);', n.nspname, t.typname, (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)) END \
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
     WHERE (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')) AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_type", "t.oid"),
    "ORDER BY strpos('edc', t.typtype::text), n.nspname::text COLLATE \"C\", t.typname::text COLLATE \"C\""
);

/// Sequences not behind an identity column, with their `OWNED BY` and whether they are exactly
/// what `serial` would create: those are written as `serial` so safeshift's reader sees a
/// database-filled column, as it does for the hand-written schema.
const SEQUENCES: &str = concat!(
    "SELECT sc.oid, format('CREATE SEQUENCE %I.%I AS %s ', n.nspname, sc.relname, format_type(s.seqtypid, NULL)) || ",
    seq_options!(),
    " || ';', \
       o.owned_by, coalesce(o.serial, false) \
     FROM pg_sequence s JOIN pg_class sc ON sc.oid = s.seqrelid JOIN pg_namespace n ON n.oid = sc.relnamespace \
     LEFT JOIN LATERAL (SELECT format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I;', n.nspname, sc.relname, n.nspname, c.relname, a.attname) AS owned_by, \
         sc.relname = c.relname || '_' || a.attname || '_seq' AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) \
         AND s.seqtypid = a.atttypid AND a.attnotnull AND a.attidentity = '' AND a.attgenerated = '' AND",
    seq_is_default!(),
    "\
         AND pg_get_expr(ad.adbin, ad.adrelid) = format('nextval(%L::regclass)', sc.oid::regclass) \
         AND NOT EXISTS (SELECT FROM pg_depend u WHERE u.classid = 'pg_attrdef'::regclass AND u.refobjid = sc.oid AND u.objid <> ad.oid) AS serial \
       FROM pg_depend d JOIN pg_class c ON c.oid = d.refobjid \
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
       WHERE d.classid = 'pg_class'::regclass AND d.objid = sc.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a') o ON true \
     WHERE NOT EXISTS (SELECT FROM pg_depend i WHERE i.classid = 'pg_class'::regclass AND i.objid = sc.oid AND i.deptype = 'i') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "sc.oid"),
    "ORDER BY n.nspname::text COLLATE \"C\", sc.relname::text COLLATE \"C\""
);

/// Tables after their ancestors (partitioned or INHERITS parents): a table has more ancestors than
/// any of its parents. Inherited columns come from the parent. `$1`: sequences written as `serial`.
/// PostgreSQL 18 names NOT NULL constraints; a name other than the default (kept through a table
/// or column rename) is written out, as pg_dump does.
const TABLES: &str = concat!(
    "SELECT format('CREATE %sTABLE %I.%I %s%s;', CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END, n.nspname, c.relname, \
       CASE WHEN c.relispartition THEN (SELECT format('PARTITION OF %I.%I ', pn.nspname, p.relname) FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent \
           JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE h.inhrelid = c.oid) || pg_get_expr(c.relpartbound, c.oid) \
         ELSE '(' || coalesce((SELECT string_agg(E'\\n    ' || format('%I ', a.attname) \
           || CASE WHEN sr.serial THEN CASE a.atttypid WHEN 'int8'::regtype THEN 'bigserial' WHEN 'int2'::regtype THEN 'smallserial' ELSE 'serial' END \
                   ELSE format_type(a.atttypid, a.atttypmod) END \
           || coalesce((SELECT format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace \
                WHERE co.oid = a.attcollation AND a.attcollation <> ty.typcollation), '') \
           || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END \
           || coalesce((SELECT CASE WHEN",
    seq_is_default!(),
    "THEN '' ELSE ' (' || ",
    seq_options!(),
    " || ')' END FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid \
                WHERE a.attidentity <> '' AND d.classid = 'pg_class'::regclass AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i'), '') \
           || CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED' \
                   WHEN ad.oid IS NOT NULL AND NOT sr.serial THEN ' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END \
           || CASE WHEN a.attnotnull THEN coalesce((SELECT format(' CONSTRAINT %I', k.conname) FROM pg_constraint k \
                WHERE k.conrelid = a.attrelid AND k.contype = 'n' AND k.conkey = ARRAY[a.attnum] \
                  AND k.conname <> left(c.relname || '_' || a.attname || '_not_null', 63)), '') || ' NOT NULL' ELSE '' END, ',' ORDER BY a.attnum) \
           FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
           CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = ANY($1::oid[]) \
               AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'a') AS serial) sr \
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attislocal), '') || E'\\n)' \
         || coalesce((SELECT ' INHERITS (' || string_agg(format('%I.%I', pn.nspname, p.relname), ', ' ORDER BY h.inhseqno) || ')' \
           FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE h.inhrelid = c.oid), '') END, \
       CASE WHEN c.relkind = 'p' THEN ' PARTITION BY ' || pg_get_partkeydef(c.oid) ELSE '' END) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "ORDER BY (WITH RECURSIVE up AS (SELECT c.oid AS rel UNION SELECT h.inhparent FROM up JOIN pg_inherits h ON h.inhrelid = up.rel) \
       SELECT count(*) FROM up), n.nspname::text COLLATE \"C\", c.relname::text COLLATE \"C\""
);

/// Keys, uniques, checks and exclusions first (foreign keys need the keys they point at).
/// Constraints a child inherited come back when the parent's are added (without ONLY).
const CONSTRAINTS: &str = concat!(
    "SELECT format('ALTER TABLE %s%I.%I ADD CONSTRAINT %I %s;', CASE WHEN c.relkind = 'r' AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhparent = c.oid) THEN 'ONLY ' ELSE '' END, \
       n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)) \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE k.contype IN ('p', 'u', 'c', 'x', 'f') AND k.conislocal AND k.conparentid = 0 AND c.relkind IN ('r', 'p') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "ORDER BY k.contype = 'f', n.nspname::text COLLATE \"C\", c.relname::text COLLATE \"C\", k.conname::text COLLATE \"C\""
);

/// `ON ONLY` (how pg_get_indexdef prints a partitioned table's index) is dropped so the index
/// reaches the partitions again; their attached copies are left out.
const INDEXES: &str = concat!(
    "SELECT CASE WHEN starts_with(x.def, x.prefix || 'ONLY ') THEN x.prefix || substr(x.def, length(x.prefix) + 6) ELSE x.def END || ';' \
     FROM (SELECT pg_get_indexdef(i.indexrelid) AS def, n.nspname, ic.relname, \
         format('CREATE %sINDEX %I ON ', CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, ic.relname) AS prefix \
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
       WHERE c.relkind IN ('r', 'p') AND (i.indisvalid OR c.relkind = 'p') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "\
         AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) \
         AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)) x \
     ORDER BY x.nspname::text COLLATE \"C\", x.relname::text COLLATE \"C\""
);

/// Functions whose signature or (BEGIN ATOMIC) body names a table or view are `late`: they can
/// only be created after it. The rest go before the tables, whose defaults, checks and indexes may
/// call them. Aggregates are left out: pg_get_functiondef cannot print them.
const FUNCTIONS: &str = concat!(
    "SELECT rtrim(pg_get_functiondef(p.oid), E'\\n') || ';', EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
       AND (d.refclassid = 'pg_class'::regclass OR (d.refclassid = 'pg_type'::regclass AND EXISTS (SELECT FROM pg_type t JOIN pg_class r \
         ON r.oid IN (t.typrelid, (SELECT el.typrelid FROM pg_type el WHERE el.oid = t.typelem)) WHERE t.oid = d.refobjid AND r.relkind <> 'c')))) \
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p', 'w') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_proc", "p.oid"),
    "ORDER BY n.nspname::text COLLATE \"C\", p.proname::text COLLATE \"C\", pg_get_function_identity_arguments(p.oid) COLLATE \"C\""
);

/// Views after the views they read from: by depth in the view-on-view graph, then by name.
const VIEWS: &str = concat!(
    "WITH RECURSIVE v AS (SELECT c.oid, n.nspname, c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       WHERE c.relkind = 'v' AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "), \
     uses AS (SELECT DISTINCT r.ev_class AS view, d.refobjid AS used FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass \
       AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass WHERE d.refobjid <> r.ev_class \
       AND r.ev_class IN (SELECT oid FROM v) AND d.refobjid IN (SELECT oid FROM v)), \
     depth AS (SELECT oid, 0 AS level FROM v UNION ALL SELECT u.view, depth.level + 1 FROM depth JOIN uses u ON u.used = depth.oid WHERE depth.level < 100) \
     SELECT format(E'CREATE VIEW %I.%I%s AS\\n%s', v.nspname, v.relname, ' WITH (' || array_to_string(v.reloptions, ', ') || ')', pg_get_viewdef(v.oid)) \
     FROM v JOIN (SELECT oid, max(level) AS level FROM depth GROUP BY oid) l ON l.oid = v.oid \
     ORDER BY l.level, v.nspname::text COLLATE \"C\", v.relname::text COLLATE \"C\""
);

/// Internal triggers implement foreign keys; a partition's clones come back from its parent.
/// Triggers on relations not recreated here (foreign tables) would not load.
const TRIGGERS: &str = concat!(
    "SELECT pg_get_triggerdef(t.oid) || ';' || CASE WHEN t.tgenabled = 'D' THEN format(E'\\nALTER TABLE %I.%I DISABLE TRIGGER %I;', n.nspname, c.relname, t.tgname) ELSE '' END \
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND c.relkind IN ('r', 'p', 'v') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "ORDER BY n.nspname::text COLLATE \"C\", c.relname::text COLLATE \"C\", t.tgname::text COLLATE \"C\""
);

/// Before PostgreSQL 14 a table never vacuumed or analyzed has `reltuples` 0, not -1 as from 14:
/// there 0 rows in 0 pages reads as "unknown" (-1), not as "empty".
const ROW_ESTIMATES: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, \
     CASE WHEN c.reltuples = 0 AND c.relpages = 0 AND current_setting('server_version_num')::int < 140000 \
          THEN -1 ELSE c.reltuples END::real \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND",
    user_ns!("n"),
    "AND",
    not_ext!("pg_class", "c.oid"),
    "ORDER BY n.nspname::text COLLATE \"C\", c.relname::text COLLATE \"C\""
);

/// Reads the user schema in one read-only snapshot, so DDL running meanwhile cannot tear it.
pub fn read_schema(client: &mut Client) -> Result<LiveSchema, IntrospectError> {
    let version: String = query(client, "server version", "SHOW server_version", &[])?
        .first()
        .map(|row| get(row, 0, "server version"))
        .transpose()?
        .unwrap_or_default();
    let server_version = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();

    let major: i32 = query(
        client,
        "server version",
        "SELECT current_setting('server_version_num')::int / 10000",
        &[],
    )?
    .first()
    .map(|row| get(row, 0, "server version"))
    .transpose()?
    .unwrap_or_default();
    let major = major.max(0) as u32;
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(failed("start a read-only transaction"))?;
    // With only pg_catalog on the path the server qualifies every user name it prints (types,
    // defaults, view bodies), so the DDL loads the same under any search_path.
    tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .map_err(failed("set search_path"))?;

    let mut sections: Vec<Vec<String>> = vec![
        texts(&mut tx, "schemas", SCHEMAS)?,
        texts(&mut tx, "extensions", EXTENSIONS)?,
        texts(&mut tx, "types", TYPES)?,
    ];
    let mut functions = Vec::new();
    let mut late_functions = Vec::new();
    for row in query(&mut tx, "functions", FUNCTIONS, &[])? {
        let def: String = get(&row, 0, "functions")?;
        if get(&row, 1, "functions")? {
            late_functions.push(def);
        } else {
            functions.push(def);
        }
    }
    if !functions.is_empty() || !late_functions.is_empty() {
        // Function bodies may name tables that come later; pg_dump does the same.
        functions.insert(0, "SET check_function_bodies = false;".into());
    }
    sections.push(functions);

    let (mut sequences, mut owned, mut serial) = (Vec::new(), Vec::new(), Vec::<u32>::new());
    for row in query(&mut tx, "sequences", &catalog_sql(SEQUENCES, major), &[])? {
        if get(&row, 3, "sequences")? {
            serial.push(get(&row, 0, "sequences")?);
            continue;
        }
        sequences.push(get(&row, 1, "sequences")?);
        owned.extend(get::<Option<String>>(&row, 2, "sequences")?);
    }
    sections.push(sequences);
    let tables = query(&mut tx, "tables", &catalog_sql(TABLES, major), &[&serial])?;
    sections.push(first_column(&tables, "tables")?);
    sections.push(owned);
    sections.push(texts(&mut tx, "constraints", CONSTRAINTS)?);
    sections.push(texts(&mut tx, "indexes", INDEXES)?);
    sections.push(texts(&mut tx, "views", VIEWS)?);
    sections.push(late_functions);
    sections.push(texts(&mut tx, "triggers", &catalog_sql(TRIGGERS, major))?);

    let mut row_estimates = Vec::new();
    for row in query(&mut tx, "row estimates", ROW_ESTIMATES, &[])? {
        let rows: f32 = get(&row, 2, "row estimates")?;
        row_estimates.push(RowEstimate {
            schema: get(&row, 0, "row estimates")?,
            table: get(&row, 1, "row estimates")?,
            // Since PostgreSQL 14, -1 means "never analyzed", which is not the same as empty.
            rows: (rows >= 0.0).then(|| rows.round() as u64),
        });
    }
    tx.commit().map_err(failed("end the transaction"))?;

    let sql = sections
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.iter().map(|stmt| format!("{stmt}\n")).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(LiveSchema {
        estimates_from: "pg_class.reltuples, as of the last ANALYZE",
        sql,
        row_estimates,
        server_version,
    })
}

fn failed(step: &'static str) -> impl Fn(postgres::Error) -> IntrospectError {
    move |source| IntrospectError::Query { step, source }
}

fn query(
    client: &mut impl postgres::GenericClient,
    step: &'static str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, IntrospectError> {
    client.query(sql, params).map_err(failed(step))
}

fn get<T: FromSqlOwned>(row: &Row, index: usize, step: &'static str) -> Result<T, IntrospectError> {
    row.try_get(index).map_err(failed(step))
}

fn first_column(rows: &[Row], step: &'static str) -> Result<Vec<String>, IntrospectError> {
    rows.iter().map(|row| get(row, 0, step)).collect()
}

fn texts(
    tx: &mut Transaction,
    step: &'static str,
    sql: &str,
) -> Result<Vec<String>, IntrospectError> {
    first_column(&query(tx, step, sql, &[])?, step)
}

/// One line for the plan's assumptions: where the schema came from and the biggest tables'
/// row estimates (the planner's "large and busy" is about these).
pub fn estimates_note(source: &str, live: &LiveSchema) -> String {
    let estimates = &live.row_estimates;
    let mut known: Vec<&RowEstimate> = estimates.iter().filter(|e| e.rows.is_some()).collect();
    known.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.table.cmp(&b.table)));
    let shown: Vec<String> = known
        .iter()
        .take(10)
        .map(|e| {
            let name = if e.schema == "public" || e.schema.is_empty() {
                e.table.clone()
            } else {
                format!("{}.{}", e.schema, e.table)
            };
            format!("{name} ≈ {}", e.rows.unwrap_or(0))
        })
        .collect();
    let never = estimates.len() - known.len();
    let mut note = format!("The schema was read from the catalog of {source}.");
    if !shown.is_empty() {
        note.push_str(&format!(
            " Row estimates ({}): {}{}.",
            live.estimates_from,
            shown.join(", "),
            if known.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        ));
    }
    if never > 0 {
        note.push_str(&format!(
            " {never} table(s) were never analyzed: their size is unknown."
        ));
    }
    note
}
