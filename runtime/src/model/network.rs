//! A network built from a [`ModelSource`], with the surface trainer, scorer,
//! checkpoints and plugins share: forward, parameters, variables by name, snapshots.

use super::base::Model;
use super::output_check::check_logits;
use super::torchscript::TorchScriptModel;
use super::varstore::VarStoreModel;
use super::{ModelError, ModelSource};
use crate::config::Arch;
use crate::data::ImageShape;
use std::collections::BTreeMap;
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

/// A network and its variables, whatever its source.
#[derive(Debug)]
pub struct Network {
    source: ModelSource,
    model: Box<dyn Model>,
    device: Device,
    channels_last: bool,
}

impl Network {
    /// Builds the network `source` names for images of `shape` and `classes` outputs,
    /// on `device`. A built-in (or a user's module) draws its weights from libtorch's
    /// global generator, which the caller seeds; a TorchScript module keeps the file's
    /// weights. A TorchScript module and a user's module are checked against `shape` and
    /// `classes` (a dry forward in eval mode, which draws nothing from the generator).
    pub fn build(source: &ModelSource, shape: ImageShape, classes: usize, device: Device) -> Result<Self, ModelError> {
        let model: Box<dyn Model> = match source {
            ModelSource::Builtin(arch) => Box::new(VarStoreModel::builtin(*arch, shape, classes, device)),
            ModelSource::TorchScript(path) => Box::new(TorchScriptModel::load(path, shape, classes, device)?),
            ModelSource::Custom(custom) => {
                let model = VarStoreModel::new(device, |root| (custom.build)(root, shape, classes));
                check_logits(&model, shape, classes, device)
                    .map_err(|message| ModelError::Custom { name: custom.name.clone(), message })?;
                Box::new(model)
            }
        };
        Ok(Network { source: source.clone(), model, device, channels_last: false })
    }

    /// The built-in `arch` (cannot fail): [`Network::build`] of `ModelSource::Builtin`.
    pub fn builtin(arch: Arch, shape: ImageShape, classes: usize, device: Device) -> Self {
        let model = Box::new(VarStoreModel::builtin(arch, shape, classes, device));
        Network { source: ModelSource::Builtin(arch), model, device, channels_last: false }
    }

    /// Where it came from.
    pub fn source(&self) -> &ModelSource {
        &self.source
    }

    /// The built-in architecture, if it is one.
    pub fn arch(&self) -> Option<Arch> {
        self.source.builtin()
    }

    /// Logits for a batch; `train` selects training behaviour (dropout, batch-norm
    /// statistics). A libtorch error (a wrong input shape, say) is an error, not a panic.
    pub fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        self.model.forward(images, train)
    }

    /// The device the variables live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Trainable variables, in a stable order (creation order for a built-in,
    /// registration order for a TorchScript module).
    pub fn parameters(&self) -> Result<Vec<Tensor>, ModelError> {
        self.model.parameters()
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> Result<i64, ModelError> {
        Ok(self.parameters()?.iter().map(|p| p.numel() as i64).sum())
    }

    /// Every variable by name, buffers included, sorted (shallow: they share storage
    /// with the network).
    pub fn variables(&self) -> Result<Vec<(String, Tensor)>, ModelError> {
        let mut variables = self.model.variables()?;
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(variables)
    }

    /// Deep copies of every variable, detached from autograd.
    pub fn snapshot(&self, epoch: usize) -> Result<Snapshot, ModelError> {
        let variables =
            tch::no_grad(|| self.variables()?.into_iter().map(|(n, t)| Ok((n, t.f_detach()?.copy()))).collect::<Result<_, ModelError>>())?;
        Ok(Snapshot { epoch, variables })
    }

    /// Overwrites every variable with a snapshot's values.
    pub fn load_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), ModelError> {
        self.load_variables(&snapshot.variables, "snapshot")
    }

    /// Overwrites every variable with the value of the same name in `values` (a
    /// snapshot, a checkpoint), which must hold exactly this network's variables with
    /// their shapes. `origin` names the values in errors.
    pub fn load_variables(&mut self, values: &[(String, Tensor)], origin: &str) -> Result<(), ModelError> {
        let mine: BTreeMap<String, Tensor> = self.variables()?.into_iter().collect();
        let given: BTreeMap<&str, &Tensor> = values.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mismatch = |message: String| ModelError::Variables { origin: origin.to_string(), message };
        if let Some(extra) = given.keys().find(|name| !mine.contains_key(**name)) {
            return Err(mismatch(format!("`{extra}` is not a variable of this network ({})", self.source)));
        }
        tch::no_grad(|| {
            for (name, target) in &mine {
                let value = given.get(name.as_str()).ok_or_else(|| mismatch(format!("it lacks the network's variable `{name}`")))?;
                if value.size() != target.size() {
                    return Err(mismatch(format!("`{name}` is {:?}, the network's is {:?}", value.size(), target.size())));
                }
                target.shallow_clone().f_copy_(value)?;
            }
            Ok(())
        })
    }

    /// Stores every 4-D variable (convolution weights) channels-last (NHWC strides,
    /// same shape). With channels-last inputs, oneDNN then runs convolutions on its
    /// fast NHWC path: on small images, forward and input-gradient passes take about
    /// half the time. Values are unchanged; later copies into the variables keep it.
    /// The scorer does this for built-ins only.
    pub fn use_channels_last(&mut self) -> Result<(), ModelError> {
        tch::no_grad(|| {
            for (_, mut var) in self.variables()? {
                if var.dim() == 4 {
                    let nhwc = channels_last(&var);
                    var.set_data(&nhwc);
                }
            }
            Ok::<_, ModelError>(())
        })?;
        self.channels_last = true;
        Ok(())
    }

    /// Whether [`Network::use_channels_last`] was applied: inputs should then be
    /// channels-last too.
    pub fn is_channels_last(&self) -> bool {
        self.channels_last
    }
}
