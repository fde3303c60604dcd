//! CREATE [OR REPLACE] [MATERIALIZED] VIEW and DROP VIEW. A new view is safe: nothing reads it
//! yet (a materialized one runs its query once, reading under ACCESS SHARE). Replacing a view
//! takes its ACCESS EXCLUSIVE lock for a moment. Dropping one breaks the running app if it reads
//! it: deploy code that does not, then drop it. Views matter to other changes too: the catalog
//! records what each view reads, so replacing a column recreates the views that read it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement};

use super::{Assessment, Context, Op, Risk};
use crate::dialect::LockMode;
use crate::dialect::postgres::qname;
use crate::error::PlanError;
use crate::name::QName;
use crate::plan::{Expansion, Phase, Release, Step};
use crate::rules::{Rule, Severity};
use crate::schema::{Catalog, View};

pub const RULE: Rule = Rule {
    id: "dropping-view",
    severity: Some(Severity::Warning),
    summary: "DROP VIEW that the running app may still read (creating a view is safe)",
    why: "A new view is safe: nothing reads it yet. Dropping one makes every query of the running app version that reads it fail at once.",
    safe: "Deploy an app version that no longer reads the view, then drop it.",
    example: "DROP VIEW active_users;",
    mysql: "The same on MySQL and MariaDB.",
};

#[derive(Clone, Debug)]
pub enum ViewChange {
    Create {
        view: View,
        or_replace: bool,
        /// A `DROP VIEW` of the same view earlier in the file was folded into this change: the
        /// view is dropped and made again in one transaction (see `merge_view_replacements`).
        replaces: bool,
    },
    Drop {
        name: QName,
        materialized: bool,
        if_exists: bool,
        cascade: bool,
    },
}

/// What a view's query reads, for the catalog (see [`View`]).
pub fn read_view(
    name: QName,
    statement: &Statement,
    sql: &str,
    fold: bool,
) -> Option<(View, bool)> {
    let Statement::CreateView(create) = statement else {
        return None;
    };
    let mut reads: Vec<QName> = Vec::new();
    let _ = sqlparser::ast::visit_relations(&create.query, |relation| {
        let relation = QName::from_object_name_in(relation, fold);
        if !reads.contains(&relation) {
            reads.push(relation);
        }
        ControlFlow::<()>::Continue(())
    });
    let mut names = BTreeSet::new();
    let _ = sqlparser::ast::visit_expressions(&create.query, |expr| {
        let last = match expr {
            Expr::Identifier(ident) => Some(ident),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if let Some(ident) = last {
            names.insert(crate::name::ident_in(ident, fold));
        }
        ControlFlow::<()>::Continue(())
    });
    let view = View {
        name,
        written: sql.to_string(),
        renames: Vec::new(),
        materialized: create.materialized,
        reads,
        names,
        // `*` and `t.*` are select items, not expressions; a `*` anywhere (even a product)
        // only makes the view look like it reads more than it does.
        wildcard: create.query.to_string().contains('*'),
    };
    Some((view, create.or_replace))
}

fn kind_word(materialized: bool) -> &'static str {
    if materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    }
}

impl Op for ViewChange {
    fn tables(&self) -> Vec<QName> {
        match self {
            ViewChange::Create { view, .. } => {
                let mut tables = view.reads.clone();
                tables.push(view.name.clone());
                tables
            }
            ViewChange::Drop { name, .. } => vec![name.clone()],
        }
    }

    fn reads_only(&self) -> Vec<QName> {
        match self {
            // Not its own name: two changes of one view keep their order.
            ViewChange::Create { view, .. } => view
                .reads
                .iter()
                .filter(|r| !r.same(&view.name))
                .cloned()
                .collect(),
            ViewChange::Drop { .. } => Vec::new(),
        }
    }

    fn existing_tables(&self) -> Vec<QName> {
        // Views are not in the schema's tables, and a view may read other views.
        Vec::new()
    }

    fn reads(&self, catalog: &crate::schema::Catalog) -> Vec<QName> {
        // Dropping a view comes before what it frees in the file: a type change of a column it
        // read waits for the drop.
        match self {
            ViewChange::Drop { name, .. } => catalog
                .view(name)
                .map(|v| v.reads.clone())
                .unwrap_or_default(),
            ViewChange::Create { .. } => Vec::new(),
        }
    }

    fn assess(&self, ctx: &Context) -> Assessment {
        match self {
            ViewChange::Create {
                view,
                or_replace,
                replaces,
            } => {
                let replacing =
                    (*or_replace || *replaces) && ctx.catalog.view(&view.name).is_some();
                Assessment::safe(
                    RULE.id,
                    replacing.then_some(LockMode::AccessExclusive),
                    if replacing {
                        "replaces the view's definition: its lock is held for a moment"
                    } else {
                        "a new view: nothing reads it yet"
                    },
                )
            }
            ViewChange::Drop { name, .. } => Assessment {
                rule: RULE.id,
                risk: Risk::Destructive,
                lock: Some(LockMode::AccessExclusive),
                scans_table: false,
                breaks_old_app: true,
                why: format!(
                    "queries of the running app that read {} fail once it is dropped",
                    name.display()
                ),
            },
        }
    }

    fn expand(&self, ctx: &Context) -> Result<Expansion, PlanError> {
        match self {
            ViewChange::Create {
                view,
                or_replace,
                replaces,
            } => {
                let mut step = Step::database(
                    Phase::Expand,
                    format!("create-view-{}", view.name.name),
                    format!(
                        "create {} {}",
                        kind_word(view.materialized).to_lowercase(),
                        view.name.display()
                    ),
                );
                let before = ctx
                    .catalog
                    .view(&view.name)
                    .filter(|_| *or_replace || *replaces);
                if *replaces {
                    step.title = format!("replace view {}", view.name.display());
                    step = step.sql(
                        format!("DROP VIEW IF EXISTS {}", qname(&view.name)),
                        "the file's DROP VIEW: made again below in the same transaction",
                    );
                    if before.is_none() {
                        step = step.lock(view.name.display(), LockMode::AccessExclusive, "brief");
                    }
                }
                step = step.sql(view.sql(), "");
                step = match before {
                    Some(old) => step
                        .down_sql(
                            format!("DROP {} {}", kind_word(old.materialized), qname(&old.name)),
                            "CREATE OR REPLACE cannot drop columns: recreate it as it was",
                        )
                        .down_sql(old.sql(), "")
                        .lock(view.name.display(), LockMode::AccessExclusive, "brief"),
                    None => step.down_sql(
                        format!(
                            "DROP {} IF EXISTS {}",
                            kind_word(view.materialized),
                            qname(&view.name)
                        ),
                        "",
                    ),
                };
                if view.materialized {
                    step = step.note("A materialized view runs its query once, now: it reads every table it names (ACCESS SHARE, writes go on).");
                }
                Ok(Expansion::single(step))
            }
            ViewChange::Drop {
                name,
                materialized,
                if_exists,
                cascade,
            } => {
                let slug = |what: &str| format!("{what}-{}", name.name);
                let mut drop = Step::database(
                    Phase::Contract,
                    slug("drop-view"),
                    format!("drop view {}", name.display()),
                )
                .sql(
                    format!(
                        "DROP {} {}{}{}",
                        kind_word(*materialized),
                        if *if_exists { "IF EXISTS " } else { "" },
                        qname(name),
                        if *cascade { " CASCADE" } else { "" }
                    ),
                    "",
                )
                .lock(name.display(), LockMode::AccessExclusive, "brief");
                drop = match ctx.catalog.view(name) {
                    Some(old) if !*cascade => drop.down_sql(old.sql(), ""),
                    Some(_) => drop.irreversible("CASCADE may drop more than safeshift knows of"),
                    None if *if_exists && ctx.schema_known => drop.down_sql(
                        format!(
                            "SELECT {} AS note",
                            crate::dialect::postgres::literal(&format!(
                                "nothing to undo: {} did not exist",
                                name.display()
                            ))
                        ),
                        "",
                    ),
                    None => drop.irreversible(format!(
                        "the definition of {} is unknown without the schema",
                        name.display()
                    )),
                };
                Ok(Expansion {
                    steps: vec![
                        Step::application(
                            Release::NewVersion,
                            Phase::Migrate,
                            slug("deploy-without"),
                            format!("deploy code that no longer reads {}", name.display()),
                        )
                        .app(format!("No query reads {}.", name.display())),
                        drop.after(&[0]).before(
                            format!("no process runs code that reads {}", name.display()),
                            "-- check your deploy tool: every instance runs the new version",
                            "yes",
                        ),
                    ],
                    anchor: 1,
                })
            }
        }
    }

    fn apply(&self, catalog: &mut Catalog) {
        match self {
            ViewChange::Create { view, .. } => {
                // A materialized view holds rows and carries indexes like a table.
                if view.materialized {
                    catalog.ensure_table(&view.name);
                }
                catalog.set_view(view.clone())
            }
            ViewChange::Drop { name, .. } => {
                if catalog.remove_view(name).is_some_and(|v| v.materialized) {
                    catalog.remove_table(name);
                }
            }
        }
    }
}
