//! Errors of the config module.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a config, located where possible.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// Dotted key, e.g. `train.epochs`.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a job config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not fit the schema (unknown key, wrong type).
    /// The message carries line and column.
    #[error("invalid config {origin}: {message}")]
    Parse {
        /// File name, or `<text>`.
        origin: String,
        /// toml's message, with line, column and the offending snippet.
        message: String,
    },
    /// A `--set key=value` override could not be applied.
    #[error("invalid override `{assignment}`: {message}")]
    Override {
        /// The override as given.
        assignment: String,
        /// What is wrong.
        message: String,
    },
    /// The config parsed but its values do not make sense together.
    #[error("invalid config {origin}: {} problem(s): {}", problems.len(), list(problems))]
    Invalid {
        /// File name, or `<text>`.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
}
