//! [`Weights`]: the trained network's variables, handed back to the program that ran
//! the job, so that it can keep predicting with what was trained without a run
//! directory or a checkpoint format of memscope's.

use super::{ModelError, Network};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Device, Tensor};

/// A state dict: every variable of the trained network (parameters and buffers, such
/// as a batch norm's running statistics) by name, sorted by name, copied to the CPU
/// in the plain layout. A program's module (`Job::model`) names its variables as it
/// built them on the `VarStore` path it was given, so building the module again on a
/// fresh `VarStore` and calling [`Weights::load_into`] gives the trained network.
pub struct Weights {
    variables: Vec<(String, Tensor)>,
}

impl Weights {
    /// Copies of the network's variables, detached, on the CPU.
    pub(crate) fn of(network: &Network) -> Result<Self, ModelError> {
        let variables = tch::no_grad(|| {
            network
                .variables()?
                .into_iter()
                .map(|(name, t)| Ok((name, t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?.copy())))
                .collect::<Result<Vec<_>, ModelError>>()
        })?;
        Ok(Weights { variables })
    }

    /// Every variable by name, sorted by name.
    pub fn variables(&self) -> &[(String, Tensor)] {
        &self.variables
    }

    /// The variable `name` (e.g. `fc1.weight`).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.variables.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Copies every variable into `store`, which must hold exactly these names with
    /// these shapes (the module built again, on any device); else an error names the
    /// first variable that differs.
    pub fn load_into(&self, store: &nn::VarStore) -> Result<(), ModelError> {
        let targets: BTreeMap<String, Tensor> = store.variables().into_iter().collect();
        let mismatch = |message: String| ModelError::Variables { origin: "the job's weights".into(), message };
        if let Some((extra, _)) = self.variables.iter().find(|(name, _)| !targets.contains_key(name)) {
            return Err(mismatch(format!("the VarStore has no variable `{extra}`")));
        }
        tch::no_grad(|| {
            for (name, target) in &targets {
                let value = self.get(name).ok_or_else(|| mismatch(format!("they lack the VarStore's variable `{name}`")))?;
                if value.size() != target.size() {
                    return Err(mismatch(format!("`{name}` is {:?}, the VarStore's is {:?}", value.size(), target.size())));
                }
                target.shallow_clone().f_copy_(value)?;
            }
            Ok(())
        })
    }

    /// Writes every variable to `path` in the format `VarStore::save` writes (so
    /// `VarStore::load` reads it back into the module built again).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        Ok(Tensor::save_multi(&self.variables, path)?)
    }
}

impl Clone for Weights {
    /// A deep copy: the clone's tensors share no storage with these.
    fn clone(&self) -> Self {
        Weights { variables: self.variables.iter().map(|(n, t)| (n.clone(), t.copy())).collect() }
    }
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.variables.iter().map(|(n, t)| (n, t.size()))).finish()
    }
}
