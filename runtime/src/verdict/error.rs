//! Errors of the verdict.

use std::path::PathBuf;

/// Why the verdict could not be recorded, decided or written.
#[derive(Debug, thiserror::Error)]
pub enum VerdictError {
    /// libtorch reported an error while recording the probabilities.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A checkpoint's record of the probabilities does not fit this job.
    #[error("checkpoint: the verdict's `{tensor}` {message}")]
    Checkpoint {
        /// The checkpointed tensor.
        tensor: String,
        /// What is wrong with it.
        message: String,
    },
    /// A verdict file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
