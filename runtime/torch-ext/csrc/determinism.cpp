// Deterministic algorithms, process-wide, as `torch.use_deterministic_algorithms(True)`
// with cuDNN's deterministic mode and without cuDNN's autotuner. On CUDA, cuDNN's and
// cuBLAS's fastest kernels reduce in an order that changes from run to run, so two runs
// of one job drift apart; with these settings they do not. The CPU paths memscope uses
// are deterministic either way.

#include "shim.h"

#include <ATen/Context.h>

#include <cstdlib>

using memscope::guarded;

extern "C" {

// Turns deterministic algorithms on or off. On, it also sets CUBLAS_WORKSPACE_CONFIG
// (unless already set), which cuBLAS reads when its first handle is created: it must
// run before any CUDA work.
int mste_set_deterministic(bool on, char **error) {
  return guarded(error, [&] {
    if (on) {
      setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    }
    at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(on);
    if (on) {
      at::globalContext().setBenchmarkCuDNN(false);
    }
    return 0;
  });
}

// Whether deterministic algorithms are on (both the general and the cuDNN switch).
bool mste_deterministic() {
  return at::globalContext().deterministicAlgorithms() && at::globalContext().deterministicCuDNN();
}

}  // extern "C"
