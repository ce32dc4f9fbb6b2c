//! Errors of the model module.

use std::path::PathBuf;

/// Why a model, optimizer or checkpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// libtorch reported an error through memscope's shim (TorchScript modules).
    #[error("libtorch: {0}")]
    TorchExt(#[from] memscope_torch_ext::ExtError),
    /// A TorchScript file cannot be trained on this dataset.
    #[error("TorchScript model {path}: {message}")]
    TorchScript {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the shapes involved.
        message: String,
    },
    /// A program's own module (`Job::model`) cannot be trained on this dataset.
    #[error("the program's model `{name}`: {message}")]
    Custom {
        /// Its name (`Job::model_named`; `module` by default).
        name: String,
        /// What is wrong with it, with the shapes involved.
        message: String,
    },
    /// Values to load (a snapshot, a checkpoint) do not fit the network's variables.
    #[error("{origin} does not fit the network: {message}")]
    Variables {
        /// Where the values came from.
        origin: String,
        /// Which variable and how.
        message: String,
    },
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
