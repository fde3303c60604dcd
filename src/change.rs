//! The `Change` enum and its lowering from sqlparser's AST. Every `match` on the AST lives here
//! (sqlparser's enums change between minor releases); everything after works on our own types.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, AlterTypeAddValuePosition, AlterTypeOperation,
    ColumnDef, ColumnOption, DataType, Expr, GeneratedAs, GeneratedExpressionMode, Ident,
    MySQLColumnPosition, ObjectName, ObjectType, RenameTableNameKind, Statement, TableConstraint,
    UserDefinedTypeRepresentation,
};

use crate::dialect::{Dialect, postgres};
use crate::error::PlanError;
use crate::name::{QName, ident_in};
use crate::ops::{self, Op};
use crate::parse::{Body, ParsedStatement, PgStatement};
use crate::schema::{Column, Constraint, ConstraintKind, Generated, Sequence};

/// One intended schema change, engine-neutral. One variant per file in `src/ops/`.
#[derive(Clone, Debug)]
pub enum Change {
    CreateTable(ops::create_table::CreateTable),
    AddColumn(ops::add_column::AddColumn),
    AddRequiredColumn(ops::add_required_column::AddRequiredColumn),
    AddVolatileColumn(ops::add_volatile_column::AddVolatileColumn),
    SetNotNull(ops::set_not_null::SetNotNull),
    CreateIndex(ops::create_index::CreateIndex),
    DropIndex(ops::drop_index::DropIndex),
    AddUnique(ops::add_unique::AddUnique),
    AddPrimaryKey(ops::add_primary_key::AddPrimaryKey),
    AddForeignKey(ops::add_foreign_key::AddForeignKey),
    AddCheck(ops::add_check::AddCheck),
    ChangeColumnType(ops::change_column_type::ChangeColumnType),
    ModifyColumn(ops::modify_column::ModifyColumn),
    RenameColumn(ops::rename_column::RenameColumn),
    RenameTable(ops::rename_table::RenameTable),
    DropColumn(ops::drop_column::DropColumn),
    DropTable(ops::drop_table::DropTable),
    CreateEnum(ops::create_enum::CreateEnum),
    AddEnumValue(ops::add_enum_value::AddEnumValue),
    CatalogOnly(ops::catalog_only::CatalogOnly),
    Sequence(ops::sequence::SequenceChange),
    View(ops::view::ViewChange),
    Other(ops::other::Other),
    Reindex(ops::reindex::Reindex),
    DetachPartition(ops::detach_partition::DetachPartition),
    RenameEnumValue(ops::rename_enum_value::RenameEnumValue),
    RenameType(ops::rename_type::RenameType),
    DataChange(ops::data_change::DataChange),
}

impl Change {
    pub fn op(&self) -> &dyn Op {
        match self {
            Change::CreateTable(c) => c,
            Change::AddColumn(c) => c,
            Change::AddRequiredColumn(c) => c,
            Change::AddVolatileColumn(c) => c,
            Change::SetNotNull(c) => c,
            Change::CreateIndex(c) => c,
            Change::DropIndex(c) => c,
            Change::AddUnique(c) => c,
            Change::AddPrimaryKey(c) => c,
            Change::AddForeignKey(c) => c,
            Change::AddCheck(c) => c,
            Change::ChangeColumnType(c) => c,
            Change::ModifyColumn(c) => c,
            Change::RenameColumn(c) => c,
            Change::RenameTable(c) => c,
            Change::DropColumn(c) => c,
            Change::DropTable(c) => c,
            Change::CreateEnum(c) => c,
            Change::AddEnumValue(c) => c,
            Change::CatalogOnly(c) => c,
            Change::Sequence(c) => c,
            Change::View(c) => c,
            Change::Other(c) => c,
            Change::Reindex(c) => c,
            Change::DetachPartition(c) => c,
            Change::RenameEnumValue(c) => c,
            Change::RenameType(c) => c,
            Change::DataChange(c) => c,
        }
    }

    /// The op file this change belongs to (`src/ops/<kind>.rs`).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::CreateTable(_) => "create_table",
            Change::AddColumn(_) => "add_column",
            Change::AddRequiredColumn(_) => "add_required_column",
            Change::AddVolatileColumn(_) => "add_volatile_column",
            Change::SetNotNull(_) => "set_not_null",
            Change::CreateIndex(_) => "create_index",
            Change::DropIndex(_) => "drop_index",
            Change::AddUnique(_) => "add_unique",
            Change::AddPrimaryKey(_) => "add_primary_key",
            Change::AddForeignKey(_) => "add_foreign_key",
            Change::AddCheck(_) => "add_check",
            Change::ChangeColumnType(_) => "change_column_type",
            Change::ModifyColumn(_) => "modify_column",
            Change::RenameColumn(_) => "rename_column",
            Change::RenameTable(_) => "rename_table",
            Change::DropColumn(_) => "drop_column",
            Change::DropTable(_) => "drop_table",
            Change::CreateEnum(_) => "create_enum",
            Change::AddEnumValue(_) => "add_enum_value",
            Change::CatalogOnly(_) => "catalog_only",
            Change::Sequence(_) => "sequence",
            Change::View(_) => "view",
            Change::Other(_) => "other",
            Change::Reindex(_) => "reindex",
            Change::DetachPartition(_) => "detach_partition",
            Change::RenameEnumValue(_) => "rename_enum_value",
            Change::RenameType(_) => "rename_type",
            Change::DataChange(_) => "data_change",
        }
    }
}

/// How names read in the engine a statement was written for: PostgreSQL folds unquoted names to
/// lower case, MySQL keeps them; default names for constraints and indexes differ too.
#[derive(Clone, Copy)]
struct Names {
    dialect: Dialect,
}

impl Names {
    fn of(source: &ParsedStatement) -> Names {
        Names {
            dialect: source.dialect,
        }
    }

    fn ident(&self, ident: &Ident) -> String {
        ident_in(ident, self.dialect.folds_case())
    }

    fn qname(&self, name: &ObjectName) -> QName {
        QName::from_object_name_in(name, self.dialect.folds_case())
    }

    fn mysql(&self) -> bool {
        self.dialect.is_mysql()
    }

    fn mariadb(&self) -> bool {
        self.dialect.mysql().is_some_and(|my| my.is_mariadb())
    }
}

/// A statement passed through runs as written, every action of it: when one action of a
/// multi-action ALTER is not planned, the others are not planned again beside it (they would
/// run twice), only kept for the catalog.
fn pass_through_whole(changes: Vec<Change>) -> Vec<Change> {
    let Some(first) = changes.iter().position(|c| matches!(c, Change::Other(_))) else {
        return changes;
    };
    if changes.len() == 1 {
        return changes;
    }
    let mut whole = match &changes[first] {
        Change::Other(o) => o.clone(),
        _ => return changes,
    };
    for (i, change) in changes.into_iter().enumerate() {
        if i == first {
            continue;
        }
        match change {
            Change::Other(o) => {
                if !whole.why.contains(&o.why) {
                    whole.why = format!("{}; {}", whole.why, o.why);
                }
                whole.rewrites = whole.rewrites.or(o.rewrites);
                whole.drops_primary_key = whole.drops_primary_key.or(o.drops_primary_key);
                whole.applies.extend(o.applies);
            }
            planned => whole.applies.push(planned),
        }
    }
    vec![Change::Other(whole)]
}

fn other(statement: &ParsedStatement, why: impl Into<String>) -> Change {
    Change::Other(ops::other::Other::new(&statement.text, why))
}

/// Lowers one statement of a change file: a syntax error comes back as the error; statements
/// sqlparser cannot parse but safeshift recognises become their changes too.
pub fn lower_statement(statement: &ParsedStatement) -> Result<Vec<Change>, PlanError> {
    match &statement.body {
        Body::Invalid(e) => Err(e.clone()),
        Body::Ast(ast) => lower(ast, statement),
        Body::DropIndexConcurrently { names, if_exists } => Ok(names
            .iter()
            .map(|n| {
                Change::DropIndex(ops::drop_index::DropIndex {
                    name: QName::from_object_name(n),
                    table: None,
                    if_exists: *if_exists,
                    cascade: false,
                    concurrently: true,
                })
            })
            .collect()),
        Body::Sequence(s) => {
            let names = Names::of(statement);
            let owned_by = s.owned_by.as_ref().map(|owner| {
                owner.as_ref().and_then(|name| {
                    let (column, table) = name.0.split_last()?;
                    let column = names.ident(column.as_ident()?);
                    let table = names.qname(&ObjectName(table.to_vec()));
                    Some((table, column))
                })
            });
            Ok(vec![Change::Sequence(ops::sequence::SequenceChange {
                name: names.qname(&s.name),
                create: s.create,
                if_exists: s.if_exists,
                data_type: s.data_type.clone(),
                owned_by,
                other_options: s.other_options,
                sql: statement.text.clone(),
            })])
        }
        Body::Recognised { keyword } => Ok(vec![Change::Other(ops::other::Other::new(
            &statement.text,
            format!("{keyword} is not planned by safeshift"),
        ))]),
        Body::Postgres(PgStatement::Reindex {
            target,
            name,
            concurrently,
        }) => Ok(vec![Change::Reindex(ops::reindex::Reindex {
            target: target.clone(),
            name: name.as_ref().map(|n| Names::of(statement).qname(n)),
            concurrently: *concurrently,
            sql: statement.text.clone(),
        })]),
        Body::Postgres(PgStatement::DetachPartition {
            table,
            partition,
            concurrently,
            finalize,
        }) => {
            let names = Names::of(statement);
            let table = names.qname(table);
            let mut partition = names.qname(partition);
            partition.schema = partition.schema.or_else(|| table.schema.clone());
            Ok(vec![Change::DetachPartition(
                ops::detach_partition::DetachPartition {
                    table,
                    partition,
                    concurrently: *concurrently,
                    finalize: *finalize,
                },
            )])
        }
    }
}

/// Lowers one parsed statement into the changes it makes (an ALTER TABLE with several actions, or
/// a column with inline constraints, gives several).
pub fn lower(ast: &Statement, source: &ParsedStatement) -> Result<Vec<Change>, PlanError> {
    let names = Names::of(source);
    let changes = match ast {
        Statement::CreateTable(create) => {
            let table = names.qname(&create.name);
            let mut columns = Vec::new();
            let mut constraints = Vec::new();
            let mut indexes = Vec::new();
            let mut sequences = Vec::new();
            if create.columns.is_empty()
                && let Some(query) = &create.query
            {
                columns.extend(query_columns(names, query));
            }
            for def in &create.columns {
                let (column, inline, sequence) = lower_column(names, &table, def);
                sequences.extend(sequence);
                for (name, kind, definition) in inline {
                    constraints.push(named_constraint(
                        names,
                        &table,
                        name,
                        kind,
                        std::slice::from_ref(&column.name),
                        definition,
                    ));
                }
                columns.push(column);
            }
            for constraint in &create.constraints {
                if let Some(index) = mysql_index(names, &table, constraint)
                    .or_else(|| mysql_special_index(names, &table, constraint))
                {
                    indexes.push(index);
                } else if let Some((name, kind, cols)) = table_constraint(names, constraint) {
                    constraints.push(named_constraint(
                        names,
                        &table,
                        name,
                        kind,
                        &cols,
                        Some(unnamed(constraint)),
                    ));
                }
            }
            for c in constraints
                .iter()
                .filter(|c| c.kind == ConstraintKind::PrimaryKey)
            {
                for col in columns
                    .iter_mut()
                    .filter(|col| c.columns.contains(&col.name))
                {
                    col.not_null = true;
                }
            }
            vec![Change::CreateTable(ops::create_table::CreateTable {
                table,
                columns,
                constraints,
                indexes,
                sequences,
                temporary: create.temporary,
                partitioned: create.partition_by.is_some(),
                partition_of: create.partition_of.as_ref().map(|p| names.qname(p)),
                query_reads: create
                    .query
                    .as_ref()
                    .map(|q| query_relations(names, q))
                    .unwrap_or_default(),
                sql: source.text.clone(),
            })]
        }
        Statement::AlterTable(alter) => {
            let table = names.qname(&alter.name);
            let mut changes = Vec::new();
            for operation in &alter.operations {
                changes.extend(lower_alter(&table, operation, source));
            }
            pass_through_whole(changes)
        }
        Statement::CreateIndex(index) => {
            let table = names.qname(&index.table_name);
            let columns: Vec<String> = index
                .columns
                .iter()
                .filter_map(|c| column_in(names, &c.column.expr))
                .collect();
            let simple = columns.len() == index.columns.len();
            let name_parts: Vec<String> = index
                .columns
                .iter()
                .map(|c| index_column_name(names, &c.column.expr))
                .collect();
            let name = match &index.name {
                Some(n) => {
                    let mut n = names.qname(n);
                    n.schema = n.schema.or_else(|| table.schema.clone());
                    n
                }
                None if names.mysql() => table.sibling(default_index_name(
                    names,
                    &table,
                    if simple { &columns } else { &[] },
                )),
                None => table.sibling(default_index_name(names, &table, &name_parts)),
            };
            let mut body = String::new();
            if let Some(using) = &index.using {
                body.push_str(&format!("USING {using} "));
            }
            let cols: Vec<String> = index.columns.iter().map(|c| c.to_string()).collect();
            body.push_str(&format!("({})", cols.join(", ")));
            if !index.include.is_empty() {
                let include: Vec<String> = index.include.iter().map(|i| i.to_string()).collect();
                body.push_str(&format!(" INCLUDE ({})", include.join(", ")));
            }
            match index.nulls_distinct {
                Some(false) => body.push_str(" NULLS NOT DISTINCT"),
                Some(true) => body.push_str(" NULLS DISTINCT"),
                None => {}
            }
            if !index.with.is_empty() {
                let with: Vec<String> = index.with.iter().map(|w| w.to_string()).collect();
                body.push_str(&format!(" WITH ({})", with.join(", ")));
            }
            if let Some(predicate) = &index.predicate {
                body.push_str(&format!(" WHERE {predicate}"));
            }
            vec![Change::CreateIndex(ops::create_index::CreateIndex {
                name,
                table,
                columns: if simple { columns } else { Vec::new() },
                unique: index.unique,
                concurrently: index.concurrently,
                if_not_exists: index.if_not_exists,
                body,
                name_parts,
            })]
        }
        Statement::Drop {
            object_type,
            if_exists,
            names: objects,
            cascade,
            table: on_table,
            ..
        } => match object_type {
            ObjectType::Table => objects
                .iter()
                .map(|n| {
                    Change::DropTable(ops::drop_table::DropTable {
                        table: names.qname(n),
                        if_exists: *if_exists,
                        cascade: *cascade,
                    })
                })
                .collect(),
            ObjectType::Index => objects
                .iter()
                .map(|n| {
                    // MySQL: `DROP INDEX i ON t`; index names are per table there.
                    let table = on_table.as_ref().map(|t| names.qname(t));
                    let mut name = names.qname(n);
                    if let Some(t) = &table {
                        name.schema = name.schema.or_else(|| t.schema.clone());
                    }
                    Change::DropIndex(ops::drop_index::DropIndex {
                        name,
                        table,
                        if_exists: *if_exists,
                        cascade: *cascade,
                        concurrently: false,
                    })
                })
                .collect(),
            ObjectType::View | ObjectType::MaterializedView => objects
                .iter()
                .map(|n| {
                    Change::View(ops::view::ViewChange::Drop {
                        name: names.qname(n),
                        materialized: *object_type == ObjectType::MaterializedView,
                        if_exists: *if_exists,
                        cascade: *cascade,
                    })
                })
                .collect(),
            _ => vec![other(
                source,
                format!("DROP {object_type} is not planned by safeshift"),
            )],
        },
        Statement::CreateView(create) => {
            match ops::view::read_view(
                names.qname(&create.name),
                ast,
                &source.text,
                names.dialect.folds_case(),
            ) {
                Some((view, or_replace)) => {
                    vec![Change::View(ops::view::ViewChange::Create {
                        view,
                        or_replace,
                        replaces: false,
                    })]
                }
                None => vec![other(source, "this view is not planned by safeshift")],
            }
        }
        Statement::RenameTable(renames) => renames
            .iter()
            .map(|r| {
                let from = names.qname(&r.old_name);
                let mut to = names.qname(&r.new_name);
                to.schema = to.schema.or_else(|| from.schema.clone());
                Change::RenameTable(ops::rename_table::RenameTable { from, to })
            })
            .collect(),
        Statement::CreateType {
            name,
            representation: Some(UserDefinedTypeRepresentation::Enum { labels }),
        } => {
            vec![Change::CreateEnum(ops::create_enum::CreateEnum {
                name: names.qname(name),
                labels: labels.iter().map(|l| l.value.clone()).collect(),
                sql: source.text.clone(),
            })]
        }
        Statement::Comment {
            object_type: sqlparser::ast::CommentObject::Column,
            object_name,
            comment,
            ..
        } if !names.mysql() && object_name.0.len() >= 2 => {
            let (column, table) = match object_name.0.split_last() {
                Some((column, table)) => (column, table),
                None => return Ok(vec![other(source, "COMMENT ON COLUMN without a column")]),
            };
            let Some(column) = column.as_ident() else {
                return Ok(vec![other(source, "COMMENT ON COLUMN without a column")]);
            };
            vec![Change::CatalogOnly(ops::catalog_only::CatalogOnly {
                table: names.qname(&ObjectName(table.to_vec())),
                action: ops::catalog_only::Action::Comment {
                    column: names.ident(column),
                    text: comment.clone(),
                },
            })]
        }
        Statement::AlterType(alter) => match &alter.operation {
            AlterTypeOperation::AddValue(add) => {
                vec![Change::AddEnumValue(ops::add_enum_value::AddEnumValue {
                    type_name: names.qname(&alter.name),
                    value: add.value.value.clone(),
                    if_not_exists: add.if_not_exists,
                    position: add.position.as_ref().map(|p| match p {
                        AlterTypeAddValuePosition::Before(v) => (true, v.value.clone()),
                        AlterTypeAddValuePosition::After(v) => (false, v.value.clone()),
                    }),
                })]
            }
            AlterTypeOperation::RenameValue(rename) => {
                vec![Change::RenameEnumValue(
                    ops::rename_enum_value::RenameEnumValue {
                        type_name: names.qname(&alter.name),
                        from: rename.from.value.clone(),
                        to: rename.to.value.clone(),
                    },
                )]
            }
            AlterTypeOperation::Rename(rename) => {
                vec![Change::RenameType(ops::rename_type::RenameType {
                    from: names.qname(&alter.name),
                    to: names.ident(&rename.new_name),
                })]
            }
        },
        Statement::Update(_) | Statement::Delete(_) | Statement::Insert(_) => {
            vec![lower_data_change(names, ast, source)]
        }
        _ => vec![other(
            source,
            "safeshift does not plan this kind of statement",
        )],
    };
    Ok(changes)
}

fn lower_alter(
    table: &QName,
    operation: &AlterTableOperation,
    source: &ParsedStatement,
) -> Vec<Change> {
    use ops::catalog_only::{Action, CatalogOnly};
    let names = Names::of(source);
    let ident_value = |i: &Ident| names.ident(i);
    let catalog_only = |action: Action| {
        Change::CatalogOnly(CatalogOnly {
            table: table.clone(),
            action,
        })
    };
    match operation {
        AlterTableOperation::AddColumn {
            column_def,
            if_not_exists,
            column_position,
            ..
        } => {
            let (column, inline, sequence) = lower_column(names, table, column_def);
            let position = column_position.as_ref().map(|p| position(names, p));
            let mut changes = vec![add_column_change(
                table,
                column.clone(),
                sequence,
                *if_not_exists,
                position,
                source,
            )];
            for (name, kind, definition) in inline {
                let server_named = name.is_none() && names.mysql();
                let constraint = named_constraint(
                    names,
                    table,
                    name,
                    kind,
                    std::slice::from_ref(&column.name),
                    definition,
                );
                // PostgreSQL checks no rows for a foreign key on a column the same statement
                // adds without a default: keep it in that statement.
                if let (Change::AddColumn(add), ConstraintKind::ForeignKey { .. }, false) =
                    (&mut changes[0], &constraint.kind, names.mysql())
                    && add.column.default.is_none()
                {
                    add.references.push(constraint);
                    continue;
                }
                let mut change = constraint_change(names, table, constraint, false, None, source);
                if let Change::AddForeignKey(fk) = &mut change {
                    fk.named = !server_named;
                }
                changes.push(change);
            }
            // A column passed through as written brings its inline keys with it (MySQL wants an
            // AUTO_INCREMENT column's key in the same statement): planning them again would add
            // them twice. Later statements still see the column and its keys.
            if let Some(Change::Other(other)) = changes.first()
                && other.rewrites.is_some()
            {
                let mut other = other.clone();
                other
                    .applies
                    .push(Change::AddColumn(ops::add_column::AddColumn {
                        table: table.clone(),
                        column: column.clone(),
                        if_not_exists: *if_not_exists,
                        position: None,
                        references: Vec::new(),
                    }));
                other.applies.extend(changes.drain(1..));
                return vec![Change::Other(other)];
            }
            changes
        }
        AlterTableOperation::AddConstraint { constraint, .. }
            if mysql_index(names, table, constraint).is_some() =>
        {
            let Some(index) = mysql_index(names, table, constraint) else {
                return Vec::new();
            };
            vec![Change::CreateIndex(ops::create_index::CreateIndex {
                name: index.name,
                table: index.table,
                columns: index.columns,
                unique: false,
                concurrently: false,
                if_not_exists: false,
                body: index.body,
                name_parts: Vec::new(),
            })]
        }
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::FulltextOrSpatial(_),
            ..
        } => vec![other(
            source,
            "FULLTEXT and SPATIAL indexes are not planned by safeshift (the first FULLTEXT index rebuilds the table)",
        )],
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid,
        } => {
            if let TableConstraint::UniqueUsingIndex(u) | TableConstraint::PrimaryKeyUsingIndex(u) =
                constraint
            {
                let primary = matches!(constraint, TableConstraint::PrimaryKeyUsingIndex(_));
                let index = ident_value(&u.index_name);
                let name = u
                    .name
                    .as_ref()
                    .map(ident_value)
                    .unwrap_or_else(|| index.clone());
                let kind = if primary {
                    ConstraintKind::PrimaryKey
                } else {
                    ConstraintKind::Unique
                };
                let c = Constraint {
                    name,
                    kind,
                    columns: Vec::new(),
                    not_valid: false,
                    not_null_of: None,
                    definition: None,
                };
                return vec![constraint_change(
                    names,
                    table,
                    c,
                    false,
                    Some(index),
                    source,
                )];
            }
            match table_constraint(names, constraint) {
                Some((name, kind, columns)) => {
                    let server_named = name.is_none() && names.mysql();
                    let c = named_constraint(
                        names,
                        table,
                        name,
                        kind,
                        &columns,
                        Some(unnamed(constraint)),
                    );
                    let mut change = constraint_change(names, table, c, *not_valid, None, source);
                    if let Change::AddForeignKey(fk) = &mut change {
                        fk.named = !server_named;
                    }
                    vec![change]
                }
                None => vec![other(
                    source,
                    "this kind of constraint (or a key on an expression) is not planned by safeshift",
                )],
            }
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let column = ident_value(column_name);
            match op {
                AlterColumnOperation::SetNotNull => {
                    vec![Change::SetNotNull(ops::set_not_null::SetNotNull {
                        table: table.clone(),
                        column,
                    })]
                }
                AlterColumnOperation::DropNotNull => {
                    vec![catalog_only(Action::DropNotNull { column })]
                }
                AlterColumnOperation::SetDefault { value } => {
                    vec![catalog_only(Action::SetDefault {
                        column,
                        expr: Box::new(value.clone()),
                    })]
                }
                AlterColumnOperation::DropDefault => {
                    vec![catalog_only(Action::DropDefault { column })]
                }
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                } => {
                    vec![Change::ChangeColumnType(
                        ops::change_column_type::ChangeColumnType {
                            table: table.clone(),
                            column,
                            data_type: data_type.clone(),
                            using: using.clone(),
                            target: None,
                        },
                    )]
                }
                _ => vec![other(
                    source,
                    "this ALTER COLUMN action is not planned by safeshift",
                )],
            }
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            drop_behavior,
            ..
        } => column_names
            .iter()
            .map(|c| {
                Change::DropColumn(ops::drop_column::DropColumn {
                    table: table.clone(),
                    column: ident_value(c),
                    if_exists: *if_exists,
                    cascade: matches!(drop_behavior, Some(sqlparser::ast::DropBehavior::Cascade)),
                })
            })
            .collect(),
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            vec![Change::RenameColumn(ops::rename_column::RenameColumn {
                table: table.clone(),
                from: ident_value(old_column_name),
                to: ident_value(new_column_name),
            })]
        }
        AlterTableOperation::RenameTable { table_name } => {
            let (RenameTableNameKind::To(name) | RenameTableNameKind::As(name)) = table_name;
            let mut to = names.qname(name);
            to.schema = to.schema.or_else(|| table.schema.clone());
            vec![Change::RenameTable(ops::rename_table::RenameTable {
                from: table.clone(),
                to,
            })]
        }
        AlterTableOperation::DropConstraint {
            name, if_exists, ..
        } => {
            vec![catalog_only(Action::DropConstraint {
                name: ident_value(name),
                if_exists: *if_exists,
            })]
        }
        AlterTableOperation::ValidateConstraint { name } => {
            vec![catalog_only(Action::ValidateConstraint {
                name: ident_value(name),
            })]
        }
        AlterTableOperation::DropIndex { name } => {
            vec![Change::DropIndex(ops::drop_index::DropIndex {
                name: table.sibling(ident_value(name)),
                table: Some(table.clone()),
                if_exists: false,
                cascade: false,
                concurrently: false,
            })]
        }
        AlterTableOperation::DropForeignKey { name, .. } => {
            vec![catalog_only(Action::DropForeignKey {
                name: ident_value(name),
            })]
        }
        AlterTableOperation::ModifyColumn {
            col_name,
            data_type,
            options,
            column_position,
        } => vec![modify_column(
            names,
            table,
            col_name,
            col_name,
            data_type,
            options,
            column_position.as_ref(),
        )],
        AlterTableOperation::ChangeColumn {
            old_name,
            new_name,
            data_type,
            options,
            column_position,
        } => vec![modify_column(
            names,
            table,
            old_name,
            new_name,
            data_type,
            options,
            column_position.as_ref(),
        )],
        // `ALGORITHM=…` and `LOCK=…` say how, not what: the plan pins its own.
        AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. } => Vec::new(),
        AlterTableOperation::OwnerTo { .. } => vec![other(
            source,
            "ownership changes are not planned by safeshift",
        )],
        AlterTableOperation::DropPrimaryKey { .. } => {
            let mut passed = ops::other::Other::new(
                &source.text,
                "dropping a primary key rebuilds the table (a table copy on InnoDB); safeshift does not plan it",
            );
            passed.drops_primary_key = Some(table.clone());
            vec![Change::Other(passed)]
        }
        _ => vec![other(
            source,
            "this ALTER TABLE action is not planned by safeshift",
        )],
    }
}

/// Sorts an added column into its kind: each has its own risk and safe path.
fn add_column_change(
    table: &QName,
    column: Column,
    sequence: Option<crate::schema::Sequence>,
    if_not_exists: bool,
    position: Option<ops::ColumnPosition>,
    source: &ParsedStatement,
) -> Change {
    use ops::add_volatile_column::{AddVolatileColumn, Filled};
    let volatile_change = |column: Column, filled: Filled| {
        Change::AddVolatileColumn(AddVolatileColumn {
            table: table.clone(),
            column,
            position: None,
            filled,
        })
    };
    if !source.dialect.is_mysql() {
        match (&column.generated, sequence) {
            (None, Some(sequence)) => return volatile_change(column, Filled::Serial(sequence)),
            (Some(Generated::Identity { always, options }), _) => {
                let filled = Filled::Identity {
                    always: *always,
                    options: options.clone(),
                };
                return volatile_change(
                    Column {
                        not_null: true,
                        ..column
                    },
                    filled,
                );
            }
            (Some(Generated::Stored), _) => {
                return volatile_change(column, Filled::StoredGenerated);
            }
            (Some(Generated::Virtual), _) => {
                return Change::Other(ops::other::Other::new(
                    &source.text,
                    "a virtual generated column (PostgreSQL 18) is computed when read: catalog only, passed through as written",
                ));
            }
            _ => {}
        }
    }
    if column.generated.is_some() {
        return Change::Other(ops::other::Other::rewriting(
            &source.text,
            table,
            if source.dialect.is_mysql() {
                "adding an AUTO_INCREMENT or stored generated column rebuilds the table, and InnoDB lets no writes through while it does; \
                 safeshift has no staged plan for it (run it in a quiet period, or with an online schema change tool)"
            } else {
                "adding an identity, serial or generated column rewrites the whole table under an ACCESS EXCLUSIVE lock; \
                 safeshift has no staged plan for it yet (add a nullable column, fill it with a trigger and a batched backfill, \
                 then constrain it)"
            },
        ));
    }
    let volatile = |d: &Expr| match source.dialect {
        Dialect::Postgres(_) => postgres::is_volatile(d),
        Dialect::MySql(_) => crate::dialect::mysql::is_computed_default(d),
    };
    match &column.default {
        Some(default) if volatile(default) => {
            Change::AddVolatileColumn(ops::add_volatile_column::AddVolatileColumn {
                table: table.clone(),
                column,
                position,
                filled: ops::add_volatile_column::Filled::Default,
            })
        }
        None if column.not_null => {
            Change::AddRequiredColumn(ops::add_required_column::AddRequiredColumn {
                table: table.clone(),
                column,
                position,
            })
        }
        _ => Change::AddColumn(ops::add_column::AddColumn {
            table: table.clone(),
            column,
            if_not_exists,
            position,
            references: Vec::new(),
        }),
    }
}

fn constraint_change(
    names: Names,
    table: &QName,
    c: Constraint,
    not_valid: bool,
    using_index: Option<String>,
    source: &ParsedStatement,
) -> Change {
    let d = names.dialect;
    let table = table.clone();
    match c.kind {
        ConstraintKind::PrimaryKey => Change::AddPrimaryKey(ops::add_primary_key::AddPrimaryKey {
            table,
            name: c.name,
            columns: c.columns,
            using_index,
            definition: c.definition,
        }),
        ConstraintKind::Unique => Change::AddUnique(ops::add_unique::AddUnique {
            table,
            name: c.name,
            columns: c.columns,
            using_index,
            definition: c.definition,
        }),
        ConstraintKind::ForeignKey {
            table: ref_table,
            columns: ref_columns,
        } => {
            // As written (actions, MATCH, DEFERRABLE …); spelled out only if nothing was kept.
            let definition = c
                .definition
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_else(|| {
                    format!(
                        "FOREIGN KEY ({}) REFERENCES {} ({})",
                        c.columns
                            .iter()
                            .map(|c| d.quote(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                        d.qname(&ref_table),
                        ref_columns
                            .iter()
                            .map(|c| d.quote(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                });
            Change::AddForeignKey(ops::add_foreign_key::AddForeignKey {
                table,
                name: c.name,
                columns: c.columns,
                ref_columns,
                ref_table,
                definition,
                constraint: c.definition,
                not_valid,
                named: true,
            })
        }
        ConstraintKind::Check => {
            // Every CHECK is lowered with its definition; one without would have to be
            // invented, and a made-up expression silently changes what the table accepts.
            let Some(TableConstraint::Check(k)) = &c.definition else {
                return other(
                    source,
                    "a CHECK constraint whose expression safeshift did not read",
                );
            };
            let (expr, no_inherit) = ((*k.expr).clone(), k.no_inherit);
            Change::AddCheck(ops::add_check::AddCheck {
                table,
                name: c.name,
                expr,
                no_inherit,
                not_valid,
            })
        }
    }
}

/// A constraint as written, without its name (the catalog keeps the name apart).
fn unnamed(constraint: &TableConstraint) -> TableConstraint {
    let mut constraint = constraint.clone();
    match &mut constraint {
        TableConstraint::Unique(k) => k.name = None,
        TableConstraint::PrimaryKey(k) => k.name = None,
        TableConstraint::ForeignKey(k) => k.name = None,
        TableConstraint::Check(k) => k.name = None,
        _ => {}
    }
    constraint
}

/// A constraint written inline on a column: its name if given, its kind, and the same constraint
/// written at table level (with the column filled in), which keeps every attribute.
type InlineConstraint = (Option<String>, ConstraintKind, Option<TableConstraint>);

/// A column definition and the constraints written inline on it (`REFERENCES`, `UNIQUE`, …).
fn lower_column(
    names: Names,
    table: &QName,
    def: &ColumnDef,
) -> (Column, Vec<InlineConstraint>, Option<Sequence>) {
    let ident_value = |i: &Ident| names.ident(i);
    let mut column = Column {
        name: ident_value(&def.name),
        data_type: def.data_type.clone(),
        not_null: false,
        default: None,
        generated: None,
        extra: Vec::new(),
        comment: None,
    };
    let sequence = (!names.mysql())
        .then(|| serial(table, &mut column))
        .flatten();
    let mut inline = Vec::new();
    let mut json_check = None;
    for option in &def.options {
        let name = option.name.as_ref().map(ident_value);
        match &option.option {
            ColumnOption::NotNull => column.not_null = true,
            ColumnOption::Null => column.not_null = false,
            // MySQL dumps write `DEFAULT NULL` for columns without a default.
            ColumnOption::Default(Expr::Value(v))
                if names.mysql() && v.value == sqlparser::ast::Value::Null =>
            {
                column.default = None
            }
            ColumnOption::Default(expr) => column.default = Some(expr.clone()),
            ColumnOption::Generated {
                generated_as,
                generation_expr,
                generation_expr_mode,
                sequence_options,
                ..
            } => {
                let options: String = sequence_options
                    .iter()
                    .flatten()
                    .map(|o| o.to_string())
                    .collect();
                column.generated = Some(match (generation_expr, generated_as) {
                    (Some(_), _)
                        if *generation_expr_mode == Some(GeneratedExpressionMode::Stored) =>
                    {
                        Generated::Stored
                    }
                    (Some(_), _) => Generated::Virtual,
                    (None, GeneratedAs::ExpStored) => Generated::Stored,
                    (None, GeneratedAs::Always) => Generated::Identity {
                        always: true,
                        options,
                    },
                    (None, GeneratedAs::ByDefault) => Generated::Identity {
                        always: false,
                        options,
                    },
                })
            }
            ColumnOption::Identity(_) => {
                column.generated = Some(Generated::Identity {
                    always: false,
                    options: String::new(),
                })
            }
            ColumnOption::DialectSpecific(tokens)
                if tokens
                    .iter()
                    .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
            {
                column.generated = Some(Generated::AutoIncrement);
                column.extra.push(option.option.to_string());
            }
            ColumnOption::PrimaryKey(pk) => {
                column.not_null = true;
                let mut pk = pk.clone();
                pk.columns = vec![def.name.clone().into()];
                let definition = unnamed(&TableConstraint::PrimaryKey(pk));
                inline.push((name, ConstraintKind::PrimaryKey, Some(definition)));
            }
            ColumnOption::Unique(u) => {
                let mut u = u.clone();
                u.columns = vec![def.name.clone().into()];
                let definition = unnamed(&TableConstraint::Unique(u));
                inline.push((name, ConstraintKind::Unique, Some(definition)));
            }
            ColumnOption::ForeignKey(fk) => {
                let kind = ConstraintKind::ForeignKey {
                    table: names.qname(&fk.foreign_table),
                    columns: fk.referred_columns.iter().map(ident_value).collect(),
                };
                let mut fk = fk.clone();
                fk.columns = vec![def.name.clone()];
                let definition = unnamed(&TableConstraint::ForeignKey(fk));
                inline.push((name, kind, Some(definition)));
            }
            // MariaDB keeps an unnamed CHECK written on a column as part of the column (named
            // after it, dropped by a MODIFY that does not restate it): a column attribute. Its
            // JSON type is such a column: LONGTEXT … COLLATE utf8mb4_bin CHECK (json_valid(c)).
            ColumnOption::Check(c) if names.mariadb() && name.is_none() => {
                if json_valid_of(names, &c.expr).is_some_and(|of| of == column.name) {
                    json_check = Some(option.option.to_string());
                } else {
                    column.extra.push(option.option.to_string());
                }
            }
            ColumnOption::Check(c) => {
                let definition = unnamed(&TableConstraint::Check(c.clone()));
                inline.push((name, ConstraintKind::Check, Some(definition)));
            }
            // MySQL column attributes (CHARACTER SET, COLLATE, COMMENT, ON UPDATE …) are kept to
            // restate the column in a MODIFY.
            ColumnOption::CharacterSet(_)
            | ColumnOption::Collation(_)
            | ColumnOption::Comment(_)
            | ColumnOption::OnUpdate(_)
            | ColumnOption::DialectSpecific(_)
                if names.mysql() =>
            {
                column.extra.push(option.option.to_string())
            }
            _ => {}
        }
    }
    if let Some(check) = json_check
        && !mariadb_json(&mut column)
    {
        column.extra.push(check);
    }
    (column, inline, sequence)
}

/// `json_valid(column)`: the column it validates.
fn json_valid_of(names: Names, expr: &Expr) -> Option<String> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let Expr::Function(f) = expr else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case("json_valid") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => column_in(names, e),
        _ => None,
    }
}

/// MariaDB stores a JSON column as `LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin` with
/// `CHECK (json_valid(column))`, and dumps it so. Read back as what it is, JSON, so that a
/// statement restating it as JSON changes nothing and a plan restating it keeps it JSON. False
/// (column unchanged) when the rest does not match.
fn mariadb_json(column: &mut Column) -> bool {
    if !matches!(column.data_type, DataType::LongText) {
        return false;
    }
    let is = |e: &String, what: &str| e.eq_ignore_ascii_case(what);
    if !column.extra.iter().any(|e| is(e, "COLLATE utf8mb4_bin"))
        || !column
            .extra
            .iter()
            .all(|e| is(e, "COLLATE utf8mb4_bin") || is(e, "CHARACTER SET utf8mb4"))
    {
        return false;
    }
    column.data_type = DataType::JSON;
    column.extra.clear();
    true
}

/// The columns `CREATE TABLE … AS SELECT` makes, where the select list names them (a column, or
/// an expression with an alias); their types are the query's, unknown here. A `*` gives none:
/// later statements on such a table are then checked only by the database.
fn query_columns(names: Names, query: &sqlparser::ast::Query) -> Vec<Column> {
    use sqlparser::ast::{SelectItem, SetExpr};
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    let mut columns = Vec::new();
    for item in &select.projection {
        let name = match item {
            SelectItem::ExprWithAlias { alias, .. } => names.ident(alias),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => names.ident(i),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => match parts.last() {
                Some(i) => names.ident(i),
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        columns.push(Column {
            name,
            data_type: DataType::Custom(ObjectName::from(vec![Ident::new("unknown")]), Vec::new()),
            not_null: false,
            default: None,
            generated: None,
            extra: Vec::new(),
            comment: None,
        });
    }
    columns
}

/// PostgreSQL's `serial` types are shorthand: an integer column, NOT NULL, whose default draws
/// from a sequence named `<table>_<column>_seq` that the column owns. The column is recorded as
/// what it really is; the sequence comes back for the catalog.
fn serial(table: &QName, column: &mut Column) -> Option<Sequence> {
    let data_type = match column.data_type.to_string().to_lowercase().as_str() {
        "serial" | "serial4" => DataType::Integer(None),
        "bigserial" | "serial8" => DataType::BigInt(None),
        "smallserial" | "serial2" => DataType::SmallInt(None),
        _ => return None,
    };
    let name = table.sibling(postgres::default_object_name(
        &table.name,
        Some(&column.name),
        "seq",
    ));
    let default = format!(
        "nextval({}::regclass)",
        postgres::literal(&postgres::qname(&name))
    );
    column.default = Some(ops::parse_expr(&default).ok()?);
    column.not_null = true;
    column.data_type = data_type.clone();
    Some(Sequence {
        name,
        data_type: data_type.to_string().to_lowercase(),
        owned_by: Some((table.clone(), column.name.clone())),
    })
}

fn table_constraint(
    names: Names,
    constraint: &TableConstraint,
) -> Option<(Option<String>, ConstraintKind, Vec<String>)> {
    let ident_value = |i: &Ident| names.ident(i);
    // A key part that is an expression (MySQL's `UNIQUE ((lower(email)))`) is not a column: such
    // a key is not one safeshift can plan, rather than one over fewer (or no) columns.
    let index_columns = |cols: &[sqlparser::ast::IndexColumn]| -> Option<Vec<String>> {
        cols.iter()
            .map(|c| column_in(names, &c.column.expr))
            .collect::<Option<Vec<String>>>()
            .filter(|columns| !columns.is_empty())
    };
    match constraint {
        TableConstraint::PrimaryKey(pk) => Some((
            pk.name.as_ref().map(ident_value),
            ConstraintKind::PrimaryKey,
            index_columns(&pk.columns)?,
        )),
        TableConstraint::Unique(u) => Some((
            // MySQL: `UNIQUE KEY name (…)` names the index; the constraint is the index.
            u.name.as_ref().or(u.index_name.as_ref()).map(ident_value),
            ConstraintKind::Unique,
            index_columns(&u.columns)?,
        )),
        TableConstraint::ForeignKey(fk) => Some((
            fk.name.as_ref().map(ident_value),
            ConstraintKind::ForeignKey {
                table: names.qname(&fk.foreign_table),
                columns: fk.referred_columns.iter().map(ident_value).collect(),
            },
            fk.columns.iter().map(ident_value).collect(),
        )),
        TableConstraint::Check(c) => {
            let mut columns = Vec::new();
            let _ = sqlparser::ast::visit_expressions(&*c.expr, |e| {
                if let Some(col) = column_in(names, e)
                    && !columns.contains(&col)
                {
                    columns.push(col);
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
            Some((
                c.name.as_ref().map(ident_value),
                ConstraintKind::Check,
                columns,
            ))
        }
        _ => None,
    }
}

/// Names constraints the way the engine does when the user gives none, so the plan's end state
/// matches what the naive statement would have created.
fn named_constraint(
    names: Names,
    table: &QName,
    name: Option<String>,
    kind: ConstraintKind,
    columns: &[String],
    definition: Option<TableConstraint>,
) -> Constraint {
    let name = name.unwrap_or_else(|| {
        if names.mysql() {
            // InnoDB: PRIMARY, the first column for a unique key, `<table>_ibfk_1` and
            // `<table>_chk_1` (MySQL) for foreign keys and checks.
            return match kind {
                ConstraintKind::PrimaryKey => "PRIMARY".to_string(),
                ConstraintKind::Unique => columns.first().cloned().unwrap_or_default(),
                ConstraintKind::ForeignKey { .. } => {
                    names.dialect.fit_ident(&format!("{}_ibfk_1", table.name))
                }
                ConstraintKind::Check => names.dialect.fit_ident(&format!("{}_chk_1", table.name)),
            };
        }
        let (middle, label) = match kind {
            ConstraintKind::PrimaryKey => (None, "pkey"),
            ConstraintKind::Unique => (Some(columns.join("_")), "key"),
            ConstraintKind::ForeignKey { .. } => (Some(columns.join("_")), "fkey"),
            // PostgreSQL names a check after its column only when it reads exactly one.
            ConstraintKind::Check => match columns {
                [column] => (Some(column.clone()), "check"),
                _ => (None, "check"),
            },
        };
        postgres::default_object_name(&table.name, middle.as_deref(), label)
    });
    Constraint {
        name,
        kind,
        columns: columns.to_vec(),
        not_valid: false,
        not_null_of: None,
        definition,
    }
}

/// The name PostgreSQL gives an index column when choosing an index's name
/// (`FigureIndexColname`): a column's name, a function's name (`lower(email)` gives `lower`), a
/// cast's argument, `coalesce`, `case` …, and `expr` for anything else (operators).
fn index_column_name(names: Names, expr: &Expr) -> String {
    fn figure(names: Names, expr: &Expr) -> Option<(String, u8)> {
        match expr {
            Expr::Identifier(ident) => Some((names.ident(ident), 2)),
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| (names.ident(p), 2)),
            Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(names, inner),
            Expr::Function(f) => f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| (names.ident(i), 2)),
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => match figure(names, inner) {
                Some((name, strength)) if strength > 1 => Some((name, strength)),
                _ => {
                    let ty = data_type.to_string().to_lowercase();
                    let ty = ty.split('(').next().unwrap_or("").trim().to_string();
                    Some((ty.rsplit(' ').next().unwrap_or("").to_string(), 1))
                }
            },
            Expr::Case { else_result, .. } => {
                match else_result.as_deref().and_then(|e| figure(names, e)) {
                    Some((name, strength)) if strength > 1 => Some((name, strength)),
                    _ => Some(("case".into(), 1)),
                }
            }
            _ => None,
        }
    }
    figure(names, expr)
        .map(|(name, _)| name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "expr".into())
}

/// The name PostgreSQL gives an unnamed index on `table` over columns named `parts` (as
/// `FigureIndexColname` names them); also the name of a partition's index made for its parent's.
pub fn default_pg_index_name(table: &str, parts: &[String]) -> String {
    // PostgreSQL makes the column names unique (`lower`, `lower1`) before joining them.
    let mut unique: Vec<String> = Vec::new();
    for name in parts {
        let mut candidate = name.clone();
        let mut n = 0;
        while unique.contains(&candidate) {
            n += 1;
            candidate = format!("{name}{n}");
        }
        unique.push(candidate);
    }
    let middle = if unique.is_empty() {
        "expr".to_string()
    } else {
        unique.join("_")
    };
    postgres::default_object_name(table, Some(&middle), "idx")
}

fn default_index_name(names: Names, table: &QName, columns: &[String]) -> String {
    if names.mysql() {
        // MySQL names an unnamed index after its first column.
        return columns.first().cloned().unwrap_or_else(|| "expr".into());
    }
    default_pg_index_name(&table.name, columns)
}

/// MySQL: an ALTER TABLE written with `ALGORITHM=COPY`, `LOCK=SHARED` or `LOCK=EXCLUSIVE` — it
/// blocks writes (or everything) for the whole ALTER, whatever the change is.
pub fn forced_lock(ast: &Statement) -> Option<&'static str> {
    use sqlparser::ast::{AlterTableAlgorithm, AlterTableLock};
    let Statement::AlterTable(alter) = ast else {
        return None;
    };
    alter.operations.iter().find_map(|op| match op {
        AlterTableOperation::Algorithm {
            algorithm: AlterTableAlgorithm::Copy,
            ..
        } => Some("ALGORITHM=COPY"),
        AlterTableOperation::Lock {
            lock: AlterTableLock::Shared,
            ..
        } => Some("LOCK=SHARED"),
        AlterTableOperation::Lock {
            lock: AlterTableLock::Exclusive,
            ..
        } => Some("LOCK=EXCLUSIVE"),
        _ => None,
    })
}

/// `col` or `"Col"` as a column name; anything else (expressions) is not a plain column.
pub fn plain_column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(crate::name::ident_value(ident)),
        _ => None,
    }
}

fn column_in(names: Names, expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(names.ident(ident)),
        _ => None,
    }
}

fn position(names: Names, position: &MySQLColumnPosition) -> ops::ColumnPosition {
    match position {
        MySQLColumnPosition::First => ops::ColumnPosition::First,
        MySQLColumnPosition::After(ident) => ops::ColumnPosition::After(names.ident(ident)),
    }
}

/// MySQL's `KEY`/`INDEX` inside CREATE TABLE or `ALTER TABLE … ADD INDEX`: an index, not a
/// constraint.
fn mysql_index(
    names: Names,
    table: &QName,
    constraint: &TableConstraint,
) -> Option<crate::schema::Index> {
    let TableConstraint::Index(index) = constraint else {
        return None;
    };
    let columns: Vec<String> = index
        .columns
        .iter()
        .filter_map(|c| column_in(names, &c.column.expr))
        .collect();
    let simple = columns.len() == index.columns.len();
    let name = match &index.name {
        Some(n) => names.ident(n),
        None => default_index_name(names, table, if simple { &columns } else { &[] }),
    };
    let mut body = format!(
        "({})",
        index
            .columns
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(using) = &index.index_type {
        body.push_str(&format!(" USING {using}"));
    }
    // A dump writes `KEY name (cols) USING BTREE`: an option after the key parts.
    for option in &index.index_options {
        body.push_str(&format!(" {option}"));
    }
    Some(crate::schema::Index {
        name: table.sibling(name),
        table: table.clone(),
        columns: if simple { columns } else { Vec::new() },
        unique: false,
        // MySQL: recreated from `body`, never from a PostgreSQL statement.
        written: None,
        body,
        special: None,
    })
}

/// MySQL's `FULLTEXT KEY name (…)` / `SPATIAL KEY name (…)` inside CREATE TABLE: an index of its
/// own kind (a dump declares them; a later DROP INDEX names them).
fn mysql_special_index(
    names: Names,
    table: &QName,
    constraint: &TableConstraint,
) -> Option<crate::schema::Index> {
    let TableConstraint::FulltextOrSpatial(index) = constraint else {
        return None;
    };
    let columns: Vec<String> = index
        .columns
        .iter()
        .filter_map(|c| column_in(names, &c.column.expr))
        .collect();
    let simple = columns.len() == index.columns.len();
    let name = match &index.opt_index_name {
        Some(n) => names.ident(n),
        None => default_index_name(names, table, if simple { &columns } else { &[] }),
    };
    let body = format!(
        "({})",
        index
            .columns
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(crate::schema::Index {
        name: table.sibling(name),
        table: table.clone(),
        columns: if simple { columns } else { Vec::new() },
        unique: false,
        // MySQL: recreated from `body`, never from a PostgreSQL statement.
        written: None,
        body,
        special: Some(if index.fulltext {
            "FULLTEXT"
        } else {
            "SPATIAL"
        }),
    })
}

/// MySQL's `MODIFY [COLUMN] c <definition>` and `CHANGE [COLUMN] old new <definition>`: the whole
/// column restated. What it changes is only known against the schema (`ops::modify_column`).
fn modify_column(
    names: Names,
    table: &QName,
    old: &Ident,
    new: &Ident,
    data_type: &DataType,
    options: &[ColumnOption],
    column_position: Option<&MySQLColumnPosition>,
) -> Change {
    let def = ColumnDef {
        name: new.clone(),
        data_type: data_type.clone(),
        options: options
            .iter()
            .map(|option| sqlparser::ast::ColumnOptionDef {
                name: None,
                option: option.clone(),
            })
            .collect(),
    };
    let (column, _, _) = lower_column(names, table, &def);
    Change::ModifyColumn(ops::modify_column::ModifyColumn {
        table: table.clone(),
        from: names.ident(old),
        column,
        position: column_position.map(|p| position(names, p)),
    })
}

/// The type as PostgreSQL would spell it back, for comparisons (`varchar(10)` = `character varying(10)`).
pub fn canonical_type(data_type: &DataType) -> String {
    let text = data_type.to_string().to_lowercase();
    let text = text
        .replace("character varying", "varchar")
        .replace("int4", "integer")
        .replace("int8", "bigint");
    match text.as_str() {
        "int" => "integer".into(),
        "timestamptz" => "timestamp with time zone".into(),
        "decimal" => "numeric".into(),
        "bool" => "boolean".into(),
        _ => text,
    }
}

/// `UPDATE t SET c = expr` over the whole table (no WHERE, or `WHERE c IS NULL`; no FROM, no
/// RETURNING, no LIMIT): the table, the column and the value. The fill an ORM migration writes
/// between adding a column and making it NOT NULL.
pub fn whole_table_fill(statement: &ParsedStatement) -> Option<(QName, String, Expr)> {
    let Body::Ast(ast) = &statement.body else {
        return None;
    };
    let sqlparser::ast::Statement::Update(update) = ast.as_ref() else {
        return None;
    };
    let names = Names::of(statement);
    if update.from.is_some()
        || update.returning.is_some()
        || update.output.is_some()
        || update.or.is_some()
        || update.limit.is_some()
        || !update.order_by.is_empty()
        || !update.table.joins.is_empty()
        || update.assignments.len() != 1
    {
        return None;
    }
    let sqlparser::ast::TableFactor::Table {
        name, alias: None, ..
    } = &update.table.relation
    else {
        return None;
    };
    let assignment = update.assignments.first()?;
    let sqlparser::ast::AssignmentTarget::ColumnName(target) = &assignment.target else {
        return None;
    };
    let [part] = target.0.as_slice() else {
        return None;
    };
    let column = names.ident(part.as_ident()?);
    match &update.selection {
        None => {}
        Some(Expr::IsNull(inner)) => match inner.as_ref() {
            Expr::Identifier(i) if names.ident(i) == column => {}
            _ => return None,
        },
        Some(_) => return None,
    }
    Some((names.qname(name), column, assignment.value.clone()))
}

/// The relations a query reads, each once.
fn query_relations(names: Names, query: &sqlparser::ast::Query) -> Vec<QName> {
    let mut reads: Vec<QName> = Vec::new();
    let _ = sqlparser::ast::visit_relations(query, |relation| {
        let relation = names.qname(relation);
        if !reads.contains(&relation) {
            reads.push(relation);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    reads
}

/// UPDATE, DELETE and INSERT … SELECT of one table, in the forms a batched walk of its primary
/// key runs unchanged (see `ops::data_change`). Anything else keeps running as written: a join,
/// `RETURNING` (its rows would be split across batches), `LIMIT`/`ORDER BY`, a CTE, or a query
/// that groups, aggregates, de-duplicates or uses windows (each batch would group on its own).
fn lower_data_change(names: Names, ast: &Statement, source: &ParsedStatement) -> Change {
    use ops::data_change::{DataChange, Form};
    use sqlparser::ast::{FromTable, SetExpr, TableFactor, TableObject};
    let plain_table = |factor: &TableFactor| match factor {
        TableFactor::Table {
            name,
            args: None,
            with_hints,
            version: None,
            with_ordinality: false,
            partitions,
            json_path: None,
            sample: None,
            index_hints,
            ..
        } if with_hints.is_empty() && partitions.is_empty() && index_hints.is_empty() => {
            Some(names.qname(name))
        }
        _ => None,
    };
    let mut relations: Vec<QName> = Vec::new();
    let _ = sqlparser::ast::visit_relations(ast, |relation| {
        relations.push(names.qname(relation));
        std::ops::ControlFlow::<()>::Continue(())
    });
    let verb = match ast {
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        _ => "INSERT",
    };
    let passed = |why: &str| other(source, format!("{verb} {why}: not batched, run as written"));
    let (form, table, selection) = match ast {
        Statement::Update(update) => {
            if update.returning.is_some() {
                return passed("… RETURNING");
            }
            if update.from.is_some() || !update.table.joins.is_empty() {
                return passed("… FROM (a join)");
            }
            if update.limit.is_some()
                || !update.order_by.is_empty()
                || update.or.is_some()
                || update.output.is_some()
                || !update.optimizer_hints.is_empty()
            {
                return passed("with a clause safeshift does not batch");
            }
            let Some(table) = plain_table(&update.table.relation) else {
                return passed("of something other than a table");
            };
            let mut columns = Vec::new();
            for assignment in &update.assignments {
                let targets = match &assignment.target {
                    sqlparser::ast::AssignmentTarget::ColumnName(n) => vec![n],
                    sqlparser::ast::AssignmentTarget::Tuple(ns) => ns.iter().collect(),
                };
                for target in targets {
                    match target.0.last().and_then(|p| p.as_ident()) {
                        Some(ident) => columns.push(names.ident(ident)),
                        None => return passed("setting something other than a column"),
                    }
                }
            }
            let assignments = update
                .assignments
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            (
                Form::Update {
                    target: update.table.to_string(),
                    assignments,
                    columns,
                },
                table,
                update.selection.as_ref(),
            )
        }
        Statement::Delete(delete) => {
            if delete.returning.is_some() {
                return passed("… RETURNING");
            }
            let from = match &delete.from {
                FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
            };
            if delete.using.is_some()
                || !delete.tables.is_empty()
                || delete.limit.is_some()
                || !delete.order_by.is_empty()
                || delete.output.is_some()
                || !delete.optimizer_hints.is_empty()
            {
                return passed("with USING or another clause safeshift does not batch");
            }
            let [target] = from.as_slice() else {
                return passed("of several tables");
            };
            let Some(table) = target
                .joins
                .is_empty()
                .then(|| plain_table(&target.relation))
                .flatten()
            else {
                return passed("of something other than one table");
            };
            (
                Form::Delete {
                    target: target.to_string(),
                },
                table,
                delete.selection.as_ref(),
            )
        }
        Statement::Insert(insert) => {
            let Some(query) = &insert.source else {
                return other(source, "safeshift does not plan this kind of statement");
            };
            let SetExpr::Select(select) = query.body.as_ref() else {
                // INSERT … VALUES: a few rows, as written.
                return other(source, "safeshift does not plan this kind of statement");
            };
            if insert.returning.is_some() {
                return passed("… RETURNING");
            }
            let TableObject::TableName(into) = &insert.table else {
                return passed("into a table function");
            };
            let plain_insert = insert.or.is_none()
                && !insert.ignore
                && insert.into
                && !insert.overwrite
                && insert.assignments.is_empty()
                && insert.partitioned.is_none()
                && insert.after_columns.is_empty()
                && insert.output.is_none()
                && !insert.replace_into
                && insert.priority.is_none()
                && insert.insert_alias.is_none()
                && insert.settings.is_none()
                && insert.format_clause.is_none()
                && insert.multi_table_insert_type.is_none()
                && insert.optimizer_hints.is_empty();
            let plain_query = query.with.is_none()
                && query.order_by.is_none()
                && query.limit_clause.is_none()
                && query.fetch.is_none()
                && query.locks.is_empty()
                && query.for_clause.is_none()
                && query.settings.is_none()
                && query.format_clause.is_none()
                && query.pipe_operators.is_empty();
            let grouped = !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
                || select.having.is_some()
                || select.distinct.is_some()
                || select.projection.iter().any(aggregates);
            let plain_select = select.top.is_none()
                && select.select_modifiers.is_none()
                && select.exclude.is_none()
                && select.into.is_none()
                && select.lateral_views.is_empty()
                && select.prewhere.is_none()
                && select.connect_by.is_empty()
                && select.cluster_by.is_empty()
                && select.distribute_by.is_empty()
                && select.sort_by.is_empty()
                && select.named_window.is_empty()
                && select.qualify.is_none()
                && select.value_table_mode.is_none()
                && select.optimizer_hints.is_empty()
                && matches!(select.flavor, sqlparser::ast::SelectFlavor::Standard);
            if !(plain_insert && plain_query && plain_select) {
                return passed("… SELECT with a clause safeshift does not batch");
            }
            if grouped {
                return passed(
                    "… SELECT that groups, aggregates, de-duplicates or uses a window (each batch would do it on its own rows)",
                );
            }
            let [from] = select.from.as_slice() else {
                return passed("… SELECT from other than one table");
            };
            let Some(table) = from
                .joins
                .is_empty()
                .then(|| plain_table(&from.relation))
                .flatten()
            else {
                return passed("… SELECT from other than one table (a join)");
            };
            let into = names.qname(into);
            let mut head = format!("INSERT INTO {}", insert.table);
            if let Some(alias) = &insert.table_alias {
                head.push_str(&format!(" AS {}", alias.alias));
            }
            if !insert.columns.is_empty() {
                let columns: Vec<String> = insert.columns.iter().map(|c| c.to_string()).collect();
                head.push_str(&format!(" ({})", columns.join(", ")));
            }
            let projection: Vec<String> = select.projection.iter().map(|p| p.to_string()).collect();
            head.push_str(&format!(" SELECT {} FROM {from}", projection.join(", ")));
            let tail = insert
                .on
                .as_ref()
                .map(|on| format!(" {on}"))
                .unwrap_or_default();
            (
                Form::InsertSelect { into, head, tail },
                table,
                select.selection.as_ref(),
            )
        }
        _ => return other(source, "safeshift does not plan this kind of statement"),
    };
    let changed = match &form {
        Form::InsertSelect { into, .. } => into.clone(),
        _ => table.clone(),
    };
    // visit_relations sees the changed table (and an INSERT's source) once each; any further
    // sighting of the changed table is a read of it.
    let sightings = relations.iter().filter(|r| r.same(&changed)).count();
    let reads_itself =
        sightings > 1 || (changed.same(&table) && matches!(form, Form::InsertSelect { .. }));
    let mut reads: Vec<QName> = Vec::new();
    for r in relations {
        if !r.same(&table) && !r.same(&changed) && !reads.iter().any(|x| x.same(&r)) {
            reads.push(r);
        }
    }
    let mut fixed = Vec::new();
    if let Some(selection) = selection {
        fixed_columns(names, selection, &mut fixed);
    }
    Change::DataChange(DataChange {
        form,
        table,
        condition: selection.map(|s| s.to_string()),
        fixed,
        reads,
        reads_itself,
        sql: source.text.clone(),
    })
}

/// Columns a condition fixes to a constant: `col = constant` (either side) in a top-level AND.
fn fixed_columns(names: Names, expr: &Expr, out: &mut Vec<String>) {
    use sqlparser::ast::BinaryOperator;
    match expr {
        Expr::Nested(inner) => fixed_columns(names, inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            fixed_columns(names, left, out);
            fixed_columns(names, right, out);
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            let constant = |e: &Expr| match e {
                Expr::Value(_) => true,
                Expr::Cast { expr, .. } => matches!(expr.as_ref(), Expr::Value(_)),
                _ => false,
            };
            let column = |e: &Expr| match e {
                Expr::Identifier(i) => Some(names.ident(i)),
                Expr::CompoundIdentifier(parts) => parts.last().map(|i| names.ident(i)),
                _ => None,
            };
            if let (Some(c), true) = (column(left), constant(right)) {
                out.push(c);
            } else if let (true, Some(c)) = (constant(left), column(right)) {
                out.push(c);
            }
        }
        _ => {}
    }
}

/// A select item that aggregates over rows (a known aggregate, `FILTER`, `WITHIN GROUP`) or
/// uses a window (`OVER`): batched, each batch would aggregate its own rows only. An aggregate
/// the file defines itself is not known here.
fn aggregates(item: &sqlparser::ast::SelectItem) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "array_agg",
        "string_agg",
        "json_agg",
        "jsonb_agg",
        "json_object_agg",
        "jsonb_object_agg",
        "bool_and",
        "bool_or",
        "every",
        "bit_and",
        "bit_or",
        "bit_xor",
        "xmlagg",
        "stddev",
        "stddev_pop",
        "stddev_samp",
        "variance",
        "var_pop",
        "var_samp",
        "corr",
        "covar_pop",
        "covar_samp",
        "mode",
        "percentile_cont",
        "percentile_disc",
        "range_agg",
        "range_intersect_agg",
        "any_value",
        "regr_count",
        "regr_sxx",
        "regr_syy",
        "regr_sxy",
        "regr_avgx",
        "regr_avgy",
        "regr_r2",
        "regr_slope",
        "regr_intercept",
    ];
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(item, |e| {
        if let Expr::Function(f) = e {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default();
            if f.over.is_some()
                || f.filter.is_some()
                || !f.within_group.is_empty()
                || AGGREGATES.contains(&name.as_str())
            {
                found = true;
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}
