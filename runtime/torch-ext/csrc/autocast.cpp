// Autocast (automatic mixed precision) around a forward pass, as
// `with torch.autocast(device_type, dtype)`: eligible ops (convolutions, matrix
// products) run in the lower precision, the rest (losses, reductions) in float32, and
// the parameters stay float32. tch's own `autocast` only knows CUDA and float16.

#include "shim.h"

#include <ATen/autocast_mode.h>

using memscope::guarded;

extern "C" {

// Turns autocast on for `device_type` (a c10::DeviceType) with `dtype` (a
// c10::ScalarType), storing the previous switch and dtype for `mste_autocast_exit`.
int mste_autocast_enter(int device_type, int dtype, bool *prev_enabled, int *prev_dtype, char **error) {
  return guarded(error, [&] {
    auto device = static_cast<c10::DeviceType>(device_type);
    *prev_enabled = at::autocast::is_autocast_enabled(device);
    *prev_dtype = static_cast<int>(at::autocast::get_autocast_dtype(device));
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(dtype));
    at::autocast::increment_nesting();
    return 0;
  });
}

// Leaves the autocast region `mste_autocast_enter` opened: the switch and dtype as
// they were, and the cache of casted weights cleared when the outermost region ends
// (the weights change at the next optimizer step).
int mste_autocast_exit(int device_type, bool prev_enabled, int prev_dtype, char **error) {
  return guarded(error, [&] {
    auto device = static_cast<c10::DeviceType>(device_type);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(device, prev_enabled);
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(prev_dtype));
    return 0;
  });
}

}  // extern "C"
