// c10d, PyTorch's own distributed engine: a TCPStore rendezvous and a process group
// (Gloo for CPU tensors, NCCL for CUDA tensors), with the four collectives memscope
// needs. Tensors cross as libtorch handles, borrowed for the call; collectives run in
// place on the caller's tensor. Every collective waits for its completion with the
// group's timeout, so a dead or unreachable peer ends in an error, never a hang.

#include "c10d.h"
#include "shim.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef MEMSCOPE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <algorithm>
#include <memory>
#include <thread>
#include <string>
#include <vector>

using memscope::guarded;

namespace {

// Gloo's transport device: the interface named by GLOO_SOCKET_IFNAME (as PyTorch
// does), else the address the host name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device() {
  const char *ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Waits for `work` with the group's timeout; a failed collective throws.
void finish(MsteGroup *group, const c10::intrusive_ptr<c10d::Work> &work) {
  try {
    if (!work->wait(group->timeout)) {
      throw std::runtime_error("the collective did not complete");
    }
  } catch (...) {
    group->failed->store(true);
    throw;
  }
}

// The key rank `r` sets in the store under `what` ("arrived", "gave_up").
std::string rank_key(const char *what, int r) { return std::string(what) + "/" + std::to_string(r); }

// "rank 2" or "ranks 1, 3".
std::string rank_names(const std::vector<int> &ranks) {
  std::string names = ranks.size() == 1 ? "rank " : "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    names += (i == 0 ? "" : ", ") + std::to_string(ranks[i]);
  }
  return names;
}

// Connects to (rank 0: serves) the TCPStore at `addr:port`; a store nobody serves is
// our error, naming who should serve it.
c10::intrusive_ptr<c10d::TCPStore> connect_store(const char *addr, int port, int rank, int world, bool serve_store,
                                                 std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = rank == 0 && serve_store;
  options.numWorkers = static_cast<std::size_t>(world);
  // The ranks wait for each other afterwards, on keys that say who came.
  options.waitWorkers = false;
  options.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(std::string(addr), options);
  } catch (const std::exception &) {
    if (options.isServer) {
      throw;  // cannot serve the port: libtorch's reason says why
    }
    throw std::runtime_error(serve_store ? "rank 0, which serves the store there, is not there"
                                         : "the launcher's store there does not answer");
  }
}

// After the wait for every rank's arrival timed out: rank 0, which serves the store,
// keeps it up until the ranks that came (and time out a little later, having come
// later) have read who is missing, 10 s at most; the others say they have read it.
void let_the_others_read(c10d::Store &store, int rank, int world, bool serves_store, std::chrono::milliseconds timeout) {
  if (!serves_store) {
    try {
      store.set(rank_key("gave_up", rank), std::vector<uint8_t>{1});
      store.check({rank_key("gave_up", rank)});  // a set is stored by the next answer
    } catch (const std::exception &) {
      // Rank 0 is gone already: nothing waits for this.
    }
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(10));
  auto read_by_all = [&] {
    for (int r = 1; r < world; ++r) {
      if (store.check({rank_key("arrived", r)}) && !store.check({rank_key("gave_up", r)})) {
        return false;
      }
    }
    return true;
  };
  while (!read_by_all() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Marks this rank's arrival under `store`'s keys and waits for every other's, so that
// a rank that never comes is named ("rank 2 never arrived"). `serves_store`: this rank
// serves the TCPStore (then it keeps it up a little after a timeout, for the others to
// read who is missing).
void arrive(c10d::Store &store, int rank, int world, bool serves_store, std::chrono::milliseconds timeout) {
  std::vector<std::string> arrived;
  for (int r = 0; r < world; ++r) {
    arrived.push_back(rank_key("arrived", r));
  }
  store.set(arrived[rank], std::vector<uint8_t>{1});
  try {
    store.wait(arrived, timeout);
  } catch (const std::exception &) {
    std::vector<int> missing;
    try {
      for (int r = 0; r < world; ++r) {
        if (!store.check({arrived[r]})) {
          missing.push_back(r);
        }
      }
    } catch (const std::exception &) {
      throw std::runtime_error("rank 0, which serves the store, gave up waiting first (its error names who never came)");
    }
    if (missing.empty()) {
      throw;
    }
    let_the_others_read(store, rank, world, serves_store, timeout);
    throw std::runtime_error(rank_names(missing) + " never arrived");
  }
}

// Meets the other ranks in the store at `addr:port`, under the keys `prefix` (see
// `arrive`). Failures are thrown as one error of ours; libtorch's own log lines about
// them (with C++ backtraces) would bury it.
c10::intrusive_ptr<c10d::Store> meet(const char *addr, int port, int rank, int world, bool serve_store,
                                     const char *prefix, std::chrono::milliseconds timeout) {
  memscope::QuietLog quiet(memscope::QuietLog::kAll);
  auto tcp = connect_store(addr, port, rank, world, serve_store, timeout);
  // One namespace per group (and incarnation), as torch.distributed's default group has.
  auto store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), tcp);
  arrive(*store, rank, world, rank == 0 && serve_store, timeout);
  return store;
}

// The group of `world` ranks over `store` (every rank has arrived): Gloo when
// `cuda_device` < 0, else NCCL on that CUDA device.
MsteGroup *make_group(c10::intrusive_ptr<c10d::Store> store, int rank, int world, int cuda_device, bool serves_store,
                      std::chrono::milliseconds timeout) {
  c10::intrusive_ptr<c10d::Backend> backend;
  // The front-end ProcessGroup over the backend: what c10d::Reducer talks to.
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world);
  if (cuda_device < 0) {
    auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    options->devices = {gloo_device()};
    backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, backend);
    group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
  } else {
#ifdef MEMSCOPE_WITH_NCCL
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
    group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, backend);
    group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
#else
    throw std::runtime_error("this build's libtorch has no CUDA, so no NCCL process group");
#endif
  }
  return new MsteGroup{store, backend, group, timeout, cuda_device, serves_store};
}

}  // namespace

extern "C" {

// Meets the other `world` ranks through a TCPStore at `addr:port` (rank 0 hosts it,
// unless `serve_store` is false: torchrun's agent already does), under the keys
// `prefix`, and creates the
// process group: Gloo when `cuda_device` < 0, else NCCL on that CUDA device. Every
// wait (the rendezvous, each collective) ends after `timeout_ms`. Each rank marks its
// arrival in the store and waits for every other's, so that a rank that never comes
// is named in the error ("rank 2 never arrived"), as is a store nobody serves.
int mste_group_new(const char *addr, int port, int rank, int world, bool serve_store, const char *prefix,
                   long timeout_ms, int cuda_device, MsteGroup **out, char **error) {
  return guarded(error, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = meet(addr, port, rank, world, serve_store, prefix, timeout);
    *out = make_group(store, rank, world, cuda_device, rank == 0 && serve_store, timeout);
    return 0;
  });
}

// A second group of the same ranks, on the same device and store, under `parent`'s
// keys and then `name`'s: its collectives run beside the parent's, from another
// thread, in an order of their own (the scorer thread's gathers beside the trainer's
// gradient all-reduces). Every rank creates it, as it created the parent.
int mste_group_sibling(MsteGroup *parent, const char *name, MsteGroup **out, char **error) {
  return guarded(error, [&] {
    int rank = parent->backend->getRank();
    int world = parent->backend->getSize();
    auto store = c10::make_intrusive<c10d::PrefixStore>(std::string(name), parent->store);
    {
      memscope::QuietLog quiet(memscope::QuietLog::kAll);
      arrive(*store, rank, world, parent->serves_store, parent->timeout);
    }
    *out = make_group(store, rank, world, parent->cuda_device, parent->serves_store, parent->timeout);
    return 0;
  });
}

// Ends the group. When every collective succeeded, NCCL destroys its communicators
// gracefully first, as destroy_process_group does (without it, libtorch warns at exit
// that resources may leak). Gloo needs no shutdown.
//
// After a failed collective, an NCCL group is left allocated on purpose. On the H200
// (BENCHMARKS.md "CUDA on an H200") the failed collective reached memscope within about
// 1.5 s of a peer's death, but the process ended 60 s later, killed by PyTorch's NCCL
// watchdog, without memscope's error. The likely cause: freeing the group joins that
// watchdog, which first waits a minute for a debug dump. (NCCL's clean-up-only error mode with an explicit
// abort, also tried there, hung.) Left allocated, nothing waits on the watchdog, the
// error goes out and the process exits, without exit handlers (`memscope::dist::exit`);
// the watchdog stays the backstop if anything else hangs. This change came after that run and has not yet run on a GPU (`PARTS=2
// bench/gpu.sh`). A failed Gloo group is freed as usual: its threads end with it.
void mste_group_free(MsteGroup *group) {
  if (group->failed->load()) {
    if (group->backend->getBackendName() == "nccl") {
      return;
    }
  } else {
    try {
      group->backend->shutdown();
    } catch (...) {
      // Ending anyway: nothing is left to report to.
    }
  }
  delete group;
}

// Sums `tensor` over every rank in place; divides the sum by the world size when
// `average` (Gloo has no AVG reduction, so the division is ours on every backend).
int mste_group_all_reduce(MsteGroup *group, torch::Tensor *tensor, bool average, char **error) {
  return guarded(error, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = group->timeout;
    finish(group, group->backend->allreduce(tensors, options));
    if (average) {
      tensor->div_(group->backend->getSize());
    }
    return 0;
  });
}

// Overwrites `tensor` on every rank with rank `root`'s.
int mste_group_broadcast(MsteGroup *group, torch::Tensor *tensor, int root, char **error) {
  return guarded(error, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = group->timeout;
    finish(group, group->backend->broadcast(tensors, options));
    return 0;
  });
}

// Gathers every rank's `input` (same shape and kind on every rank) into a new tensor
// of shape [world, ...input's shape], rank order, on every rank.
int mste_group_all_gather(MsteGroup *group, const torch::Tensor *input, torch::Tensor **out, char **error) {
  return guarded(error, [&] {
    auto world = group->backend->getSize();
    std::vector<at::Tensor> inputs{*input};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < world; ++r) {
      outputs[0].push_back(at::empty_like(*input));
    }
    c10d::AllgatherOptions options;
    options.timeout = group->timeout;
    finish(group, group->backend->allgather(outputs, inputs, options));
    *out = new torch::Tensor(at::stack(outputs[0]));
    return 0;
  });
}

// Returns once every rank has called it.
int mste_group_barrier(MsteGroup *group, char **error) {
  return guarded(error, [&] {
    c10d::BarrierOptions options;
    options.timeout = group->timeout;
    finish(group, group->backend->barrier(options));
    return 0;
  });
}

}  // extern "C"
