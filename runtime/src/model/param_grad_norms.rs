//! Per-sample gradient norms with respect to the parameters (GraNd, Paul et al. 2021):
//! what the `parameter_gradient_norms` host callback computes for a scorer plugin.

use super::{ModelError, Network};
use tch::{Kind, Reduction, Tensor};

impl Network {
    /// Per row of `images`, `|| d CE(f(x), y) / d theta ||_2` over every trainable
    /// parameter, in eval mode: `float32 [B]`. One forward and backward pass per row
    /// (libtorch has no per-sample gradients of a general module), summed on the
    /// device and read once.
    pub fn parameter_gradient_norms(&self, images: &Tensor, labels: &Tensor) -> Result<Tensor, ModelError> {
        let parameters = self.parameters()?;
        let rows = images.size().first().copied().unwrap_or(0);
        let mut squared = Vec::with_capacity(rows as usize);
        for row in 0..rows {
            let (x, y) = (images.f_narrow(0, row, 1)?, labels.f_narrow(0, row, 1)?);
            let loss = self.forward(&x, false)?.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0)?;
            let gradients = Tensor::f_run_backward(&[loss], &parameters, false, false)?;
            let mut sum = Tensor::zeros([], (Kind::Double, images.device()));
            // A parameter the loss does not reach has an undefined gradient: it adds 0.
            for g in gradients.iter().filter(|g| g.defined()) {
                sum += g.f_square()?.f_sum(Kind::Double)?;
            }
            squared.push(sum);
        }
        if squared.is_empty() {
            return Ok(Tensor::zeros([0], (Kind::Float, images.device())));
        }
        Ok(Tensor::f_stack(&squared, 0)?.f_sqrt()?.f_to_kind(Kind::Float)?)
    }
}

#[cfg(test)]
mod tests {
    use crate::data::ImageShape;
    use crate::model::{CustomModel, ModelSource, Network};
    use tch::{nn, Device, Tensor};

    #[test]
    fn the_norms_of_a_linear_softmax_model_are_the_hand_computed_ones() {
        // Logits W x + b: the gradient is (p - y) x^T for W and p - y for b, so its
        // norm is ||p - y|| * sqrt(||x||^2 + 1).
        let shape = ImageShape { channels: 1, height: 1, width: 2 };
        let linear = CustomModel::new("linear", |p: &nn::Path, _shape, classes| {
            nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(p / "fc", 2, classes as i64, Default::default()))
        });
        let mut network = Network::build(&ModelSource::Custom(linear), shape, 3, Device::Cpu).unwrap();
        let (w, b) = ([0.5f32, -1.0, 2.0, 0.0, -0.5, 1.5], [0.1f32, 0.0, -0.2]);
        let values = vec![("fc.weight".to_string(), Tensor::from_slice(&w).view([3, 2])), ("fc.bias".to_string(), Tensor::from_slice(&b))];
        network.load_variables(&values, "test").unwrap();
        let xs = [[1.0f32, 2.0], [-1.0, 0.5], [0.0, 0.0]];
        let labels = [2i64, 0, 1];
        let images = Tensor::from_slice(xs.as_flattened()).view([3, 1, 1, 2]);
        let norms = Vec::<f32>::try_from(&network.parameter_gradient_norms(&images, &Tensor::from_slice(&labels)).unwrap()).unwrap();

        for (i, x) in xs.iter().enumerate() {
            let logits: Vec<f64> = (0..3).map(|c| (w[2 * c] * x[0] + w[2 * c + 1] * x[1] + b[c]) as f64).collect();
            let z: f64 = logits.iter().map(|l| l.exp()).sum();
            let p_minus_y: f64 = (0..3).map(|c| (logits[c].exp() / z - (c as i64 == labels[i]) as i32 as f64).powi(2)).sum::<f64>().sqrt();
            let expected = p_minus_y * ((x[0] * x[0] + x[1] * x[1]) as f64 + 1.0).sqrt();
            assert!((norms[i] as f64 - expected).abs() < 1e-5, "row {i}: {} vs {expected}", norms[i]);
        }
        // Row 2 has x = 0: only the bias gradient, ||p - y|| itself.
        assert!(norms[2] > 0.0);
    }
}
