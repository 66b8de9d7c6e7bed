// c10d rendezvous and bucketed gradient averaging (see collective.h).
#include "train/collective.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef MUSTER_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <cstring>

namespace muster::train {
namespace {

// c10::Error carries a backtrace; keep the first line of the message for users.
std::string FirstLine(const std::exception& e) {
  std::string msg = e.what();
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) msg = ce->what_without_backtrace();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

bool IsLoopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

std::shared_ptr<::gloo::transport::Device> MakeGlooDevice(const DistEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  // All ranks on this host talk over loopback when the master is local; otherwise bind to the
  // address this host's name resolves to, as PyTorch does.
  if (IsLoopback(env.master_addr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

Result<std::unique_ptr<Collective>> Collective::Connect(const DistEnv& env,
                                                        std::chrono::milliseconds timeout) {
  std::unique_ptr<Collective> c(new Collective(env.rank, env.world_size));
  if (!env.distributed()) return c;
  try {
    c10d::TCPStoreOptions opts;
    opts.port = env.master_port;
    opts.isServer = env.rank == 0;
    opts.numWorkers = env.world_size;
    opts.waitWorkers = true;
    opts.timeout = timeout;
    c->store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
#ifdef MUSTER_WITH_NCCL
    if (torch::cuda::is_available()) {
      c->device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = timeout;
      c->group_ =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(c->store_, env.rank, env.world_size, nopts);
      return c;
    }
#endif
    auto gopts = c10d::ProcessGroupGloo::Options::create(timeout);
    gopts->devices.push_back(MakeGlooDevice(env));
    c->group_ =
        c10::make_intrusive<c10d::ProcessGroupGloo>(c->store_, env.rank, env.world_size, gopts);
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot join the process group at " + env.master_addr + ":" +
                               std::to_string(env.master_port) + " as rank " +
                               std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                               ": " + FirstLine(e));
  }
  return c;
}

Collective::~Collective() = default;

const char* Collective::backend() const {
  if (!group_) return "none";
#ifdef MUSTER_WITH_NCCL
  if (torch::cuda::is_available()) return "nccl";
#endif
  return "gloo";
}

void Collective::Wait(const std::vector<c10::intrusive_ptr<c10d::Work>>& works) {
  try {
    for (const auto& w : works) w->wait();
  } catch (const std::exception& e) {
    throw CollectiveError("collective operation failed (a peer rank may have exited): " +
                          FirstLine(e));
  }
}

void Collective::Broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!group_) return;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  try {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      works.push_back(group_->broadcast(one, opts));
    }
  } catch (const std::exception& e) {
    throw CollectiveError("broadcast failed: " + FirstLine(e));
  }
  Wait(works);
}

void Collective::BroadcastBytes(std::string& bytes) {
  if (!group_) return;
  std::vector<torch::Tensor> size{
      torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64).to(device_)};
  Broadcast(size);
  const int64_t n = size[0].item<int64_t>();
  if (n == 0) {
    bytes.clear();
    return;
  }
  torch::Tensor host = torch::empty({n}, torch::kUInt8);
  if (rank_ == 0) std::memcpy(host.data_ptr(), bytes.data(), n);
  std::vector<torch::Tensor> data{host.to(device_)};
  Broadcast(data);
  host = data[0].cpu();
  bytes.assign(static_cast<const char*>(host.data_ptr()), n);
}

void Collective::AllReduceSum(torch::Tensor& t) {
  if (!group_) return;
  std::vector<at::Tensor> one{t};
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = group_->allreduce(one);
  } catch (const std::exception& e) {
    throw CollectiveError("all-reduce failed: " + FirstLine(e));
  }
  Wait({w});
}

void Collective::PlanBuckets(const std::vector<torch::Tensor>& params, size_t bucket_bytes) {
  buckets_.clear();
  size_t bytes = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const size_t b = params[i].numel() * params[i].element_size();
    if (buckets_.empty() || (bytes > 0 && bytes + b > bucket_bytes)) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(i);
    bytes += b;
  }
  for (size_t k = 0; k < buckets_.size(); ++k) {
    int64_t n = 0;
    for (size_t i : buckets_[k].params) n += params[i].numel();
    if (k + 1 == buckets_.size()) n += 2;  // stop vote, loss
    buckets_[k].flat = torch::zeros({n}, params.front().options());
  }
}

SyncResult Collective::AverageGradients(const std::vector<torch::Tensor>& params, bool stop_vote,
                                        double loss) {
  SyncResult r;
  if (!group_) {
    r.stop = stop_vote;
    r.mean_loss = loss;
    return r;
  }
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  works.reserve(buckets_.size());
  for (size_t k = 0; k < buckets_.size(); ++k) {
    Bucket& b = buckets_[k];
    int64_t off = 0;
    for (size_t i : b.params) {
      const torch::Tensor& g = params[i].grad();
      const int64_t n = params[i].numel();
      if (g.defined()) {
        b.flat.narrow(0, off, n).copy_(g.reshape({-1}));
      } else {
        b.flat.narrow(0, off, n).zero_();
      }
      off += n;
    }
    if (k + 1 == buckets_.size()) {
      b.flat[off] = stop_vote ? 1.0f : 0.0f;
      b.flat[off + 1] = static_cast<float>(loss);
    }
    std::vector<at::Tensor> one{b.flat};
    try {
      works.push_back(group_->allreduce(one));
    } catch (const std::exception& e) {
      throw CollectiveError("all-reduce failed: " + FirstLine(e));
    }
  }
  Wait(works);
  for (size_t k = 0; k < buckets_.size(); ++k) {
    Bucket& b = buckets_[k];
    b.flat.div_(world_);
    int64_t off = 0;
    for (size_t i : b.params) {
      torch::Tensor g = params[i].mutable_grad();
      const int64_t n = params[i].numel();
      if (!g.defined()) {
        params[i].mutable_grad() = torch::zeros_like(params[i]);
        g = params[i].mutable_grad();
      }
      g.view({-1}).copy_(b.flat.narrow(0, off, n));
      off += n;
    }
    if (k + 1 == buckets_.size()) {
      r.stop = b.flat[off].item<float>() > 0;
      r.mean_loss = b.flat[off + 1].item<float>();
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace muster::train
