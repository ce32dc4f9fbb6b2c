//! The one surface every network offers the runtime, whatever built it.

use super::ModelError;
use tch::Tensor;

/// What trainer, scorer, checkpoints and plugins need of a network: forward in
/// training or eval mode, its trainable parameters, and every variable by name.
/// tch modules over a `VarStore` such as the built-ins
/// ([`super::varstore::VarStoreModel`]) and TorchScript modules
/// ([`super::torchscript::TorchScriptModel`]) implement it; [`super::Network`] wraps
/// one and adds what is the same for all (snapshots, loading by name).
pub trait Model: Send + std::fmt::Debug {
    /// Logits `[B, classes]` for images `[B, C, H, W]`; `train` selects training
    /// behaviour (dropout active, BatchNorm on batch statistics, updating its running
    /// statistics).
    fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError>;

    /// The trainable parameters, in an order that is the same every time the model is
    /// built (the optimizer's state is laid out in it). They share storage with the
    /// model: the optimizer replaces their data with views of one flat buffer.
    fn parameters(&self) -> Result<Vec<Tensor>, ModelError>;

    /// Every variable by name: parameters, frozen parameters and buffers (BatchNorm's
    /// running statistics). Shallow: writing into them changes the model.
    fn variables(&self) -> Result<Vec<(String, Tensor)>, ModelError>;
}
