//! Where a network comes from: a built-in architecture or a TorchScript file.

use crate::config::{Arch, ModelConfig};
use std::path::PathBuf;

/// Where a network comes from. Trainer and scorer each build their network from it
/// ([`super::Network::build`]); everything downstream sees the same `Network`.
///
/// Meant to grow: a library user's own module is one more variant (a builder called
/// with the `VarStore` path, the image shape and the number of classes, built into a
/// `VarStoreModel` as the built-ins are), which is why it is not `PartialEq`.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// One of the built-in architectures, initialized from libtorch's global generator.
    Builtin(Arch),
    /// A TorchScript module (`torch.jit.script(model).save(path)`), trained from the
    /// weights in the file.
    TorchScript(PathBuf),
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
            ModelSource::TorchScript(_) => None,
        }
    }
}

/// `cnn`, or `torchscript net.pt` (the file name): what `summary.json` and the report
/// call the model.
impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Builtin(arch) => f.write_str(arch.name()),
            ModelSource::TorchScript(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_else(|| path.to_string_lossy());
                write!(f, "torchscript {name}")
            }
        }
    }
}
