//! SGD (momentum, Nesterov, weight decay) and Adam, written over tensors so that their
//! state can be checkpointed and restored exactly (tch's optimizers do not expose it).
//! The update rules are those of `torch.optim.SGD` and `torch.optim.Adam`.

use super::ModelError;
use crate::config::{OptimizerKind, TrainConfig};
use tch::Tensor;

const ADAM_BETAS: (f64, f64) = (0.9, 0.999);
const ADAM_EPS: f64 = 1e-8;

/// An optimizer over a fixed list of parameters.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    params: Vec<Tensor>,
    /// SGD: the momentum buffer of parameter i at slot i. Adam: first and second
    /// moments of parameter i at slots 2i and 2i+1. `None` until the first step.
    slots: Vec<Option<Tensor>>,
    steps: i64,
}

impl Optimizer {
    /// An optimizer for `params` configured by `train`.
    pub fn new(train: &TrainConfig, params: Vec<Tensor>) -> Self {
        let slots_per_param = match train.optimizer {
            OptimizerKind::Sgd => 1,
            OptimizerKind::Adam => 2,
        };
        Optimizer {
            kind: train.optimizer,
            momentum: train.momentum,
            nesterov: train.nesterov,
            weight_decay: train.weight_decay,
            slots: (0..params.len() * slots_per_param).map(|_| None).collect(),
            params,
            steps: 0,
        }
    }

    /// Clears the gradients of all parameters.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the current gradients.
    pub fn step(&mut self, lr: f64) -> Result<(), ModelError> {
        self.steps += 1;
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let grad = self.params[i].grad();
                if !grad.defined() {
                    continue;
                }
                let grad = if self.weight_decay != 0.0 {
                    grad.f_add(&self.params[i].f_mul_scalar(self.weight_decay)?)?
                } else {
                    grad
                };
                match self.kind {
                    OptimizerKind::Sgd => self.sgd(i, grad, lr)?,
                    OptimizerKind::Adam => self.adam(i, grad, lr)?,
                }
            }
            Ok(())
        })
    }

    fn sgd(&mut self, i: usize, grad: Tensor, lr: f64) -> Result<(), ModelError> {
        let update = if self.momentum != 0.0 {
            let buf = match &mut self.slots[i] {
                Some(buf) => {
                    let _ = buf.f_mul_scalar_(self.momentum)?;
                    let _ = buf.f_add_(&grad)?;
                    buf.shallow_clone()
                }
                slot @ None => slot.insert(grad.detach().copy()).shallow_clone(),
            };
            if self.nesterov {
                grad.f_add(&buf.f_mul_scalar(self.momentum)?)?
            } else {
                buf
            }
        } else {
            grad
        };
        let _ = self.params[i].f_sub_(&update.f_mul_scalar(lr)?)?;
        Ok(())
    }

    fn adam(&mut self, i: usize, grad: Tensor, lr: f64) -> Result<(), ModelError> {
        let (b1, b2) = ADAM_BETAS;
        let m = self.slots[2 * i].get_or_insert_with(|| grad.zeros_like()).shallow_clone();
        let v = self.slots[2 * i + 1].get_or_insert_with(|| grad.zeros_like()).shallow_clone();
        let (mut m, mut v) = (m, v);
        let _ = m.f_mul_scalar_(b1)?;
        let _ = m.f_add_(&grad.f_mul_scalar(1.0 - b1)?)?;
        let _ = v.f_mul_scalar_(b2)?;
        let _ = v.f_add_(&grad.f_mul(&grad)?.f_mul_scalar(1.0 - b2)?)?;
        let t = self.steps as i32;
        let step_size = lr / (1.0 - b1.powi(t));
        let denom = v.f_div_scalar(1.0 - b2.powi(t))?.f_sqrt()?.f_add_scalar(ADAM_EPS)?;
        let _ = self.params[i].f_sub_(&m.f_div(&denom)?.f_mul_scalar(step_size)?)?;
        Ok(())
    }

    /// The state to checkpoint: named tensors (steps as a scalar tensor).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = vec![("steps".to_string(), Tensor::from(self.steps))];
        for (j, slot) in self.slots.iter().enumerate() {
            if let Some(t) = slot {
                state.push((format!("slot{j}"), t.shallow_clone()));
            }
        }
        state
    }

    /// Restores a state written by [`Optimizer::state`].
    pub fn restore(&mut self, state: Vec<(String, Tensor)>) -> Result<(), ModelError> {
        let device = self.params.first().map(|p| p.device()).unwrap_or(tch::Device::Cpu);
        for (name, tensor) in state {
            if name == "steps" {
                self.steps = tensor.f_int64_value(&[])?;
            } else if let Some(j) = name.strip_prefix("slot").and_then(|j| j.parse::<usize>().ok()) {
                let slot = self.slots.get_mut(j).ok_or_else(|| {
                    tch::TchError::Convert(format!("optimizer state slot {j} does not exist for this model"))
                })?;
                *slot = Some(tensor.f_to_device(device)?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Reduction};

    /// Minimizes (p - 3)^2 from 0: every optimizer variant must get close to 3.
    fn converge(train: TrainConfig, lr: f64, steps: usize) -> f64 {
        let p = Tensor::zeros([1], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
        let mut opt = Optimizer::new(&train, vec![p.shallow_clone()]);
        let target = Tensor::from_slice(&[3.0f64]);
        for _ in 0..steps {
            opt.zero_grad();
            p.mse_loss(&target, Reduction::Sum).backward();
            opt.step(lr).unwrap();
        }
        p.double_value(&[0])
    }

    #[test]
    fn sgd_variants_and_adam_converge() {
        let sgd = TrainConfig { momentum: 0.0, ..Default::default() };
        assert!((converge(sgd, 0.1, 100) - 3.0).abs() < 1e-6);
        let mom = TrainConfig { momentum: 0.9, ..Default::default() };
        assert!((converge(mom, 0.05, 300) - 3.0).abs() < 1e-4);
        let nesterov = TrainConfig { momentum: 0.9, nesterov: true, ..Default::default() };
        assert!((converge(nesterov, 0.05, 300) - 3.0).abs() < 1e-4);
        let adam = TrainConfig { optimizer: OptimizerKind::Adam, ..Default::default() };
        assert!((converge(adam, 0.1, 500) - 3.0).abs() < 1e-2);
    }

    #[test]
    fn first_momentum_step_equals_plain_sgd_as_in_torch() {
        // torch.optim.SGD initialises the buffer with the first gradient (no damping).
        let p = Tensor::from_slice(&[1.0f64]).set_requires_grad(true);
        let mut opt = Optimizer::new(&TrainConfig { momentum: 0.9, ..Default::default() }, vec![p.shallow_clone()]);
        (&p * &p).sum(Kind::Double).backward(); // grad 2
        opt.step(0.1).unwrap();
        assert!((p.double_value(&[0]) - 0.8).abs() < 1e-12);
        opt.zero_grad();
        (&p * &p).sum(Kind::Double).backward(); // grad 1.6, buf = 0.9*2 + 1.6 = 3.4
        opt.step(0.1).unwrap();
        assert!((p.double_value(&[0]) - 0.46).abs() < 1e-12);
    }
}
