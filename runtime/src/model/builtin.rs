//! The built-in architectures as a [`Model`]: a tch module over a `VarStore`.

use super::base::Model;
use super::{zoo, ModelError};
use crate::config::Arch;
use crate::data::ImageShape;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

/// A built-in architecture with its variables.
#[derive(Debug)]
pub struct BuiltinModel {
    vs: nn::VarStore,
    module: Box<dyn ModuleT>,
}

impl BuiltinModel {
    /// Builds `arch` on `device`; weights are drawn from libtorch's global generator,
    /// which the caller seeds.
    pub fn new(arch: Arch, shape: ImageShape, classes: usize, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let module = zoo::build(arch, &vs.root(), shape, classes);
        BuiltinModel { vs, module }
    }
}

impl Model for BuiltinModel {
    fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        // tch's modules panic on a libtorch error (a wrong input shape, say).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.module.forward_t(images, train)))
            .map_err(|panic| ModelError::Torch(tch::TchError::Torch(crate::panics::panic_message(panic.as_ref()))))
    }

    /// Creation order, which is fixed for an architecture.
    fn parameters(&self) -> Result<Vec<Tensor>, ModelError> {
        Ok(self.vs.trainable_variables())
    }

    /// The `VarStore` holds buffers too (BatchNorm's running statistics are its
    /// non-trainable variables).
    fn variables(&self) -> Result<Vec<(String, Tensor)>, ModelError> {
        Ok(self.vs.variables().into_iter().collect())
    }
}
