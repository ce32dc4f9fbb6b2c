//! A job data parallel over a c10d group: every rank holds the whole network, trains
//! on its shard of every global batch, and has its gradients summed across ranks in
//! buckets during the backward pass by c10d's own `Reducer`, as DDP does.

use super::{wants_scorer_thread, Replication, ScoreSharding};
use crate::actors::JobError;
use crate::data::{Batch, Shard};
use crate::dist::{
    broadcast_from_rank0, ranks_differing_from_rank0, DistError, DistTimings, GradientReducer, ProcessGroup, Reduce, Uninterruptible,
};
use crate::model::{Network, Optimizer};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// One rank of a data-parallel group.
pub struct DataParallel {
    /// Sums each step's gradients across ranks during backward (declared before the
    /// group, so that it is dropped first).
    reducer: GradientReducer,
    group: ProcessGroup,
    /// This rank's own cancel flag.
    cancel: Arc<AtomicBool>,
    /// Some rank's cancel flag was set, as the last agreement told every rank.
    cancelled: bool,
}

impl DataParallel {
    /// Broadcasts rank 0's weights into `network`, then hooks the gradient reducer on
    /// `optimizer`'s parameters. Every rank built the same network from the same seed;
    /// the broadcast makes that a fact rather than an assumption (a model file that
    /// differs on one machine, a kernel that initializes differently).
    pub fn new(group: ProcessGroup, network: &Network, optimizer: &Optimizer, cancel: Arc<AtomicBool>) -> Result<Self, JobError> {
        let variables: Vec<Tensor> = network.variables()?.into_iter().map(|(_, t)| t).collect();
        broadcast_from_rank0(&group, &variables)?;
        let reducer = group.gradient_reducer(optimizer.params())?;
        Ok(DataParallel { reducer, group, cancel, cancelled: false })
    }
}

impl Replication for DataParallel {
    fn world(&self) -> usize {
        self.group.world()
    }

    fn shard(&self) -> Shard {
        Shard { rank: self.group.rank(), world: self.group.world() }
    }

    fn fills_own_rows(&self) -> bool {
        true
    }

    fn backward(
        &mut self,
        optimizer: &Optimizer,
        per_sample: &Tensor,
        batch: &Batch,
        loss_scale: Option<f64>,
        agree_on_cancel: bool,
    ) -> Result<Tensor, JobError> {
        // Each rank's loss is its samples' sum over the global batch size, so the
        // ranks' summed gradients are the global batch's mean gradient, however
        // unevenly a short last batch was split. A rank without a sample still takes
        // part in every bucket, with a zero gradient.
        let mut loss = if batch.labels.size()[0] == 0 {
            zero_loss(optimizer.params())?
        } else {
            per_sample.f_sum(Kind::Float)?.f_div_scalar(batch.global_size as f64)?
        };
        if let Some(scale) = loss_scale {
            loss = loss.f_mul_scalar(scale)?;
        }
        self.reducer.backward(&self.group, &loss)?;
        let grads = optimizer.params().iter().map(Tensor::f_grad).collect::<Result<Vec<_>, _>>()?;
        let grad = Optimizer::flatten(&grads)?;
        // A one-value all-reduce tells every rank whether any rank was asked to stop;
        // the flag stays set, so a later agreement still sees it.
        if agree_on_cancel {
            let mut flag =
                Tensor::from_slice(&[if self.cancel.load(Ordering::Relaxed) { 1.0f32 } else { 0.0 }]).f_to_device(per_sample.device())?;
            self.group.all_reduce(&mut flag, Reduce::Sum)?;
            self.cancelled = flag.f_double_value(&[0])? > 0.0;
        }
        Ok(grad)
    }

    fn cancelled(&self) -> bool {
        self.cancelled
    }

    fn reduce_epoch(&self, loss_sum: Tensor, correct: Tensor, rows: &mut [&mut Tensor]) -> Result<(f64, f64), JobError> {
        let mut sums = Tensor::f_stack(&[loss_sum, correct.f_to_kind(Kind::Double)?], 0)?;
        self.group.all_reduce(&mut sums, Reduce::Sum)?;
        for row in rows.iter_mut() {
            self.group.all_reduce(row, Reduce::Sum)?;
        }
        Ok((sums.f_double_value(&[0])?, sums.f_double_value(&[1])?))
    }

    fn uninterruptible(&self) -> Option<Uninterruptible<'_>> {
        Some(self.group.uninterruptible())
    }

    fn finish(&self, network: &Network) -> Result<Option<DistTimings>, JobError> {
        let variables: Vec<Tensor> = network.variables()?.into_iter().map(|(_, t)| t).collect();
        let ranks = ranks_differing_from_rank0(&self.group, &variables)?;
        // The last collective of the job.
        self.group.finished();
        if !ranks.is_empty() {
            return Err(DistError::Diverged { ranks }.into());
        }
        Ok(Some(self.reducer.timings().clone()))
    }

    /// A thread where every rank would have one (a GPU), gathering through a group of
    /// its own: the trainer's collectives and the scorer's then keep one order each,
    /// on every rank, whatever the threads' timing. The ranks agree first (a rank whose
    /// `MEMSCOPE_SCORER_THREAD` differs would otherwise wait for a group the others
    /// never create): a thread only if every rank wants one.
    fn scorer_thread(&self, device: Device) -> Result<Option<Box<dyn ScoreSharding + Send>>, JobError> {
        let mine = wants_scorer_thread(device);
        let mut wanting = Tensor::from_slice(&[f32::from(u8::from(mine))]).f_to_device(device)?;
        self.group.all_reduce(&mut wanting, Reduce::Sum)?;
        let wanting = wanting.f_double_value(&[0])? as usize;
        if wanting < self.group.world() {
            if mine {
                tracing::warn!("scoring inline: {} of {} ranks score on a thread of their own", wanting, self.group.world());
            }
            return Ok(None);
        }
        Ok(Some(Box::new(self.group.sibling("scores")?)))
    }

    fn scores(&self) -> &dyn ScoreSharding {
        &self.group
    }
}

/// Rank r scores the r-th contiguous block of samples, with their absolute indices (so
/// per-sample seeded scorers draw what they draw in one process); the blocks are
/// all-gathered, so every rank holds the whole set's scores. Through the job's group
/// when scoring inline, through a sibling of it on a scorer thread.
impl ScoreSharding for ProcessGroup {
    fn block(&self, n: usize) -> Range<usize> {
        block(n, self.rank(), self.world())
    }

    fn any_dropped(&self, mine: bool, device: Device) -> Result<bool, JobError> {
        let mut flag = Tensor::from(if mine { 1.0f32 } else { 0.0 }).f_to_device(device)?;
        self.all_reduce(&mut flag, Reduce::Sum)?;
        Ok(flag.f_double_value(&[])? > 0.0)
    }

    /// The blocks are padded to one length, all-gathered (on `device`), and trimmed.
    fn gather(&self, mine: Vec<f32>, n: usize, device: Device) -> Result<Vec<f32>, JobError> {
        let world = self.world();
        let per = n.div_ceil(world);
        let mut padded = vec![0.0f32; per];
        padded[..mine.len()].copy_from_slice(&mine);
        let padded = Tensor::from_slice(&padded).f_to_device(device)?;
        let all = Vec::<f32>::try_from(&self.all_gather(&padded)?.f_flatten(0, -1)?.f_to_device(Device::Cpu)?)?;
        let mut values = Vec::with_capacity(n);
        for rank in 0..world {
            values.extend_from_slice(&all[rank * per..rank * per + block(n, rank, world).len()]);
        }
        Ok(values)
    }
}

/// Rank `rank`'s contiguous block of `n` samples: blocks of `ceil(n / world)`, the
/// last one shorter (or empty).
fn block(n: usize, rank: usize, world: usize) -> Range<usize> {
    let per = n.div_ceil(world);
    (rank * per).min(n)..((rank + 1) * per).min(n)
}

/// A loss of exactly zero that reaches every parameter: its backward pass gives each a
/// zero gradient, so a rank without a sample in a step still fills every bucket.
fn zero_loss(params: &[Tensor]) -> Result<Tensor, tch::TchError> {
    let mut loss = Tensor::f_zeros([], (Kind::Float, params.first().map_or(Device::Cpu, Tensor::device)))?;
    for p in params {
        loss = loss.f_add(&p.f_sum(Kind::Float)?.f_mul_scalar(0.0)?)?;
    }
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::block;

    /// Blocks cover every sample once, in order, however the count divides.
    #[test]
    fn blocks_split_the_samples_in_order() {
        let blocks = |n, world| (0..world).map(|r| block(n, r, world)).collect::<Vec<_>>();
        assert_eq!(blocks(10, 2), [0..5, 5..10]);
        assert_eq!(blocks(1797, 2), [0..899, 899..1797]);
        assert_eq!(blocks(5, 4), [0..2, 2..4, 4..5, 5..5]);
        assert_eq!(block(7, 0, 1), 0..7);
    }
}
