//! cuDNN's autotuner (`torch.backends.cudnn.benchmark`): each convolution shape tries
//! cuDNN's algorithms once and keeps the fastest. Whether it helps memscope's jobs is a
//! GPU measurement not yet made (`bench/gpu.sh` part 4 runs fp32 training with and
//! without it, beside PyTorch eager likewise), so it stays off, libtorch's default,
//! unless asked for; the default follows that measurement.

use tch::Device;

/// Set to `1`, a job on CUDA turns cuDNN's autotuner on (not with `deterministic`,
/// whose mode turns it off).
pub const CUDNN_BENCHMARK_ENV: &str = "MEMSCOPE_CUDNN_BENCHMARK";

/// Turns cuDNN's autotuner on for a job on CUDA when [`CUDNN_BENCHMARK_ENV`] asks and
/// the job is not `deterministic` (process-wide, as in PyTorch).
pub fn autotune_cudnn(device: Device, deterministic: bool) {
    let asked = std::env::var(CUDNN_BENCHMARK_ENV).is_ok_and(|v| v == "1");
    if asked && device != Device::Cpu {
        if deterministic {
            tracing::warn!("{CUDNN_BENCHMARK_ENV}=1 ignored: `deterministic = true` keeps cuDNN's autotuner off");
        } else {
            tch::Cuda::cudnn_set_benchmark(true);
            tracing::info!("cuDNN's autotuner is on ({CUDNN_BENCHMARK_ENV}=1)");
        }
    }
}
