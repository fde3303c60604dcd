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
    match Parser::parse_sql(&dialect, &index.definition).ok()?.pop()? {
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
