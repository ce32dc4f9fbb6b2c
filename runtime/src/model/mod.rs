//! Networks and where they come from (built-in architectures, TorchScript files, a
//! library user's own modules),
//! optimizers, learning-rate schedules and checkpoints.

mod base;
mod checkpoint;
mod custom;
mod error;
mod input_grad;
mod mixed;
mod network;
mod optim;
mod output_check;
mod param_grad_norms;
mod resnet;
mod schedule;
mod source;
mod torchscript;
mod tuning;
mod varstore;
mod weights;
mod zoo;

pub use base::Model;
pub(crate) use checkpoint::{pending_snapshots, pending_tensors};
pub use checkpoint::{Checkpoint, CheckpointData, CheckpointState, Checkpoints};
pub use custom::{BuildModule, CustomModel};
pub use error::ModelError;
pub use mixed::{check_precision, MixedPrecision};
pub use network::{channels_last, Network, Snapshot};
pub use optim::Optimizer;
pub use schedule::learning_rate;
pub use source::ModelSource;
pub use tuning::{autotune_cudnn, CUDNN_BENCHMARK_ENV};
pub use weights::Weights;
