// libtorch's profiler (Kineto, what `torch.profiler.profile` drives), around a stretch
// of work on the calling thread: every ATen operator it runs, with its input shapes,
// and on CUDA the kernels they launch (through CUPTI), saved as a Chrome trace
// (chrome://tracing, Perfetto, or `bench/profile_summary.py`). Operators called from a
// plugin library count too: they run through the same libtorch.

#include "shim.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <set>
#include <string>

using memscope::guarded;

namespace {

std::set<torch::profiler::impl::ActivityType> activities(bool cuda) {
  std::set<torch::profiler::impl::ActivityType> set{torch::profiler::impl::ActivityType::CPU};
  if (cuda) {
    set.insert(torch::profiler::impl::ActivityType::CUDA);
  }
  return set;
}

torch::profiler::impl::ProfilerConfig config() {
  return torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::KINETO, /*report_input_shapes=*/true);
}

}  // namespace

extern "C" {

// Starts profiling the calling thread's operators (and, with `cuda`, the CUDA kernels).
int mste_profiler_start(bool cuda, char **error) {
  return guarded(error, [&] {
    torch::autograd::profiler::prepareProfiler(config(), activities(cuda));
    torch::autograd::profiler::enableProfiler(config(), activities(cuda));
    return 0;
  });
}

// Stops the profiler `mste_profiler_start` started and saves its trace at `path`;
// returns the number of events in `*events`.
int mste_profiler_stop(const char *path, long *events, char **error) {
  return guarded(error, [&] {
    auto result = torch::autograd::profiler::disableProfiler();
    *events = static_cast<long>(result->events().size());
    result->save(std::string(path));
    return 0;
  });
}

}  // extern "C"
