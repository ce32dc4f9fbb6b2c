// TorchScript modules for training: load, forward, train/eval, and their parameters
// and buffers as tensors that share storage with the module (an optimizer update or a
// copy_ into them changes the module). Tensors cross as libtorch handles
// (`torch::Tensor *`, what tch's `C_tensor` points to): a returned handle is new and
// owned by the caller (tch `Tensor::from_ptr`); an argument handle is borrowed.

#include "shim.h"

#include <torch/script.h>

#include <string>
#include <vector>

using memscope::fail;
using memscope::guarded;
using Module = torch::jit::Module;

namespace {

// tch's device numbering: -1 CPU, -2 MPS, i >= 0 CUDA device i.
c10::Device device_of_int(int d) {
  if (d == -2) return c10::Device(c10::kMPS);
  if (d < 0) return c10::Device(c10::kCPU);
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(d));
}

}  // namespace

extern "C" {

void mste_error_free(char *error) { free(error); }

// Loads the TorchScript module at `path` onto `device` (tch's numbering).
int mste_script_load(const char *path, int device, Module **out, char **error) {
  return guarded(error, [&] {
    auto module = torch::jit::load(std::string(path), device_of_int(device));
    if (!module.find_method("forward")) {
      return fail(error, "the module has no `forward` method");
    }
    *out = new Module(std::move(module));
    return 0;
  });
}

void mste_script_free(Module *module) { delete module; }

// `module.forward(input)`, which must return one tensor.
int mste_script_forward(Module *module, const torch::Tensor *input, torch::Tensor **out, char **error) {
  return guarded(error, [&] {
    std::vector<torch::jit::IValue> inputs{*input};
    auto output = module->forward(std::move(inputs));
    if (!output.isTensor()) {
      return fail(error, "forward returned a " + output.tagKind() + ", not a tensor");
    }
    *out = new torch::Tensor(output.toTensor());
    return 0;
  });
}

// `module.train(on)`: sets the training flag of the module and every submodule.
int mste_script_train(Module *module, bool on, char **error) {
  return guarded(error, [&] {
    module->train(on);
    return 0;
  });
}

// Calls `each(ctx, name, tensor)` for every parameter (`buffers` false) or buffer
// (`buffers` true) of the module and its submodules, in registration order, with
// dotted names. Each tensor is a new handle on the module's own tensor, which `each`
// then owns.
int mste_script_named_tensors(Module *module, bool buffers, void *ctx,
                              void (*each)(void *, const char *, torch::Tensor *), char **error) {
  return guarded(error, [&] {
    if (buffers) {
      for (const auto &item : module->named_buffers(/*recurse=*/true)) {
        each(ctx, item.name.c_str(), new torch::Tensor(item.value));
      }
    } else {
      for (const auto &item : module->named_parameters(/*recurse=*/true)) {
        each(ctx, item.name.c_str(), new torch::Tensor(item.value));
      }
    }
    return 0;
  });
}

}  // extern "C"
