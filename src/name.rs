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

    /// [`QName::key`] without copying the names, to look up a map or set keyed by it:
    /// `tables.get(name.key_ref().as_key())`. Lint looks up tables a few times per statement,
    /// and building the key (two strings) was a tenth of its checking thread.
    pub fn key_ref(&self) -> KeyRef<'_> {
        KeyRef(self.schema.as_deref().unwrap_or("public"), &self.name)
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

/// A catalog key `(schema, name)` borrowed: hashes and orders exactly as the owned
/// `(String, String)` does (a tuple of strings hashes and compares part by part), so a
/// `HashMap` or `BTreeSet` keyed by the owned form can be searched with it.
#[derive(Clone, Copy, Debug)]
pub struct KeyRef<'a>(pub &'a str, pub &'a str);

impl<'a> KeyRef<'a> {
    pub fn as_key(&self) -> &(dyn Key + 'a) {
        self
    }
}

/// What a catalog key is made of, owned or borrowed.
pub trait Key {
    fn parts(&self) -> (&str, &str);
}

impl Key for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Key for KeyRef<'_> {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn Key + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn Key + 'a) {
        self
    }
}

impl std::hash::Hash for dyn Key + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn Key + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Key + '_ {}

impl PartialOrd for dyn Key + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Key + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}
