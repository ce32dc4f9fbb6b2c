// The process group shared by the c10d sources (collectives in c10d.cpp, the gradient
// reducer in reducer.cpp).
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <atomic>
#include <chrono>
#include <memory>

// A process group and the store it met its peers through. `backend` (Gloo or NCCL)
// runs our own collectives; `group` is the same backend behind c10d's front-end
// ProcessGroup, which c10d::Reducer needs.
struct MsteGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  std::chrono::milliseconds timeout;
  // The CUDA device of an NCCL group, -1 for Gloo (a sibling group's is the same).
  int cuda_device;
  // This rank serves the TCPStore the group met in.
  bool serves_store;
  // A collective failed (a peer died, a timeout): the group is not shut down
  // gracefully when freed, since a graceful NCCL shutdown would wait on the dead peer.
  // Shared with the gradient reducer's hook, whose all-reduces end on the backend's
  // threads and may outlive this struct.
  std::shared_ptr<std::atomic<bool>> failed = std::make_shared<std::atomic<bool>>(false);
};
