//! PostgreSQL building blocks for changes that give a column a stand-in (a rename's new column, a
//! type change's shadow column): which indexes, keys, constraints and views involve the column,
//! and their copies on the stand-in, rewritten from the definitions the schema holds so that
//! nothing the developer wrote (partial predicates, INCLUDE, opclasses, sort order, collations,
//! NULLS NOT DISTINCT, DEFERRABLE, ON DELETE …) is lost.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, ObjectName, Statement, TableConstraint, VisitMut};
use sqlparser::parser::Parser;

use super::helper_name;
use crate::dialect::postgres::{qname, quote};
use crate::error::PlanError;
use crate::name::{QName, ident_value};
use crate::ops::Context;
use crate::schema::{Constraint, ConstraintKind, Index};

/// Renames every reference to column `from` in an expression tree to `to`.
pub fn rename_in<T: VisitMut>(node: &mut T, from: &str, to: &str) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions_mut(node, |expr| {
        match expr {
            Expr::Identifier(ident) if ident_value(ident) == from => {
                *ident = Ident::with_quote('"', to);
                found = true;
            }
            Expr::CompoundIdentifier(parts)
                if parts.last().is_some_and(|i| ident_value(i) == from) =>
            {
                if let Some(last) = parts.last_mut() {
                    *last = Ident::with_quote('"', to);
                    found = true;
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

fn rename_idents(idents: &mut [Ident], from: &str, to: &str) -> bool {
    let mut found = false;
    for ident in idents.iter_mut().filter(|i| ident_value(i) == from) {
        *ident = Ident::with_quote('"', to);
        found = true;
    }
    found
}

fn parse_index(index: &Index) -> Option<sqlparser::ast::CreateIndex> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    match Parser::parse_sql(&dialect, &index.definition())
        .ok()?
        .pop()?
    {
        Statement::CreateIndex(create) => Some(create),
        _ => None,
    }
}

/// Whether an index involves `column` (as a key, in an expression, INCLUDE or its predicate).
pub fn index_mentions(index: &Index, column: &str) -> bool {
    if index.columns.iter().any(|c| c == column) {
        return true;
    }
    let Some(mut create) = parse_index(index) else {
        // Unreadable definition: assume it does, so it is not silently lost.
        return true;
    };
    let in_include = create.include.iter().any(|i| ident_value(i) == column);
    rename_in(&mut create, column, column) || in_include
}

/// The index rebuilt on `to` instead of `from` under a new name, built CONCURRENTLY and
/// re-runnably; every other part of the definition kept as written.
pub fn index_copy(index: &Index, from: &str, to: &str, name: &str) -> Option<String> {
    let mut create = parse_index(index)?;
    rename_in(&mut create, from, to);
    rename_idents(&mut create.include, from, to);
    create.name = Some(ObjectName::from(vec![Ident::with_quote('"', name)]));
    create.concurrently = true;
    create.if_not_exists = true;
    Some(create.to_string())
}

/// The indexes of `table` that involve `column`.
pub fn indexes_involving<'a>(ctx: &'a Context, table: &QName, column: &str) -> Vec<&'a Index> {
    ctx.catalog
        .table(table)
        .map(|t| {
            t.indexes
                .iter()
                .filter(|i| index_mentions(i, column))
                .collect()
        })
        .unwrap_or_default()
}

/// The PRIMARY KEY and UNIQUE constraints of `table` over `column`.
pub fn keys_on<'a>(ctx: &'a Context, table: &QName, column: &str) -> Vec<&'a Constraint> {
    ctx.catalog
        .table(table)
        .map(|t| {
            t.constraints_on(column)
                .into_iter()
                .filter(|c| matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique))
                .collect()
        })
        .unwrap_or_default()
}

/// A unique index on `to` standing in for a key over `from`: `CREATE UNIQUE INDEX CONCURRENTLY`
/// with the key's columns (`from` replaced), INCLUDE and NULLS NOT DISTINCT.
pub fn key_index_copy(table: &QName, key: &Constraint, from: &str, to: &str, name: &str) -> String {
    let cols: Vec<String> = key
        .columns
        .iter()
        .map(|c| quote(if c == from { to } else { c }))
        .collect();
    let options = crate::ops::add_unique::KeyOptions::of(key.definition.as_ref());
    format!(
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}){}",
        quote(name),
        qname(table),
        cols.join(", "),
        options.index
    )
}

/// A constraint's definition with `from` renamed to `to`: in its columns (`own`), or in the
/// columns it references (a foreign key of another table that references `table.from`).
pub fn constraint_copy(
    constraint: &Constraint,
    from: &str,
    to: &str,
    referenced: bool,
) -> Option<String> {
    let mut definition = constraint.definition.clone()?;
    match &mut definition {
        TableConstraint::ForeignKey(fk) if referenced => {
            rename_idents(&mut fk.referred_columns, from, to);
        }
        TableConstraint::ForeignKey(fk) => {
            rename_idents(&mut fk.columns, from, to);
        }
        TableConstraint::Check(check) => {
            rename_in(&mut check.expr, from, to);
        }
        _ => return None,
    }
    Some(definition.to_string())
}

/// A helper name for the copy of an index or constraint `name` made for `column`.
pub fn copy_name(table: &QName, name: &str, purpose: &str) -> String {
    helper_name(table, name, purpose)
}

/// Everything that hangs on `table.column` and has to move to the column that replaces it.
#[derive(Clone, Debug, Default)]
pub struct Dependents {
    /// PRIMARY KEY and UNIQUE constraints of the table over the column.
    pub keys: Vec<Constraint>,
    /// CHECK constraints of the table that read the column.
    pub checks: Vec<Constraint>,
    /// Foreign keys of the table that the column is part of (the table is the child).
    pub own_fks: Vec<Constraint>,
    /// Foreign keys of any table (this one too) that reference the column.
    pub ref_fks: Vec<(QName, Constraint)>,
    /// Indexes of the table that involve the column.
    pub indexes: Vec<Index>,
    /// Views that read the column, and the views that read those, in creation order.
    pub views: Vec<crate::schema::View>,
    /// The sequence the column owns (a `serial`).
    pub sequence: Option<QName>,
}

impl Dependents {
    pub fn of(ctx: &Context, table: &QName, column: &str) -> Result<Dependents, PlanError> {
        let mut found = Dependents::default();
        let Some(t) = ctx.catalog.table(table) else {
            return Ok(found);
        };
        let primary_key = t.primary_key().unwrap_or_default();
        for c in &t.constraints {
            let on_column = c.columns.iter().any(|x| x == column);
            match &c.kind {
                ConstraintKind::PrimaryKey | ConstraintKind::Unique if on_column => {
                    found.keys.push(c.clone())
                }
                ConstraintKind::Check if on_column => found.checks.push(c.clone()),
                ConstraintKind::ForeignKey { .. } if on_column => found.own_fks.push(c.clone()),
                _ => {}
            }
        }
        for other in ctx.catalog.table_names() {
            let Some(other_table) = ctx.catalog.table(other) else {
                continue;
            };
            for c in &other_table.constraints {
                if let ConstraintKind::ForeignKey {
                    table: referenced,
                    columns,
                } = &c.kind
                    && referenced.same(table)
                    && (columns.iter().any(|x| x == column)
                        // `REFERENCES t` without columns: its primary key.
                        || (columns.is_empty() && primary_key.iter().any(|x| x == column)))
                {
                    found.ref_fks.push((other.clone(), c.clone()));
                }
            }
        }
        found.indexes = indexes_involving(ctx, table, column)
            .into_iter()
            .cloned()
            .collect();
        found.views = ctx
            .catalog
            .dependent_views(table, Some(column))
            .into_iter()
            .cloned()
            .collect();
        if let Some(view) = found.views.iter().find(|v| v.materialized) {
            return Err(ctx
                .error(format!(
                    "materialized view `{}` reads `{}.{column}`: safeshift cannot move it to the new column without rebuilding it",
                    view.name.display(),
                    table.display()
                ))
                .help("drop the materialized view before this change and recreate it after, or plan the change by hand"));
        }
        if let Some(key) = found.keys.iter().find(|k| k.definition.is_none()) {
            return Err(ctx.error(format!(
                "safeshift does not know how `{}` on `{}` was defined (added USING INDEX?), so it cannot rebuild it on the new column",
                key.name,
                table.display()
            )));
        }
        for c in found
            .checks
            .iter()
            .chain(&found.own_fks)
            .chain(found.ref_fks.iter().map(|(_, c)| c))
        {
            if c.definition.is_none() {
                return Err(ctx.error(format!(
                    "safeshift does not know how constraint `{}` was defined, so it cannot rebuild it on the new column",
                    c.name
                )));
            }
        }
        found.sequence = ctx
            .catalog
            .owned_sequence(table, column)
            .map(|s| s.name.clone());
        Ok(found)
    }

    /// The other tables whose foreign keys move: locked after the table itself, by name.
    pub fn referencing_tables(&self, table: &QName) -> Vec<QName> {
        let mut tables: Vec<QName> = self
            .ref_fks
            .iter()
            .map(|(t, _)| t.clone())
            .filter(|t| !t.same(table))
            .collect();
        tables.sort_by_key(|t| t.key());
        tables.dedup_by(|a, b| a.same(b));
        tables
    }
}
