//! Errors of the data module. Each names the file and what was expected vs found.

use std::path::PathBuf;

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read dataset file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's content does not match its format.
    #[error("dataset file {path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// Images and labels disagree, or a label is out of range.
    #[error("dataset {what}: {message}")]
    Mismatch {
        /// The file(s) or dataset concerned.
        what: String,
        /// What was expected and what was found.
        message: String,
    },
}

impl DataError {
    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        DataError::Format { path: path.to_path_buf(), message: message.into() }
    }
}
