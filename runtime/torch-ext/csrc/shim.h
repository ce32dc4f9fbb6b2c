// Shared helpers of memscope's C++ shim: how errors cross into Rust.
//
// Every exported function is `extern "C"`, returns 0 on success and 1 on failure,
// and on failure stores a malloc'd message in `*error` (freed by `mste_error_free`).
// No C++ exception ever crosses into Rust.
#pragma once

#include <c10/util/Exception.h>
#include <c10/util/Logging.h>

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

// Raises c10's log level while it lives, and restores it. libtorch logs a failed
// store call or rendezvous as a warning or error with its C++ backtrace; where the
// shim turns the failure into one error line of its own, those logs are noise. The
// level is global: a log line another thread writes in that window is lost too, so
// keep the window to calls whose failures the shim reports.
class QuietLog {
 public:
  static constexpr int kWarnings = 2;  // errors still show
  static constexpr int kAll = 3;       // fatal only
  explicit QuietLog(int level) : saved_(FLAGS_caffe2_log_level) {
    FLAGS_caffe2_log_level = saved_ > level ? saved_ : level;
  }
  ~QuietLog() { FLAGS_caffe2_log_level = saved_; }
  QuietLog(const QuietLog &) = delete;
  QuietLog &operator=(const QuietLog &) = delete;

 private:
  int saved_;
};

}  // namespace memscope

extern "C" {
// Frees a message stored by a failing shim function.
void mste_error_free(char *error);
}
