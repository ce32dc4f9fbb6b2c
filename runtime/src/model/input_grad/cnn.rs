//! The `cnn`'s input gradient without autograd: the forward pass keeps what the
//! backward needs (conv1's output, the pool's winners, fc1's output). The linear
//! layers run in libtorch, the convolutions, pool and ReLUs in hand-written loops
//! ([`super::kernels`], [`super::conv2`]).

use super::conv2::{conv2_conv1_backward, conv2_pool_relu, BackwardInput};
use super::kernels::{self, Dims, CONV1, CONV2};
use tch::{Device, Kind, Tensor};

/// The cnn's variables (shallow handles), as `zoo::build` names them.
pub struct CnnWeights {
    conv1_weight: Tensor,
    conv1_bias: Tensor,
    conv2_weight: Tensor,
    conv2_bias: Tensor,
    fc1_weight: Tensor,
    fc1_bias: Tensor,
    fc2_weight: Tensor,
    fc2_bias: Tensor,
}

impl CnnWeights {
    /// Picks the cnn's variables out of a network's; `None` when one is missing or
    /// not a float tensor on the CPU (the convolutions' weights are made contiguous:
    /// the scorer's network keeps them channels-last).
    pub fn from_variables(variables: &[(String, Tensor)]) -> Option<CnnWeights> {
        let get = |name: &str| variables.iter().find(|(n, _)| n == name).map(|(_, t)| t.shallow_clone());
        let weights = CnnWeights {
            conv1_weight: get("conv1.weight")?.contiguous(),
            conv1_bias: get("conv1.bias")?,
            conv2_weight: get("conv2.weight")?.contiguous(),
            conv2_bias: get("conv2.bias")?.contiguous(),
            fc1_weight: get("fc1.weight")?,
            fc1_bias: get("fc1.bias")?,
            fc2_weight: get("fc2.weight")?,
            fc2_bias: get("fc2.bias")?,
        };
        let all = [
            &weights.conv1_weight,
            &weights.conv1_bias,
            &weights.conv2_weight,
            &weights.conv2_bias,
            &weights.fc1_weight,
            &weights.fc1_bias,
            &weights.fc2_weight,
            &weights.fc2_bias,
        ];
        let usable = all.iter().all(|t| t.kind() == Kind::Float && t.device() == Device::Cpu)
            && weights.conv1_bias.is_contiguous()
            && weights.conv1_weight.size()[0] == CONV1 as i64
            && weights.conv2_weight.size()[..2] == [CONV2 as i64, CONV1 as i64];
        usable.then_some(weights)
    }

    /// Whether the fused path handles inputs of this shape: the kernels cover 1 to 3
    /// input channels, and the pool needs an even height and width.
    pub fn handles(&self, input: &[i64]) -> bool {
        matches!(input, [_, c, h, w] if *c == self.conv1_weight.size()[1] && (1..=3).contains(c) && h % 2 == 0 && w % 2 == 0 && *h > 0 && *w > 0)
    }
}

/// Gradient with respect to `x` (`[R, C, H, W]`, float, CPU) of the summed
/// cross-entropy of the cnn's logits against `labels` (`[R]`, int64): the same
/// values autograd gives (up to float rounding), NCHW contiguous.
pub fn input_gradient(weights: &CnnWeights, x: &Tensor, labels: &Tensor) -> Result<Tensor, tch::TchError> {
    tch::no_grad(|| {
        let size = x.size();
        let (rows, dims) = (size[0], Dims { c: size[1] as usize, h: size[2] as usize, w: size[3] as usize });
        let (h, w) = (size[2], size[3]);
        let threads = tch::get_num_threads().max(1) as usize;
        let x = x.f_contiguous()?;

        // Forward, keeping conv1's output, the pool's winners and fc1's output.
        let mut r1 = Tensor::f_empty([rows, h, w, CONV1 as i64], (Kind::Float, Device::Cpu))?;
        kernels::conv1_relu(floats(&x), dims, floats(&weights.conv1_weight), floats(&weights.conv1_bias), floats_mut(&mut r1), threads);
        let pooled = (h / 2) * (w / 2) * CONV2 as i64;
        let mut features = Tensor::f_empty([rows, pooled], (Kind::Float, Device::Cpu))?;
        let mut winner = vec![0u8; (rows * pooled) as usize];
        let conv2_weight = floats(&weights.conv2_weight);
        conv2_pool_relu(floats(&r1), dims, conv2_weight, floats(&weights.conv2_bias), floats_mut(&mut features), &mut winner, threads);
        // fc1's columns in the features' NHWC order.
        let fc1_weight = weights.fc1_weight.f_view([-1, CONV2 as i64, h / 2, w / 2])?.f_permute([0, 2, 3, 1])?.f_reshape([-1, pooled])?;
        let hidden = weights.fc1_bias.f_addmm(&features, &fc1_weight.f_tr()?)?.f_relu()?;
        let logits = weights.fc2_bias.f_addmm(&hidden, &weights.fc2_weight.f_tr()?)?;

        // Backward of the summed cross-entropy: softmax minus the one-hot label.
        let classes = logits.size()[1];
        let d_logits = logits.f_softmax(1, Kind::Float)?.f_sub(&labels.f_one_hot(classes)?.f_to_kind(Kind::Float)?)?;
        let d_hidden = hidden.f_threshold_backward(&d_logits.f_mm(&weights.fc2_weight)?, 0.0)?;
        let d_features = d_hidden.f_mm(&fc1_weight)?.f_contiguous()?;
        let mut dx = Tensor::f_empty([rows, dims.c as i64, h, w], (Kind::Float, Device::Cpu))?;
        let input = BackwardInput {
            d_features: floats(&d_features),
            winner: &winner,
            r1: floats(&r1),
            dims,
            conv2_weight,
            conv1_weight: floats(&weights.conv1_weight),
        };
        conv2_conv1_backward(&input, floats_mut(&mut dx), threads);
        Ok(dx)
    })
}

/// The values of a contiguous float CPU tensor.
fn floats(t: &Tensor) -> &[f32] {
    assert!(t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous(), "floats: not a contiguous float CPU tensor");
    let n = t.numel();
    if n == 0 {
        return &[];
    }
    // SAFETY: a contiguous float tensor holds `numel` f32 values at `data_ptr`, alive
    // as long as the borrowed tensor.
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, n) }
}

/// The values of a contiguous float CPU tensor, to write.
fn floats_mut(t: &mut Tensor) -> &mut [f32] {
    assert!(t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous(), "floats_mut: not a contiguous float CPU tensor");
    let n = t.numel();
    if n == 0 {
        return &mut [];
    }
    // SAFETY: as in `floats`; the exclusive borrow of the handle stands for its
    // storage, which the fused path allocated itself and shares with no other handle.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, n) }
}
