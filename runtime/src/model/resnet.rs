//! ResNet-18, CIFAR variant: a 3x3 stride-1 stem without max-pool, so that 32x32
//! inputs keep enough resolution (He et al. 2016; the curvature paper's CIFAR model).

use tch::nn::{self, ModuleT};
use tch::Tensor;

fn conv3x3(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, c_in, c_out, 3, nn::ConvConfig { stride, padding: 1, bias: false, ..Default::default() })
}

fn basic_block(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> impl ModuleT {
    let conv1 = conv3x3(&p / "conv1", c_in, c_out, stride);
    let bn1 = nn::batch_norm2d(&p / "bn1", c_out, Default::default());
    let conv2 = conv3x3(&p / "conv2", c_out, c_out, 1);
    let bn2 = nn::batch_norm2d(&p / "bn2", c_out, Default::default());
    let shortcut = (stride != 1 || c_in != c_out).then(|| {
        let conv = nn::conv2d(&p / "shortcut_conv", c_in, c_out, 1, nn::ConvConfig { stride, bias: false, ..Default::default() });
        let bn = nn::batch_norm2d(&p / "shortcut_bn", c_out, Default::default());
        (conv, bn)
    });
    nn::func_t(move |xs, train| {
        let ys = xs.apply(&conv1).apply_t(&bn1, train).relu().apply(&conv2).apply_t(&bn2, train);
        let skip = match &shortcut {
            Some((conv, bn)) => xs.apply(conv).apply_t(bn, train),
            None => xs.shallow_clone(),
        };
        (ys + skip).relu()
    })
}

fn stage(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::SequentialT {
    nn::seq_t().add(basic_block(&p / "0", c_in, c_out, stride)).add(basic_block(&p / "1", c_out, c_out, 1))
}

/// ResNet-18 for `channels`-channel images and `classes` outputs.
pub fn resnet18(p: &nn::Path, channels: i64, classes: i64) -> nn::SequentialT {
    let stem = conv3x3(p / "stem", channels, 64, 1);
    let stem_bn = nn::batch_norm2d(p / "stem_bn", 64, Default::default());
    nn::seq_t()
        .add(stem)
        .add_fn_t(move |x, train| x.apply_t(&stem_bn, train).relu())
        .add(stage(p / "layer1", 64, 64, 1))
        .add(stage(p / "layer2", 64, 128, 2))
        .add(stage(p / "layer3", 128, 256, 2))
        .add(stage(p / "layer4", 256, 512, 2))
        .add_fn(|x: &Tensor| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
        .add(nn::linear(p / "fc", 512, classes, Default::default()))
}
