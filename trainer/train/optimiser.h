// The trainer's optimiser: Keras' Adam over one flat buffer holding every trainable parameter
// (the parameters are views into it, their gradients views into a second one), so a step is five
// elementwise ops over one tensor and no host scalar changes between steps (a CUDA graph can
// replay it). Used by train.cpp; torch types, so only torch translation units include it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "catdog/catdog.h"
#include "models_torch.h"

namespace catdog::train {

constexpr double kAdamBeta1 = 0.9, kAdamBeta2 = 0.999, kAdamEpsilon = 1e-7;  // Keras Adam defaults

// All trainable parameters as views of one flat tensor; gradients as views of another.
class FlatParams {
 public:
  void Init(Net& net);
  // Autograd accumulates in place into the views; if a libtorch ever replaces a gradient tensor
  // instead, copy it into its slot and re-alias (host-side pointer checks only, no sync).
  void Gather();
  torch::Tensor& flat() { return flat_; }
  torch::Tensor& grad() { return grad_; }
  // [dist] the parameters and their offsets in flat(): the gradient buckets (distributed.h).
  const std::vector<torch::Tensor>& params() const { return params_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }
  int64_t numel() const { return flat_.numel(); }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<const void*> grad_ptrs_;
  std::vector<int64_t> offsets_;
  torch::Tensor flat_, grad_;
};

// Keras' Adam on the flat buffer: alpha = lr sqrt(1 - b2^t) / (1 - b1^t);
// p -= alpha m / (sqrt(v) + eps).
class FlatAdam {
 public:
  void Init(FlatParams* params, double lr);
  // Outside a captured step only (a fill on the device, read by the next replays).
  void SetLr(double lr) { lr_t_.fill_(lr); }
  Status Load(const AdamState& s);
  // Device-only: no host scalar changes from step to step, so a CUDA graph can replay it.
  void Step();
  // [dist] m, v and the step count (1-element view): what rank 0 broadcasts to the others.
  std::vector<torch::Tensor> StateTensors() { return {state_.m, state_.v, step_t_.view({1})}; }
  // Reads the step count back from the device (once per epoch, for the checkpoint).
  const AdamState& state();

 private:
  FlatParams* p_ = nullptr;
  AdamState state_;
  torch::Tensor denom_, step_t_, lr_t_;
};

}  // namespace catdog::train
