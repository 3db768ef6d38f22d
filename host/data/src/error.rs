//! Why market data could not be read or stored, naming the file and the
//! line, row or partition, and the column.

use std::fmt;
use std::path::PathBuf;

/// Where in a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text file (the header is line 1).
    Line(u64),
    /// A 1-based row of a Parquet file.
    Row(u64),
    /// A Parquet file's schema.
    Schema,
}

impl Location {
    /// `line 51`, `row 51`, `the schema`: a place named inside a message.
    pub fn describe(&self) -> String {
        match self {
            Location::Line(n) => format!("line {n}"),
            Location::Row(n) => format!("row {n}"),
            Location::Schema => "the schema".to_owned(),
        }
    }
}

impl fmt::Display for Location {
    /// `:51` (as compilers write lines), `: row 51`, `: schema`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, ":{n}"),
            Location::Row(n) => write!(f, ": row {n}"),
            Location::Schema => f.write_str(": schema"),
        }
    }
}

/// A problem with market data or the catalog. Each message names the file
/// (and where in it); causes are part of the message, never a `source`, so
/// that a printed chain says each once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: cannot read market data: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A file or directory of the catalog could not be written.
    #[error("{path}: cannot write: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A header, row or value is unusable.
    #[error("{path}{at}: {problem}")]
    Row {
        /// The file.
        path: PathBuf,
        /// Where in it.
        at: Location,
        /// What is wrong, naming the column and value.
        problem: String,
    },
    /// The file holds no data (or none in the requested time range).
    #[error("{path}: no {what}")]
    Empty {
        /// The file, or the catalog directory.
        path: PathBuf,
        /// `bars`, `quotes`, `trades`, or what was asked for.
        what: String,
    },
    /// A Parquet file could not be decoded.
    #[error("{path}: not a readable Parquet file: {cause}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's words.
        cause: String,
    },
    /// The catalog (its manifest, or what was asked of it) is unusable.
    #[error("catalog {root}: {problem}")]
    Catalog {
        /// The catalog's root directory.
        root: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A partition's bytes are not those the manifest recorded.
    #[error("{path}: sha256 is {found}, the manifest recorded {expected}: the partition changed after it was written (see `cracktrader data verify`)")]
    Hash {
        /// The partition file.
        path: PathBuf,
        /// The manifest's sha256.
        expected: String,
        /// The file's.
        found: String,
    },
}

impl Error {
    pub(crate) fn row(path: impl Into<PathBuf>, at: Location, problem: impl Into<String>) -> Self {
        Error::Row {
            path: path.into(),
            at,
            problem: problem.into(),
        }
    }
}
