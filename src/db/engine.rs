//! One interface over the engines a plan runs on: PostgreSQL ([`Postgres`]) and MySQL/MariaDB
//! ([`Mysql`]). `apply`, `status` and `rehearse` are written once over [`Engine`]; what an
//! engine does its own way (connecting, the history table and its lock, loading a schema file,
//! catalog snapshots, seeding, app traffic, watching a stage's locks) is the engine's
//! implementation here, delegating to the engine's module (`db`, `db::mysql`, `apply::run` /
//! `apply::history` / `apply::mysql`, `rehearse::*` / `rehearse::mysql::*`).
//!
//! Running statements and backfills is [`Target`], recording stages [`HistoryStore`]: an
//! engine's connection is a `Target`, its history a `HistoryStore`.

use std::collections::BTreeMap;

use mysql::Conn;
use postgres::Client;

use super::DbError;
use super::mysql as my;
use crate::apply::{self, HistoryStore, Record, Target};
use crate::error::Error;
use crate::interrupt;
use crate::rehearse::model::TableModel;
use crate::rehearse::seed::SeedReport;
use crate::rehearse::traffic::{AppConnection, Spelling, Traffic};
use crate::rehearse::values::{self, Probe};
use crate::rehearse::{self, StageWatch};

/// A scratch database: created for a rehearsal, dropped when the value is dropped.
pub trait Scratch {
    fn name(&self) -> &str;
    fn url(&self) -> &str;
    /// Drops the database now (also done on drop); the error is returned for reporting.
    fn drop_now(&mut self) -> Result<(), DbError>;
}

impl Scratch for super::ScratchDatabase {
    fn name(&self) -> &str {
        &self.name
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn drop_now(&mut self) -> Result<(), DbError> {
        super::ScratchDatabase::drop_now(self)
    }
}

impl Scratch for my::ScratchDatabase {
    fn name(&self) -> &str {
        &self.name
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn drop_now(&mut self) -> Result<(), DbError> {
        my::ScratchDatabase::drop_now(self)
    }
}

/// What `apply`, `status` and `rehearse` need from an engine.
pub trait Engine {
    /// A session: runs a stage's statements ([`Target`]), answers the value checks ([`Probe`])
    /// and plays an app version ([`AppConnection`]).
    type Conn: Target + Probe + AppConnection;
    type Scratch: Scratch;

    /// How the engine's app statements are spelled.
    const SPELLING: &'static Spelling;
    /// The same, for the value checker.
    const VALUES: values::Engine;

    fn connect(url: &str) -> Result<Self::Conn, DbError>;

    /// A session `apply` keeps for a long time: asks the server not to close it while idle
    /// (closing it would give up the plan's lock).
    fn session(url: &str) -> Result<Self::Conn, DbError>;

    /// Ctrl-C stops the statement this session is running.
    fn cancel_on_interrupt(conn: &Self::Conn, url: &str);

    /// The plan's history in the database of `control` (created if needed), reconnecting to
    /// `url` when the session is lost.
    fn open_history<'a>(
        control: &'a mut Self::Conn,
        plan_id: &str,
        url: &str,
    ) -> Result<Box<dyn HistoryStore + 'a>, DbError>;

    /// The plan's history without creating anything (`status` on a database never applied to).
    fn read_history(
        conn: &mut Self::Conn,
        plan_id: &str,
    ) -> Result<BTreeMap<usize, Record>, DbError>;

    /// Whether a live `apply` holds the plan's lock.
    fn lock_held(conn: &mut Self::Conn, plan_id: &str) -> Result<bool, DbError>;

    /// Drops the scratch databases of rehearsals that died; the names dropped.
    fn drop_abandoned_scratch(admin_url: &str) -> Vec<String>;

    fn create_scratch(admin_url: &str, prefix: &str) -> Result<Self::Scratch, DbError>;

    /// Loads a schema file into the database of `url`, statement by statement, naming the line
    /// of a statement the server rejects. `conn` is a session on that database.
    fn load(conn: &mut Self::Conn, url: &str, name: &str, text: &str) -> Result<(), Error>;

    /// The engine's name as reported (PostgreSQL, MariaDB, MySQL) and the server's version.
    fn server(conn: &mut Self::Conn) -> (&'static str, String);

    /// Runs one statement; the error as the server worded it.
    fn execute(conn: &mut Self::Conn, sql: &str) -> Result<(), String>;

    /// A deterministic text of the schema, compared with [`super::snapshot_diff`].
    fn snapshot(conn: &mut Self::Conn) -> Result<String, DbError>;

    /// The tables and views, as the app versions and the seeder see them.
    fn read_tables(conn: &mut Self::Conn) -> Result<Vec<TableModel>, String>;

    /// Constraints and indexes the naive change leaves not valid (see
    /// `values::invalid_objects`): the end-state value check accepts those.
    fn left_not_valid(conn: &mut Self::Conn) -> Result<Vec<String>, String>;

    /// Seeds `rows` rows into every table.
    fn seed(conn: &mut Self::Conn, tables: &[TableModel], rows: u64) -> Result<SeedReport, String>;

    /// The tables the new app version writes while the stages run: by default the naive
    /// change's. MySQL narrows widened integer columns to their old range (its type change
    /// swaps the column only in the last stage; see `rehearse::mysql::within_old_ranges`).
    fn new_app_tables(new: Vec<TableModel>, _old: &[TableModel]) -> Vec<TableModel> {
        new
    }

    /// Starts watching a stage that `migration` is about to run while `traffic` runs.
    fn watch_stage(
        url: &str,
        migration: &mut Self::Conn,
        traffic: &Traffic,
    ) -> Result<Box<dyn StageWatch>, DbError>;
}

/// PostgreSQL.
pub struct Postgres;

/// MySQL and MariaDB.
pub struct Mysql;

impl Engine for Postgres {
    type Conn = Client;
    type Scratch = super::ScratchDatabase;
    const SPELLING: &'static Spelling = &crate::rehearse::traffic::POSTGRES;
    const VALUES: values::Engine = values::Engine::Postgres;

    fn connect(url: &str) -> Result<Client, DbError> {
        super::connect(url)
    }

    fn session(url: &str) -> Result<Client, DbError> {
        let mut client = super::connect_relaying_pauses(url)?;
        apply::run::keep_session_open(&mut client)?;
        Ok(client)
    }

    fn cancel_on_interrupt(conn: &Client, _url: &str) {
        interrupt::watch(conn);
    }

    fn open_history<'a>(
        control: &'a mut Client,
        plan_id: &str,
        url: &str,
    ) -> Result<Box<dyn HistoryStore + 'a>, DbError> {
        Ok(Box::new(
            apply::History::open(control, plan_id)?.reconnecting_to(url),
        ))
    }

    fn read_history(conn: &mut Client, plan_id: &str) -> Result<BTreeMap<usize, Record>, DbError> {
        apply::History::read_only(conn, plan_id)
    }

    fn lock_held(conn: &mut Client, plan_id: &str) -> Result<bool, DbError> {
        apply::history::lock_held(conn, plan_id)
    }

    fn drop_abandoned_scratch(admin_url: &str) -> Vec<String> {
        super::drop_abandoned_scratch(admin_url)
    }

    fn create_scratch(admin_url: &str, prefix: &str) -> Result<super::ScratchDatabase, DbError> {
        super::ScratchDatabase::create(admin_url, prefix)
    }

    /// On a fresh connection, not `conn`: a schema file may change its session (pg_dump's
    /// `set_config('search_path', '', false)`), which the rehearsal's own sessions must not get.
    fn load(_conn: &mut Client, url: &str, name: &str, text: &str) -> Result<(), Error> {
        let mut client = super::connect(url).map_err(|e| Error::Database(e.to_string()))?;
        let statements = super::statements(text).map_err(|e| e.in_file(name))?;
        for s in statements {
            client
                .batch_execute(&s.text)
                .map_err(|e| rejected(name, &s, super::describe(&e)))?;
        }
        Ok(())
    }

    fn server(conn: &mut Client) -> (&'static str, String) {
        let version = conn
            .query_one("SHOW server_version", &[])
            .map(|r| r.get(0))
            .unwrap_or_default();
        ("PostgreSQL", version)
    }

    fn execute(conn: &mut Client, sql: &str) -> Result<(), String> {
        conn.batch_execute(sql).map_err(|e| super::describe(&e))
    }

    fn snapshot(conn: &mut Client) -> Result<String, DbError> {
        super::snapshot(conn)
    }

    fn read_tables(conn: &mut Client) -> Result<Vec<TableModel>, String> {
        rehearse::model::read_tables(conn).map_err(|e| super::describe(&e))
    }

    fn left_not_valid(conn: &mut Client) -> Result<Vec<String>, String> {
        values::invalid_objects(conn)
    }

    fn seed(conn: &mut Client, tables: &[TableModel], rows: u64) -> Result<SeedReport, String> {
        rehearse::seed::seed(conn, tables, rows).map_err(|e| e.to_string())
    }

    fn watch_stage(
        url: &str,
        migration: &mut Client,
        _traffic: &Traffic,
    ) -> Result<Box<dyn StageWatch>, DbError> {
        Ok(Box::new(rehearse::watch::PostgresWatch::start(
            url, migration,
        )?))
    }
}

impl Engine for Mysql {
    type Conn = Conn;
    type Scratch = my::ScratchDatabase;
    const SPELLING: &'static Spelling = &rehearse::mysql::traffic::MYSQL;
    const VALUES: values::Engine = values::Engine::Mysql;

    fn connect(url: &str) -> Result<Conn, DbError> {
        my::connect(url)
    }

    fn session(url: &str) -> Result<Conn, DbError> {
        let mut conn = my::connect(url)?;
        apply::mysql::keep_session_open(&mut conn)?;
        Ok(conn)
    }

    fn cancel_on_interrupt(conn: &Conn, url: &str) {
        interrupt::watch_mysql(url, conn.connection_id());
    }

    fn open_history<'a>(
        control: &'a mut Conn,
        plan_id: &str,
        url: &str,
    ) -> Result<Box<dyn HistoryStore + 'a>, DbError> {
        Ok(Box::new(
            apply::mysql::History::open(control, plan_id)?.reconnecting_to(url),
        ))
    }

    fn read_history(conn: &mut Conn, plan_id: &str) -> Result<BTreeMap<usize, Record>, DbError> {
        apply::mysql::History::read_only(conn, plan_id)
    }

    fn lock_held(conn: &mut Conn, plan_id: &str) -> Result<bool, DbError> {
        apply::mysql::lock_held(conn, plan_id)
    }

    fn drop_abandoned_scratch(admin_url: &str) -> Vec<String> {
        my::drop_abandoned_scratch(admin_url)
    }

    fn create_scratch(admin_url: &str, prefix: &str) -> Result<my::ScratchDatabase, DbError> {
        my::ScratchDatabase::create(admin_url, prefix)
    }

    /// On `conn` itself, as the `mysql` client would run the file in one session.
    fn load(conn: &mut Conn, _url: &str, name: &str, text: &str) -> Result<(), Error> {
        for s in my::statements(text).map_err(|e| e.in_file(name))? {
            my::run(conn, &s.text).map_err(|e| rejected(name, &s, my::describe(&e)))?;
        }
        Ok(())
    }

    fn server(conn: &mut Conn) -> (&'static str, String) {
        let version = my::first_value(conn, "SELECT VERSION()")
            .ok()
            .flatten()
            .unwrap_or_default();
        let engine = if version.to_ascii_lowercase().contains("mariadb") {
            "MariaDB"
        } else {
            "MySQL"
        };
        (engine, version)
    }

    /// Through [`my::run`], which reads every result a `CALL` sends back (a procedure's
    /// failure would otherwise pass for success).
    fn execute(conn: &mut Conn, sql: &str) -> Result<(), String> {
        my::run(conn, sql).map_err(|e| my::describe(&e))
    }

    fn snapshot(conn: &mut Conn) -> Result<String, DbError> {
        my::snapshot(conn)
    }

    fn read_tables(conn: &mut Conn) -> Result<Vec<TableModel>, String> {
        rehearse::mysql::model::read_tables(conn).map_err(|e| my::describe(&e))
    }

    /// Nothing is left NOT VALID on MySQL: the end check is foreign keys' rows instead.
    fn left_not_valid(_conn: &mut Conn) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    fn seed(conn: &mut Conn, tables: &[TableModel], rows: u64) -> Result<SeedReport, String> {
        rehearse::mysql::seed::seed(conn, tables, rows)
    }

    fn new_app_tables(new: Vec<TableModel>, old: &[TableModel]) -> Vec<TableModel> {
        rehearse::mysql::within_old_ranges(new, old)
    }

    /// InnoDB shows no table lock from inside the statement: the app's sessions (known by id)
    /// are watched for lock waits instead, and each ALTER for a table copy.
    fn watch_stage(
        url: &str,
        _migration: &mut Conn,
        traffic: &Traffic,
    ) -> Result<Box<dyn StageWatch>, DbError> {
        Ok(Box::new(rehearse::mysql::MysqlWatch::start(
            url,
            traffic.session_ids.clone(),
        )?))
    }
}

/// A schema file's statement the scratch database rejected.
fn rejected(file: &str, statement: &super::FileStatement, why: String) -> Error {
    Error::Input {
        file: file.to_string(),
        line: statement.pos.line,
        column: statement.pos.column,
        message: format!("the scratch database rejected this statement: {why}"),
        help: None,
    }
}
