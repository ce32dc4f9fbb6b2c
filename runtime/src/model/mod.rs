//! The model zoo, optimizers, learning-rate schedules and checkpoints.

mod checkpoint;
mod error;
mod input_grad;
mod network;
mod optim;
mod resnet;
mod schedule;
mod zoo;

pub use checkpoint::{Checkpoint, CheckpointState, Checkpoints};
pub use error::ModelError;
pub use network::{channels_last, Network, Snapshot};
pub use optim::Optimizer;
pub use schedule::learning_rate;
