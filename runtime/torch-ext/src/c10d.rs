//! A c10d process group held through the shim: PyTorch's own distributed engine, the
//! one DDP runs on (a `TCPStore` rendezvous; Gloo for CPU tensors, NCCL for CUDA).

use crate::ffi::{self, call};
use crate::ExtError;
use std::ffi::CString;
use std::ptr::NonNull;
use std::time::Duration;
use tch::{Device, Tensor};
use torch_sys::C_tensor;

/// Where and how a rank meets the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    /// Host of the `TCPStore`.
    pub addr: String,
    /// Its port.
    pub port: u16,
    /// This process's rank, `0..world`.
    pub rank: usize,
    /// How many ranks take part.
    pub world: usize,
    /// Whether rank 0 serves the store (false when the launcher's agent already
    /// does, as torchrun's does).
    pub serve_store: bool,
    /// The group's key prefix in the store: one per incarnation of the group, since a
    /// launcher's store outlives a restart of its ranks (torchrun `--max-restarts`).
    pub prefix: String,
    /// The longest any wait may take: meeting the others, and each collective.
    pub timeout: Duration,
    /// Where the group's tensors live: the CPU (Gloo) or a CUDA device (NCCL).
    pub device: Device,
}

/// A process group: every collective is called by every rank, in the same order, on
/// tensors of the same shape and kind, and blocks until done or the timeout.
///
/// `Send` but not `Sync`: collectives must be issued in one order on every rank, which
/// one thread at a time guarantees.
#[derive(Debug)]
pub struct C10dGroup {
    raw: NonNull<ffi::Group>,
}

// SAFETY: the group is owned by this value alone; c10d process groups may be used
// from any thread, one call at a time, which `!Sync` ensures.
unsafe impl Send for C10dGroup {}

impl C10dGroup {
    /// Meets the other ranks and creates the group (Gloo on the CPU, NCCL on CUDA).
    pub fn new(rendezvous: &Rendezvous) -> Result<C10dGroup, ExtError> {
        let cuda_device = match rendezvous.device {
            Device::Cpu => -1,
            Device::Cuda(i) => i as i32,
            other => return Err(ExtError::torch("process group", format!("c10d has no process group for {other:?} tensors"))),
        };
        let addr =
            CString::new(rendezvous.addr.as_str()).map_err(|_| ExtError::torch("process group", "the address holds a NUL byte".into()))?;
        let prefix =
            CString::new(rendezvous.prefix.as_str()).map_err(|_| ExtError::torch("process group", "the prefix holds a NUL byte".into()))?;
        let timeout_ms = rendezvous.timeout.as_millis().clamp(1, i32::MAX as u128) as std::ffi::c_long;
        let mut raw: *mut ffi::Group = std::ptr::null_mut();
        // SAFETY: `addr` and `prefix` live through the call; `raw` is an out-parameter.
        call("process group", |error| unsafe {
            ffi::mste_group_new(
                addr.as_ptr(),
                i32::from(rendezvous.port),
                rendezvous.rank as i32,
                rendezvous.world as i32,
                rendezvous.serve_store,
                prefix.as_ptr(),
                timeout_ms,
                cuda_device,
                &mut raw,
                error,
            )
        })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("process group", "no group returned".into()))?;
        Ok(C10dGroup { raw })
    }

    /// A second group of the same ranks, on the same device, met under this group's
    /// store keys and `name`'s: its collectives may run on another thread beside this
    /// group's, each group keeping one order of its own on every rank. Every rank
    /// creates it (with the same `name`), as it created this one; a rank that does not
    /// is named when the wait for it times out.
    pub fn sibling(&self, name: &str) -> Result<C10dGroup, ExtError> {
        let name = CString::new(name).map_err(|_| ExtError::torch("process group", "the name holds a NUL byte".into()))?;
        let mut raw: *mut ffi::Group = std::ptr::null_mut();
        // SAFETY: the group is alive; `name` lives through the call; `raw` is an
        // out-parameter.
        call("process group", |error| unsafe { ffi::mste_group_sibling(self.raw.as_ptr(), name.as_ptr(), &mut raw, error) })?;
        let raw = NonNull::new(raw).ok_or_else(|| ExtError::torch("process group", "no group returned".into()))?;
        Ok(C10dGroup { raw })
    }

    /// Sums `tensor` over every rank, in place; with `average`, divides by the world size.
    pub fn all_reduce(&self, tensor: &mut Tensor, average: bool) -> Result<(), ExtError> {
        // SAFETY: the group is alive; `tensor` is a valid handle borrowed for the call.
        call("all_reduce", |error| unsafe { ffi::mste_group_all_reduce(self.raw.as_ptr(), tensor.as_mut_ptr(), average, error) })
    }

    /// Overwrites `tensor` with rank `root`'s, on every rank.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<(), ExtError> {
        // SAFETY: the group is alive; `tensor` is a valid handle borrowed for the call.
        call("broadcast", |error| unsafe { ffi::mste_group_broadcast(self.raw.as_ptr(), tensor.as_mut_ptr(), root as i32, error) })
    }

    /// Every rank's `tensor`, stacked in rank order: shape `[world, ...tensor's shape]`.
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Tensor, ExtError> {
        let mut out: *mut C_tensor = std::ptr::null_mut();
        // SAFETY: the group is alive; `tensor` is borrowed for the call; `out`
        // receives a new handle on success.
        call("all_gather", |error| unsafe { ffi::mste_group_all_gather(self.raw.as_ptr(), tensor.as_ptr(), &mut out, error) })?;
        if out.is_null() {
            return Err(ExtError::torch("all_gather", "no tensor returned".into()));
        }
        // SAFETY: the shim handed over a new handle that nobody else owns.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    pub(crate) fn raw(&self) -> *mut ffi::Group {
        self.raw.as_ptr()
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<(), ExtError> {
        // SAFETY: the group is alive.
        call("barrier", |error| unsafe { ffi::mste_group_barrier(self.raw.as_ptr(), error) })
    }
}

impl Drop for C10dGroup {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `mste_group_new` and is freed once, here.
        unsafe { ffi::mste_group_free(self.raw.as_ptr()) }
    }
}
