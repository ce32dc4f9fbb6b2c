// A CUDA stream of its own for the calling thread. libtorch's current stream is
// thread-local, and every thread starts on the device's default stream: a scorer
// thread's kernels would queue behind the trainer's there, and scoring would overlap
// training on the host only. From a stream of the pool (as `torch.cuda.Stream()`),
// its kernels run beside the trainer's. Tensors that cross between the two threads
// are synchronized by the callers (`mste_cuda_synchronize_current_stream`).

#include "shim.h"

#ifdef MEMSCOPE_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

using memscope::fail;
using memscope::guarded;

extern "C" {

// Makes a stream of libtorch's pool the calling thread's current stream on CUDA
// device `device`.
int mste_cuda_use_side_stream(int device, char **error) {
  return guarded(error, [&] {
#ifdef MEMSCOPE_WITH_CUDA
    auto stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, static_cast<c10::DeviceIndex>(device));
    c10::cuda::setCurrentCUDAStream(stream);
    return 0;
#else
    (void)device;
    return fail(error, "this build's libtorch has no CUDA");
#endif
  });
}

// Waits until the work queued so far on the calling thread's current stream of CUDA
// device `device` is done (that stream alone, not the device).
int mste_cuda_synchronize_current_stream(int device, char **error) {
  return guarded(error, [&] {
#ifdef MEMSCOPE_WITH_CUDA
    c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).synchronize();
    return 0;
#else
    (void)device;
    return fail(error, "this build's libtorch has no CUDA");
#endif
  });
}

}  // extern "C"
