//! A job in one process: nothing to agree on, nothing to sum.

use super::{wants_scorer_thread, Replication, ScoreSharding};
use crate::actors::JobError;
use crate::data::{Batch, Shard};
use crate::dist::{DistTimings, Uninterruptible};
use crate::model::{Network, Optimizer};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// A single process: it sees whole batches and scores every sample itself.
pub struct OneProcess {
    cancel: Arc<AtomicBool>,
}

impl OneProcess {
    /// Stops when `cancel` is set.
    pub fn new(cancel: Arc<AtomicBool>) -> Self {
        OneProcess { cancel }
    }
}

impl Replication for OneProcess {
    fn world(&self) -> usize {
        1
    }

    fn shard(&self) -> Shard {
        Shard::WHOLE
    }

    fn fills_own_rows(&self) -> bool {
        false
    }

    fn backward(
        &mut self,
        optimizer: &Optimizer,
        per_sample: &Tensor,
        _batch: &Batch,
        loss_scale: Option<f64>,
        _agree: bool,
    ) -> Result<Tensor, JobError> {
        let mut loss = per_sample.f_mean(Kind::Float)?;
        if let Some(scale) = loss_scale {
            loss = loss.f_mul_scalar(scale)?;
        }
        Ok(Optimizer::flatten(&optimizer.gradients(&loss)?)?)
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn reduce_epoch(&self, loss_sum: Tensor, correct: Tensor, _rows: &mut [&mut Tensor]) -> Result<(f64, f64), JobError> {
        Ok((loss_sum.f_double_value(&[])?, correct.f_int64_value(&[])? as f64))
    }

    fn uninterruptible(&self) -> Option<Uninterruptible<'_>> {
        None
    }

    fn finish(&self, _network: &Network) -> Result<Option<DistTimings>, JobError> {
        Ok(None)
    }

    /// A thread on a GPU (see [`wants_scorer_thread`]), scoring every sample.
    fn scorer_thread(&self, device: Device) -> Result<Option<Box<dyn ScoreSharding + Send>>, JobError> {
        Ok(wants_scorer_thread(device).then(|| Box::new(WholeSet) as Box<dyn ScoreSharding + Send>))
    }

    fn scores(&self) -> &dyn ScoreSharding {
        &WholeSet
    }
}

/// Every sample scored by this process: one process, or a scorer thread of its own.
pub struct WholeSet;

impl ScoreSharding for WholeSet {
    fn block(&self, n: usize) -> Range<usize> {
        0..n
    }

    fn any_dropped(&self, mine: bool, _device: Device) -> Result<bool, JobError> {
        Ok(mine)
    }

    fn gather(&self, mine: Vec<f32>, _n: usize, _device: Device) -> Result<Vec<f32>, JobError> {
        Ok(mine)
    }
}
