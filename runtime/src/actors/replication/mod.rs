//! How a job is replicated: one process, or data parallel over a c10d group
//! ([`crate::dist`]). The trainer and the scorer ask their [`Replication`] wherever
//! the two differ (gradient sync, cancel agreement, the epoch's reductions, score
//! sharding, where the scorer runs), so neither holds a branch on a process group
//! (cf. burn's learner strategies).

mod data_parallel;
mod one_process;

pub use data_parallel::DataParallel;
pub use one_process::OneProcess;

use super::JobError;
use crate::data::{Batch, Shard};
use crate::dist::{DistTimings, ProcessGroup, Uninterruptible};
use crate::model::{Network, Optimizer};
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Device, Tensor};

/// What differs between one process and a data-parallel group.
pub trait Replication {
    /// Processes training the job (as a checkpoint records them).
    fn world(&self) -> usize;

    /// This process's share of every global batch.
    fn shard(&self) -> Shard;

    /// Whether each process fills only its own rows of the epoch's per-sample tensors
    /// (cleared at the epoch's start, summed across processes at its end).
    fn fills_own_rows(&self) -> bool;

    /// The backward pass of `per_sample` (this process's samples of `batch`): the global
    /// batch's mean gradient of `optimizer`'s parameters, flat, times `loss_scale` when
    /// given (float16's loss scaler). With `agree_on_cancel`, the processes also learn
    /// whether any was asked to stop (see [`Replication::cancelled`]); it is asked only
    /// on the same steps everywhere.
    fn backward(
        &mut self,
        optimizer: &Optimizer,
        per_sample: &Tensor,
        batch: &Batch,
        loss_scale: Option<f64>,
        agree_on_cancel: bool,
    ) -> Result<Tensor, JobError>;

    /// Whether to stop before the next step: this process's cancel flag alone, or what
    /// the last agreement found, so that every process stops before the same step.
    fn cancelled(&self) -> bool;

    /// The epoch's loss sum and count of correct samples over every process, and its
    /// per-sample `rows` summed in place (in that order, the same on every process).
    fn reduce_epoch(&self, loss_sum: Tensor, correct: Tensor, rows: &mut [&mut Tensor]) -> Result<(f64, f64), JobError>;

    /// A section (writing a checkpoint) that the group's liveness watch does not cut
    /// short; `None` for one process.
    fn uninterruptible(&self) -> Option<Uninterruptible<'_>>;

    /// After the last step: checks that every process holds rank 0's weights (the
    /// group's last collective) and returns how the gradients were reduced.
    fn finish(&self, network: &Network) -> Result<Option<DistTimings>, JobError>;

    /// Where snapshots are scored: `Some` on a thread of the scorer's own, with the
    /// sharding that thread scores and gathers through; `None` inline, on the trainer's
    /// thread between epochs, through [`Replication::scores`]. Called once, before
    /// training; in a group every process makes the same choice.
    fn scorer_thread(&self, device: Device) -> Result<Option<Box<dyn ScoreSharding + Send>>, JobError>;

    /// Sharding and gathering of snapshot scores scored inline.
    fn scores(&self) -> &dyn ScoreSharding;
}

/// Set to `1`, a job on the CPU scores on a thread of its own, as on a GPU (how the
/// tests run the scorer thread on a CPU).
pub const SCORER_THREAD_ENV: &str = "MEMSCOPE_SCORER_THREAD";

/// Whether this process would score on a thread of its own. On a GPU the scorer's
/// kernels fill the gaps of the trainer's. On the CPU the trainer already uses every
/// core: overlapping gains no compute, and a second OpenMP team makes libgomp stop
/// spin-waiting for both (measured a quarter slower scoring on digits), so it scores
/// inline unless [`SCORER_THREAD_ENV`] is `1`.
fn wants_scorer_thread(device: Device) -> bool {
    device != Device::Cpu || std::env::var(SCORER_THREAD_ENV).is_ok_and(|v| v == "1")
}

/// How snapshot scores are shared out: the collectives of one group come from one
/// thread (the trainer's when scoring inline, else the scorer thread's, in a group of
/// its own), in one order on every process.
pub trait ScoreSharding {
    /// The samples of `0..n` this process scores.
    fn block(&self, n: usize) -> Range<usize>;

    /// Whether any process dropped a scorer (`mine`: this one did), so that all drop it
    /// and keep issuing the same collectives.
    fn any_dropped(&self, mine: bool, device: Device) -> Result<bool, JobError>;

    /// Every process's block of scores (this one's is `mine`), in sample order.
    fn gather(&self, mine: Vec<f32>, n: usize, device: Device) -> Result<Vec<f32>, JobError>;
}

/// One process when `group` is `None`, else data parallel over it: `network` holds
/// rank 0's weights on every rank, and a gradient reducer is hooked on the
/// optimizer's parameters. `cancel` is this process's flag.
pub fn replication(
    group: Option<ProcessGroup>,
    network: &Network,
    optimizer: &Optimizer,
    cancel: Arc<AtomicBool>,
) -> Result<Box<dyn Replication>, JobError> {
    Ok(match group {
        None => Box::new(OneProcess::new(cancel)),
        Some(group) => Box::new(DataParallel::new(group, network, optimizer, cancel)?),
    })
}
