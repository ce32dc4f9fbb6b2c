//! Architectures by name.

use super::resnet::resnet18;
use crate::config::Arch;
use crate::data::ImageShape;
use tch::nn::{self, ModuleT};

/// Builds `arch` under `p` for images of `shape` and `classes` outputs.
pub fn build(arch: Arch, p: &nn::Path, shape: ImageShape, classes: usize) -> Box<dyn ModuleT> {
    let (c, h, w, k) = (shape.channels as i64, shape.height as i64, shape.width as i64, classes as i64);
    match arch {
        Arch::Mlp => Box::new(
            nn::seq_t()
                .add_fn(|x| x.flatten(1, -1))
                .add(nn::linear(p / "fc1", c * h * w, 256, Default::default()))
                .add_fn(|x| x.relu())
                .add(nn::linear(p / "fc2", 256, 128, Default::default()))
                .add_fn(|x| x.relu())
                .add(nn::linear(p / "fc3", 128, k, Default::default())),
        ),
        Arch::Cnn => {
            let conv = nn::ConvConfig { padding: 1, ..Default::default() };
            Box::new(
                nn::seq_t()
                    .add(nn::conv2d(p / "conv1", c, 32, 3, conv))
                    .add_fn(|x| x.relu())
                    .add(nn::conv2d(p / "conv2", 32, 64, 3, conv))
                    .add_fn(|x| x.relu())
                    .add_fn(|x| x.max_pool2d_default(2))
                    .add_fn(|x| x.flatten(1, -1))
                    .add(nn::linear(p / "fc1", 64 * (h / 2) * (w / 2), 128, Default::default()))
                    .add_fn(|x| x.relu())
                    .add(nn::linear(p / "fc2", 128, k, Default::default())),
            )
        }
        Arch::Resnet18 => Box::new(resnet18(p, c, k)),
    }
}
