//! The `Change` enum and its lowering from sqlparser's AST. Every `match` on the AST lives here
//! (sqlparser's enums change between minor releases); everything after works on our own types.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, AlterTypeAddValuePosition, AlterTypeOperation,
    ColumnDef, ColumnOption, DataType, Expr, Ident, MySQLColumnPosition, ObjectName, ObjectType,
    RenameTableNameKind, Statement, TableConstraint, UserDefinedTypeRepresentation,
};

use crate::dialect::{Dialect, postgres};
use crate::error::PlanError;
use crate::name::{QName, ident_in};
use crate::ops::{self, Op};
use crate::parse::{Body, ParsedStatement, PgStatement};
use crate::schema::{Column, Constraint, ConstraintKind};

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
    Other(ops::other::Other),
    Reindex(ops::reindex::Reindex),
    DetachPartition(ops::detach_partition::DetachPartition),
    RenameEnumValue(ops::rename_enum_value::RenameEnumValue),
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
            Change::Other(c) => c,
            Change::Reindex(c) => c,
            Change::DetachPartition(c) => c,
            Change::RenameEnumValue(c) => c,
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
            Change::Other(_) => "other",
            Change::Reindex(_) => "reindex",
            Change::DetachPartition(_) => "detach_partition",
            Change::RenameEnumValue(_) => "rename_enum_value",
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
            for def in &create.columns {
                let (column, inline) = lower_column(names, def);
                for (name, kind) in inline {
                    constraints.push(named_constraint(
                        names,
                        &table,
                        name,
                        kind,
                        std::slice::from_ref(&column.name),
                    ));
                }
                columns.push(column);
            }
            for constraint in &create.constraints {
                if let Some(index) = mysql_index(names, &table, constraint) {
                    indexes.push(index);
                } else if let Some((name, kind, cols)) = table_constraint(names, constraint) {
                    constraints.push(named_constraint(names, &table, name, kind, &cols));
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
                sql: source.text.clone(),
            })]
        }
        Statement::AlterTable(alter) => {
            let table = names.qname(&alter.name);
            let mut changes = Vec::new();
            for operation in &alter.operations {
                changes.extend(lower_alter(&table, operation, source));
            }
            changes
        }
        Statement::CreateIndex(index) => {
            let table = names.qname(&index.table_name);
            let columns: Vec<String> = index
                .columns
                .iter()
                .filter_map(|c| column_in(names, &c.column.expr))
                .collect();
            let simple = columns.len() == index.columns.len();
            let name = match &index.name {
                Some(n) => {
                    let mut n = names.qname(n);
                    n.schema = n.schema.or_else(|| table.schema.clone());
                    n
                }
                None => table.sibling(default_index_name(
                    names,
                    &table,
                    if simple { &columns } else { &[] },
                )),
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
            _ => vec![other(
                source,
                format!("DROP {object_type} is not planned by safeshift"),
            )],
        },
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
            _ => vec![other(source, "this ALTER TYPE is not planned by safeshift")],
        },
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
            let (column, inline) = lower_column(names, column_def);
            let position = column_position.as_ref().map(|p| position(names, p));
            let mut changes = vec![add_column_change(
                table,
                column.clone(),
                *if_not_exists,
                position,
                source,
            )];
            for (name, kind) in inline {
                let constraint =
                    named_constraint(names, table, name, kind, std::slice::from_ref(&column.name));
                let mut change = constraint_change(names, table, constraint, false, None);
                // PostgreSQL skips the validation scan of a key added with its column when the
                // column has no DEFAULT clause: every row holds NULL.
                if let Change::AddForeignKey(fk) = &mut change {
                    fk.on_new_column = column.default.is_none();
                }
                changes.push(change);
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
                };
                return vec![constraint_change(names, table, c, false, Some(index))];
            }
            match table_constraint(names, constraint) {
                Some((name, kind, columns)) => {
                    let c = named_constraint(names, table, name, kind.clone(), &columns);
                    let mut change = constraint_change(names, table, c, *not_valid, None);
                    // Keep the user's own spelling of the expression / reference for output.
                    if let (Change::AddCheck(check), TableConstraint::Check(k)) =
                        (&mut change, constraint)
                    {
                        check.expr = (*k.expr).clone();
                    }
                    if let (Change::AddForeignKey(fk), TableConstraint::ForeignKey(k)) =
                        (&mut change, constraint)
                    {
                        let mut k = k.clone();
                        k.name = None;
                        fk.definition = k.to_string();
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
    if_not_exists: bool,
    position: Option<ops::ColumnPosition>,
    source: &ParsedStatement,
) -> Change {
    if column.generated {
        return Change::Other(ops::other::Other::rewriting(
            &source.text,
            table,
            "adding an identity, serial or generated column rewrites the whole table under an ACCESS EXCLUSIVE lock; \
             safeshift has no staged plan for it yet (add a nullable column, fill it with a trigger and a batched backfill, \
             then constrain it)",
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
        }),
    }
}

fn constraint_change(
    names: Names,
    table: &QName,
    c: Constraint,
    not_valid: bool,
    using_index: Option<String>,
) -> Change {
    let d = names.dialect;
    let table = table.clone();
    match c.kind {
        ConstraintKind::PrimaryKey => Change::AddPrimaryKey(ops::add_primary_key::AddPrimaryKey {
            table,
            name: c.name,
            columns: c.columns,
            using_index,
        }),
        ConstraintKind::Unique => Change::AddUnique(ops::add_unique::AddUnique {
            table,
            name: c.name,
            columns: c.columns,
            using_index,
        }),
        ConstraintKind::ForeignKey {
            table: ref_table,
            columns: ref_columns,
        } => {
            let definition = format!(
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
            );
            Change::AddForeignKey(ops::add_foreign_key::AddForeignKey {
                table,
                name: c.name,
                columns: c.columns,
                ref_columns,
                ref_table,
                definition,
                not_valid,
                on_new_column: false,
            })
        }
        ConstraintKind::Check => Change::AddCheck(ops::add_check::AddCheck {
            table,
            name: c.name,
            expr: Expr::Value(sqlparser::ast::Value::Boolean(true).into()),
            not_valid,
        }),
    }
}

/// A column definition and the constraints written inline on it (`REFERENCES`, `UNIQUE`, …).
fn lower_column(names: Names, def: &ColumnDef) -> (Column, Vec<(Option<String>, ConstraintKind)>) {
    let ident_value = |i: &Ident| names.ident(i);
    let type_name = def.data_type.to_string().to_lowercase();
    let serial = matches!(
        type_name.as_str(),
        "serial" | "bigserial" | "smallserial" | "serial4" | "serial8" | "serial2"
    );
    let mut column = Column {
        name: ident_value(&def.name),
        data_type: def.data_type.clone(),
        not_null: serial,
        default: None,
        generated: serial,
        extra: Vec::new(),
    };
    let mut inline = Vec::new();
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
            ColumnOption::Generated { .. } | ColumnOption::Identity(_) => column.generated = true,
            ColumnOption::DialectSpecific(tokens)
                if tokens
                    .iter()
                    .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
            {
                column.generated = true;
                column.extra.push(option.option.to_string());
            }
            ColumnOption::PrimaryKey(_) => {
                column.not_null = true;
                inline.push((name, ConstraintKind::PrimaryKey));
            }
            ColumnOption::Unique(_) => inline.push((name, ConstraintKind::Unique)),
            ColumnOption::ForeignKey(fk) => inline.push((
                name,
                ConstraintKind::ForeignKey {
                    table: names.qname(&fk.foreign_table),
                    columns: fk.referred_columns.iter().map(ident_value).collect(),
                },
            )),
            ColumnOption::Check(_) => inline.push((name, ConstraintKind::Check)),
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
    (column, inline)
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
    }
}

fn default_index_name(names: Names, table: &QName, columns: &[String]) -> String {
    if names.mysql() {
        // MySQL names an unnamed index after its first column.
        return columns.first().cloned().unwrap_or_else(|| "expr".into());
    }
    let middle = if columns.is_empty() {
        "expr".to_string()
    } else {
        columns.join("_")
    };
    postgres::default_object_name(&table.name, Some(&middle), "idx")
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
    Some(crate::schema::Index {
        name: table.sibling(name),
        table: table.clone(),
        columns: if simple { columns } else { Vec::new() },
        unique: false,
        definition: String::new(),
        body,
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
    let (column, _) = lower_column(names, &def);
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
