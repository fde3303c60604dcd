//! Engine facts and SQL spelling. Ops ask the dialect instead of hard-coding versions or quoting:
//! `postgres.rs` and `mysql.rs` hold what each engine does; [`Dialect`] is the target a plan or a
//! lint run is for, and spells names and literals the way that engine reads them.

pub mod mysql;
pub mod postgres;
pub mod rerun;
pub mod rerun_mysql;

pub use mysql::{Algorithm, Flavor, MySql};
pub use postgres::{LockMode, Postgres};

use crate::name::QName;

/// Which engine, as named on the command line and in safeshift.toml.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL 11 and later
    #[default]
    Postgres,
    /// MySQL 8.0 and later (InnoDB)
    Mysql,
    /// MariaDB 10.3 and later (InnoDB)
    Mariadb,
}

/// The engine and version safeshift plans and lints for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres(Postgres),
    MySql(MySql),
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::Postgres(Postgres::default())
    }
}

impl From<Postgres> for Dialect {
    fn from(pg: Postgres) -> Self {
        Dialect::Postgres(pg)
    }
}

impl From<MySql> for Dialect {
    fn from(my: MySql) -> Self {
        Dialect::MySql(my)
    }
}

impl Dialect {
    /// The target from `--dialect` and `--server-version` (each engine's default version when
    /// none is given).
    pub fn new(engine: Engine, version: Option<&str>) -> Result<Dialect, String> {
        match engine {
            Engine::Postgres => Postgres::parse_version(version.unwrap_or("14")).map(Into::into),
            Engine::Mysql => {
                MySql::parse_version(Flavor::MySql, version.unwrap_or(mysql::DEFAULT_MYSQL))
                    .map(Into::into)
            }
            Engine::Mariadb => {
                MySql::parse_version(Flavor::MariaDb, version.unwrap_or(mysql::DEFAULT_MARIADB))
                    .map(Into::into)
            }
        }
    }

    /// `postgres`, `mysql` or `mariadb`: the name plan.json records.
    pub fn id(&self) -> &'static str {
        match self {
            Dialect::Postgres(_) => "postgres",
            Dialect::MySql(my) => my.flavor.id(),
        }
    }

    /// `PostgreSQL`, `MySQL` or `MariaDB`, for people.
    pub fn engine_name(&self) -> &'static str {
        match self {
            Dialect::Postgres(_) => "PostgreSQL",
            Dialect::MySql(my) => my.flavor.name(),
        }
    }

    pub fn version(&self) -> String {
        match self {
            Dialect::Postgres(pg) => pg.version(),
            Dialect::MySql(my) => my.version(),
        }
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self, Dialect::MySql(_))
    }

    pub fn mysql(&self) -> Option<MySql> {
        match self {
            Dialect::MySql(my) => Some(*my),
            Dialect::Postgres(_) => None,
        }
    }

    /// The PostgreSQL target. Only PostgreSQL code paths ask; on MySQL this is the default
    /// PostgreSQL, which no MySQL path reads.
    pub fn pg(&self) -> Postgres {
        match self {
            Dialect::Postgres(pg) => *pg,
            Dialect::MySql(_) => Postgres::default(),
        }
    }

    /// PostgreSQL folds unquoted identifiers to lower case; MySQL keeps them as written (table
    /// names are case-sensitive on Linux).
    pub fn folds_case(&self) -> bool {
        !self.is_mysql()
    }

    /// The sqlparser dialect that reads this engine's SQL.
    pub fn parser(&self) -> &'static dyn sqlparser::dialect::Dialect {
        static POSTGRES: sqlparser::dialect::PostgreSqlDialect =
            sqlparser::dialect::PostgreSqlDialect {};
        static MYSQL: sqlparser::dialect::MySqlDialect = sqlparser::dialect::MySqlDialect {};
        match self {
            Dialect::Postgres(_) => &POSTGRES,
            Dialect::MySql(_) => &MYSQL,
        }
    }

    /// An identifier, quoted where the engine needs it (MySQL: always, in backticks).
    pub fn quote(&self, ident: &str) -> String {
        match self {
            Dialect::Postgres(_) => postgres::quote(ident),
            Dialect::MySql(_) => mysql::quote(ident),
        }
    }

    pub fn qname(&self, name: &QName) -> String {
        match &name.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&name.name)),
            None => self.quote(&name.name),
        }
    }

    pub fn literal(&self, text: &str) -> String {
        match self {
            Dialect::Postgres(_) => postgres::literal(text),
            Dialect::MySql(_) => mysql::literal(text),
        }
    }

    /// A generated name cut to the engine's identifier limit, kept unique with a stable hash.
    pub fn fit_ident(&self, name: &str) -> String {
        match self {
            Dialect::Postgres(_) => postgres::fit_ident(name),
            Dialect::MySql(_) => mysql::fit_ident(name),
        }
    }

    /// How long a DDL statement may wait for its lock, as the plan's files say it.
    pub fn lock_timeout(&self) -> String {
        match self {
            Dialect::Postgres(_) => postgres::LOCK_TIMEOUT.to_string(),
            Dialect::MySql(_) => format!("{}s", mysql::LOCK_WAIT_TIMEOUT_SECONDS),
        }
    }
}
