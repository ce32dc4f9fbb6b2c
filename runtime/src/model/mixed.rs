//! The training step's precision (`train.precision`): autocast around the forward pass
//! and the loss, the parameters and optimizer state staying float32 (fp32 master
//! weights), and for float16 a dynamic loss scaler, as `torch.amp.GradScaler` (its
//! defaults: a scale of 2^16, halved when a step's gradients overflow, that step
//! skipped, and doubled after 2000 steps without overflow).

use super::ModelError;
use crate::config::Precision;
use memscope_torch_ext::{Autocast, AutocastDtype};
use tch::{Device, Kind, Tensor};

/// The loss scale a float16 run starts from.
const INITIAL_SCALE: f64 = 65536.0;
/// Steps without overflow after which the scale doubles.
const GROWTH_INTERVAL: usize = 2000;

/// Whether `precision` can run on `device`: float16 autocast with a loss scaler is for
/// CUDA. The message, when not, says what to use instead.
pub fn check_precision(precision: Precision, device: Device) -> Result<(), String> {
    match (precision, device) {
        (Precision::Fp16Mixed, Device::Cuda(_)) | (Precision::Full | Precision::Bf16Mixed, _) => Ok(()),
        (Precision::Fp16Mixed, other) => Err(format!(
            "\"fp16-mixed\" runs on CUDA only (float16 kernels with a loss scaler), and this job runs on {}: use \"bf16-mixed\" or \"32\"",
            format!("{other:?}").to_lowercase()
        )),
    }
}

/// A job's training precision on its device.
#[derive(Debug)]
pub struct MixedPrecision {
    device: Device,
    /// What autocast runs eligible ops in; `None` for float32.
    dtype: Option<AutocastDtype>,
    /// float16 only.
    scaler: Option<LossScaler>,
}

impl MixedPrecision {
    /// `precision` on `device` (see [`check_precision`]).
    pub fn new(precision: Precision, device: Device) -> Result<Self, String> {
        check_precision(precision, device)?;
        let (dtype, scaler) = match precision {
            Precision::Full => (None, None),
            Precision::Bf16Mixed => (Some(AutocastDtype::BFloat16), None),
            Precision::Fp16Mixed => (Some(AutocastDtype::Half), Some(LossScaler { scale: INITIAL_SCALE, good_steps: 0 })),
        };
        Ok(MixedPrecision { device, dtype, scaler })
    }

    /// Autocast until the guard is dropped (none for float32): around the forward pass
    /// and the loss, not the backward pass.
    pub fn autocast(&self) -> Result<Option<Autocast>, ModelError> {
        Ok(self.dtype.map(|dtype| Autocast::enter(self.device, dtype)).transpose()?)
    }

    /// What the loss is multiplied by before the backward pass (float16 only).
    pub fn loss_scale(&self) -> Option<f64> {
        self.scaler.as_ref().map(|s| s.scale)
    }

    /// The flat gradient of a scaled loss divided by the scale, or `None` when it
    /// overflowed (then the step is skipped and the scale halved). Without a scaler,
    /// `grad` as it is.
    pub fn unscale(&mut self, grad: Tensor) -> Result<Option<Tensor>, ModelError> {
        let Some(scaler) = &mut self.scaler else { return Ok(Some(grad)) };
        let grad = grad.f_div_scalar(scaler.scale)?;
        let finite = grad.f_isfinite()?.f_all()?.f_to_kind(Kind::Bool)?.f_int64_value(&[])? != 0;
        if finite {
            scaler.good_steps += 1;
            if scaler.good_steps == GROWTH_INTERVAL {
                scaler.scale *= 2.0;
                scaler.good_steps = 0;
            }
            Ok(Some(grad))
        } else {
            scaler.scale /= 2.0;
            scaler.good_steps = 0;
            tracing::debug!("float16 gradients overflowed: step skipped, loss scale now {}", scaler.scale);
            Ok(None)
        }
    }
}

/// `torch.amp.GradScaler`'s state.
#[derive(Debug)]
struct LossScaler {
    scale: f64,
    good_steps: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float16_is_refused_off_cuda_and_bfloat16_is_not() {
        let error = check_precision(Precision::Fp16Mixed, Device::Cpu).unwrap_err();
        assert_eq!(
            error,
            "\"fp16-mixed\" runs on CUDA only (float16 kernels with a loss scaler), and this job runs on cpu: use \"bf16-mixed\" or \"32\""
        );
        assert!(check_precision(Precision::Fp16Mixed, Device::Cuda(0)).is_ok());
        assert!(check_precision(Precision::Bf16Mixed, Device::Cpu).is_ok());
    }

    /// The scaler's arithmetic, on the CPU: an overflowing gradient skips the step and
    /// halves the scale; a finite one comes back divided by the scale.
    #[test]
    fn the_loss_scaler_skips_an_overflowing_step_and_halves_its_scale() {
        let mut mixed = MixedPrecision { device: Device::Cpu, dtype: None, scaler: Some(LossScaler { scale: 8.0, good_steps: 0 }) };
        assert!(mixed.unscale(Tensor::from_slice(&[1.0f32, f32::INFINITY])).unwrap().is_none());
        assert_eq!(mixed.loss_scale(), Some(4.0));
        let grad = mixed.unscale(Tensor::from_slice(&[4.0f32, -2.0])).unwrap().unwrap();
        assert_eq!(Vec::<f32>::try_from(&grad).unwrap(), [1.0, -0.5]);
        assert_eq!(mixed.loss_scale(), Some(4.0));
    }
}
