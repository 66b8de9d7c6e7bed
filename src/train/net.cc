// The CNN (see net.h).
#include "train/net.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace muster::train {

FashionCnnImpl::FashionCnnImpl(bool dropout)
    : dropout_(dropout), generator_(at::make_generator<at::CPUGeneratorImpl>(0)) {
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)));
  fc1_ = register_module("fc1", torch::nn::Linear(9216, 128));
  fc2_ = register_module("fc2", torch::nn::Linear(128, 10));
}

torch::Tensor FashionCnnImpl::Dropout(const torch::Tensor& x, double p) {
  if (!dropout_ || !is_training() || p <= 0) return x;
  // The mask is drawn on the CPU from the module's generator (and copied when x is on a GPU).
  torch::Tensor keep =
      torch::empty(x.sizes(), x.options().device(torch::kCPU)).bernoulli_(1.0 - p, generator_);
  if (!x.is_cpu()) keep = keep.to(x.device());
  return x * keep * (1.0 / (1.0 - p));
}

// y = x W^T + b computed as a 1x1 convolution: the same function of the same Linear
// parameters, but oneDNN's kernel instead of the BLAS GEMM (see net.h).
torch::Tensor FashionCnnImpl::LinearByConv(const torch::Tensor& x, const torch::nn::Linear& fc) {
  const int64_t out = fc->weight.size(0), in = fc->weight.size(1);
  return torch::conv2d(x.reshape({x.size(0), in, 1, 1}), fc->weight.view({out, in, 1, 1}), fc->bias)
      .view({x.size(0), out});
}

torch::Tensor FashionCnnImpl::forward(torch::Tensor x) {
  x = torch::relu(conv1_->forward(x));
  x = torch::relu(conv2_->forward(x));
  x = torch::max_pool2d(x, 2);
  x = Dropout(x, 0.25);
  x = torch::flatten(x, 1);
  x = torch::relu(LinearByConv(x, fc1_));
  x = Dropout(x, 0.5);
  x = LinearByConv(x, fc2_);
  return torch::log_softmax(x, 1);
}

void FashionCnnImpl::ResetParameters(uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  auto init = [&](torch::Tensor& w, torch::Tensor& b) {
    const int64_t fan_in = w.numel() / w.size(0);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    w.uniform_(-bound, bound, gen);
    b.uniform_(-bound, bound, gen);
  };
  init(conv1_->weight, conv1_->bias);
  init(conv2_->weight, conv2_->bias);
  init(fc1_->weight, fc1_->bias);
  init(fc2_->weight, fc2_->bias);
}

void FashionCnnImpl::SeedDropout(uint64_t seed) {
  std::lock_guard<std::mutex> lock(generator_.mutex());
  generator_.set_current_seed(seed);
}

}  // namespace muster::train
