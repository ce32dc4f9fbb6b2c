//! The gradients of a data-parallel step, summed across the group during the backward
//! pass: `c10d::Reducer`, the engine of PyTorch's `DistributedDataParallel`, through
//! the shim ([`memscope_torch_ext::C10dReducer`]).
//!
//! The parameters' gradients are laid out in buckets (DDP's sizes: a first bucket of
//! at most 1 MiB, then `MEMSCOPE_DIST_BUCKET_MB`, 25 MiB by default), re-laid out once
//! after the first step in the order backward produced them. Each bucket is
//! all-reduced (SUM) as soon as its last gradient is ready, while autograd goes on
//! with earlier layers; when the backward pass returns, each parameter's `.grad` holds
//! the sum over ranks. The sum, not DDP's mean: each rank's loss is already its
//! samples' loss over the global batch size.

use super::{DistError, ProcessGroup, FIRST_BUCKET_BYTES};
use memscope_torch_ext::{BackwardError, C10dReducer};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// How a data-parallel run reduced its gradients (`summary.json`'s `timings.dist`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistTimings {
    /// Processes in the group.
    pub world: usize,
    /// The cap of a gradient bucket in bytes (`MEMSCOPE_DIST_BUCKET_MB`).
    pub bucket_cap_bytes: usize,
    /// Buckets each step's gradients were all-reduced in (the last step's count; the
    /// layout is fixed after the first step).
    pub buckets: usize,
    /// Steps this process reduced.
    pub steps: usize,
    /// Seconds the buckets spent in their all-reduce, summed over buckets and steps.
    /// They overlap the backward pass and each other, so this is more than they cost.
    pub allreduce_seconds: f64,
    /// Seconds the backward passes went on after their last bucket was launched,
    /// summed over steps: the all-reduce time the backward pass did not hide.
    pub exposed_allreduce_seconds: f64,
}

/// Sums the gradients of one network's parameters across the group, bucket by
/// bucket, during each backward pass.
#[derive(Debug)]
pub struct GradientReducer {
    reducer: C10dReducer,
    timings: DistTimings,
}

impl GradientReducer {
    /// Hooks `params` (leaves that require grad, on the group's device) in `group`.
    pub(super) fn new(group: &ProcessGroup, params: &[Tensor], bucket_bytes: usize) -> Result<GradientReducer, DistError> {
        let first = FIRST_BUCKET_BYTES.min(bucket_bytes);
        let reducer = C10dReducer::new(group.c10d(), params, first, bucket_bytes)
            .map_err(|e| group.local_failure("setup of the gradient reducer", e.message()))?;
        let timings = DistTimings {
            world: group.world(),
            bucket_cap_bytes: bucket_bytes,
            buckets: 0,
            steps: 0,
            allreduce_seconds: 0.0,
            exposed_allreduce_seconds: 0.0,
        };
        Ok(GradientReducer { reducer, timings })
    }

    /// The backward pass of `loss`, its gradients summed over every rank as it goes:
    /// afterwards each parameter's `.grad` holds the sum. Every rank calls it once per
    /// step, `group` being the one the reducer was made in (it names the ranks in
    /// errors).
    pub fn backward(&mut self, group: &ProcessGroup, loss: &Tensor) -> Result<(), DistError> {
        let step = group.collective("all_reduce", || self.reducer.backward(loss)).map_err(|e| match e {
            BackwardError::Collective(e) => group.failed("all_reduce", e),
            BackwardError::Local(e) => group.local_failure("backward", e.message()),
        })?;
        self.timings.buckets = step.buckets;
        self.timings.steps += 1;
        self.timings.allreduce_seconds += step.in_flight.as_secs_f64();
        self.timings.exposed_allreduce_seconds += step.exposed.as_secs_f64();
        Ok(())
    }

    /// What the steps so far did.
    pub fn timings(&self) -> &DistTimings {
        &self.timings
    }
}
