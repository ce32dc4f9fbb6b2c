//! Autocast (automatic mixed precision) for a region of code, on the CPU or CUDA, in
//! bfloat16 or float16: tch's own `autocast` only knows CUDA and float16.

use crate::{ffi, ExtError};
use tch::Device;

/// The precision autocast runs eligible ops in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutocastDtype {
    /// bfloat16: float32's range, 8 bits of mantissa; needs no loss scaling.
    BFloat16,
    /// float16: 11 bits of mantissa but a small range; gradients need loss scaling.
    Half,
}

impl AutocastDtype {
    /// Its `c10::ScalarType`.
    fn scalar_type(self) -> i32 {
        match self {
            AutocastDtype::Half => 5,
            AutocastDtype::BFloat16 => 15,
        }
    }
}

/// Autocast is on for the guard's device until it is dropped (then as it was before).
/// Use it on one thread: libtorch's autocast state is per thread.
#[derive(Debug)]
pub struct Autocast {
    device_type: i32,
    prev_enabled: bool,
    prev_dtype: i32,
}

impl Autocast {
    /// Turns autocast on for `device`'s type (CPU or CUDA) with `dtype`.
    pub fn enter(device: Device, dtype: AutocastDtype) -> Result<Autocast, ExtError> {
        // c10::DeviceType: CPU 0, CUDA 1.
        let device_type = match device {
            Device::Cuda(_) => 1,
            _ => 0,
        };
        let (mut prev_enabled, mut prev_dtype) = (false, 0);
        // SAFETY: the shim sets libtorch's thread-local autocast state, writing the
        // previous one into the two locals.
        ffi::call("autocast", |error| unsafe {
            ffi::mste_autocast_enter(device_type, dtype.scalar_type(), &mut prev_enabled, &mut prev_dtype, error)
        })?;
        Ok(Autocast { device_type, prev_enabled, prev_dtype })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: restores the thread-local state `enter` saved.
        let restored =
            ffi::call("autocast", |error| unsafe { ffi::mste_autocast_exit(self.device_type, self.prev_enabled, self.prev_dtype, error) });
        // The calls only set thread-local flags; a failure would be a libtorch bug,
        // with nothing a drop could do about it.
        debug_assert!(restored.is_ok(), "leaving autocast: {restored:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// Inside the guard a matrix product on the CPU runs in bfloat16, after it in
    /// float32 again.
    #[test]
    fn a_matrix_product_runs_in_bfloat16_inside_the_guard_only() {
        let a = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
        {
            let _guard = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
            assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
        }
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
    }
}
