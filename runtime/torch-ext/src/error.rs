//! Errors of the shim.

/// Why a call into libtorch through the shim failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtError {
    /// libtorch raised an error (its message, without the C++ backtrace).
    #[error("{call}: {message}")]
    Torch {
        /// What was being done (`load`, `forward`, ...).
        call: &'static str,
        /// libtorch's message.
        message: String,
    },
    /// A path cannot be handed to libtorch (it holds a NUL byte).
    #[error("{0}: a path with a NUL byte cannot be opened")]
    Path(String),
}
