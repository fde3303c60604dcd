//! What the live database looks like, as far as generating rows and application statements
//! needs: user tables (and insertable views), their columns, keys and foreign keys, plus the SQL
//! expressions that produce distinct values of a column's type.

use std::collections::HashMap;

use postgres::Client;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableModel {
    pub schema: String,
    pub name: String,
    /// A view that accepts INSERT (auto-updatable, or made writable by INSTEAD triggers/rules).
    /// Views carry no keys or foreign keys here.
    pub is_view: bool,
    /// In attnum order, without dropped or system columns.
    pub columns: Vec<ColumnModel>,
    pub primary_key: Vec<String>,
    /// Unique constraints and unique indexes that are non-partial and on plain columns only
    /// (key columns; INCLUDE columns are left out), de-duplicated, primary key excluded.
    pub unique: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnModel {
    pub name: String,
    /// `format_type(atttypid, atttypmod)` read with `search_path = pg_catalog`, so user types are
    /// schema-qualified ("public.mood") and the text is valid in any session.
    pub type_sql: String,
    /// `pg_type.typname` of the type after resolving domains; arrays are `_` + the resolved
    /// element name (an `int4[]`, or an array of a domain over int4, is `_int4`).
    pub base_type: String,
    /// The column cannot hold NULL: `NOT NULL`, or a domain declared `NOT NULL`.
    pub not_null: bool,
    /// An INSERT that omits the column gets a value from the database (DEFAULT, serial,
    /// identity, generated).
    pub has_default: bool,
    pub identity: bool,
    /// Stored generated column: never written.
    pub generated: bool,
    /// The default is `nextval(...)`.
    pub serial: bool,
    /// Labels in sort order when the (element) type is an enum.
    pub enum_labels: Option<Vec<String>>,
    /// Declared length of varchar(n)/char(n) (also for arrays of them and domains over them).
    pub max_len: Option<u32>,
    /// Type modifier of the column, or of its domain's base when the column has none; -1 if
    /// none. `value_sql` reads numeric precision/scale and time precision from it, which
    /// `type_sql` does not show for domains.
    pub type_mod: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl TableModel {
    /// `schema.name`, each part quoted as PostgreSQL requires.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnModel> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const RELATIONS_SQL: &str = "
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind = 'v'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v')
  AND NOT c.relispartition
  AND n.nspname !~ '^pg_'
  AND n.nspname NOT IN ('information_schema', 'safeshift')
  AND (c.relkind <> 'v' OR (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.deptype = 'e'
                    AND ((d.classid = 'pg_class'::regclass AND d.objid = c.oid)
                      OR (d.classid = 'pg_namespace'::regclass AND d.objid = n.oid)))";

const COLUMNS_SQL: &str = "
SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid,
       a.atttypmod, a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attidentity <> '',
       a.attgenerated <> '', coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const TYPES_SQL: &str = "
SELECT oid, typname::text, typtype = 'd', typbasetype, typelem, typarray, typtypmod, typnotnull
FROM pg_type";

const ENUMS_SQL: &str = "
SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum GROUP BY 1";

// Only key columns (ord <= indnkeyatts) count for uniqueness; INCLUDE columns do not.
const KEYS_SQL: &str = "
SELECT i.indrelid, i.indisprimary,
       ARRAY(SELECT a.attname::text
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)
FROM pg_index i
WHERE i.indrelid = ANY($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY i.indrelid, i.indexrelid::regclass::text";

// conparentid = 0 drops the per-partition clones PostgreSQL adds for FKs that reference a
// partitioned table.
const FKS_SQL: &str = "
SELECT c.conrelid,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
       rn.nspname::text, r.relname::text,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid = ANY($1)
ORDER BY c.conrelid, c.conname";

struct PgType {
    name: String,
    is_domain: bool,
    base: u32,
    elem: u32,
    array: u32,
    typmod: i32,
    not_null: bool,
}

/// Reads every user table and insertable view. Skips `pg_catalog`, `information_schema`,
/// `pg_toast`/`pg_temp_*` (every `pg_*` schema), the `safeshift` schema, objects owned by an
/// extension (or in an extension's schema), partitions (rows reach them through their
/// partitioned parent, which is listed) and non-insertable views. Sorted by (schema, name).
pub fn read_tables(client: &mut Client) -> Result<Vec<TableModel>, postgres::Error> {
    let major: i32 = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )?
        .try_get(0)?;
    let columns_sql = crate::db::catalog_sql(COLUMNS_SQL, major.max(0) as u32);
    let mut tx = client.build_transaction().read_only(true).start()?;
    // format_type() schema-qualifies every type not visible on the search_path; with only
    // pg_catalog there, `type_sql` stays valid whatever search_path the caller's sessions use.
    tx.batch_execute("SET LOCAL search_path = pg_catalog")?;

    let mut tables: Vec<(u32, TableModel)> = Vec::new();
    for row in tx.query(RELATIONS_SQL, &[])? {
        tables.push((
            row.try_get(0)?,
            TableModel {
                schema: row.try_get(1)?,
                name: row.try_get(2)?,
                is_view: row.try_get(3)?,
                columns: Vec::new(),
                primary_key: Vec::new(),
                unique: Vec::new(),
                foreign_keys: Vec::new(),
            },
        ));
    }
    let oids: Vec<u32> = tables.iter().map(|(oid, _)| *oid).collect();
    let pos: HashMap<u32, usize> = oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();

    let mut types = HashMap::new();
    for row in tx.query(TYPES_SQL, &[])? {
        let t = PgType {
            name: row.try_get(1)?,
            is_domain: row.try_get(2)?,
            base: row.try_get(3)?,
            elem: row.try_get(4)?,
            array: row.try_get(5)?,
            typmod: row.try_get(6)?,
            not_null: row.try_get(7)?,
        };
        types.insert(row.try_get::<_, u32>(0)?, t);
    }
    let mut labels: HashMap<u32, Vec<String>> = HashMap::new();
    for row in tx.query(ENUMS_SQL, &[])? {
        labels.insert(row.try_get(0)?, row.try_get(1)?);
    }

    for row in tx.query(columns_sql.as_ref(), &[&oids])? {
        let Some(&i) = pos.get(&row.try_get::<_, u32>(0)?) else {
            continue;
        };
        let (base_type, enum_labels, type_mod, domain_not_null) =
            resolve_type(&types, &labels, row.try_get(3)?, row.try_get(4)?);
        let max_len = match base_type.trim_start_matches('_') {
            "varchar" | "bpchar" if type_mod >= 4 => u32::try_from(type_mod - 4).ok(),
            _ => None,
        };
        tables[i].1.columns.push(ColumnModel {
            name: row.try_get(1)?,
            type_sql: row.try_get(2)?,
            base_type,
            not_null: row.try_get::<_, bool>(5)? || domain_not_null,
            has_default: row.try_get(6)?,
            identity: row.try_get(7)?,
            generated: row.try_get(8)?,
            serial: row.try_get(9)?,
            enum_labels,
            max_len,
            type_mod,
        });
    }
    for row in tx.query(KEYS_SQL, &[&oids])? {
        let Some(&i) = pos.get(&row.try_get::<_, u32>(0)?) else {
            continue;
        };
        let cols: Vec<String> = row.try_get(2)?;
        let t = &mut tables[i].1;
        if row.try_get(1)? {
            t.primary_key = cols;
        } else if !t.unique.contains(&cols) {
            t.unique.push(cols);
        }
    }
    for row in tx.query(FKS_SQL, &[&oids])? {
        let Some(&i) = pos.get(&row.try_get::<_, u32>(0)?) else {
            continue;
        };
        tables[i].1.foreign_keys.push(ForeignKey {
            columns: row.try_get(1)?,
            ref_schema: row.try_get(2)?,
            ref_table: row.try_get(3)?,
            ref_columns: row.try_get(4)?,
        });
    }
    tx.commit()?;

    let mut out: Vec<TableModel> = tables.into_iter().map(|(_, t)| t).collect();
    // A primary key index that is also listed as unique elsewhere would be redundant.
    for t in &mut out {
        let pk = t.primary_key.clone();
        t.unique.retain(|u| *u != pk);
    }
    // Byte order rather than the database collation, so the order never depends on the server.
    out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(out)
}

/// Strips domains (collecting the first type modifier and any domain NOT NULL on the way),
/// then, for an array, does the same for its element. Returns (base_type, enum labels,
/// type_mod, not null from a domain).
fn resolve_type(
    types: &HashMap<u32, PgType>,
    labels: &HashMap<u32, Vec<String>>,
    oid: u32,
    typmod: i32,
) -> (String, Option<Vec<String>>, i32, bool) {
    let (oid, typmod, not_null) = strip_domains(types, oid, typmod);
    let Some(t) = types.get(&oid) else {
        return (String::new(), None, typmod, not_null);
    };
    // A true array type is the `typarray` of its element; int2vector and friends are not.
    let is_array = t.elem != 0 && types.get(&t.elem).is_some_and(|e| e.array == oid);
    if is_array {
        let (elem, typmod, _) = strip_domains(types, t.elem, typmod);
        let name = types.get(&elem).map_or("", |e| e.name.as_str());
        (
            format!("_{name}"),
            labels.get(&elem).cloned(),
            typmod,
            not_null,
        )
    } else {
        (t.name.clone(), labels.get(&oid).cloned(), typmod, not_null)
    }
}

fn strip_domains(types: &HashMap<u32, PgType>, mut oid: u32, mut typmod: i32) -> (u32, i32, bool) {
    let mut not_null = false;
    // Domains can stack; the bound only guards against a corrupt catalog.
    for _ in 0..64 {
        match types.get(&oid) {
            Some(t) if t.is_domain => {
                if typmod < 0 {
                    typmod = t.typmod;
                }
                not_null |= t.not_null;
                oid = t.base;
            }
            _ => break,
        }
    }
    (oid, typmod, not_null)
}

/// Words PostgreSQL's own `quote_ident` quotes: every reserved, column-name and
/// type/function-name keyword of PostgreSQL 15, plus the ones later releases added (json_*,
/// merge_action, system_user), since quoting a word that did not need it is harmless.
/// Sorted for binary search.
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "between", "bigint", "binary", "bit", "boolean", "both", "case", "cast", "char", "character",
    "check", "coalesce", "collate", "collation", "column", "concurrently", "constraint", "create",
    "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time",
    "current_timestamp", "current_user", "dec", "decimal", "default", "deferrable", "desc",
    "distinct", "do", "else", "end", "except", "exists", "extract", "false", "fetch", "float",
    "for", "foreign", "freeze", "from", "full", "grant", "greatest", "group", "grouping", "having",
    "ilike", "in", "initially", "inner", "inout", "int", "integer", "intersect", "interval",
    "into", "is", "isnull", "join", "json", "json_array", "json_arrayagg", "json_exists",
    "json_object", "json_objectagg", "json_query", "json_scalar", "json_serialize", "json_table",
    "json_value", "lateral", "leading", "least", "left", "like", "limit", "localtime",
    "localtimestamp", "merge_action", "national", "natural", "nchar", "none", "normalize", "not",
    "notnull", "null", "nullif", "numeric", "offset", "on", "only", "or", "order", "out", "outer",
    "overlaps", "overlay", "placing", "position", "precision", "primary", "real", "references",
    "returning", "right", "row", "select", "session_user", "setof", "similar", "smallint", "some",
    "substring", "symmetric", "system_user", "table", "tablesample", "then", "time", "timestamp",
    "to", "trailing", "treat", "trim", "true", "union", "unique", "user", "using", "values",
    "varchar", "variadic", "verbose", "when", "where", "window", "with", "xmlattributes",
    "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi",
    "xmlroot", "xmlserialize", "xmltable",
];

/// Quotes like PostgreSQL's `quote_ident`: bare only for `[a-z_][a-z0-9_$]*` that is not a
/// keyword; otherwise in double quotes with embedded `"` doubled, so no name can break out.
pub fn quote_ident(s: &str) -> String {
    let mut chars = s.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && KEYWORDS.binary_search(&s).is_err();
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// A string literal. With `standard_conforming_strings` on (the default since 9.1) backslashes
/// are ordinary characters, so doubling single quotes is all the escaping there is.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL expression of type `col.type_sql` whose value is distinct for distinct values of the
/// integer SQL expression `n` (n >= 0), and distinct between salts for the same `n`.
///
/// Numbers are spaced into four bands of width W chosen per type so every band stays in range:
/// `k = n % W + band * W`, with band 0 for salt `"s"` (seed rows: k = n), 1 for any other salt,
/// 2 for `"o"` (old app) and 3 for `"n"` (new app). So int4 `"o"` adds 1_000_000_000 and `"n"`
/// 1_500_000_000 (W = 500_000_000), int2 uses W = 8_000, int8/float8/unbounded numeric
/// W = 10^15, float4 W = 4_000_000 (exact integers), numeric(p,s) k × 10^-s with
/// W = min(10^p / 4, 10^15), date and interval W = 5×10^8 days, timestamp(tz) W = 10^12 seconds
/// from 2000-01-01, time(tz) a quarter of the day's slots at the column's precision, inet/cidr
/// W = 2^30 IPv4 addresses, macaddr W = 10^12. Past W a band wraps, so values repeat: a unique
/// int2 holds at most 8_000 seeded rows, a unique time(0) 21_600, numeric(p,s) 10^p / 4.
///
/// Text-like types are `n || salt || '-' || md5(...)`, number first so that a short varchar(n)
/// truncates the filler (and for n below the digit count, the salt) before the number. uuid is
/// `md5(salt || ':' || n)::uuid`, enums cycle through their labels starting at the salt's band
/// (distinct across salts with at least 4 labels, but only `labels` values in all), bool is
/// `n % 2 = 0` (two values: never unique, nor distinct across salts). json/jsonb/xml hold n and
/// the salt; ranges are `[k, k+1)` so they never overlap. Arrays are one-element `ARRAY[...]`,
/// domains use their base type. The salt should not start with a digit (it would blur where n
/// ends). Anything else (bit, geometric, tsvector, hstore, PostGIS, multiranges, "char", oid...)
/// gives None.
pub fn value_sql(col: &ColumnModel, n: &str, salt: &str) -> Option<String> {
    let (elem, is_array) = match col.base_type.strip_prefix('_') {
        Some(e) => (e, true),
        None => (col.base_type.as_str(), false),
    };
    let g = Gen {
        n: format!("({n})"),
        salt: quote_literal(salt),
        band: match salt {
            "s" => 0,
            "o" => 2,
            "n" => 3,
            _ => 1,
        },
    };
    let expr = g.scalar(elem, col)?;
    Some(if is_array {
        format!("(ARRAY[{expr}])::{}", col.type_sql)
    } else {
        format!("({expr})::{}", col.type_sql)
    })
}

struct Gen {
    n: String,
    salt: String,
    band: i64,
}

impl Gen {
    /// `n % w + band * w`, as int8.
    fn k(&self, w: i64) -> String {
        format!("({}::int8 % {w} + {})", self.n, self.band * w)
    }

    fn text(&self, max_len: Option<u32>) -> String {
        let t = format!(
            "{n}::text || {s} || '-' || md5({s} || {n}::text)",
            n = self.n,
            s = self.salt
        );
        match max_len {
            Some(m) => format!("left({t}, {m})"),
            None => t,
        }
    }

    fn date(&self) -> String {
        format!("(date '2000-01-01' + {}::int4)", self.k(500_000_000))
    }

    fn timestamp(&self, tz: bool) -> String {
        let base = if tz {
            "timestamptz '2000-01-01 00:00:00+00'"
        } else {
            "timestamp '2000-01-01 00:00:00'"
        };
        format!(
            "({base} + {} * interval '1 second')",
            self.k(1_000_000_000_000)
        )
    }

    /// An expression of the element's own type (or text for enums); the caller casts it.
    fn scalar(&self, elem: &str, col: &ColumnModel) -> Option<String> {
        if let Some(labels) = &col.enum_labels {
            if labels.is_empty() {
                return None;
            }
            let list: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            return Some(format!(
                "(ARRAY[{}]::text[])[({}::int8 + {}) % {} + 1]",
                list.join(", "),
                self.n,
                self.band,
                labels.len()
            ));
        }
        let tm = col.type_mod;
        Some(match elem {
            "int2" => self.k(8_000),
            "int4" => self.k(500_000_000),
            "int8" | "float8" => self.k(1_000_000_000_000_000),
            "float4" => self.k(4_000_000),
            "numeric" => {
                // typmod = ((precision << 16) | scale) + 4; the scale is 11 bits, signed (PG15
                // allows negative scales and scales above the precision).
                if tm >= 4 {
                    let p = ((tm - 4) >> 16) & 0xffff;
                    let s = (((tm - 4) & 0x7ff) ^ 1024) - 1024;
                    let w = if p >= 16 {
                        10_i64.pow(15)
                    } else {
                        (10_i64.pow(p as u32) / 4).max(1)
                    };
                    if s == 0 {
                        self.k(w)
                    } else {
                        format!("({}::numeric * 1e{})", self.k(w), -s)
                    }
                } else {
                    self.k(1_000_000_000_000_000)
                }
            }
            "money" => format!("({}::numeric * 0.01)", self.k(1_000_000_000_000_000)),
            "text" | "varchar" | "bpchar" | "citext" => self.text(col.max_len),
            "name" => self.text(Some(63)),
            "bytea" => format!("convert_to({}, 'UTF8')", self.text(None)),
            "bool" => format!("({}::int8 % 2 = 0)", self.n),
            "uuid" => format!("md5({} || ':' || {}::text)::uuid", self.salt, self.n),
            "date" => self.date(),
            "timestamp" => self.timestamp(false),
            "timestamptz" => self.timestamp(true),
            "time" | "timetz" => {
                // Step by the column's precision so rounding never merges two values.
                let p = if (0..=6).contains(&tm) { tm as u32 } else { 6 };
                let w = 86_400 * 10_i64.pow(p) / 4;
                let unit = 10_i64.pow(6 - p);
                let base = if elem == "time" {
                    "time '00:00:00'"
                } else {
                    "timetz '00:00:00+00'"
                };
                format!("({base} + {} * interval '{unit} microseconds')", self.k(w))
            }
            // Days, not seconds: an interval column restricted to DAY or coarser fields keeps
            // them, and interval equality treats 30 days = 1 month, which days never hit.
            "interval" => format!("make_interval(days => {}::int4)", self.k(500_000_000)),
            "json" => format!("json_build_object('n', {}, 'salt', {})", self.n, self.salt),
            "jsonb" => format!("jsonb_build_object('n', {}, 'salt', {})", self.n, self.salt),
            "xml" => format!("xmlelement(name v, {}::text || {})", self.n, self.salt),
            "inet" => format!("('0.0.0.0'::inet + {})", self.k(1 << 30)),
            "cidr" => format!("('0.0.0.0'::inet + {})::cidr", self.k(1 << 30)),
            "macaddr" => format!(
                "lpad(to_hex({}), 12, '0')::macaddr",
                self.k(1_000_000_000_000)
            ),
            "macaddr8" => {
                format!(
                    "lpad(to_hex({}), 16, '0')::macaddr8",
                    self.k(1_000_000_000_000)
                )
            }
            "int4range" => {
                let k = self.k(500_000_000);
                format!("int4range({k}::int4, {k}::int4 + 1)")
            }
            "int8range" => {
                let k = self.k(1_000_000_000_000_000);
                format!("int8range({k}, {k} + 1)")
            }
            "numrange" => {
                let k = self.k(1_000_000_000_000_000);
                format!("numrange({k}::numeric, {k}::numeric + 1)")
            }
            "daterange" => {
                let d = self.date();
                format!("daterange({d}, {d} + 1)")
            }
            "tsrange" | "tstzrange" => {
                let t = self.timestamp(elem == "tstzrange");
                format!("{elem}({t}, {t} + interval '1 second')")
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("users"), "users");
        assert_eq!(quote_ident("a$1"), "a$1");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("MixedCase"), "\"MixedCase\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("we\"ird; x"), "\"we\"\"ird; x\"");
        assert_eq!(quote_ident("é"), "\"é\"");
        assert_eq!(quote_literal("it's \\"), "'it''s \\'");
        assert!(
            KEYWORDS.windows(2).all(|w| w[0] < w[1]),
            "KEYWORDS must stay sorted"
        );
    }

    #[test]
    fn numeric_typmod_scale() {
        // numeric(5,2): typmod = (5 << 16 | 2) + 4
        let col = ColumnModel {
            name: "p".into(),
            type_sql: "numeric(5,2)".into(),
            base_type: "numeric".into(),
            not_null: false,
            has_default: false,
            identity: false,
            generated: false,
            serial: false,
            enum_labels: None,
            max_len: None,
            type_mod: (5 << 16 | 2) + 4,
        };
        let sql = value_sql(&col, "g", "o").unwrap();
        assert!(
            sql.contains("% 25000 + 50000") && sql.contains("1e-2"),
            "{sql}"
        );
    }
}
