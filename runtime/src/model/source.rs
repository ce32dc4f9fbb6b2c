//! Where a network comes from: a built-in architecture, a TorchScript file, or a
//! library user's own tch module.

use super::CustomModel;
use crate::config::{Arch, ModelConfig};
use std::path::PathBuf;

/// Where a network comes from. Trainer and scorer each build their network from it
/// ([`super::Network::build`]); everything downstream sees the same `Network`.
///
/// Not `PartialEq`: a user's module is a function.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// One of the built-in architectures, initialized from libtorch's global generator.
    Builtin(Arch),
    /// A TorchScript module (`torch.jit.script(model).save(path)`), trained from the
    /// weights in the file.
    TorchScript(PathBuf),
    /// A library user's tch module, built on a `VarStore` as the built-ins are
    /// (`memscope::Job::model`).
    Custom(CustomModel),
}

impl ModelSource {
    /// The source a job's `[model]` table names (`arch` unless `torchscript` is given;
    /// `validate()` refuses both).
    pub fn from_config(model: &ModelConfig) -> ModelSource {
        match &model.torchscript {
            Some(path) => ModelSource::TorchScript(path.clone()),
            None => ModelSource::Builtin(model.arch.unwrap_or_default()),
        }
    }

    /// The built-in architecture, if it is one (the built-ins' fast paths key on it).
    pub fn builtin(&self) -> Option<Arch> {
        match self {
            ModelSource::Builtin(arch) => Some(*arch),
            ModelSource::TorchScript(_) | ModelSource::Custom(_) => None,
        }
    }
}

/// `cnn`, `torchscript net.pt` (the file name) or `custom <name>`: what
/// `summary.json` and the report call the model.
impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Builtin(arch) => f.write_str(arch.name()),
            ModelSource::TorchScript(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_else(|| path.to_string_lossy());
                write!(f, "torchscript {name}")
            }
            ModelSource::Custom(custom) => write!(f, "custom {}", custom.name),
        }
    }
}
