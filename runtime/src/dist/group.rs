//! The process group of a job: libtorch's c10d group, with errors that say which rank
//! failed in which collective.

use super::liveness::Liveness;
use super::{DistError, GradientReducer, Launch};
use memscope_torch_ext::{C10dGroup, ExtError, Rendezvous};
use std::sync::Arc;
use tch::{Device, Tensor};

/// Whether an all-reduce keeps the sum or divides it by the world size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The sum over ranks.
    Sum,
    /// The sum divided by the number of ranks (gradient averaging).
    Average,
}

/// The group this process belongs to. Every rank calls the same collectives in the
/// same order; each blocks until every rank has joined it or the launch's timeout has
/// passed, so a dead or unreachable rank ends the others with an error, never a hang.
///
/// Beside it runs the group's liveness watch (see the liveness module): a failed
/// collective names the rank that was lost, and a rank that cannot go on without a
/// lost peer (stuck in a collective, or waiting on one) ends instead of waiting out
/// the timeout.
#[derive(Debug)]
pub struct ProcessGroup {
    /// Declared (so dropped) before the group: rank 0 serves the store the watch
    /// leaves its end in. Shared with the group's siblings ([`ProcessGroup::sibling`]):
    /// one watch per rank.
    liveness: Option<Arc<Liveness>>,
    group: C10dGroup,
    rank: usize,
    world: usize,
    bucket_bytes: usize,
}

impl ProcessGroup {
    /// Meets the other ranks through the `TCPStore` at `MASTER_ADDR:MASTER_PORT`
    /// (rank 0 serves it) and creates the group: Gloo when `device` is the CPU, NCCL
    /// on a CUDA device.
    pub fn new(launch: &Launch, device: Device) -> Result<ProcessGroup, DistError> {
        let rendezvous = Rendezvous {
            addr: launch.master_addr.clone(),
            port: launch.master_port,
            rank: launch.rank,
            world: launch.world,
            serve_store: !launch.agent_store,
            prefix: format!("memscope/{}", launch.restart),
            timeout: launch.timeout,
            device,
        };
        let group = C10dGroup::new(&rendezvous).map_err(|e| DistError::Rendezvous {
            rank: launch.rank,
            world: launch.world,
            addr: launch.master_addr.clone(),
            port: launch.master_port,
            timeout: launch.timeout,
            message: e.message(),
        })?;
        let liveness = launch.liveness.map(|timing| Liveness::start(launch, timing).map(Arc::new)).transpose().map_err(|message| {
            DistError::Rendezvous {
                rank: launch.rank,
                world: launch.world,
                addr: launch.master_addr.clone(),
                port: launch.master_port,
                timeout: launch.timeout,
                message,
            }
        })?;
        Ok(ProcessGroup { liveness, group, rank: launch.rank, world: launch.world, bucket_bytes: launch.bucket_bytes })
    }

    /// A second group of the same ranks (see [`C10dGroup::sibling`]), for collectives
    /// issued from another thread beside this group's: a scorer thread's gathers
    /// beside the trainer's all-reduces. It shares this group's liveness watch, so its
    /// failures name the lost rank as this group's do. Every rank creates it, with the
    /// same `name`.
    pub fn sibling(&self, name: &str) -> Result<ProcessGroup, DistError> {
        let group = self.collective("creating a group", || self.group.sibling(name)).map_err(|e| self.failed("creating a group", e))?;
        Ok(ProcessGroup { liveness: self.liveness.clone(), group, rank: self.rank, world: self.world, bucket_bytes: self.bucket_bytes })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// How many ranks take part.
    pub fn world(&self) -> usize {
        self.world
    }

    /// The reducer of the gradients of `params` (the network's trainable parameters, in
    /// the optimizer's order) in this group, with the launch's bucket cap.
    pub fn gradient_reducer(&self, params: &[Tensor]) -> Result<GradientReducer, DistError> {
        GradientReducer::new(self, params, self.bucket_bytes)
    }

    pub(crate) fn c10d(&self) -> &C10dGroup {
        &self.group
    }

    /// Reduces `tensor` over every rank, in place (every rank ends with the result).
    pub fn all_reduce(&self, tensor: &mut Tensor, reduce: Reduce) -> Result<(), DistError> {
        self.collective("all_reduce", || self.group.all_reduce(tensor, reduce == Reduce::Average)).map_err(|e| self.failed("all_reduce", e))
    }

    /// Overwrites `tensor` with rank `root`'s on every rank.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<(), DistError> {
        self.collective("broadcast", || self.group.broadcast(tensor, root)).map_err(|e| self.failed("broadcast", e))
    }

    /// Every rank's `tensor` (same shape and kind on each), stacked in rank order.
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Tensor, DistError> {
        self.collective("all_gather", || self.group.all_gather(tensor)).map_err(|e| self.failed("all_gather", e))
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<(), DistError> {
        self.collective("barrier", || self.group.barrier()).map_err(|e| self.failed("barrier", e))
    }

    /// This rank is past its last collective: the watch no longer ends it for a lost
    /// peer, and when it ends the others read that it finished (not that it left with
    /// an error).
    pub fn finished(&self) {
        if let Some(liveness) = &self.liveness {
            liveness.finished();
        }
    }

    /// Until the returned guard is dropped, the liveness watch does not end this
    /// process (rank 0 writing a checkpoint: cut short, a finished epoch would be lost).
    pub fn uninterruptible(&self) -> Uninterruptible<'_> {
        if let Some(liveness) = &self.liveness {
            liveness.uninterruptible();
        }
        Uninterruptible { group: self }
    }

    /// Runs `call`, a collective (or a step that waits in one), with the liveness
    /// watch told that this rank waits in `op`; a failure names the rank it lost.
    pub(crate) fn collective<T, E>(&self, op: &'static str, call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(liveness) = &self.liveness {
            liveness.enter_collective(op);
        }
        let result = call();
        if let Some(liveness) = &self.liveness {
            liveness.leave_collective(op);
        }
        result
    }

    /// A failure of this rank's own tensor work around a collective (not of the
    /// collective itself): named like a collective's, with no peer to blame.
    pub(crate) fn local_failure(&self, op: &'static str, message: String) -> DistError {
        DistError::Collective { rank: self.rank, world: self.world, op, peer: "on this rank".into(), message }
    }

    /// The error of collective `op` that failed with `error`, naming the lost rank when
    /// the liveness watch finds one (it may take a few seconds), else the ranks it
    /// waited for.
    pub(crate) fn failed(&self, op: &'static str, error: ExtError) -> DistError {
        super::exit::note_collective_failed();
        let lost = self.liveness.as_deref().and_then(Liveness::lost_after_failure);
        let others: Vec<String> = (0..self.world).filter(|&r| r != self.rank).map(|r| r.to_string()).collect();
        let peer = match (lost, others.as_slice()) {
            (Some(lost), _) => lost,
            (None, [one]) => format!("waiting for rank {one}"),
            (None, many) => format!("waiting for ranks {}", many.join(", ")),
        };
        DistError::Collective { rank: self.rank, world: self.world, op, peer, message: error.message() }
    }
}

/// A section the liveness watch does not cut short ([`ProcessGroup::uninterruptible`]).
#[derive(Debug)]
pub struct Uninterruptible<'a> {
    group: &'a ProcessGroup,
}

impl Drop for Uninterruptible<'_> {
    fn drop(&mut self) {
        if let Some(liveness) = &self.group.liveness {
            liveness.interruptible();
        }
    }
}
