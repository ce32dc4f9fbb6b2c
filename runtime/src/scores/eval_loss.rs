//! `eval_loss`: each sample's cross-entropy loss under a snapshot in eval mode, without
//! augmentation. Averaged over scored epochs it is a cheap memorization signal and the
//! simplest example of a snapshot scorer.

use super::{BatchPosition, ScoreError, SnapshotScorer};
use crate::model::Network;
use tch::{Reduction, Tensor};

/// The built-in `eval_loss` scorer.
#[derive(Debug, Clone, Copy)]
pub struct EvalLoss;

impl SnapshotScorer for EvalLoss {
    fn name(&self) -> &str {
        "eval_loss"
    }

    fn score_batch(&mut self, network: &Network, _: BatchPosition, images: &Tensor, labels: &Tensor) -> Result<Tensor, ScoreError> {
        let logits = tch::no_grad(|| network.forward(images, false))?;
        Ok(logits.f_cross_entropy_loss::<Tensor>(labels, None, Reduction::None, -100, 0.0)?)
    }
}
