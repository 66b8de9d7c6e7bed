// The mission's CNN for 28x28 grey images (Fashion-MNIST / MNIST), as in PyTorch's MNIST example:
//   conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, max-pool 2, dropout 0.25, flatten (9216),
//   linear 9216->128, ReLU, dropout 0.5, linear 128->10, log-softmax.
// Dropout draws from the module's own generator, reseeded by the trainer every step, and the
// weights are initialised from an explicit seed: no global RNG is touched, so several models
// train side by side in one process (the data-parallel test runs ranks as threads) and a resumed
// run draws the same masks as an uninterrupted one.
// The linear layers are Linear modules (weights [out, in], as in PyTorch) but are evaluated as
// 1x1 convolutions, which run on oneDNN: Debian's libtorch links the reference (netlib) BLAS, and
// its GEMM made fc1 take ~60% of a training step; through oneDNN fc1's forward and backward are
// about 5x faster on one core. The function and its gradients are the same.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace muster::train {

class FashionCnnImpl : public torch::nn::Module {
 public:
  explicit FashionCnnImpl(bool dropout = true);

  // x: [N, 1, 28, 28] float; returns log-probabilities [N, 10]. Dropout only in training mode.
  torch::Tensor forward(torch::Tensor x);

  // Re-initialises every parameter like PyTorch's defaults for Conv2d/Linear (uniform in
  // +-1/sqrt(fan_in)), drawing from a generator seeded with `seed`.
  void ResetParameters(uint64_t seed);
  // Seeds the dropout masks of the following forward passes.
  void SeedDropout(uint64_t seed);

 private:
  torch::Tensor Dropout(const torch::Tensor& x, double p);
  static torch::Tensor LinearByConv(const torch::Tensor& x, const torch::nn::Linear& fc);

  bool dropout_;
  at::Generator generator_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(FashionCnn);

}  // namespace muster::train
