//! Errors of the scores module.

/// Why a score could not be computed or stored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// The network failed.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A scorer returned the wrong number of values.
    #[error("scorer `{scorer}` returned {found} values for a batch of {expected}")]
    WrongLength {
        /// The scorer.
        scorer: String,
        /// Samples in the batch.
        expected: usize,
        /// Values returned.
        found: usize,
    },
    /// A plugin scorer failed (the message names plugin and hook).
    #[error("{0}")]
    Plugin(String),
    /// An optional plugin scorer failed and is dropped from the job.
    #[error("optional scorer `{scorer}` dropped: {reason}")]
    Disabled {
        /// The scorer.
        scorer: String,
        /// Why.
        reason: String,
    },
    /// A score file could not be written or a checkpointed table is malformed.
    #[error("score `{scorer}`: {message}")]
    Storage {
        /// The score.
        scorer: String,
        /// What went wrong.
        message: String,
    },
}
