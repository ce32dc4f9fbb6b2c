// tch 0.26's C++ glue (torch-sys's torch_api_generated.cpp, generated from libtorch 2.13)
// compiled against libtorch 2.11 for `make gpu-bundle` (scripts/gpu-bundle includes this
// header first in every C++ file of that build with `-include`). The glue wraps every
// ATen function of 2.13; these are the ones 2.11 lacks, or declares with other arguments,
// and without them the glue does not compile (BENCHMARKS.md "The GPU folder"). memscope
// calls none of them; a program that did would get this error, never another function.
#pragma once

#include <stdexcept>
#include <tuple>
#include <torch/types.h> // at::Tensor; `namespace torch { using namespace at; }`

namespace torch {

/// The error every function below throws (tch's glue returns it as a Rust error).
[[noreturn]] inline void memscope_not_in_libtorch_2_11(const char* name) {
  throw std::runtime_error(std::string(name) + " is not in libtorch 2.11 (this memscope was built by make gpu-bundle)");
}

#define MEMSCOPE_NOT_IN_2_11(Result, name)                         \
  template <typename... Args>                                      \
  Result name(Args&&...) {                                         \
    memscope_not_in_libtorch_2_11(#name);                          \
  }

MEMSCOPE_NOT_IN_2_11(at::Tensor, _flash_attention_forward_no_dropout_inplace)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_key_fold_in)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_key_split)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_normal)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_normal_)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_normal_out)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_uniform)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_uniform_)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _philox_uniform_out)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _upsample_lanczos2d_aa)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _upsample_lanczos2d_aa_out)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _upsample_lanczos2d_aa_backward)
MEMSCOPE_NOT_IN_2_11(at::Tensor, _upsample_lanczos2d_aa_backward_out)
// 2.11 has it with 8 arguments; 2.13 added `enable_gqa`. Declared here, it hides 2.11's
// for `torch::` calls, which only the glue makes.
using MemscopeTensorPair = std::tuple<at::Tensor, at::Tensor>;
MEMSCOPE_NOT_IN_2_11(MemscopeTensorPair, _scaled_dot_product_attention_math_for_mps)

#undef MEMSCOPE_NOT_IN_2_11

} // namespace torch
