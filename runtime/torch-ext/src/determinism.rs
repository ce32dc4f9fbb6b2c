//! Deterministic algorithms for the whole process (libtorch's global context), for jobs
//! that must give the same scores on every run on CUDA too.

use crate::{ffi, ExtError};

/// Turns libtorch's deterministic algorithms and cuDNN's deterministic mode on (and
/// cuDNN's autotuner off), or both switches off. Process-wide, as in PyTorch; call it
/// before any CUDA work, since cuBLAS reads its workspace setting once.
pub fn set_deterministic(on: bool) -> Result<(), ExtError> {
    // SAFETY: the shim only sets libtorch's global flags and one environment variable.
    ffi::call("set_deterministic", |error| unsafe { ffi::mste_set_deterministic(on, error) })
}

/// Whether deterministic algorithms are on.
pub fn deterministic() -> bool {
    // SAFETY: reads two of libtorch's global flags.
    unsafe { ffi::mste_deterministic() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_reaches_libtorch_and_back() {
        assert!(!deterministic(), "off by default");
        set_deterministic(true).unwrap();
        assert!(deterministic());
        assert_eq!(std::env::var("CUBLAS_WORKSPACE_CONFIG").as_deref(), Ok(":4096:8"));
        // A convolution's backward runs under it on the CPU.
        let x = tch::Tensor::randn([2, 1, 5, 5], (tch::Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let w = tch::Tensor::randn([3, 1, 3, 3], (tch::Kind::Float, tch::Device::Cpu));
        x.conv2d(&w, None::<tch::Tensor>, [1], [1], [1], 1).sum(tch::Kind::Float).backward();
        assert_eq!(x.grad().size(), [2, 1, 5, 5]);
        set_deterministic(false).unwrap();
        assert!(!deterministic());
    }
}
