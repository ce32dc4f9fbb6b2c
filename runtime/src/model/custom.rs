//! A library user's own network: any tch module built on a `VarStore` path, the way the
//! built-ins are. The job builds it twice (the trainer's network and the scorer's copy),
//! so it is given as a function, not as a module.

use crate::data::ImageShape;
use std::sync::Arc;
use tch::nn::{self, ModuleT};

/// What builds a user's module: called with the root path of a new `VarStore`, the
/// image shape and the number of classes; returns logits `[B, classes]` for images
/// `[B, C, H, W]`.
pub type BuildModule = dyn Fn(&nn::Path, ImageShape, usize) -> Box<dyn ModuleT> + Send + Sync;

/// A user's module and the name outputs call it by.
#[derive(Clone)]
pub struct CustomModel {
    /// What `summary.json`'s `arch` says (`custom <name>`).
    pub name: String,
    pub(crate) build: Arc<BuildModule>,
}

impl CustomModel {
    /// The module `build` makes, called `name` in outputs. Its variables are created
    /// in `build`'s order from libtorch's global generator, which the job seeds with
    /// its `seed` first: a module with the variable names and creation order of a
    /// built-in starts from the built-in's weights.
    pub fn new<M, F>(name: impl Into<String>, build: F) -> Self
    where
        M: ModuleT + 'static,
        F: Fn(&nn::Path, ImageShape, usize) -> M + Send + Sync + 'static,
    {
        let build = move |p: &nn::Path, shape: ImageShape, classes: usize| Box::new(build(p, shape, classes)) as Box<dyn ModuleT>;
        CustomModel { name: name.into(), build: Arc::new(build) }
    }
}

impl std::fmt::Debug for CustomModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomModel").field("name", &self.name).finish_non_exhaustive()
    }
}
