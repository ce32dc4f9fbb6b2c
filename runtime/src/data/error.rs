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
    /// A data file resolves outside the directories this job may read (a daemon
    /// job's data roots). Says nothing about where the path really points.
    #[error("dataset file {path} is outside the data roots")]
    OutsideRoots {
        /// The path as the job named it.
        path: PathBuf,
    },
    /// An image file or Parquet row could not be decoded.
    #[error("cannot decode image {source_name}: {message}")]
    Image {
        /// The file, or Parquet file and row.
        source_name: String,
        /// The decoder's message.
        message: String,
    },
    /// The decoded-image cache could not be read or written.
    #[error("image cache {path}: {message}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A corrections file (`[data] corrections`) is not one, or names a sample or a
    /// class the dataset does not have. The message starts with the line.
    #[error("corrections file {path}: {message}")]
    Corrections {
        /// The corrections file.
        path: PathBuf,
        /// `line N: what is wrong`.
        message: String,
    },
    /// `[data]` names no format, and no program gave the job its data.
    #[error("no data: `[data] format` is missing (give the format and its files, or a dataset of the program, `Job::dataset`)")]
    NoFormat,
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
    pub(crate) fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        DataError::Read { path: path.to_path_buf(), source }
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        DataError::Format { path: path.to_path_buf(), message: message.into() }
    }

    pub(crate) fn corrections(path: &std::path::Path, message: impl Into<String>) -> Self {
        DataError::Corrections { path: path.to_path_buf(), message: message.into() }
    }
}
