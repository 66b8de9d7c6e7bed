// Collective communication for data-parallel training over c10d (gloo on CPU tensors; NCCL only
// where libtorch was built with CUDA and MUSTER_WITH_NCCL is defined).
//
// Rendezvous: rank 0 serves a c10d::TCPStore on MASTER_ADDR:MASTER_PORT, the other ranks connect
// to it, and all build one ProcessGroupGloo on top. With world size 1 no group is created and
// every operation is a local no-op, so the trainer has a single code path.
//
// Gradient averaging is bucketed: parameters are grouped in registration order into buckets of
// about `bucket_bytes`; per step each bucket's gradients are copied into one flat buffer, every
// bucket's all-reduce (sum) is launched before any is waited on, then each buffer is divided by
// the world size and copied back. The last bucket carries two extra floats, a stop vote and the
// rank's loss, so a stop request seen by any rank and the global mean loss cost no extra
// collective. Every rank thereby holds identical gradients and takes the same optimizer step.
//
// Thread-safety: one Collective per rank, used from one thread. Errors from c10d (a peer died,
// a timeout) are thrown as CollectiveError.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "core/status.h"
#include "train/dist_env.h"

namespace muster::train {

class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SyncResult {
  bool stop = false;     // some rank voted to stop after this step
  double mean_loss = 0;  // the ranks' losses averaged
  double seconds = 0;    // wall time spent in flatten + all-reduce + unflatten
};

class Collective {
 public:
  // Joins the group described by `env` (blocks until all ranks arrive or `timeout` passes).
  static Result<std::unique_ptr<Collective>> Connect(const DistEnv& env,
                                                     std::chrono::milliseconds timeout);
  ~Collective();

  int rank() const { return rank_; }
  int world() const { return world_; }
  const char* backend() const;
  // Where tensors handed to this group must live: a CUDA device for NCCL, else the CPU.
  torch::Device device() const { return device_; }

  // Overwrites each tensor with rank `root`'s value.
  void Broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  // Rank 0's bytes end up in `bytes` on every rank.
  void BroadcastBytes(std::string& bytes);
  // In-place sum over ranks.
  void AllReduceSum(torch::Tensor& t);

  // Fixes the bucket layout for `params` (called once, before AverageGradients).
  void PlanBuckets(const std::vector<torch::Tensor>& params, size_t bucket_bytes);
  // Averages the gradients of the planned params over all ranks (see file comment).
  SyncResult AverageGradients(const std::vector<torch::Tensor>& params, bool stop_vote,
                              double loss);
  size_t bucket_count() const { return buckets_.size(); }

 private:
  Collective(int rank, int world) : rank_(rank), world_(world) {}
  void Wait(const std::vector<c10::intrusive_ptr<c10d::Work>>& works);

  struct Bucket {
    std::vector<size_t> params;  // indices into the params vector
    torch::Tensor flat;
  };
  int rank_;
  int world_;
  torch::Device device_ = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::vector<Bucket> buckets_;
};

}  // namespace muster::train
