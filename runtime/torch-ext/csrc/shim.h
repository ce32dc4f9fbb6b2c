// Shared helpers of memscope's C++ shim: how errors cross into Rust.
//
// Every exported function is `extern "C"`, returns 0 on success and 1 on failure,
// and on failure stores a malloc'd message in `*error` (freed by `mste_error_free`).
// No C++ exception ever crosses into Rust.
#pragma once

#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace memscope {

// Stores `message` for the caller and returns the failure status.
inline int fail(char **error, const std::string &message) {
  if (error != nullptr) {
    *error = strdup(message.c_str());
  }
  return 1;
}

// Runs `body` (returning 0, or `fail(...)`), turning any exception into a failure
// with its message (libtorch errors without their C++ backtrace).
template <typename Body>
int guarded(char **error, Body &&body) {
  try {
    return body();
  } catch (const c10::Error &e) {
    return fail(error, e.what_without_backtrace());
  } catch (const std::exception &e) {
    return fail(error, e.what());
  } catch (...) {
    return fail(error, "unknown C++ exception");
  }
}

}  // namespace memscope

extern "C" {
// Frees a message stored by a failing shim function.
void mste_error_free(char *error);
}
