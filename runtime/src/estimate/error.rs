//! Errors of a memorization estimate.

use std::path::PathBuf;

/// Why an estimate could not be planned, read or written.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// The settings cannot make an estimate.
    #[error("{key}: {message}")]
    Setting {
        /// The setting (`--models`, `--subset`, ...).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The estimate directory holds the models of another estimate.
    #[error("{path}: {message}")]
    OtherEstimate {
        /// The file that differs.
        path: PathBuf,
        /// What differs, and what to do.
        message: String,
    },
    /// A finished model's outputs are missing or do not fit the estimate.
    #[error("model {model} ({path}): {message}")]
    Model {
        /// The model's index.
        model: usize,
        /// Its run directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No model has finished, so there is nothing to aggregate.
    #[error("{dir}: no model of the estimate has finished yet (0 of {models})")]
    NothingFinished {
        /// The estimate directory.
        dir: PathBuf,
        /// Models asked for.
        models: usize,
    },
    /// libtorch failed writing an array.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl EstimateError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        EstimateError::Io { path: path.to_path_buf(), source }
    }
}
