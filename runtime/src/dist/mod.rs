//! Scale-out on c10d, PyTorch's own distributed engine (DESIGN.md, "The open world").
//!
//! A job runs on several processes the way PyTorch jobs do: launched by `torchrun
//! --no-python`, Slurm or a Kubernetes `PyTorchJob`, each process reads its place in
//! the group from the launcher's variables ([`Launch::from_env`]) and meets the others
//! through a `TCPStore` ([`ProcessGroup::new`]). Collectives go through libtorch's
//! own process groups (Gloo for CPU tensors, NCCL for CUDA), through the C++ shim of
//! `memscope-torch-ext`: no home-made transport.
//!
//! Without the variables (or with `WORLD_SIZE=1`) there is no group at all: the
//! single-process path is unchanged.

mod error;
mod exit;
mod gradients;
mod group;
mod launch;
mod liveness;
mod replicas;
mod share;

pub use error::DistError;
pub use exit::{collective_failed, exit};
pub use gradients::{DistTimings, GradientReducer};
pub use group::{ProcessGroup, Reduce, Uninterruptible};
pub use launch::{Launch, DEFAULT_BUCKET_BYTES, DEFAULT_TIMEOUT, FIRST_BUCKET_BYTES};
pub use liveness::{LivenessTiming, DEFAULT_LOST_AFTER};
/// The store a launcher serves for its ranks (`memscope launch`, as torchrun's agent).
pub use memscope_torch_ext::StoreServer;
pub use replicas::{broadcast_from_rank0, ranks_differing_from_rank0};
pub use share::{broadcast_bytes, broadcast_tensors};
