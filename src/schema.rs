//! Catalog: what safeshift knows about the current schema, from `--schema` (a `pg_dump
//! --schema-only` file or plain CREATE statements). Loading reuses the change lowering: each
//! statement of the dump is lowered to a `Change` and applied, so there is one reader of SQL.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use sqlparser::ast::{DataType, Expr, TableConstraint};

use crate::change::{self, Change};
use crate::dialect::Dialect;
use crate::error::PlanError;
use crate::name::{QName, ident_value};
use crate::parse::{self, Body};

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    pub not_null: bool,
    pub default: Option<Expr>,
    /// Identity, stored generated or AUTO_INCREMENT: the database fills it, so copying it is not a
    /// plain ADD COLUMN. (A PostgreSQL `serial` is a plain column whose default is `nextval` of
    /// a sequence it owns: see [`Sequence`].)
    pub generated: Option<Generated>,
    /// MySQL column attributes as written (CHARACTER SET, COLLATE, COMMENT, ON UPDATE,
    /// AUTO_INCREMENT): a MODIFY must restate them or they are lost.
    pub extra: Vec<String>,
    /// PostgreSQL's `COMMENT ON COLUMN`: a column that replaces this one takes it over.
    pub comment: Option<String>,
}

/// How the database fills a column by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generated {
    /// `GENERATED ALWAYS | BY DEFAULT AS IDENTITY [(options)]`; `options` as written, each with a
    /// leading space (` START WITH 10`), empty when none.
    Identity { always: bool, options: String },
    /// `GENERATED ALWAYS AS (expr) STORED` (and MySQL's stored generated columns).
    Stored,
    /// `GENERATED ALWAYS AS (expr) [VIRTUAL]`: computed when read (PostgreSQL 18, MySQL).
    Virtual,
    /// MySQL's AUTO_INCREMENT.
    AutoIncrement,
}

/// A view (or materialized view) as the schema defines it, and what its query reads, so a plan
/// that replaces a column knows which views to recreate around it.
#[derive(Clone, Debug)]
pub struct View {
    pub name: QName,
    /// The CREATE statement as written, before `renames`: [`View::sql`] is the text that
    /// recreates the view.
    pub written: String,
    /// Renames of what the view reads since it was written, applied to its text only when the
    /// text is asked for: lint follows every rename of a long history and never asks (rewriting
    /// a large view on each rename was a tenth of its checking thread on real histories).
    pub renames: Vec<ViewRename>,
    pub materialized: bool,
    /// The relations (tables and views) its query names.
    pub reads: Vec<QName>,
    /// Every name its query mentions as (the last part of) an identifier: a superset of the
    /// columns it reads.
    pub names: std::collections::BTreeSet<String>,
    /// A `*` in the query: it may read every column.
    pub wildcard: bool,
}

/// A rename a view's text has yet to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewRename {
    Relation {
        from: QName,
        to: QName,
    },
    /// `only_reader`: as it was when the column was renamed.
    Column {
        table: QName,
        from: String,
        to: String,
        only_reader: bool,
    },
}

/// Views are the same when they recreate the same: whether a rename is applied yet is not
/// part of what a view is.
impl PartialEq for View {
    fn eq(&self, other: &View) -> bool {
        self.name == other.name
            && self.materialized == other.materialized
            && self.reads == other.reads
            && self.names == other.names
            && self.wildcard == other.wildcard
            && self.sql() == other.sql()
    }
}

impl Eq for View {}

/// A name written back as SQL: every part quoted.
pub fn object_name(name: &QName) -> sqlparser::ast::ObjectName {
    let mut parts = Vec::new();
    if let Some(schema) = &name.schema {
        parts.push(sqlparser::ast::Ident::with_quote('"', schema.clone()));
    }
    parts.push(sqlparser::ast::Ident::with_quote('"', name.name.clone()));
    sqlparser::ast::ObjectName::from(parts)
}

impl View {
    /// The view as it reads after `from` was renamed to `to` (PostgreSQL rewrites a view's
    /// definition when a table it reads is renamed; recreating it must name the new table).
    pub fn rename_relation(&mut self, from: &QName, to: &QName) {
        self.renames.push(ViewRename::Relation {
            from: from.clone(),
            to: to.clone(),
        });
        for read in self.reads.iter_mut().filter(|r| r.same(from)) {
            *read = to.clone();
        }
    }

    /// The statement that recreates the view as it reads now: as written, with every rename
    /// since applied.
    pub fn sql(&self) -> String {
        if self.renames.is_empty() {
            return self.written.clone();
        }
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let Ok(mut statements) = sqlparser::parser::Parser::parse_sql(&dialect, &self.written)
        else {
            return self.written.clone();
        };
        for rename in &self.renames {
            match rename {
                ViewRename::Relation { from, to } => rename_relation_in(&mut statements, from, to),
                ViewRename::Column {
                    table,
                    from,
                    to,
                    only_reader,
                } => rename_column_in(&mut statements, table, from, to, *only_reader),
            }
        }
        statements
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(";\n")
    }

    /// The view as it reads after `table.from` was renamed to `to`. PostgreSQL keeps a view
    /// bound to the column, not to its name: the definition then reads the new name and the
    /// view's own column keeps the old one (`person.display_name AS preferred_username`).
    /// Recreating the view from this text (a DROP VIEW's down after a staged rename) must do
    /// the same. `only_reader`: no other relation the view reads has a column of that name, so
    /// an unqualified reference means this table's.
    pub fn rename_column(&mut self, table: &QName, from: &str, to: &str, only_reader: bool) {
        self.renames.push(ViewRename::Column {
            table: table.clone(),
            from: from.to_string(),
            to: to.to_string(),
            only_reader,
        });
        self.names.insert(to.to_string());
    }

    /// Whether the view may read `table.column` directly (`column: None`: any column of it).
    pub fn may_read(&self, table: &QName, column: Option<&str>) -> bool {
        self.reads.iter().any(|r| r.same(table))
            && column.is_none_or(|c| self.wildcard || self.names.contains(c))
    }
}

/// [`View::rename_relation`] on the view's parsed statement.
fn rename_relation_in(statements: &mut [sqlparser::ast::Statement], from: &QName, to: &QName) {
    use sqlparser::ast::visit_relations_mut;
    for statement in statements.iter_mut() {
        let _ = visit_relations_mut(statement, |relation| {
            if QName::from_object_name(relation).same(from) {
                let mut renamed = to.clone();
                if relation.0.len() < 2 {
                    renamed.schema = None;
                }
                *relation = object_name(&renamed);
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
}

/// [`View::rename_column`] on the view's parsed statement.
fn rename_column_in(
    statements: &mut [sqlparser::ast::Statement],
    table: &QName,
    from: &str,
    to: &str,
    only_reader: bool,
) {
    use sqlparser::ast::{
        Expr, Ident, SelectItem, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor,
        VisitorMut,
    };
    use std::ops::ControlFlow;
    {
        // The names the query gives the table: its own and its aliases.
        struct Qualifiers<'a> {
            table: &'a QName,
            names: BTreeSet<String>,
        }
        impl Visitor for Qualifiers<'_> {
            type Break = ();
            fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
                if let TableFactor::Table { name, alias, .. } = factor
                    && QName::from_object_name(name).same(self.table)
                {
                    match alias {
                        Some(alias) => self.names.insert(ident_value(&alias.name)),
                        None => self.names.insert(self.table.name.clone()),
                    };
                }
                ControlFlow::Continue(())
            }
        }
        let mut qualifiers = Qualifiers {
            table,
            names: BTreeSet::new(),
        };
        for statement in statements.iter() {
            let _ = Visit::visit(statement, &mut qualifiers);
        }
        let names = qualifiers.names;
        let refers = |expr: &Expr| match expr {
            Expr::Identifier(ident) => only_reader && ident_value(ident) == from,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [.., qualifier, column] => {
                    ident_value(column) == from && names.contains(&ident_value(qualifier))
                }
                _ => false,
            },
            _ => false,
        };
        let new_ident = || {
            if crate::dialect::postgres::quote(to).starts_with('"') {
                Ident::with_quote('"', to)
            } else {
                Ident::new(to)
            }
        };
        // The view's output columns keep their names.
        fn first_select(body: &mut SetExpr) -> Option<&mut sqlparser::ast::Select> {
            match body {
                SetExpr::Select(select) => Some(select),
                SetExpr::SetOperation { left, .. } => first_select(left),
                SetExpr::Query(query) => first_select(&mut query.body),
                _ => None,
            }
        }
        for statement in statements.iter_mut() {
            let Statement::CreateView(create) = statement else {
                continue;
            };
            if create.columns.is_empty()
                && let Some(select) = first_select(&mut create.query.body)
            {
                for item in select.projection.iter_mut() {
                    if let SelectItem::UnnamedExpr(expr) = item
                        && refers(expr)
                    {
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias: Ident::new(from),
                        };
                    }
                }
            }
        }
        struct Rename<'a, F: Fn(&Expr) -> bool, G: Fn() -> Ident> {
            refers: &'a F,
            new_ident: &'a G,
        }
        impl<F: Fn(&Expr) -> bool, G: Fn() -> Ident> VisitorMut for Rename<'_, F, G> {
            type Break = ();
            fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
                if (self.refers)(expr) {
                    match expr {
                        Expr::Identifier(ident) => *ident = (self.new_ident)(),
                        Expr::CompoundIdentifier(parts) => {
                            if let Some(last) = parts.last_mut() {
                                *last = (self.new_ident)();
                            }
                        }
                        _ => {}
                    }
                }
                ControlFlow::Continue(())
            }
        }
        let mut rename = Rename {
            refers: &refers,
            new_ident: &new_ident,
        };
        for statement in statements.iter_mut() {
            let _ = VisitMut::visit(statement, &mut rename);
        }
    }
}

/// A PostgreSQL sequence: what a `serial` column's default draws from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    pub name: QName,
    /// `smallint`, `integer` or `bigint` (`AS …`; bigint when not said).
    pub data_type: String,
    /// The column that owns it (`serial`, or `ALTER SEQUENCE … OWNED BY`): dropped with it.
    pub owned_by: Option<(QName, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey { table: QName, columns: Vec<String> },
    Check,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    /// Added NOT VALID and not validated since: it says nothing about existing rows.
    pub not_valid: bool,
    /// For `CHECK (col IS NOT NULL)`: the column it proves has no NULLs once validated.
    pub not_null_of: Option<String>,
    /// The constraint as written, without its name: every attribute (`ON DELETE`, `DEFERRABLE`,
    /// `NO INHERIT`, `INCLUDE`, `NULLS NOT DISTINCT` …), so a plan can recreate it exactly. None
    /// when unknown (a key attached `USING INDEX`, or a constraint recorded by a plan step).
    pub definition: Option<TableConstraint>,
}

impl Constraint {
    /// What follows `ADD CONSTRAINT name` to recreate the constraint as written.
    pub fn definition_sql(&self) -> Option<String> {
        self.definition.as_ref().map(|d| d.to_string())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: QName,
    pub table: QName,
    /// Plain column references in order; empty when the index is on expressions.
    pub columns: Vec<String>,
    pub unique: bool,
    /// The CREATE INDEX statement as written, where it says more than [`Index::definition`]
    /// builds from the fields; `None` for an index safeshift made the statement of itself (a
    /// `CREATE INDEX` read from a migration), which is built only when asked for: lint made
    /// one for every index of a long history and never read it.
    pub written: Option<String>,
    /// What follows the name in MySQL's `ADD INDEX name …`: the key parts and index type.
    pub body: String,
    /// MySQL's `FULLTEXT` or `SPATIAL` key: not a B-tree, built and copied differently.
    pub special: Option<&'static str>,
}

impl Index {
    /// The full CREATE INDEX statement (PostgreSQL), to recreate the index (e.g. in a `down.sql`).
    pub fn definition(&self) -> String {
        match &self.written {
            Some(text) => text.clone(),
            None => crate::dialect::postgres::create_index_sql(
                self.unique,
                false,
                false,
                &self.name.name,
                &self.table,
                &self.body,
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: QName,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    /// Indexes live with their table, so per-table questions never scan the whole schema.
    pub indexes: Vec<Index>,
    /// `PARTITION BY …`: the table holds no rows itself, its partitions do.
    pub partitioned: bool,
    /// `PARTITION OF parent` (or attached with `ALTER TABLE parent ATTACH PARTITION`). Set it
    /// through [`Catalog::insert_table`] or an ATTACH, which tell `partitions_of` to look.
    pub partition_of: Option<QName>,
    /// The name the table had before it was first renamed: PostgreSQL 18 named its NOT NULL
    /// constraints after it, and a rename keeps them.
    pub first_name: Option<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// PostgreSQL 18: the name of `column`'s NOT NULL constraint, as made when the table got its
    /// name first (a table rename keeps it).
    pub fn not_null_name(&self, column: &str) -> String {
        let base = self.first_name.as_deref().unwrap_or(&self.name.name);
        crate::dialect::postgres::default_object_name(base, Some(column), "not_null")
    }

    pub fn primary_key(&self) -> Option<&[String]> {
        self.constraints
            .iter()
            .find(|c| c.kind == ConstraintKind::PrimaryKey)
            .map(|c| c.columns.as_slice())
    }

    /// Constraints that mention `column`.
    pub fn constraints_on(&self, column: &str) -> Vec<&Constraint> {
        self.constraints
            .iter()
            .filter(|c| c.columns.iter().any(|x| x == column))
            .collect()
    }
}

type Key = (String, String);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Looked up by hash: a `BTreeMap`'s string comparisons (each a cache miss on a long
    /// history) were a sixth of `lint`'s checking thread.
    tables: FxHashMap<Key, Table>,
    /// The tables' keys in order, which every walk over the catalog follows (so nothing depends
    /// on hashing).
    order: BTreeSet<Key>,
    /// Index name → its table, for lookups by index name.
    index_tables: FxHashMap<Key, Key>,
    enums: BTreeMap<Key, Vec<String>>,
    sequences: BTreeMap<Key, Sequence>,
    /// In the order they were defined, which is an order they can be recreated in.
    views: Vec<View>,
    /// Statements of the schema file that were skipped (not understood); reported as an assumption.
    pub skipped: usize,
    /// Whether any table was ever made a partition: until one is, `partitions_of` (asked on every
    /// CREATE INDEX) answers without a scan of every table.
    partitions_seen: Seen,
    /// For each table a foreign key was recorded to reference (through [`Catalog::insert_table`]
    /// or [`Catalog::add_constraint`]), the tables whose foreign keys did: a renamed table's
    /// foreign keys are found there instead of in every table's constraints (that scan was a
    /// sixth of `lint`'s checking thread on a long history). It may name more than is still
    /// true (a dropped table or foreign key stays), never less.
    referenced: Referenced,
}

/// A hint for renames, not part of the schema (see [`Catalog::referenced`]).
#[derive(Clone, Debug, Default)]
struct Referenced(BTreeMap<Key, BTreeSet<Key>>);

impl PartialEq for Referenced {
    fn eq(&self, _: &Referenced) -> bool {
        true
    }
}

/// A hint for lookups, not part of the schema: two catalogs with the same objects are equal
/// whatever it says.
#[derive(Clone, Copy, Debug, Default)]
struct Seen(bool);

impl PartialEq for Seen {
    fn eq(&self, _: &Seen) -> bool {
        true
    }
}

impl Catalog {
    /// Reads a schema file. Statements that are not schema (SET, SELECT set_config, COMMENT, OWNER,
    /// GRANT…) or that sqlparser cannot read are skipped and counted, never fatal: a dump holds many.
    pub fn from_sql(text: &str) -> Result<Catalog, PlanError> {
        Catalog::from_sql_for(Dialect::default(), text)
    }

    /// Reads a schema file written for the target engine (`mysqldump --no-data` for MySQL).
    pub fn from_sql_for(dialect: Dialect, text: &str) -> Result<Catalog, PlanError> {
        let mut catalog = Catalog::default();
        for statement in parse::parse_for(dialect, text)? {
            match &statement.body {
                Body::Ast(_) | Body::Sequence(_) => match change::lower_statement(&statement) {
                    Ok(changes) => {
                        for change in changes {
                            if let Change::Other(_) = change {
                                if !catalog.mark_by_words(&statement.text) {
                                    catalog.skipped += 1;
                                }
                            } else {
                                change.op().apply(&mut catalog);
                            }
                        }
                    }
                    Err(_) => {
                        if !catalog.mark_by_words(&statement.text) {
                            catalog.skipped += 1;
                        }
                    }
                },
                // What sqlparser cannot read (squawk's grammar names it, or it is invalid):
                // pg_dump's identity columns are among it.
                _ => {
                    if !catalog.mark_by_words(&statement.text) {
                        catalog.skipped += 1;
                    }
                }
            }
        }
        Ok(catalog)
    }

    /// What the catalog reads by its words, from statements sqlparser cannot read or the planner
    /// has no change for.
    fn mark_by_words(&mut self, text: &str) -> bool {
        self.mark_identity(text) || self.mark_attach(text)
    }

    /// pg_dump writes partitions as tables of their own, then `ALTER TABLE ONLY parent ATTACH
    /// PARTITION child FOR VALUES …`.
    fn mark_attach(&mut self, text: &str) -> bool {
        let words: Vec<&str> = text.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        if upper.first().map(String::as_str) != Some("ALTER")
            || upper.get(1).map(String::as_str) != Some("TABLE")
        {
            return false;
        }
        let Some(at) = upper
            .windows(2)
            .position(|w| w[0] == "ATTACH" && w[1] == "PARTITION")
        else {
            return false;
        };
        let parent_at = if upper.get(2).map(String::as_str) == Some("ONLY") {
            3
        } else {
            2
        };
        if parent_at + 1 != at {
            return false;
        }
        let name = |word: &str| {
            let parts: Vec<String> = word.split('.').map(unquote).collect();
            match parts.as_slice() {
                [schema, name] => QName {
                    schema: Some(schema.clone()),
                    name: name.clone(),
                },
                _ => QName::new(parts.join(".")),
            }
        };
        let (Some(parent), Some(child)) = (words.get(parent_at), words.get(at + 2)) else {
            return false;
        };
        let (parent, child) = (name(parent), name(child));
        match self.table_mut(&child) {
            Some(t) => {
                t.partition_of = Some(parent);
                self.partitions_seen = Seen(true);
                true
            }
            None => false,
        }
    }

    /// pg_dump writes identity columns as `ALTER TABLE … ALTER COLUMN c ADD GENERATED … (SEQUENCE
    /// NAME …)`, which sqlparser 0.63 cannot parse; recognise it by its words.
    fn mark_identity(&mut self, text: &str) -> bool {
        let words: Vec<&str> = text.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let Some(at) = upper
            .windows(2)
            .position(|w| w[0] == "ADD" && w[1] == "GENERATED")
        else {
            return false;
        };
        if upper.first().map(String::as_str) != Some("ALTER") || at < 4 {
            return false;
        }
        let table_word = if upper[2] == "ONLY" {
            words[3]
        } else {
            words[2]
        };
        let column = unquote(words[at - 1]);
        let parts: Vec<String> = table_word.split('.').map(unquote).collect();
        let table = match parts.as_slice() {
            [schema, name] => QName {
                schema: Some(schema.clone()),
                name: name.clone(),
            },
            _ => QName::new(parts.join(".")),
        };
        match self
            .table_mut(&table)
            .and_then(|t| t.columns.iter_mut().find(|c| c.name == column))
        {
            Some(c) => {
                let always = upper.get(at + 1).map(String::as_str) == Some("ALWAYS");
                c.generated = Some(Generated::Identity {
                    always,
                    options: String::new(),
                });
                true
            }
            None => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.enums.is_empty()
    }

    pub fn table(&self, name: &QName) -> Option<&Table> {
        self.tables.get(name.key_ref().as_key())
    }

    pub fn table_mut(&mut self, name: &QName) -> Option<&mut Table> {
        self.tables.get_mut(name.key_ref().as_key())
    }

    pub fn column(&self, table: &QName, column: &str) -> Option<&Column> {
        self.table(table)?.column(column)
    }

    /// The partitions of a partitioned table, in name order.
    pub fn partitions_of(&self, parent: &QName) -> Vec<&Table> {
        if !self.partitions_seen.0 {
            return Vec::new();
        }
        self.tables_in_order()
            .filter(|t| t.partition_of.as_ref().is_some_and(|p| p.same(parent)))
            .collect()
    }

    pub fn table_names(&self) -> impl Iterator<Item = &QName> {
        self.tables_in_order().map(|t| &t.name)
    }

    fn tables_in_order(&self) -> impl Iterator<Item = &Table> {
        self.order.iter().filter_map(|key| self.tables.get(key))
    }

    /// Records that `name` exists, shape unknown (lint without a schema: later statements can
    /// still learn its constraints from the migrations).
    pub fn ensure_table(&mut self, name: &QName) {
        if self.table(name).is_none() {
            self.insert_table(Table {
                name: name.clone(),
                columns: Vec::new(),
                constraints: Vec::new(),
                indexes: Vec::new(),
                partitioned: false,
                partition_of: None,
                first_name: None,
            });
        }
    }

    pub fn insert_table(&mut self, mut table: Table) {
        // `CREATE TABLE child PARTITION OF parent` names no columns: they are the parent's.
        if let Some(parent) = table.partition_of.as_ref().and_then(|p| self.table(p))
            && table.columns.is_empty()
        {
            table.columns = parent.columns.clone();
        }
        if table.partition_of.is_some() {
            self.partitions_seen = Seen(true);
        }
        let own_key: Option<Vec<String>> = table.primary_key().map(<[String]>::to_vec);
        for c in &mut table.constraints {
            if let ConstraintKind::ForeignKey { table: to, columns } = &mut c.kind {
                let referencing = table.name.key();
                self.referenced
                    .0
                    .entry(to.key())
                    .or_default()
                    .insert(referencing);
                if columns.is_empty() {
                    *columns = if to.same(&table.name) {
                        own_key.clone().unwrap_or_default()
                    } else {
                        self.referenced_columns(to, &[])
                    };
                }
            }
        }
        self.order.insert(table.name.key());
        self.tables.insert(table.name.key(), table);
    }

    /// Adds a constraint to a known table (nothing when the table is unknown). Foreign keys
    /// must come in this way (or with their table), so renames find them.
    pub fn add_constraint(&mut self, table: &QName, constraint: Constraint) {
        if let ConstraintKind::ForeignKey { table: to, .. } = &constraint.kind {
            let referencing = table.key();
            self.referenced
                .0
                .entry(to.key())
                .or_default()
                .insert(referencing);
        }
        if let Some(t) = self.table_mut(table) {
            t.constraints.push(constraint);
        }
    }

    /// The columns a foreign key references: as written, or, when it names only the table
    /// (`REFERENCES accounts`), that table's primary key, as PostgreSQL reads it.
    pub fn referenced_columns(&self, table: &QName, written: &[String]) -> Vec<String> {
        if !written.is_empty() {
            return written.to_vec();
        }
        self.table(table)
            .and_then(Table::primary_key)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    pub fn remove_table(&mut self, name: &QName) -> Option<Table> {
        let table = self.tables.remove(&name.key())?;
        self.order.remove(&name.key());
        for index in &table.indexes {
            self.index_tables.remove(&index.name.key());
        }
        self.sequences.retain(|_, s| {
            !s.owned_by
                .as_ref()
                .is_some_and(|(owner, _)| owner.same(name))
        });
        Some(table)
    }

    pub fn rename_table(&mut self, from: &QName, to: &QName) {
        if let Some(mut table) = self.tables.remove(&from.key()) {
            self.order.remove(&from.key());
            if table.first_name.is_none() {
                table.first_name = Some(table.name.name.clone());
            }
            table.name = to.clone();
            for index in table.indexes.iter_mut() {
                index.table = to.clone();
                self.index_tables.insert(index.name.key(), to.key());
            }
            // The table's own foreign keys now come from its new name.
            for c in &table.constraints {
                if let ConstraintKind::ForeignKey { table: target, .. } = &c.kind
                    && let Some(referencing) = self.referenced.0.get_mut(&target.key())
                {
                    referencing.remove(&from.key());
                    referencing.insert(to.key());
                }
            }
            self.order.insert(to.key());
            self.tables.insert(to.key(), table);
        }
        // As in the database, the foreign keys that reference the table and the views that read
        // it follow it to its new name.
        let referencing = self.referenced.0.remove(&from.key()).unwrap_or_default();
        for key in &referencing {
            let Some(table) = self.tables.get_mut(key) else {
                continue;
            };
            for c in table.constraints.iter_mut() {
                if let ConstraintKind::ForeignKey {
                    table: referenced, ..
                } = &mut c.kind
                    && referenced.same(from)
                {
                    *referenced = to.clone();
                    if let Some(TableConstraint::ForeignKey(fk)) = &mut c.definition {
                        fk.foreign_table = object_name(to);
                    }
                }
            }
        }
        if !referencing.is_empty() {
            self.referenced
                .0
                .entry(to.key())
                .or_default()
                .extend(referencing);
        }
        debug_assert!(
            !self
                .tables
                .values()
                .any(|t| t.constraints.iter().any(|c| matches!(
                    &c.kind,
                    ConstraintKind::ForeignKey { table, .. } if table.same(from) && !from.same(to)
                ))),
            "a foreign key to {from:?} came into the catalog without add_constraint"
        );
        for view in self.views.iter_mut() {
            if view.reads.iter().any(|r| r.same(from)) {
                view.rename_relation(from, to);
            }
        }
        for sequence in self.sequences.values_mut() {
            if let Some((table, _)) = &mut sequence.owned_by
                && table.same(from)
            {
                *table = to.clone();
            }
        }
    }

    pub fn index(&self, name: &QName) -> Option<&Index> {
        let table = self.tables.get(self.index_tables.get(&name.key())?)?;
        table.indexes.iter().find(|i| i.name.same(name))
    }

    /// Records an index on a known table (an index on a table the catalog does not know is
    /// nothing safeshift could ask about later).
    pub fn insert_index(&mut self, index: Index) {
        if let Some(table) = self.tables.get_mut(index.table.key_ref().as_key()) {
            table.indexes.retain(|i| !i.name.same(&index.name));
            self.index_tables
                .insert(index.name.key(), index.table.key());
            table.indexes.push(index);
        }
    }

    pub fn remove_index(&mut self, name: &QName) -> Option<Index> {
        let table = self.index_tables.remove(&name.key())?;
        let table = self.tables.get_mut(&table)?;
        let at = table.indexes.iter().position(|i| i.name.same(name))?;
        Some(table.indexes.remove(at))
    }

    /// An index by name among one table's indexes (MySQL index names are per table).
    pub fn table_index(&self, table: &QName, name: &str) -> Option<&Index> {
        self.table(table)?
            .indexes
            .iter()
            .find(|i| i.name.name == name)
    }

    /// Indexes of `table` that include `column` (by plain reference).
    /// A FULLTEXT or SPATIAL key on `column`: its kind and name.
    pub fn special_index_on(&self, table: &QName, column: &str) -> Option<(&'static str, String)> {
        self.indexes_on(table, column)
            .into_iter()
            .find_map(|i| i.special.map(|kind| (kind, i.name.name.clone())))
    }

    pub fn indexes_on(&self, table: &QName, column: &str) -> Vec<&Index> {
        self.table(table)
            .map(|t| {
                t.indexes
                    .iter()
                    .filter(|i| i.columns.iter().any(|c| c == column))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renames a column everywhere the catalog records it.
    pub fn rename_column(&mut self, table: &QName, from: &str, to: &str) {
        let Some(t) = self.table_mut(table) else {
            return;
        };
        let rename = |c: &mut String| {
            if c == from {
                *c = to.to_string();
            }
        };
        for c in t.columns.iter_mut() {
            rename(&mut c.name);
        }
        for k in t.constraints.iter_mut() {
            k.columns.iter_mut().for_each(rename);
        }
        for i in t.indexes.iter_mut() {
            i.columns.iter_mut().for_each(rename);
        }
        let readers: Vec<QName> = self
            .views
            .iter()
            .filter(|v| v.may_read(table, Some(from)))
            .map(|v| v.name.clone())
            .collect();
        for name in readers {
            let only_reader = self.view(&name).is_some_and(|v| {
                v.reads.iter().filter(|r| !r.same(table)).all(|r| {
                    self.table(r)
                        .is_some_and(|t| !t.columns.iter().any(|c| c.name == from))
                })
            });
            if let Some(view) = self.views.iter_mut().find(|v| v.name.same(&name)) {
                view.rename_column(table, from, to, only_reader);
            }
        }
        for sequence in self.sequences.values_mut() {
            if let Some((owner, column)) = &mut sequence.owned_by
                && owner.same(table)
                && column == from
            {
                *column = to.to_string();
            }
        }
    }

    /// Drops a column and, as PostgreSQL does, the indexes and constraints that use it.
    pub fn drop_column(&mut self, table: &QName, column: &str) {
        let Some(t) = self.tables.get_mut(&table.key()) else {
            return;
        };
        t.columns.retain(|c| c.name != column);
        t.constraints
            .retain(|k| !k.columns.iter().any(|c| c == column));
        let (dropped, kept): (Vec<Index>, Vec<Index>) = t
            .indexes
            .drain(..)
            .partition(|i| i.columns.iter().any(|c| c == column));
        t.indexes = kept;
        for index in dropped {
            self.index_tables.remove(&index.name.key());
        }
        // A sequence the column owns goes with it.
        self.sequences.retain(|_, s| {
            !s.owned_by
                .as_ref()
                .is_some_and(|(owner, c)| owner.same(table) && c == column)
        });
    }

    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.views.iter()
    }

    pub fn view(&self, name: &QName) -> Option<&View> {
        self.views.iter().find(|v| v.name.same(name))
    }

    /// Records a view; `CREATE OR REPLACE` keeps its place in the order.
    pub fn set_view(&mut self, view: View) {
        match self.views.iter_mut().find(|v| v.name.same(&view.name)) {
            Some(existing) => *existing = view,
            None => self.views.push(view),
        }
    }

    pub fn remove_view(&mut self, name: &QName) -> Option<View> {
        let at = self.views.iter().position(|v| v.name.same(name))?;
        Some(self.views.remove(at))
    }

    /// The views that read `table.column` (any column when `None`), and the views that read
    /// those, in an order they can be created in (drop them in reverse).
    pub fn dependent_views(&self, table: &QName, column: Option<&str>) -> Vec<&View> {
        let mut found: Vec<&View> = Vec::new();
        for view in &self.views {
            let reads_found = found.iter().any(|f| view.may_read(&f.name, None));
            if view.may_read(table, column) || reads_found {
                found.push(view);
            }
        }
        found
    }

    pub fn sequence(&self, name: &QName) -> Option<&Sequence> {
        self.sequences.get(&name.key())
    }

    pub fn set_sequence(&mut self, sequence: Sequence) {
        self.sequences.insert(sequence.name.key(), sequence);
    }

    /// The sequence `table.column` owns (a `serial`'s), if any.
    pub fn owned_sequence(&self, table: &QName, column: &str) -> Option<&Sequence> {
        self.sequences.values().find(|s| {
            s.owned_by
                .as_ref()
                .is_some_and(|(t, c)| t.same(table) && c == column)
        })
    }

    pub fn enum_labels(&self, name: &QName) -> Option<&Vec<String>> {
        self.enums.get(&name.key())
    }

    pub fn set_enum(&mut self, name: &QName, labels: Vec<String>) {
        self.enums.insert(name.key(), labels);
    }

    /// Renames a type, and follows it, as PostgreSQL does, into every column of it (arrays of it
    /// too) and every cast in a column default: a column copied later is made with the new name.
    pub fn rename_type(&mut self, from: &QName, to: &QName) {
        use sqlparser::ast::{ArrayElemTypeDef, VisitMut, VisitorMut};
        if let Some(labels) = self.enums.remove(&from.key()) {
            self.enums.insert(to.key(), labels);
        }
        fn rename(data_type: &mut DataType, from: &QName, to: &QName) {
            match data_type {
                DataType::Custom(name, _) if QName::from_object_name(name).same(from) => {
                    let mut renamed = to.clone();
                    if name.0.len() < 2 {
                        renamed.schema = None;
                    }
                    *name = object_name(&renamed);
                }
                DataType::Array(
                    ArrayElemTypeDef::SquareBracket(inner, _)
                    | ArrayElemTypeDef::AngleBracket(inner)
                    | ArrayElemTypeDef::Parenthesis(inner)
                    | ArrayElemTypeDef::Qualified(inner, _),
                ) => rename(inner, from, to),
                _ => {}
            }
        }
        struct Casts<'a> {
            from: &'a QName,
            to: &'a QName,
        }
        impl VisitorMut for Casts<'_> {
            type Break = ();
            fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
                if let Expr::Cast { data_type, .. } = expr {
                    rename(data_type, self.from, self.to);
                }
                std::ops::ControlFlow::Continue(())
            }
        }
        for table in self.tables.values_mut() {
            for column in table.columns.iter_mut() {
                rename(&mut column.data_type, from, to);
                if let Some(default) = &mut column.default {
                    let _ = VisitMut::visit(default, &mut Casts { from, to });
                }
            }
        }
    }
}

fn unquote(word: &str) -> String {
    let word = word.trim_end_matches(';');
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => word.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(sql: &str) -> Catalog {
        Catalog::from_sql(sql).expect("schema reads")
    }

    /// As PostgreSQL does: the view follows the column to its new name and keeps its own
    /// column's name, so recreating it from the catalog after a rename gives the same view.
    #[test]
    fn a_renamed_column_is_renamed_in_the_views_that_read_it() {
        let mut c = catalog(
            "CREATE TABLE public.person (id integer NOT NULL, preferred_username text, name text);
             CREATE TABLE public.post (id integer NOT NULL, name text);
             CREATE VIEW public.person_alias_1 AS
              SELECT person.id, person.preferred_username, p.name FROM public.person JOIN public.post p ON p.id = person.id;
             CREATE VIEW public.names AS SELECT preferred_username AS shown FROM person WHERE preferred_username <> '';",
        );
        let person = QName::new("person");
        c.rename_column(&person, "preferred_username", "display_name");
        let alias = c.view(&QName::new("person_alias_1")).expect("view");
        assert!(
            alias
                .sql()
                .contains("person.display_name AS preferred_username"),
            "{}",
            alias.sql()
        );
        assert!(alias.sql().contains("p.name"), "{}", alias.sql());
        let names = c.view(&QName::new("names")).expect("view");
        assert!(
            names.sql().contains("display_name AS shown")
                && names.sql().contains("WHERE display_name <> ''"),
            "{}",
            names.sql()
        );
        // Another table's column of the same name is left alone.
        c.rename_column(&QName::new("post"), "name", "title");
        let alias = c.view(&QName::new("person_alias_1")).expect("view");
        assert!(alias.sql().contains("p.title AS name"), "{}", alias.sql());
        assert!(!alias.sql().contains("person.title"), "{}", alias.sql());
    }

    /// Renames find the foreign keys that reference a table through `referenced`, not a scan:
    /// they must follow every rename, of either side, in any order, also of a table that
    /// references itself and of foreign keys added after the table was made.
    /// An index made by a `CREATE INDEX` keeps no text of its own: recreated after its table or
    /// itself was renamed, it names them as they are now.
    #[test]
    fn an_index_is_recreated_under_current_names() {
        let mut c = Catalog::from_sql(
            "CREATE TABLE app.users (id bigint, email text);
             CREATE UNIQUE INDEX users_email ON app.users (lower(email));",
        )
        .expect("schema");
        let in_app = |name: &str| QName {
            schema: Some("app".into()),
            name: name.into(),
        };
        let (users, index) = (in_app("users"), in_app("users_email"));
        assert_eq!(
            c.index(&index).expect("index").definition(),
            "CREATE UNIQUE INDEX users_email ON app.users (lower(email))"
        );
        c.rename_table(&users, &in_app("members"));
        assert_eq!(
            c.index(&index).expect("index").definition(),
            "CREATE UNIQUE INDEX users_email ON app.members (lower(email))"
        );
    }

    #[test]
    fn foreign_keys_follow_renames_of_either_side() {
        let mut c = catalog(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, parent_id bigint REFERENCES accounts);
             CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts (id));
             CREATE TABLE notes (id bigint PRIMARY KEY, order_id bigint);",
        );
        let targets = |c: &Catalog, table: &str| -> Vec<String> {
            c.table(&QName::new(table))
                .expect("table")
                .constraints
                .iter()
                .filter_map(|k| match &k.kind {
                    ConstraintKind::ForeignKey { table, .. } => Some(table.name.clone()),
                    _ => None,
                })
                .collect()
        };
        c.add_constraint(
            &QName::new("notes"),
            Constraint {
                name: "notes_order_id_fkey".into(),
                kind: ConstraintKind::ForeignKey {
                    table: QName::new("orders"),
                    columns: vec!["id".into()],
                },
                columns: vec!["order_id".into()],
                not_valid: false,
                not_null_of: None,
                definition: None,
            },
        );
        // The referencing side first, then the referenced one.
        c.rename_table(&QName::new("orders"), &QName::new("purchases"));
        c.rename_table(&QName::new("accounts"), &QName::new("customers"));
        assert_eq!(targets(&c, "purchases"), ["customers"]);
        assert_eq!(
            targets(&c, "customers"),
            ["customers"],
            "its own foreign key follows it"
        );
        assert_eq!(targets(&c, "notes"), ["purchases"]);
        // And back, the other way round.
        c.rename_table(&QName::new("customers"), &QName::new("accounts"));
        c.rename_table(&QName::new("purchases"), &QName::new("orders"));
        c.rename_table(&QName::new("notes"), &QName::new("remarks"));
        c.rename_table(&QName::new("orders"), &QName::new("sales"));
        assert_eq!(targets(&c, "sales"), ["accounts"]);
        assert_eq!(targets(&c, "accounts"), ["accounts"]);
        assert_eq!(targets(&c, "remarks"), ["sales"]);
        assert_eq!(
            c.table_names().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["accounts", "remarks", "sales"],
            "walks go in name order"
        );
    }
}
