//! The input gradient of the summed cross-entropy, `grad_x sum_i l(x_i)`: what the
//! curvature estimate computes 2 + `draws` times per batch, so most of scoring.
//!
//! For the built-in `cnn` on the CPU it runs without autograd ([`cnn`]): one pass per
//! layer, every activation in the layout the next layer reads, the convolutions, pool
//! and ReLUs as hand-written loops ([`kernels`], [`conv2`]: those skip the zeros the
//! ReLUs and the pool leave), the linear layers in libtorch. Any other model (a
//! TorchScript module too, even one that computes the same function), device or input
//! shape goes through autograd. Both give the same gradient; tests hold them to it.

mod cnn;
mod conv2;
mod kernels;
mod parallel;

use super::{ModelError, Network};
use crate::config::Arch;
use tch::{Device, Kind, Reduction, Tensor};

impl Network {
    /// Gradient of the summed cross-entropy of `images` against `labels` with respect
    /// to `images`, in eval mode: a sample's gradient does not depend on its batch.
    pub fn input_gradient(&self, images: &Tensor, labels: &Tensor) -> Result<Tensor, ModelError> {
        if self.arch() == Some(Arch::Cnn) && images.kind() == Kind::Float && images.device() == Device::Cpu {
            if let Some(weights) = cnn::CnnWeights::from_variables(&self.variables()?) {
                if weights.handles(&images.size()) && labels.kind() == Kind::Int64 && labels.size() == [images.size()[0]] {
                    return Ok(cnn::input_gradient(&weights, images, labels)?);
                }
            }
        }
        self.autograd_input_gradient(images, labels)
    }

    /// [`Network::input_gradient`] through autograd, for every model.
    pub fn autograd_input_gradient(&self, images: &Tensor, labels: &Tensor) -> Result<Tensor, ModelError> {
        let x = images.f_detach()?.set_requires_grad(true);
        let logits = self.forward(&x, false)?;
        let loss = logits.f_cross_entropy_loss::<Tensor>(labels, None, Reduction::Sum, -100, 0.0)?;
        Ok(Tensor::f_run_backward(&[loss], &[&x], false, false)?.remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageShape;

    fn cnn(shape: ImageShape, channels_last: bool) -> Network {
        tch::manual_seed(21);
        let mut network = Network::builtin(Arch::Cnn, shape, 10, Device::Cpu);
        if channels_last {
            network.use_channels_last().unwrap();
        }
        network
    }

    fn assert_same_gradient(network: &Network, x: &Tensor, labels: &Tensor) {
        let weights = cnn::CnnWeights::from_variables(&network.variables().unwrap()).expect("a cnn's variables");
        assert!(weights.handles(&x.size()));
        let fused = cnn::input_gradient(&weights, x, labels).unwrap();
        assert!(fused.equal(&network.input_gradient(x, labels).unwrap()), "input_gradient takes the fused path");
        let autograd = network.autograd_input_gradient(x, labels).unwrap();
        assert_eq!(fused.size(), autograd.size());
        let scale = autograd.abs().max().double_value(&[]);
        let err = (&fused - &autograd).abs().max().double_value(&[]);
        assert!(scale > 0.0 && err <= 1e-5 * scale, "fused input gradient off by {err} of {scale}");
    }

    /// The scorer's network (channels-last) and the trainer's layout, on digits'
    /// and MNIST's image sizes, with several thread counts (rows split unevenly).
    #[test]
    fn the_fused_cnn_gradient_is_autograds() {
        for (side, rows) in [(8, 37), (28, 5)] {
            let shape = ImageShape { channels: 1, height: side, width: side };
            for channels_last in [true, false] {
                let network = cnn(shape, channels_last);
                let x = Tensor::randn([rows, 1, side as i64, side as i64], (Kind::Float, Device::Cpu));
                let labels = Tensor::randint(10, [rows], (Kind::Int64, Device::Cpu));
                for threads in [1, 2, 3] {
                    tch::set_num_threads(threads);
                    assert_same_gradient(&network, &x, &labels);
                }
            }
        }
    }

    /// The loops' portable build (for CPUs without AVX2 and FMA) is the same gradient.
    #[test]
    fn the_portable_build_of_the_loops_gives_the_same_gradient() {
        let shape = ImageShape { channels: 1, height: 8, width: 8 };
        let network = cnn(shape, true);
        let x = Tensor::randn([11, 1, 8, 8], (Kind::Float, Device::Cpu));
        let labels = Tensor::randint(10, [11], (Kind::Int64, Device::Cpu));
        kernels::portable_only(|| assert_same_gradient(&network, &x, &labels));
        let colour = cnn(ImageShape { channels: 3, height: 4, width: 6 }, true);
        let x = Tensor::randn([5, 3, 4, 6], (Kind::Float, Device::Cpu));
        kernels::portable_only(|| assert_same_gradient(&colour, &x, &labels.narrow(0, 0, 5)));
    }

    /// Colour images take the three-channel kernels; blank regions make max-pool
    /// windows tie, where the gradient must go to the first maximum, as libtorch's.
    #[test]
    fn colour_images_and_tied_pool_windows_match_autograd() {
        let shape = ImageShape { channels: 3, height: 6, width: 10 };
        let network = cnn(shape, true);
        let x = Tensor::randn([9, 3, 6, 10], (Kind::Float, Device::Cpu));
        let _ = x.narrow(0, 0, 4).narrow(3, 0, 6).zero_(); // blank left part of 4 images
        let labels = Tensor::randint(10, [9], (Kind::Int64, Device::Cpu));
        assert_same_gradient(&network, &x, &labels);
    }

    /// The convolutions visit nonzero values only: a conv1 that lets every value
    /// through and one that lets none through both give autograd's gradient.
    #[test]
    fn all_or_none_of_conv1s_outputs_alive_match_autograd() {
        let x = Tensor::rand([6, 1, 8, 8], (Kind::Float, Device::Cpu));
        let labels = Tensor::randint(10, [6], (Kind::Int64, Device::Cpu));
        for bias in [8.0, -8.0] {
            let network = cnn(ImageShape { channels: 1, height: 8, width: 8 }, true);
            let (_, conv1_bias) = network.variables().unwrap().into_iter().find(|(name, _)| name == "conv1.bias").expect("conv1.bias");
            let _ = tch::no_grad(|| conv1_bias.shallow_clone().fill_(bias));
            if bias > 0.0 {
                assert_same_gradient(&network, &x, &labels);
            } else {
                let fused = network.input_gradient(&x, &labels).unwrap();
                assert!(fused.equal(&network.autograd_input_gradient(&x, &labels).unwrap()) && fused.abs().max().double_value(&[]) == 0.0);
            }
        }
    }

    /// Odd sizes, other models and doubles go through autograd, with the same result.
    #[test]
    fn what_the_fused_path_does_not_cover_goes_through_autograd() {
        let shape = ImageShape { channels: 1, height: 7, width: 7 };
        let network = cnn(shape, true);
        let x = Tensor::randn([4, 1, 7, 7], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[1i64, 2, 3, 4]);
        let g = network.input_gradient(&x, &labels).unwrap();
        assert!(g.equal(&network.autograd_input_gradient(&x, &labels).unwrap()));
    }
}
