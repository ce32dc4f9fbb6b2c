//! Networks and where they come from (built-in architectures, TorchScript files),
//! optimizers, learning-rate schedules and checkpoints.

mod builtin;
mod checkpoint;
mod error;
mod input_grad;
mod base;
mod network;
mod optim;
mod resnet;
mod schedule;
mod source;
mod torchscript;
mod zoo;

pub use checkpoint::{Checkpoint, CheckpointState, Checkpoints};
pub use error::ModelError;
pub use base::Model;
pub use network::{channels_last, Network, Snapshot};
pub use optim::Optimizer;
pub use schedule::learning_rate;
pub use source::ModelSource;
