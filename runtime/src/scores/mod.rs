//! Per-sample scores: the scorer trait, the built-in scores, and the tables that
//! accumulate a score over epochs.

mod curves;
mod error;
mod eval_loss;
mod order;
mod table;

pub use curves::{epoch_curves, EpochCurve};
pub use error::ScoreError;
pub use eval_loss::EvalLoss;
pub use order::{most_memorized_first, top_k};
pub use table::{set_windows, Aggregate, EpochWeights, EpochWindow, ScoreTable, DEFAULT_RISING_POWER};

/// Where a scoring batch sits: the snapshot's epoch and the index of its first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPosition {
    /// 0-based epoch of the snapshot.
    pub epoch: usize,
    /// Index of the batch's first sample in the training set.
    pub offset: usize,
}

use crate::model::Network;
use tch::Tensor;

pub use memscope_base::CUMULATIVE_LOSS;

/// A score computed from a weight snapshot, over the whole training set in eval mode,
/// on the scorer thread. The plugin SDK exposes the same contract to plugins.
pub trait SnapshotScorer: Send {
    /// Name of the score; its files are `scores/<name>.npy` and `<name>_epochs.npy`.
    fn name(&self) -> &str;

    /// Scores of one batch: `float32 [B]`, one value per sample, in batch order.
    fn score_batch(&mut self, network: &Network, position: BatchPosition, images: &Tensor, labels: &Tensor) -> Result<Tensor, ScoreError>;
}

/// The built-in snapshot scorer called `name`, if it is one.
pub fn builtin_snapshot_scorer(name: &str) -> Option<Box<dyn SnapshotScorer>> {
    match name {
        "eval_loss" => Some(Box::new(EvalLoss)),
        _ => None,
    }
}
