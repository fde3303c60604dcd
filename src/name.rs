//! Names of database objects as the database sees them (case-folded, unquoted), independent of how
//! the user spelled them. Quoting for output is the dialect's job (`dialect::postgres::quote`).

use serde::Serialize;
use sqlparser::ast::{Ident, ObjectName};

/// A possibly schema-qualified object name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct QName {
    pub schema: Option<String>,
    pub name: String,
}

impl QName {
    pub fn new(name: impl Into<String>) -> Self {
        QName {
            schema: None,
            name: name.into(),
        }
    }

    pub fn from_object_name(object: &ObjectName) -> QName {
        QName::from_object_name_in(object, true)
    }

    /// Like [`QName::from_object_name`]; `fold` says whether unquoted parts fold to lower case
    /// (PostgreSQL) or keep their case (MySQL).
    pub fn from_object_name_in(object: &ObjectName, fold: bool) -> QName {
        let parts: Vec<String> = object
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(|i| ident_in(i, fold))
            .collect();
        match parts.as_slice() {
            [.., schema, name] => QName {
                schema: Some(schema.clone()),
                name: name.clone(),
            },
            [name] => QName::new(name.clone()),
            [] => QName::new(object.to_string()),
        }
    }

    /// The key the catalog uses: unqualified names live in `public`.
    pub fn key(&self) -> (String, String) {
        (
            self.schema.clone().unwrap_or_else(|| "public".into()),
            self.name.clone(),
        )
    }

    /// Same object, ignoring whether `public` was spelled out.
    pub fn same(&self, other: &QName) -> bool {
        // Hot in catalog scans: compare without building keys.
        self.name == other.name
            && self.schema.as_deref().unwrap_or("public")
                == other.schema.as_deref().unwrap_or("public")
    }

    /// A sibling object in the same schema (a view or helper function next to a table).
    pub fn sibling(&self, name: impl Into<String>) -> QName {
        QName {
            schema: self.schema.clone(),
            name: name.into(),
        }
    }

    /// For messages: `users` or `app.users`, never quoted.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// PostgreSQL folds unquoted identifiers to lower case; quoted ones are taken literally.
pub fn ident_value(ident: &Ident) -> String {
    ident_in(ident, true)
}

/// An identifier's name: folded to lower case when unquoted and `fold` (PostgreSQL), as written
/// otherwise (MySQL keeps case; its table names are case-sensitive on Linux).
pub fn ident_in(ident: &Ident, fold: bool) -> String {
    match ident.quote_style {
        None if fold => ident.value.to_lowercase(),
        _ => ident.value.clone(),
    }
}
