//! Typed errors of the library. The binary maps them to exit codes in one place (`main.rs`).

use std::path::PathBuf;

/// A position in an input file, 1-based like every editor and compiler shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong at a known place: syntax errors, unknown tables, missing backfill values.
    #[error("{file}:{line}:{column}: {message}{}", help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
    Input {
        file: String,
        line: u64,
        column: u64,
        message: String,
        help: Option<String>,
    },
    /// The command line asks for something impossible or contradictory.
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already exists; pass --force to replace it")]
    OutputExists(PathBuf),
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    /// The database could not be reached or answered with an error outside a migration step.
    #[error("{0}")]
    Database(String),
}

impl Error {
    /// Exit code policy: 2 for anything the user can fix in their input or command line.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Write { .. } => 1,
            _ => 2,
        }
    }
}

/// An error found while lowering or planning, before we know which file it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

impl PlanError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        PlanError {
            pos,
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn in_file(self, file: &str) -> Error {
        Error::Input {
            file: file.to_string(),
            line: self.pos.line,
            column: self.pos.column,
            message: self.message,
            help: self.help,
        }
    }
}
