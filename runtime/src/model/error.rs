//! Errors of the model module.

use std::path::PathBuf;

/// Why a model, optimizer or checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ModelError {
    pub(crate) fn checkpoint(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        ModelError::Checkpoint { path: path.to_path_buf(), message: message.to_string() }
    }
}
