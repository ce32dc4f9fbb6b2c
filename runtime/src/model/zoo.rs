//! Architectures by name.

use super::network::channels_last;
use super::resnet::resnet18;
use crate::config::Arch;
use crate::data::ImageShape;
use tch::nn::{self, ModuleT};
use tch::Tensor;

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
            let conv2 = nn::conv2d(p / "conv2", 32, 64, 3, conv);
            // The scorer's network is channels-last (`Network::use_channels_last`,
            // which changes this very weight in place). conv1 has one input channel on
            // greyscale images, so libtorch returns its output NCHW even then, while
            // conv2 returns channels-last gradients: ReLU's backward then meets two
            // layouts (a slow strided loop plus copies). Converting conv1's output to
            // the weights' layout made a forward/input-backward pass about 12 % faster.
            let conv2_weight = conv2.ws.shallow_clone();
            let like_conv2 = move |x: &Tensor| {
                let weight_nhwc = conv2_weight.stride()[1] == 1;
                if weight_nhwc {
                    channels_last(x)
                } else {
                    x.shallow_clone()
                }
            };
            Box::new(
                nn::seq_t()
                    .add(nn::conv2d(p / "conv1", c, 32, 3, conv))
                    .add_fn(like_conv2)
                    .add_fn(|x| x.relu())
                    .add(conv2)
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

    /// The `cnn` pools before its second ReLU for speed, and turns conv1's output
    /// channels-last when its weights are (the scorer's network): it must stay the
    /// textbook function (ReLU, then pool), values and input gradients alike, in
    /// either layout.
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
        let grad = |out: Tensor| Tensor::run_backward(&[out.square().sum(Kind::Float)], &[&x], false, false).remove(0);
        let theirs = || textbook(&x.contiguous());
        for layout in ["NCHW", "channels-last"] {
            if layout == "channels-last" {
                tch::no_grad(|| {
                    for (_, mut var) in vs.variables() {
                        if var.dim() == 4 {
                            var.set_data(&channels_last(&var));
                        }
                    }
                });
                assert_eq!(v["conv2.weight"].stride()[1], 1, "conv2's weight is channels-last");
            }
            let ours = net.forward_t(&x, false);
            assert!(ours.allclose(&theirs(), 1e-6, 1e-6, false), "{layout}: values differ");
            assert!(grad(ours).allclose(&grad(theirs()), 1e-5, 1e-6, false), "{layout}: input gradients differ");
        }
    }
}
