//! PostgreSQL: lock modes, version gates and the spelling of identifiers and literals.
//! Facts and their sources are in `shared/ENGINE_FACTS.md`; each gate below names the fact.

use serde::Serialize;

use crate::name::QName;

/// The oldest major version safeshift plans for: batched backfills `COMMIT` inside `DO` blocks,
/// which PostgreSQL allows from 11, and `ADD COLUMN … DEFAULT` is catalog-only from 11.
pub const MIN_MAJOR: u32 = 11;
pub const DEFAULT_MAJOR: u32 = 14;

/// How long a DDL statement may wait for its lock before giving up, instead of queueing every
/// other query on the table behind it. `apply` retries; by hand, re-run the stage.
pub const LOCK_TIMEOUT: &str = "2s";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Postgres {
    pub major: u32,
    pub minor: Option<u32>,
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            major: DEFAULT_MAJOR,
            minor: None,
        }
    }
}

impl Postgres {
    /// Parses `--server-version`: `15`, `14.2`, `16.4`.
    pub fn parse_version(text: &str) -> Result<Postgres, String> {
        let mut parts = text.trim().split('.');
        let major = parts.next().and_then(|m| m.parse::<u32>().ok());
        let minor = parts.next().map(|m| m.parse::<u32>());
        match (major, minor) {
            (Some(major), None) if parts.next().is_none() => Postgres::checked(major, None),
            (Some(major), Some(Ok(minor))) if parts.next().is_none() => {
                Postgres::checked(major, Some(minor))
            }
            _ => Err(format!(
                "invalid server version `{text}`: expected a PostgreSQL version such as 15 or 14.4"
            )),
        }
    }

    fn checked(major: u32, minor: Option<u32>) -> Result<Postgres, String> {
        if major < MIN_MAJOR {
            return Err(format!(
                "PostgreSQL {major} is not supported: safeshift plans for PostgreSQL {MIN_MAJOR} and later"
            ));
        }
        Ok(Postgres { major, minor })
    }

    pub fn version(&self) -> String {
        match self.minor {
            Some(m) => format!("{}.{m}", self.major),
            None => self.major.to_string(),
        }
    }

    /// PG12+: `SET NOT NULL` skips its full-table scan when a valid CHECK (col IS NOT NULL) exists.
    pub fn set_not_null_skips_scan_with_check(&self) -> bool {
        self.major >= 12
    }

    /// PG18+: `ADD CONSTRAINT … NOT NULL col NOT VALID` then `VALIDATE CONSTRAINT`.
    pub fn not_null_not_valid(&self) -> bool {
        self.major >= 18
    }

    /// PG12+: a foreign key added to a partitioned table takes over an equal, validated one each
    /// partition already has, instead of checking the partition's rows again.
    pub fn partition_fk_attaches_existing(&self) -> bool {
        self.major >= 12
    }

    /// PG14+: `WHERE ctid > … AND ctid <= …` reads only those blocks (TID range scan), so a
    /// table without a key can be walked in batches.
    pub fn tid_range_scan(&self) -> bool {
        self.major >= 14
    }

    /// PG13+: a partitioned table takes BEFORE … FOR EACH ROW triggers (cloned to its partitions);
    /// before, only its partitions can.
    pub fn row_triggers_on_partitioned(&self) -> bool {
        self.major >= 13
    }

    /// Before PG12 `ALTER TYPE … ADD VALUE` cannot run inside a transaction block.
    pub fn enum_add_value_in_transaction(&self) -> bool {
        self.major >= 12
    }

    /// 14.0–14.3 could corrupt indexes built with CONCURRENTLY (fixed in 14.4).
    pub fn concurrent_index_bug(&self) -> bool {
        self.major == 14 && self.minor.is_none_or(|m| m < 4)
    }
}

/// Whether PostgreSQL refuses `statement` inside a transaction block. A query string with several
/// statements runs as one implicit transaction block, so such a statement must also be the only
/// statement of whatever a migration tool sends in one go (golang-migrate, dbmate and sqlx send a
/// whole file or section). Reads the leading keywords of SQL safeshift wrote (or passed through),
/// the way Flyway's PostgreSQL parser does; a `DO` block that commits per batch counts too, because
/// `COMMIT` inside `DO` is refused in a transaction block ("invalid transaction termination").
pub fn runs_only_alone(statement: &str, pg: Postgres) -> bool {
    let upper = statement.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    let w = |i: usize| words.get(i).copied().unwrap_or("");
    match w(0) {
        "CREATE" | "DROP" | "REINDEX" if words.iter().take(6).any(|&x| x == "CONCURRENTLY") => true,
        "CREATE" | "DROP" => matches!(w(1), "DATABASE" | "TABLESPACE" | "SUBSCRIPTION"),
        "REINDEX" => matches!(w(1), "SCHEMA" | "DATABASE" | "SYSTEM"),
        "VACUUM" => true,
        "ALTER" if w(1) == "SYSTEM" => true,
        "ALTER" if w(1) == "TYPE" => {
            !pg.enum_add_value_in_transaction() && words.windows(2).any(|p| p == ["ADD", "VALUE"])
        }
        "DO" => words.contains(&"COMMIT"),
        _ => false,
    }
}

/// Table-level lock modes that schema changes take, strongest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LockMode {
    /// Data changes (UPDATE in a backfill batch): blocks only schema changes.
    RowExclusive,
    /// VALIDATE CONSTRAINT, CREATE INDEX CONCURRENTLY.
    ShareUpdateExclusive,
    /// CREATE INDEX (without CONCURRENTLY).
    Share,
    /// CREATE TRIGGER, ADD FOREIGN KEY.
    ShareRowExclusive,
    /// Most ALTER TABLE forms, DROP, RENAME.
    AccessExclusive,
    /// MySQL/MariaDB: a DML statement's metadata lock (backfill batches): row locks only, blocks
    /// only schema changes.
    MetadataSharedWrite,
    /// MySQL/MariaDB: `ALGORITHM=INPLACE, LOCK=NONE` while it runs (exclusive only at its start
    /// and end): reads and writes continue.
    MetadataUpgradable,
    /// MySQL/MariaDB: `LOCK=SHARED`, and every table copy: reads continue, writes wait.
    MetadataNoWrite,
    /// MySQL/MariaDB: the exclusive metadata lock every ALTER takes at its start and end, and the
    /// only lock an INSTANT change takes.
    MetadataExclusive,
    /// MySQL/MariaDB: `LOCK TABLES t WRITE`: every other session's reads and writes of the table
    /// wait until `UNLOCK TABLES`.
    TableWrite,
}

impl LockMode {
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
            LockMode::MetadataSharedWrite => "SHARED_WRITE metadata lock",
            LockMode::MetadataUpgradable => "SHARED_UPGRADABLE metadata lock",
            LockMode::MetadataNoWrite => "SHARED_NO_WRITE metadata lock",
            LockMode::MetadataExclusive => "EXCLUSIVE metadata lock",
            LockMode::TableWrite => "WRITE table lock (LOCK TABLES)",
        }
    }

    /// Whether application reads or writes wait while the lock is held (or queued).
    pub fn blocks_traffic(self) -> bool {
        matches!(
            self,
            LockMode::Share
                | LockMode::ShareRowExclusive
                | LockMode::AccessExclusive
                | LockMode::MetadataNoWrite
                | LockMode::MetadataExclusive
                | LockMode::TableWrite
        )
    }

    /// What application traffic waits while the lock is held.
    pub fn blocks(self) -> &'static str {
        match self {
            LockMode::RowExclusive | LockMode::MetadataSharedWrite => "only schema changes",
            LockMode::MetadataUpgradable => "only other schema changes (reads and writes continue)",
            LockMode::MetadataNoWrite => "writes (reads continue)",
            LockMode::MetadataExclusive | LockMode::TableWrite => "all reads and writes",
            LockMode::ShareUpdateExclusive => {
                "only other schema changes and VACUUM (reads and writes continue)"
            }
            LockMode::Share | LockMode::ShareRowExclusive => "writes (reads continue)",
            LockMode::AccessExclusive => "all reads and writes",
        }
    }
}

/// Words PostgreSQL reserves (and type-like words that are clearer quoted). Quoting a word that did
/// not need it is harmless; failing to quote one that did breaks the statement.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Quotes an identifier when PostgreSQL needs it to: anything but a plain lower-case word, or a
/// reserved word. Embedded double quotes are doubled, so no name can escape its quotes.
pub fn quote(ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&ident);
    if plain {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

pub fn qname(name: &QName) -> String {
    match &name.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&name.name)),
        None => quote(&name.name),
    }
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON table body`: the one spelling of
/// an index's statement, for the indexes a plan builds and those the catalog recreates. The index
/// is named in the table's schema, so only the table's name is qualified.
pub fn create_index_sql(
    unique: bool,
    concurrently: bool,
    if_not_exists: bool,
    name: &str,
    table: &QName,
    body: &str,
) -> String {
    format!(
        "CREATE {}INDEX {}{}{} ON {} {}",
        if unique { "UNIQUE " } else { "" },
        if concurrently { "CONCURRENTLY " } else { "" },
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote(name),
        qname(table),
        body
    )
}

/// A string literal. `standard_conforming_strings` is on by default since 9.1, so backslashes are
/// literal and doubling single quotes is the whole job.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A dollar-quote tag that does not occur in `body`, so a function body can never close early.
pub fn dollar_tag(body: &str) -> String {
    let mut tag = "$safeshift$".to_string();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$safeshift{n}$");
    }
    tag
}

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1). Names we generate must stay
/// unique after truncation, so long ones get a short stable hash of the full name instead.
pub const MAX_IDENT_BYTES: usize = 63;

pub fn fit_ident(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let hash = format!("_{:08x}", stable_hash(name.as_bytes()) as u32);
    let mut cut = MAX_IDENT_BYTES - hash.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hash}", &name[..cut])
}

/// The name PostgreSQL gives an object the user did not name (`makeObjectName` in its
/// `indexcmds.c`): `name1_name2_label`, the longer of `name1` and `name2` shortened first until it
/// fits in 63 bytes, never in the middle of a character. Unlike [`fit_ident`] there is no hash:
/// this must be exactly the name the naive statement would have produced. (PostgreSQL appends a
/// number when that name is taken; safeshift cannot see every name, and does not.)
pub fn default_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = name2.map_or(0, |_| 1) + label.len() + 1;
    let available = MAX_IDENT_BYTES.saturating_sub(overhead);
    let (mut len1, mut len2) = (name1.len(), name2.map_or(0, str::len));
    while len1 + len2 > available {
        if len1 > len2 {
            len1 -= 1;
        } else {
            len2 -= 1;
        }
    }
    let clip = |text: &str, mut len: usize| {
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        text[..len].to_string()
    };
    let mut name = clip(name1, len1);
    if let Some(name2) = name2 {
        name.push('_');
        name.push_str(&clip(name2, len2));
    }
    name.push('_');
    name.push_str(label);
    name
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases, and generated
/// names must not).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// Functions whose value is fixed for a whole statement (immutable or stable). A column default
/// built only from these is stored once in the catalog (PG11+ "fast default"), not per row.
const NOT_VOLATILE: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "current_user",
    "session_user",
    "current_schema",
    "lower",
    "upper",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "length",
    "concat",
    "md5",
    "abs",
    "round",
    "trim",
    "btrim",
    "to_jsonb",
    "to_json",
    "jsonb_build_object",
    "json_build_object",
    "array",
    "make_date",
    "make_timestamp",
    "make_interval",
    "date_trunc",
    "to_timestamp",
    "to_char",
];

/// True when evaluating `expr` may give a different value for each row: then `ADD COLUMN …
/// DEFAULT expr` rewrites the whole table. Functions we do not know are assumed volatile: a wrong
/// "volatile" costs an extra stage, a wrong "stable" costs an outage.
pub fn is_volatile(expr: &sqlparser::ast::Expr) -> bool {
    use std::ops::ControlFlow;
    let found = sqlparser::ast::visit_expressions(expr, |e| {
        if let sqlparser::ast::Expr::Function(f) = e {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default();
            if !NOT_VOLATILE.contains(&name.as_str()) {
                return ControlFlow::Break(());
            }
        }
        if matches!(e, sqlparser::ast::Expr::Subquery(_)) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found.is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_must_run_alone() {
        let pg11 = Postgres::parse_version("11").unwrap();
        let pg14 = Postgres::default();
        for alone in [
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c)",
            "create unique index concurrently i on t (c)",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "REINDEX INDEX CONCURRENTLY i",
            "VACUUM t",
            "DO $x$ BEGIN LOOP UPDATE t SET c = 1; COMMIT; END LOOP; END $x$",
        ] {
            assert!(runs_only_alone(alone, pg14), "{alone}");
        }
        for in_tx in [
            "ALTER TABLE t VALIDATE CONSTRAINT c",
            "CREATE INDEX i ON t (c)",
            "DO $x$ BEGIN RAISE NOTICE 'x'; END $x$",
            "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'",
            "SELECT 'nothing to undo' AS note",
        ] {
            assert!(!runs_only_alone(in_tx, pg14), "{in_tx}");
        }
        assert!(runs_only_alone("ALTER TYPE mood ADD VALUE 'meh'", pg11));
    }

    #[test]
    fn quoting_defeats_hostile_names() {
        assert_eq!(quote("users"), "users");
        assert_eq!(quote("Users"), "\"Users\"");
        assert_eq!(quote("user"), "\"user\"");
        assert_eq!(
            quote("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(quote("1abc"), "\"1abc\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn default_names_are_truncated_as_postgresql_does() {
        assert_eq!(default_object_name("users", None, "pkey"), "users_pkey");
        assert_eq!(
            default_object_name("users", Some("email_n"), "key"),
            "users_email_n_key"
        );
        // Both parts too long: the longer one is shortened first, then both by turns.
        let t = "t".repeat(63);
        let c = "c".repeat(10);
        let name = default_object_name(&t, Some(&c), "fkey");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}_{c}_fkey", "t".repeat(47)));
        assert_eq!(
            default_object_name(&t, None, "pkey"),
            format!("{}_pkey", "t".repeat(58))
        );
        // Never half a character: PostgreSQL clips to the character boundary (62 bytes here).
        let e = "é".repeat(40);
        let name = default_object_name(&e, None, "pkey");
        assert_eq!(name, format!("{}_pkey", "é".repeat(29)));
    }

    #[test]
    fn generated_names_fit_and_stay_distinct() {
        let a = fit_ident(&format!("{}_a", "x".repeat(70)));
        let b = fit_ident(&format!("{}_b", "x".repeat(70)));
        assert!(a.len() <= MAX_IDENT_BYTES && b.len() <= MAX_IDENT_BYTES);
        assert_ne!(a, b);
        assert_eq!(fit_ident("short"), "short");
        let unicode = fit_ident(&"é".repeat(40));
        assert!(unicode.len() <= MAX_IDENT_BYTES);
    }

    #[test]
    fn volatility() {
        let v = |s: &str| is_volatile(&crate::ops::parse_expr(s).unwrap());
        assert!(v("gen_random_uuid()"));
        assert!(v("clock_timestamp()"));
        assert!(v("my_func(1)"));
        assert!(!v("now()"));
        assert!(!v("CURRENT_TIMESTAMP"));
        assert!(!v("'x'"));
        assert!(!v("0"));
        assert!(!v("lower('A')"));
    }

    #[test]
    fn versions() {
        assert_eq!(Postgres::parse_version("15").unwrap().major, 15);
        assert!(
            Postgres::parse_version("14.2")
                .unwrap()
                .concurrent_index_bug()
        );
        assert!(
            !Postgres::parse_version("14.4")
                .unwrap()
                .concurrent_index_bug()
        );
        assert!(Postgres::parse_version("10").is_err());
        assert!(Postgres::parse_version("abc").is_err());
    }
}
