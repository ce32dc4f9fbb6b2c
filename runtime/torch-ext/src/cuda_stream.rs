//! A CUDA stream of its own for a thread (see `csrc/cuda_stream.cpp`): libtorch's
//! current stream is per thread, and every thread starts on the device's default
//! stream, where a second thread's kernels queue behind the first's.

use crate::{ffi, ExtError};

/// Makes a stream of libtorch's pool the calling thread's current stream on CUDA
/// device `device`: its kernels then run beside those of threads on the default
/// stream. Tensors made on one stream and read on another need
/// [`synchronize_current_stream`] first, on the thread that made them.
pub fn use_side_stream(device: usize) -> Result<(), ExtError> {
    // SAFETY: the shim sets a thread-local of libtorch's; `error` is an out-parameter.
    ffi::call("CUDA stream", |error| unsafe { ffi::mste_cuda_use_side_stream(device as i32, error) })
}

/// Waits until the work queued so far on the calling thread's current stream of CUDA
/// device `device` is done (that stream only: other threads' streams go on).
pub fn synchronize_current_stream(device: usize) -> Result<(), ExtError> {
    // SAFETY: as above.
    ffi::call("CUDA stream", |error| unsafe { ffi::mste_cuda_synchronize_current_stream(device as i32, error) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine with a GPU the calls succeed; without one (CI) they fail with an
    /// error, never a crash.
    #[test]
    fn a_side_stream_is_taken_where_there_is_a_gpu_and_refused_cleanly_elsewhere() {
        if tch::Cuda::is_available() {
            std::thread::spawn(|| {
                use_side_stream(0).unwrap();
                let t = tch::Tensor::ones([1000], (tch::Kind::Float, tch::Device::Cuda(0)));
                synchronize_current_stream(0).unwrap();
                assert_eq!(t.sum(tch::Kind::Float).double_value(&[]), 1000.0);
            })
            .join()
            .unwrap();
        } else {
            let error = use_side_stream(0).unwrap_err();
            assert!(!error.to_string().is_empty());
            assert!(synchronize_current_stream(0).is_err());
        }
    }
}
