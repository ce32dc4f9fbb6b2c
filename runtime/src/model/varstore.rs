//! A tch module over a `VarStore` as a [`Model`]: the built-in architectures (and
//! any module built on a `VarStore` path, such as a library user's own).

use super::base::Model;
use super::{zoo, ModelError};
use crate::config::Arch;
use crate::data::ImageShape;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

/// A tch module with the `VarStore` that holds its variables.
#[derive(Debug)]
pub struct VarStoreModel {
    vs: nn::VarStore,
    module: Box<dyn ModuleT>,
}

impl VarStoreModel {
    /// The module `build` makes under the root path of a new `VarStore` on `device`.
    pub fn new(device: Device, build: impl FnOnce(&nn::Path) -> Box<dyn ModuleT>) -> Self {
        let vs = nn::VarStore::new(device);
        let module = build(&vs.root());
        VarStoreModel { vs, module }
    }

    /// The built-in `arch`; weights are drawn from libtorch's global generator, which
    /// the caller seeds.
    pub fn builtin(arch: Arch, shape: ImageShape, classes: usize, device: Device) -> Self {
        VarStoreModel::new(device, |root| zoo::build(arch, root, shape, classes))
    }
}

impl Model for VarStoreModel {
    fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        // tch's modules panic on a libtorch error (a wrong input shape, say).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.module.forward_t(images, train)))
            .map_err(|panic| ModelError::Torch(tch::TchError::Torch(crate::panics::panic_message(panic.as_ref()))))
    }

    /// Creation order, which is fixed for a given module.
    fn parameters(&self) -> Result<Vec<Tensor>, ModelError> {
        Ok(self.vs.trainable_variables())
    }

    /// The `VarStore` holds buffers too (BatchNorm's running statistics are its
    /// non-trainable variables).
    fn variables(&self) -> Result<Vec<(String, Tensor)>, ModelError> {
        Ok(self.vs.variables().into_iter().collect())
    }
}
