//! libtorch features that tch does not expose, through a small C++ shim of our own
//! (`csrc/`, compiled by `build.rs` against the headers of the libtorch that torch-sys
//! links).
//!
//! - [`ScriptModule`]: a TorchScript module (`torch.jit.script(model).save(...)`) for
//!   training: forward, train/eval, and its parameters **and buffers** (BatchNorm's
//!   running statistics) as tensors that share storage with the module. tch's
//!   `TrainableCModule` registers only parameters and ignores the train flag.
//! - [`C10dGroup`]: a c10d process group (PyTorch's distributed engine: a `TCPStore`
//!   rendezvous, Gloo on the CPU, NCCL on CUDA) with all-reduce, broadcast,
//!   all-gather and barrier, each bounded by the group's timeout.
//! - [`StoreClient`]: a connection of its own to the group's `TCPStore`, with its own
//!   short timeout, for what runs beside the collectives (the ranks' signs of life).
//! - [`set_deterministic`]: deterministic algorithms, as
//!   `torch.use_deterministic_algorithms(True)` with cuDNN's deterministic mode.
//! - [`Autocast`]: autocast (mixed precision) on the CPU or CUDA in bfloat16 or
//!   float16, as `torch.autocast(device_type, dtype)`.
//! - [`use_side_stream`]: a CUDA stream of its own for a thread (a scorer beside the
//!   trainer), and [`synchronize_current_stream`] for the tensors that cross.
//! - [`Profile`]: libtorch's profiler (Kineto) around a stretch of one thread's work,
//!   saved as a Chrome trace.
//! - [`C10dReducer`]: `c10d::Reducer`, DDP's engine: a backward pass whose gradients
//!   are summed across the group in buckets, each all-reduced as soon as its
//!   gradients are ready, overlapping the rest of the backward pass.
//!
//! The C interface is narrow: every function returns a status and, on failure, a
//! message (C++ exceptions never cross into Rust). Tensors cross as libtorch handles,
//! as between the host and its plugins: a handle the shim returns is adopted with
//! `Tensor::from_ptr`; one we pass is borrowed for the call.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod autocast;
mod c10d;
mod cuda_stream;
mod determinism;
mod error;
mod ffi;
mod profiler;
mod reducer;
mod script;
mod store;

pub use autocast::{Autocast, AutocastDtype};
pub use c10d::{C10dGroup, Rendezvous};
pub use cuda_stream::{synchronize_current_stream, use_side_stream};
pub use determinism::{deterministic, set_deterministic};
pub use error::ExtError;
pub use profiler::Profile;
pub use reducer::{BackwardError, C10dReducer, ReducedBackward};
pub use script::ScriptModule;
pub use store::{StoreClient, StoreServer};
