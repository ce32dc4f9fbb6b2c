// Gradient all-reduce bucketed and overlapped with the backward pass: c10d::Reducer,
// the engine of PyTorch's DistributedDataParallel, driven from Rust.
//
// The Reducer hooks every parameter's gradient accumulator. During a backward pass
// announced by `prepare_for_backward`, each gradient is copied into its bucket as soon
// as autograd has it, and a bucket whose gradients are all in is all-reduced at once,
// asynchronously (Gloo's or NCCL's own threads), while autograd goes on computing the
// gradients of earlier layers. When the pass ends, the Reducer's autograd callback
// waits for every bucket and leaves each parameter's `.grad` pointing at its reduced
// slice of a bucket (`gradient_as_bucket_view`). As in DDP, the buckets are laid out
// by size (a small first bucket, then `bucket_bytes` each) in reverse parameter order,
// and rebuilt once, after the first step, in the order the gradients really arrived.
//
// The reduction is a SUM, where DDP averages: memscope divides each rank's loss by the
// global batch size, so the sum over ranks is the global batch's mean gradient however
// a short batch was split. A communication hook of ours replaces the Reducer's default
// (divide by the world size, then sum); it also counts the buckets and notes a failed
// collective, so that Rust can tell a dead peer from a local error, and so that the
// group is not shut down gracefully (see `mste_group_free`).

#include "c10d.h"
#include "shim.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

using memscope::guarded;

namespace {

using Clock = std::chrono::steady_clock;

// What the hook saw during one backward pass (written from autograd's and the
// backend's threads, read after the pass).
struct StepStats {
  std::atomic<std::int64_t> buckets{0};
  std::atomic<std::int64_t> last_launch_ns{0};
  std::atomic<std::int64_t> in_flight_ns{0};
  std::atomic<bool> failed{false};
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// All-reduces each bucket with SUM on the group's backend, with the group's timeout.
class SumHook : public c10d::CommHookInterface {
 public:
  SumHook(const MsteGroup &group, std::shared_ptr<StepStats> stats)
      : backend_(group.backend), timeout_(group.timeout), group_failed_(group.failed), stats_(std::move(stats)) {}

  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket &bucket) override {
    std::vector<at::Tensor> tensors{bucket.getBufferRef()};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = timeout_;
    auto launched = now_ns();
    stats_->buckets.fetch_add(1);
    stats_->last_launch_ns.store(launched);
    auto reduced = backend_->allreduce(tensors, options)->getFuture();
    // The Reducer waits on the future we return; completing it from the backend's
    // future only after noting a failure makes the note visible once that wait ends.
    auto result = c10::make_intrusive<c10::ivalue::Future>(reduced->elementType(), reduced->devices());
    auto stats = stats_;
    auto group_failed = group_failed_;
    reduced->addCallback([result, stats, group_failed, launched](c10::ivalue::Future &done) {
      stats->in_flight_ns.fetch_add(now_ns() - launched);
      if (done.hasError()) {
        stats->failed.store(true);
        group_failed->store(true);
        result->setError(done.exception_ptr());
      } else {
        result->markCompleted(done.value());
      }
    });
    return result;
  }

  at::Tensor parseHookResult(const c10::IValue &result) override {
    return c10d::detail::parseCppCommHookResult(result);
  }

 private:
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<std::atomic<bool>> group_failed_;
  std::shared_ptr<StepStats> stats_;
};

}  // namespace

// A Reducer over one network's parameters, with its hook's counters.
struct MsteReducer {
  std::vector<at::Tensor> params;
  std::shared_ptr<StepStats> stats;
  // The group's flag: set when the bucket layout's broadcast fails.
  std::shared_ptr<std::atomic<bool>> group_failed;
  std::unique_ptr<c10d::Reducer> reducer;
};

extern "C" {

// A Reducer for `params` (`count` leaf tensors that require grad, all on the group's
// device) in `group`: buckets of at most `bucket_bytes`, the first of at most
// `first_bucket_bytes` (DDP's defaults are 25 MiB and 1 MiB).
int mste_reducer_new(MsteGroup *group, torch::Tensor *const *params, std::size_t count,
                     std::int64_t first_bucket_bytes, std::int64_t bucket_bytes, MsteReducer **out,
                     char **error) {
  return guarded(error, [&] {
    std::vector<at::Tensor> tensors;
    tensors.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      tensors.push_back(*params[i]);
    }
    std::vector<bool> sparse(count, false);
    std::vector<std::size_t> limits{static_cast<std::size_t>(first_bucket_bytes),
                                    static_cast<std::size_t>(bucket_bytes)};
    // As DDP: buckets by size in parameter order, then reversed, since backward
    // produces the last layers' gradients first.
    auto assignment = c10d::compute_bucket_assignment_by_size(tensors, limits, sparse);
    auto buckets = std::get<0>(assignment);
    std::reverse(buckets.begin(), buckets.end());
    auto stats = std::make_shared<StepStats>();
    auto reducer = std::make_unique<c10d::Reducer>(
        tensors, buckets, group->group, sparse, bucket_bytes,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/true,
        std::unordered_map<std::size_t, std::string>{}, first_bucket_bytes,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
        std::vector<std::int64_t>{});
    reducer->register_comm_hook(std::make_unique<SumHook>(*group, stats));
    *out = new MsteReducer{std::move(tensors), stats, group->failed, std::move(reducer)};
    return 0;
  });
}

void mste_reducer_free(MsteReducer *reducer) {
  try {
    delete reducer;
  } catch (...) {
    // The Reducer's destructor only unhooks the gradient accumulators; nothing to
    // report at the end of a job.
  }
}

// Runs the backward pass of `loss` with the reduction overlapped: afterwards every
// parameter's `.grad` holds the sum over ranks of its gradient. `buckets` receives how
// many buckets were all-reduced; `in_flight_ns` the nanoseconds they spent in their
// all-reduce, summed over buckets (overlapping backward and each other); `exposed_ns`
// the nanoseconds from the launch of the last bucket to the end of the pass (the
// communication backward did not hide);
// `collective_failed` whether a failure came from a collective (a dead or hung peer)
// rather than from this rank's own computation.
int mste_reducer_backward(MsteReducer *r, const torch::Tensor *loss, std::int64_t *buckets,
                          std::int64_t *in_flight_ns, std::int64_t *exposed_ns, bool *collective_failed, char **error) {
  *collective_failed = false;
  return guarded(error, [&] {
    r->stats->buckets.store(0);
    r->stats->in_flight_ns.store(0);
    r->stats->failed.store(false);
    r->reducer->prepare_for_forward();
    try {
      // A no-op but after the first step, when it lays the buckets out again in the
      // order the gradients arrived, agreed on by a broadcast from rank 0.
      r->reducer->rebuild_buckets();
    } catch (...) {
      *collective_failed = true;
      r->group_failed->store(true);
      throw;
    }
    // A fresh gradient each step (the Reducer copies it into its bucket and points
    // `.grad` there), never one accumulated onto the last step's.
    for (auto &param : r->params) {
      param.mutable_grad().reset();
    }
    r->reducer->prepare_for_backward({*loss});
    try {
      torch::autograd::backward({*loss});
    } catch (...) {
      *collective_failed = r->stats->failed.load();
      throw;
    }
    *buckets = r->stats->buckets.load();
    *in_flight_ns = r->stats->in_flight_ns.load();
    *exposed_ns = std::max<std::int64_t>(0, now_ns() - r->stats->last_launch_ns.load());
    return 0;
  });
}

}  // extern "C"
