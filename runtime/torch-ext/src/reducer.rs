//! `c10d::Reducer` through the shim: the gradient all-reduce of PyTorch's
//! `DistributedDataParallel`, bucketed and overlapped with the backward pass.
//!
//! The reducer hooks the parameters' gradient accumulators. In
//! [`C10dReducer::backward`], each bucket of gradients is all-reduced (SUM) as soon as
//! autograd has produced all of them, while it goes on with earlier layers; when the
//! pass returns, every parameter's `.grad` holds the sum over ranks (a view of its
//! bucket, valid until the next backward).

use crate::ffi::{self, call};
use crate::{C10dGroup, ExtError};
use std::ptr::NonNull;
use std::time::Duration;
use tch::Tensor;
use torch_sys::C_tensor;

/// What one reduced backward pass did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReducedBackward {
    /// Buckets all-reduced (every rank reduces the same ones).
    pub buckets: usize,
    /// The time buckets spent in their all-reduce, summed over buckets (they overlap
    /// the backward pass and each other).
    pub in_flight: Duration,
    /// From the launch of the last bucket to the end of the pass: the communication
    /// the backward pass did not hide.
    pub exposed: Duration,
}

/// Why a reduced backward pass failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackwardError {
    /// A collective failed: a peer died, hung past the timeout, or disagreed.
    #[error("{0}")]
    Collective(ExtError),
    /// This rank's own computation failed.
    #[error("{0}")]
    Local(ExtError),
}

/// A `c10d::Reducer` over a fixed list of parameters, summing their gradients in
/// `group` (which it keeps alive).
///
/// `Send` but not `Sync`, like the group: every rank must run its backward passes in
/// one order, which one thread at a time guarantees.
#[derive(Debug)]
pub struct C10dReducer {
    raw: NonNull<ffi::Reducer>,
}

// SAFETY: the reducer is owned by this value alone and used one call at a time
// (`!Sync`); its hooks run inside the backward pass that `backward` drives.
unsafe impl Send for C10dReducer {}

impl C10dReducer {
    /// Hooks `params` (leaf tensors that require grad, on the group's device) and lays
    /// their gradients out in buckets of at most `bucket_bytes`, the first (the last
    /// layers' gradients, which backward produces first) of at most `first_bucket_bytes`.
    pub fn new(group: &C10dGroup, params: &[Tensor], first_bucket_bytes: usize, bucket_bytes: usize) -> Result<C10dReducer, ExtError> {
        if params.is_empty() {
            return Err(ExtError::torch("reducer", "a network without parameters has no gradient to reduce".into()));
        }
        let handles: Vec<*mut C_tensor> = params.iter().map(|p| p.as_ptr() as *mut C_tensor).collect();
        let clamp = |bytes: usize| bytes.clamp(1, i64::MAX as usize) as i64;
        let mut raw: *mut ffi::Reducer = std::ptr::null_mut();
        // SAFETY: the group is alive; `handles` borrows valid tensor handles for the
        // call (the shim copies the tensors, sharing their storage); `raw` is an
        // out-parameter.
        call("reducer", |error| unsafe {
            ffi::mste_reducer_new(
                group.raw(),
                handles.as_ptr(),
                handles.len(),
                clamp(first_bucket_bytes),
                clamp(bucket_bytes),
                &mut raw,
                error,
            )
        })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("reducer", "no reducer returned".into()))?;
        Ok(C10dReducer { raw })
    }

    /// The backward pass of `loss` (a scalar computed from the parameters), its
    /// gradients summed over every rank as it goes. Every rank calls it once per step.
    pub fn backward(&mut self, loss: &Tensor) -> Result<ReducedBackward, BackwardError> {
        let (mut buckets, mut in_flight_ns, mut exposed_ns, mut collective_failed) = (0i64, 0i64, 0i64, false);
        // SAFETY: the reducer is alive; `loss` is a valid handle borrowed for the
        // call; the other pointers are out-parameters that outlive it.
        let result = call("backward", |error| unsafe {
            ffi::mste_reducer_backward(
                self.raw.as_ptr(),
                loss.as_ptr(),
                &mut buckets,
                &mut in_flight_ns,
                &mut exposed_ns,
                &mut collective_failed,
                error,
            )
        });
        match result {
            Ok(()) => Ok(ReducedBackward {
                buckets: buckets.max(0) as usize,
                in_flight: Duration::from_nanos(in_flight_ns.max(0) as u64),
                exposed: Duration::from_nanos(exposed_ns.max(0) as u64),
            }),
            Err(e) if collective_failed => Err(BackwardError::Collective(e)),
            Err(e) => Err(BackwardError::Local(e)),
        }
    }
}

impl Drop for C10dReducer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `mste_reducer_new` and is freed once, here.
        unsafe { ffi::mste_reducer_free(self.raw.as_ptr()) }
    }
}
