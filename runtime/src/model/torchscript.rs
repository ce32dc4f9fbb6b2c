//! TorchScript modules as a [`Model`], through `memscope-torch-ext`'s shim: trained
//! from the weights in the file, with train/eval switched on the module itself and
//! buffers (BatchNorm's running statistics) among the variables.
//!
//! A file is checked when it is loaded, so that a model that cannot work is refused
//! before training starts, with the shapes in the message: it must be a TorchScript
//! module, map a batch `[B, C, H, W]` of the dataset's images to `[B, classes]`, and
//! have trainable parameters.

use super::base::Model;
use super::output_check::check_logits;
use super::ModelError;
use crate::data::ImageShape;
use memscope_torch_ext::ScriptModule;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use tch::{Device, Tensor};

const MODE_UNKNOWN: u8 = 0;
const MODE_EVAL: u8 = 1;
const MODE_TRAIN: u8 = 2;

/// A TorchScript module being trained or scored.
#[derive(Debug)]
pub struct TorchScriptModel {
    module: ScriptModule,
    /// The mode the module is in, so that a forward switches it only when it changes
    /// (a switch walks every submodule).
    mode: AtomicU8,
}

impl TorchScriptModel {
    /// Loads `path` onto `device` and checks it against the dataset's image shape and
    /// number of classes (a dry forward in eval mode on a small batch of zeros).
    pub fn load(path: &Path, shape: ImageShape, classes: usize, device: Device) -> Result<Self, ModelError> {
        let refused = |message: String| ModelError::TorchScript { path: path.to_path_buf(), message };
        let module = ScriptModule::load(path, device).map_err(|e| {
            refused(format!("not a TorchScript module (save one with `torch.jit.script(model).save(path)`): {}", e.message()))
        })?;
        let model = TorchScriptModel { module, mode: AtomicU8::new(MODE_UNKNOWN) };
        model.check(shape, classes, device).map_err(refused)?;
        Ok(model)
    }

    /// Why the module cannot be trained on images of `shape` with `classes` classes:
    /// its logits ([`check_logits`]), then its parameters.
    fn check(&self, shape: ImageShape, classes: usize, device: Device) -> Result<(), String> {
        check_logits(self, shape, classes, device)?;
        let parameters = self.module.named_parameters().map_err(|e| e.to_string())?;
        if !parameters.iter().any(|(_, p)| p.requires_grad()) {
            return Err(format!(
                "it has no trainable parameters ({} parameters, none with requires_grad=True): there is nothing to train",
                parameters.len()
            ));
        }
        Ok(())
    }
}

impl Model for TorchScriptModel {
    fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let mode = if train { MODE_TRAIN } else { MODE_EVAL };
        if self.mode.load(Ordering::Relaxed) != mode {
            self.module.set_train(train)?;
            self.mode.store(mode, Ordering::Relaxed);
        }
        Ok(self.module.forward(images)?)
    }

    /// Parameters that require gradients, in the module's registration order.
    fn parameters(&self) -> Result<Vec<Tensor>, ModelError> {
        let all = self.module.named_parameters()?;
        Ok(all.into_iter().filter(|(_, p)| p.requires_grad()).map(|(_, p)| p).collect())
    }

    /// Every parameter (frozen ones too) and every buffer.
    fn variables(&self) -> Result<Vec<(String, Tensor)>, ModelError> {
        let mut variables = self.module.named_parameters()?;
        variables.extend(self.module.named_buffers()?);
        Ok(variables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::model::{ModelSource, Network, Optimizer};
    use std::path::PathBuf;
    use std::process::Command;
    use tch::{Kind, Reduction};

    const SHAPE: ImageShape = ImageShape { channels: 1, height: 4, width: 4 };

    /// A module with BatchNorm (buffers) and dropout for 4x4 greyscale images and 3
    /// classes, scripted by the project venv's torch; `None` (reason printed) without it.
    fn scripted(dir: &Path) -> Option<PathBuf> {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        if !Command::new(&python).args(["-c", "import torch"]).status().is_ok_and(|s| s.success()) {
            eprintln!("skipped: {} cannot import torch", python.display());
            return None;
        }
        let source = "import sys, torch
torch.manual_seed(0)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.5)
        self.fc = torch.nn.Linear(64, 3)
    def forward(self, x):
        return self.fc(self.drop(torch.flatten(torch.relu(self.bn(self.conv(x))), 1)))
torch.jit.script(Net()).save(sys.argv[1])
";
        let (script, path) = (dir.join("make.py"), dir.join("net.pt"));
        std::fs::write(&script, source).unwrap();
        assert!(Command::new(&python).arg(&script).arg(&path).status().unwrap().success());
        Some(path)
    }

    fn load(path: &Path) -> Network {
        Network::build(&ModelSource::TorchScript(path.to_path_buf()), SHAPE, 3, Device::Cpu).unwrap()
    }

    /// The optimizer makes every parameter a view of its flat buffer with `set_data`:
    /// that must be the module's own parameter (one TensorImpl), so that its updates
    /// change what the module computes.
    #[test]
    fn the_optimizer_updates_the_modules_own_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = scripted(dir.path()) else { return };
        let network = load(&path);
        let mut optimizer = Optimizer::new(&TrainConfig::default(), network.parameters().unwrap());
        let mine = network.parameters().unwrap();
        assert_eq!(mine.len(), 6, "conv, bn and fc weights and biases");
        for (theirs, ours) in optimizer.params().iter().zip(&mine) {
            assert_eq!(theirs.data_ptr(), ours.data_ptr(), "the module's parameter is the optimizer's view");
        }
        let x = Tensor::randn([8, 1, 4, 4], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1]);
        let before = network.forward(&x, false).unwrap();
        let loss = network.forward(&x, true).unwrap().cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0);
        let grads = optimizer.gradients(&loss).unwrap();
        optimizer.step(0.1, &grads).unwrap();
        assert!(!network.forward(&x, false).unwrap().equal(&before), "a step changes the module's output");
    }

    /// Train and eval mode reach the module (dropout, BatchNorm), and a snapshot holds
    /// the buffers: a second copy loaded from it computes the same in eval mode.
    #[test]
    fn modes_switch_and_snapshots_carry_the_running_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = scripted(dir.path()) else { return };
        let network = load(&path);
        let names: Vec<String> = network.variables().unwrap().into_iter().map(|(n, _)| n).collect();
        for buffer in ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"] {
            assert!(names.iter().any(|n| n == buffer), "{buffer} missing from {names:?}");
        }
        let x = Tensor::randn([8, 1, 4, 4], (Kind::Float, Device::Cpu));
        let eval = network.forward(&x, false).unwrap();
        assert!(eval.equal(&network.forward(&x, false).unwrap()), "eval mode is deterministic");
        let _ = network.forward(&x, true).unwrap(); // updates the running statistics
        assert!(!eval.equal(&network.forward(&x, false).unwrap()), "a training forward moved the statistics");

        let mut copy = load(&path);
        copy.load_snapshot(&network.snapshot(0).unwrap()).unwrap();
        assert!(copy.forward(&x, false).unwrap().equal(&network.forward(&x, false).unwrap()));
        let err = copy.load_variables(&[("bn.bias".into(), Tensor::zeros([5], (Kind::Float, Device::Cpu)))], "test").unwrap_err();
        assert!(err.to_string().contains("test does not fit the network"), "{err}");
    }
}
