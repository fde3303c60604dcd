//! MySQL 8 and MariaDB (InnoDB): which ALTER runs with which algorithm from which version, the
//! metadata lock every ALTER needs, and the spelling of identifiers and literals.
//!
//! Facts and their sources are in `shared/ENGINE_FACTS.md` (MySQL 8.0 online DDL tables); the
//! MariaDB rows were checked on MariaDB 10.11 by `tests/mysql_ops.rs`, where the server refusing an
//! `ALGORITHM=INSTANT` it cannot honour is the proof. Every version gate below names its fact.

use serde::Serialize;

/// The two servers speak nearly the same SQL but gained online DDL at different versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    MySql,
    MariaDb,
}

/// A MySQL or MariaDB server version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MySql {
    pub flavor: Flavor,
    pub major: u32,
    pub minor: u32,
    /// `None` when only `major.minor` was given: version gates then assume the oldest patch.
    pub patch: Option<u32>,
}

/// How long an ALTER may wait for its metadata lock before giving up (seconds; the server's
/// default is a year on MySQL, a day on MariaDB). Every ALTER needs an exclusive metadata lock at
/// its start and end, and every query on the table queues behind a waiting one.
pub const LOCK_WAIT_TIMEOUT_SECONDS: u32 = 2;

/// Without `--server-version`: the current long-term-support release (8.4 LTS, April 2024), where
/// every online DDL gate below is open. Planning for 8.0.0 instead refused or rebuilt what a
/// current server does instantly; a plan made for the default says so in its assumptions.
pub const DEFAULT_MYSQL: &str = "8.4";

/// The most careful MySQL answer, for code that needs one without a target.
pub const OLDEST_MYSQL: MySql = MySql {
    flavor: Flavor::MySql,
    major: 8,
    minor: 0,
    patch: None,
};
pub const DEFAULT_MARIADB: &str = "10.11";

/// The algorithm an ALTER runs with, weakest lock first. Emitted DDL names it (`ALGORITHM=…,
/// LOCK=…`), so the server refuses the statement instead of silently copying the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Metadata only: a brief exclusive metadata lock, rows untouched.
    Instant,
    /// In place without rebuilding the table (index builds, metadata changes): reads and writes
    /// continue (`LOCK=NONE`); exclusive metadata lock only at the start and the end.
    Inplace,
    /// In place, but the table is rebuilt (NOT NULL, primary key, column drop before instant
    /// drop): reads and writes continue, the rebuild costs I/O and replica lag.
    InplaceRebuild,
    /// A full table copy: writes wait for the whole copy (`LOCK=SHARED`).
    Copy,
}

impl Algorithm {
    /// The clause that pins the algorithm, appended to the ALTER TABLE.
    pub fn clause(self) -> &'static str {
        match self {
            Algorithm::Instant => "ALGORITHM=INSTANT",
            Algorithm::Inplace | Algorithm::InplaceRebuild => "ALGORITHM=INPLACE, LOCK=NONE",
            Algorithm::Copy => "ALGORITHM=COPY, LOCK=SHARED",
        }
    }

    /// The lock application traffic meets while the ALTER runs.
    pub fn lock(self) -> super::LockMode {
        match self {
            Algorithm::Instant => super::LockMode::MetadataExclusive,
            Algorithm::Inplace | Algorithm::InplaceRebuild => super::LockMode::MetadataUpgradable,
            Algorithm::Copy => super::LockMode::MetadataNoWrite,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Algorithm::Instant => "INSTANT: metadata only, existing rows are not touched",
            Algorithm::Inplace => {
                "INPLACE, LOCK=NONE: reads and writes continue; a brief exclusive metadata lock at the start and the end"
            }
            Algorithm::InplaceRebuild => {
                "INPLACE, LOCK=NONE with a table rebuild: reads and writes continue, but the rebuild takes time and I/O, and replicas apply it only after it finished here"
            }
            Algorithm::Copy => "COPY: the table is copied while writes wait",
        }
    }
}

impl MySql {
    /// Parses `--server-version`: `8.0`, `8.0.35`, `10.11`, `10.11.6` (a `-MariaDB…` suffix is
    /// ignored, so `SELECT version()` output works too).
    pub fn parse_version(flavor: Flavor, text: &str) -> Result<MySql, String> {
        let name = flavor.name();
        let bad = || {
            format!(
                "invalid server version `{text}`: expected a {name} version such as {}",
                match flavor {
                    Flavor::MySql => "8.0 or 8.0.35",
                    Flavor::MariaDb => "10.11 or 10.6.16",
                }
            )
        };
        let core = text.trim().split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
        let (major, minor, patch) = match parts.as_slice() {
            [major, minor] => (num(major)?, num(minor)?, None),
            [major, minor, patch] => (num(major)?, num(minor)?, Some(num(patch)?)),
            _ => return Err(bad()),
        };
        let version = MySql {
            flavor,
            major,
            minor,
            patch,
        };
        let (min, min_text) = match flavor {
            // Instant ADD COLUMN arrived in 8.0.12; 5.7 has no instant DDL at all.
            Flavor::MySql => ((8, 0, 0), "8.0"),
            // Instant ADD COLUMN arrived in MariaDB 10.3.
            Flavor::MariaDb => ((10, 3, 0), "10.3"),
        };
        if version.at_least(min.0, min.1, min.2) {
            Ok(version)
        } else {
            Err(format!(
                "{name} {} is not supported: safeshift plans for {name} {min_text} and later",
                version.version()
            ))
        }
    }

    pub fn version(&self) -> String {
        match self.patch {
            Some(p) => format!("{}.{}.{p}", self.major, self.minor),
            None => format!("{}.{}", self.major, self.minor),
        }
    }

    fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        (self.major, self.minor, self.patch.unwrap_or(0)) >= (major, minor, patch)
    }

    pub fn is_mariadb(&self) -> bool {
        self.flavor == Flavor::MariaDb
    }

    /// ADD COLUMN: INSTANT as the last column from MySQL 8.0.12 / MariaDB 10.3, anywhere in the
    /// row from MySQL 8.0.29 / MariaDB 10.4; otherwise an in-place rebuild.
    pub fn add_column(&self, last: bool) -> Algorithm {
        let instant = match (self.flavor, last) {
            (Flavor::MySql, true) => self.at_least(8, 0, 12),
            (Flavor::MySql, false) => self.at_least(8, 0, 29),
            (Flavor::MariaDb, true) => true,
            (Flavor::MariaDb, false) => self.at_least(10, 4, 0),
        };
        if instant {
            Algorithm::Instant
        } else {
            Algorithm::InplaceRebuild
        }
    }

    /// DROP COLUMN: INSTANT from MySQL 8.0.29 / MariaDB 10.4; before, an in-place rebuild.
    pub fn drop_column(&self) -> Algorithm {
        let instant = match self.flavor {
            Flavor::MySql => self.at_least(8, 0, 29),
            Flavor::MariaDb => self.at_least(10, 4, 0),
        };
        if instant {
            Algorithm::Instant
        } else {
            Algorithm::InplaceRebuild
        }
    }

    /// RENAME COLUMN: INSTANT from MySQL 8.0.28 (INPLACE, metadata only, before) and on MariaDB.
    pub fn rename_column(&self) -> Algorithm {
        match self.flavor {
            Flavor::MySql if !self.at_least(8, 0, 28) => Algorithm::Inplace,
            _ => Algorithm::Instant,
        }
    }

    /// `ALTER TABLE … RENAME COLUMN a TO b`: MySQL 8.0, MariaDB 10.5.2. Older MariaDB spells it
    /// `CHANGE COLUMN a b <definition>`.
    pub fn has_rename_column(&self) -> bool {
        match self.flavor {
            Flavor::MySql => true,
            Flavor::MariaDb => self.at_least(10, 5, 2),
        }
    }

    /// SET/DROP DEFAULT and appending ENUM members (without changing the storage size):
    /// metadata only, INSTANT on both.
    pub fn metadata_change(&self) -> Algorithm {
        Algorithm::Instant
    }

    /// NULL ↔ NOT NULL: INPLACE with a rebuild on both (not INSTANT: checked on MariaDB 10.11).
    /// Making a column NOT NULL in place needs a strict sql_mode; without one the server turns
    /// NULLs into 0 or '' instead of failing.
    pub fn change_nullability(&self) -> Algorithm {
        Algorithm::InplaceRebuild
    }

    /// Widening a VARCHAR: metadata only while the length prefix stays one byte (≤ 255 bytes) or
    /// was two bytes already; crossing 255 bytes copies the table on MySQL. MariaDB (checked on
    /// 10.11 by `tests/mysql_facts.rs`) crosses it with an in-place rebuild only from a column of
    /// at most 127 bytes (`varchar(31)` in utf8mb4) and refuses INPLACE from 128 bytes up
    /// (`varchar(32)` → `varchar(200)`: "Cannot change column type"), i.e. copies. MySQL
    /// documents the metadata-only case as INPLACE, MariaDB performs it INSTANT.
    pub fn widen_varchar(&self, from_bytes: u64, to_bytes: u64) -> Algorithm {
        let same_prefix = (from_bytes <= 255) == (to_bytes <= 255);
        match (self.flavor, same_prefix) {
            (Flavor::MySql, true) => Algorithm::Inplace,
            (Flavor::MySql, false) => Algorithm::Copy,
            (Flavor::MariaDb, true) => Algorithm::Instant,
            (Flavor::MariaDb, false) if from_bytes <= 127 => Algorithm::InplaceRebuild,
            (Flavor::MariaDb, false) => Algorithm::Copy,
        }
    }

    /// ADD/DROP secondary INDEX and ADD UNIQUE: INPLACE without rebuild (never INSTANT).
    pub fn index_change(&self) -> Algorithm {
        Algorithm::Inplace
    }

    /// ADD PRIMARY KEY: INPLACE, rebuilding the clustered index.
    pub fn add_primary_key(&self) -> Algorithm {
        Algorithm::InplaceRebuild
    }

    /// ADD FOREIGN KEY: INPLACE (metadata only) only with `foreign_key_checks=0`; with checks on
    /// the server copies the table to validate every row (MariaDB 10.11 says so in its error).
    pub fn add_foreign_key(&self, checks_off: bool) -> Algorithm {
        if checks_off {
            Algorithm::Inplace
        } else {
            Algorithm::Copy
        }
    }

    /// ADD CHECK: no NOT VALID, no in-place path: the table is copied while every row is checked
    /// (MariaDB 10.11 refuses INPLACE). MySQL 8.0.16+ has `NOT ENFORCED`, but enforcing later
    /// copies again.
    pub fn add_check(&self) -> Algorithm {
        Algorithm::Copy
    }

    /// Any other change of a column's type (INT → BIGINT, ENUM reorder, charset): a table copy.
    pub fn change_type(&self) -> Algorithm {
        Algorithm::Copy
    }

    /// The `ALGORITHM=` clause for dropping or renaming an index without touching rows, in the
    /// column swap that ends a type change — `None` where that swap cannot be metadata-only
    /// because dropping a column rebuilds the table (before MySQL 8.0.29 / MariaDB 10.4).
    ///
    /// The swap runs under `LOCK TABLES … WRITE` (so no write can slip past the copy triggers),
    /// so every ALTER in it must be metadata only: the old column's indexes are dropped (never
    /// INSTANT, but in place without a rebuild — MariaDB 10.3.7+ can be held to that with
    /// `ALGORITHM=NOCOPY`; MySQL has no NOCOPY, and documents DROP/RENAME INDEX as INPLACE,
    /// metadata only), then the old column is dropped and the copy renamed into its place with
    /// its final default, `ALGORITHM=INSTANT` (checked on MariaDB 10.11 by `tests/mysql_ops.rs`;
    /// on MySQL from its online DDL tables only).
    pub fn swap_index_algorithm(&self) -> Option<&'static str> {
        if self.drop_column() != Algorithm::Instant {
            return None;
        }
        Some(match self.flavor {
            Flavor::MariaDb => "ALGORITHM=NOCOPY",
            Flavor::MySql => "ALGORITHM=INPLACE",
        })
    }

    /// MariaDB knows `IF [NOT] EXISTS` for columns, indexes and constraints in ALTER TABLE, which
    /// makes a stage safe to re-run; MySQL 8 does not.
    pub fn alter_if_exists(&self) -> bool {
        self.is_mariadb()
    }
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MySql => "MySQL",
            Flavor::MariaDb => "MariaDB",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Flavor::MySql => "mysql",
            Flavor::MariaDb => "mariadb",
        }
    }
}

/// Backtick-quotes an identifier, always: a backtick inside is doubled, so no name can escape.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A string literal that means the same with and without `NO_BACKSLASH_ESCAPES`: quotes are
/// doubled, and text with a backslash goes in as hex, which no sql_mode reinterprets.
pub fn literal(text: &str) -> String {
    if text.contains('\\') || text.contains('\0') {
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        format!("CONVERT(X'{hex}' USING utf8mb4)")
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// Identifiers are at most 64 characters; longer generated names get a stable hash suffix.
pub const MAX_IDENT_CHARS: usize = 64;

pub fn fit_ident(name: &str) -> String {
    if name.chars().count() <= MAX_IDENT_CHARS {
        return name.to_string();
    }
    let hash = format!(
        "_{:08x}",
        super::postgres::stable_hash(name.as_bytes()) as u32
    );
    let kept: String = name.chars().take(MAX_IDENT_CHARS - hash.len()).collect();
    format!("{kept}{hash}")
}

/// A client delimiter for a stored-program body that the body does not contain, so
/// `mariadb < up.sql` cannot end the body early.
pub fn delimiter(body: &str) -> String {
    let mut delimiter = "$$".to_string();
    let mut n = 0;
    while body.contains(&delimiter) {
        n += 1;
        delimiter = format!("$${n}$$");
    }
    delimiter
}

/// Functions a column default may call and still be INSTANT to add: the current time is
/// stored once as the default, not computed per existing row.
const TIME_DEFAULTS: &[&str] = &[
    "current_timestamp",
    "now",
    "localtime",
    "localtimestamp",
    "current_date",
    "curdate",
];

/// True when `ADD COLUMN … DEFAULT expr` needs a value computed per existing row (`(uuid())`,
/// `(rand())`, any function but the current time): the server then copies the table (MariaDB
/// 10.11 refuses INSTANT and INPLACE). Constant expressions such as `(1 + 1)` stay INSTANT.
pub fn is_computed_default(expr: &sqlparser::ast::Expr) -> bool {
    use std::ops::ControlFlow;
    sqlparser::ast::visit_expressions(expr, |e| {
        let computed = match e {
            sqlparser::ast::Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                !TIME_DEFAULTS.contains(&name.as_str())
            }
            sqlparser::ast::Expr::Subquery(_) => true,
            _ => false,
        };
        if computed {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// Bytes per character of the column's character set (utf8mb4, the default on both, is 4).
pub const BYTES_PER_CHAR: u64 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn my(v: &str) -> MySql {
        MySql::parse_version(Flavor::MySql, v).unwrap()
    }
    fn maria(v: &str) -> MySql {
        MySql::parse_version(Flavor::MariaDb, v).unwrap()
    }

    #[test]
    fn instant_add_and_drop_follow_the_version() {
        assert_eq!(my("8.0.11").add_column(true), Algorithm::InplaceRebuild);
        assert_eq!(my("8.0.12").add_column(true), Algorithm::Instant);
        assert_eq!(my("8.0.28").add_column(false), Algorithm::InplaceRebuild);
        assert_eq!(my("8.0.29").add_column(false), Algorithm::Instant);
        assert_eq!(my("8.0.28").drop_column(), Algorithm::InplaceRebuild);
        assert_eq!(my("8.0.29").drop_column(), Algorithm::Instant);
        assert_eq!(maria("10.3").add_column(true), Algorithm::Instant);
        assert_eq!(maria("10.3").add_column(false), Algorithm::InplaceRebuild);
        assert_eq!(maria("10.4").drop_column(), Algorithm::Instant);
        assert_eq!(maria("10.11").add_column(false), Algorithm::Instant);
        // 8.0 without a patch level is read as 8.0.0: the oldest, most careful answer.
        assert_eq!(my("8.0").add_column(true), Algorithm::InplaceRebuild);
    }

    #[test]
    fn versions_parse_and_old_ones_are_refused() {
        assert_eq!(my("8.0.35").version(), "8.0.35");
        assert_eq!(maria("10.11.6-MariaDB-0+deb12u1").version(), "10.11.6");
        assert!(MySql::parse_version(Flavor::MySql, "5.7").is_err());
        assert!(MySql::parse_version(Flavor::MariaDb, "10.2").is_err());
        assert!(MySql::parse_version(Flavor::MySql, "eight").is_err());
        assert!(MySql::parse_version(Flavor::MySql, "8").is_err());
    }

    #[test]
    fn quoting_defeats_hostile_names() {
        assert_eq!(quote("users"), "`users`");
        assert_eq!(quote("a`; DROP TABLE x; --"), "`a``; DROP TABLE x; --`");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'b"), "CONVERT(X'615C2762' USING utf8mb4)");
    }

    #[test]
    fn generated_names_fit_in_64_characters() {
        let a = fit_ident(&"é".repeat(70));
        assert_eq!(a.chars().count(), MAX_IDENT_CHARS);
        assert_ne!(fit_ident(&"x".repeat(70)), fit_ident(&"x".repeat(71)));
        assert_eq!(delimiter("a $$ b"), "$$1$$");
    }

    #[test]
    fn a_metadata_only_swap_needs_instant_drop_column() {
        assert_eq!(maria("10.3").swap_index_algorithm(), None);
        assert_eq!(
            maria("10.4").swap_index_algorithm(),
            Some("ALGORITHM=NOCOPY")
        );
        assert_eq!(my("8.0").swap_index_algorithm(), None);
        assert_eq!(my("8.0.28").swap_index_algorithm(), None);
        assert_eq!(
            my("8.0.29").swap_index_algorithm(),
            Some("ALGORITHM=INPLACE")
        );
    }

    #[test]
    fn varchar_widening() {
        assert_eq!(maria("10.11").widen_varchar(40, 80), Algorithm::Instant);
        assert_eq!(
            maria("10.11").widen_varchar(80, 800),
            Algorithm::InplaceRebuild
        );
        assert_eq!(
            maria("10.11").widen_varchar(124, 800),
            Algorithm::InplaceRebuild
        );
        assert_eq!(maria("10.11").widen_varchar(128, 800), Algorithm::Copy);
        assert_eq!(maria("10.11").widen_varchar(200, 800), Algorithm::Copy);
        assert_eq!(my("8.0.35").widen_varchar(80, 800), Algorithm::Copy);
        assert_eq!(my("8.0.35").widen_varchar(400, 800), Algorithm::Inplace);
    }
}
