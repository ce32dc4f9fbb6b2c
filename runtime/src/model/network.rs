//! A network and its variables, with snapshots for the scorer thread.

use super::{zoo, ModelError};
use crate::config::Arch;
use crate::data::ImageShape;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

/// A copy of every variable (weights and buffers such as batch-norm statistics), taken
/// at the end of an epoch and handed to the scorer while training goes on.
#[derive(Debug)]
pub struct Snapshot {
    /// The epoch (0-based) after which the copy was taken.
    pub epoch: usize,
    /// Variables by name, sorted by name.
    pub variables: Vec<(String, Tensor)>,
}

/// The same 4-D tensor laid out channels-last: NCHW shape with NHWC strides, which
/// libtorch recognizes as the channels-last memory format. Other tensors are returned
/// as they are.
pub fn channels_last(t: &Tensor) -> Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        t.shallow_clone()
    }
}

/// A network built from the zoo, owning its variables.
#[derive(Debug)]
pub struct Network {
    arch: Arch,
    vs: nn::VarStore,
    module: Box<dyn ModuleT>,
}

impl Network {
    /// Builds `arch` on `device`; weights are drawn from libtorch's global generator,
    /// which the caller seeds.
    pub fn new(arch: Arch, shape: ImageShape, classes: usize, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let module = zoo::build(arch, &vs.root(), shape, classes);
        Network { arch, vs, module }
    }

    /// The architecture it was built as.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Logits for a batch; `train` selects training behaviour (batch-norm statistics).
    pub fn forward(&self, images: &Tensor, train: bool) -> Tensor {
        self.module.forward_t(images, train)
    }

    /// Like [`Network::forward`], but a libtorch error (a wrong input shape, say)
    /// comes back as a message instead of a panic.
    pub fn try_forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.forward(images, train)))
            .map_err(|panic| ModelError::Torch(tch::TchError::Torch(crate::panics::panic_message(panic.as_ref()))))
    }

    /// The device the variables live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Trainable variables, in creation order (stable for an architecture).
    pub fn parameters(&self) -> Vec<Tensor> {
        self.vs.trainable_variables()
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> i64 {
        self.parameters().iter().map(|p| p.numel() as i64).sum()
    }

    /// Every variable by name, sorted (shallow: they share storage with the network).
    pub fn variables(&self) -> Vec<(String, Tensor)> {
        let mut variables: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        variables
    }

    /// Deep copies of every variable, detached from autograd.
    pub fn snapshot(&self, epoch: usize) -> Snapshot {
        let mut variables: Vec<(String, Tensor)> =
            tch::no_grad(|| self.vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect());
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        Snapshot { epoch, variables }
    }

    /// Overwrites every variable with a snapshot's values.
    pub fn load_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), ModelError> {
        let mut mine = self.vs.variables();
        if mine.len() != snapshot.variables.len() {
            return Err(ModelError::Torch(tch::TchError::Convert(format!(
                "snapshot has {} variables, network {}",
                snapshot.variables.len(),
                mine.len()
            ))));
        }
        tch::no_grad(|| {
            for (name, value) in &snapshot.variables {
                let target = mine.get_mut(name).ok_or_else(|| {
                    ModelError::Torch(tch::TchError::Convert(format!("snapshot variable `{name}` is not in the network")))
                })?;
                target.f_copy_(value)?;
            }
            Ok(())
        })
    }

    /// Stores every 4-D variable (convolution weights) channels-last (NHWC strides,
    /// same shape). With channels-last inputs, oneDNN then runs convolutions on its
    /// fast NHWC path: on small images, forward and input-gradient passes take about
    /// half the time. Values are unchanged; later copies into the variables keep it.
    pub fn use_channels_last(&mut self) {
        tch::no_grad(|| {
            for (_, mut var) in self.vs.variables() {
                if var.dim() == 4 {
                    let nhwc = channels_last(&var);
                    var.set_data(&nhwc);
                }
            }
        })
    }

    /// Writes every variable to `path` (libtorch's format).
    pub fn save(&self, path: &std::path::Path) -> Result<(), ModelError> {
        Ok(self.vs.save(path)?)
    }

    /// Reads every variable from `path`, written by [`Network::save`].
    pub fn load(&mut self, path: &std::path::Path) -> Result<(), ModelError> {
        Ok(self.vs.load(path)?)
    }
}
