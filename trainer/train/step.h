// One training step on a batch of image indices, everything on the device: gather (+ augment),
// forward, loss, backward, optimiser step, EMA, and the epoch's loss/accuracy sums. No host sync
// and no host value that changes between steps, so graph_step.h can capture and replay it.
//
// [dist] Data-parallel training hooks in here: with `dist` set, each rank's loss is scaled by
// `grad_scale` and its gradient buckets are all-reduced during backward (BeginStep) and waited for
// before the optimiser step (FinishStep); see distributed.h.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "augment.h"
#include "batches.h"
#include "distributed.h"
#include "models_torch.h"
#include "optimiser.h"
#include "train.h"

namespace catdog::train {

class TrainStep {
 public:
  // Everything is referenced, not copied: the trainer owns it and outlives the step. `ema` is
  // undefined when --ema is off. `fused`: the fused CUDA kernels run (fused_ops.h).
  TrainStep(const TrainOptions& options, const torch::Device& device, const DeviceData& train, Net& net,
            FlatParams& flat, FlatAdam& adam, torch::Tensor& ema, bool fused);

  // Knowledge distillation (--teacher): frozen models in eval mode on the device. Each step they
  // see the same augmented batch as the student; their probabilities at temperature T, averaged,
  // are the soft target: loss = (1 - a) BCE(s, y) + a T^2 BCE(s / T, mean_i sigmoid(t_i / T)).
  std::vector<Net> teachers;

  // The step on the `len` training images `idx` (int64 on the device).
  void operator()(const torch::Tensor& idx, int64_t len);

  // [dist] Data-parallel training (null when training alone; CUDA graphs are then off): the
  // gradients are summed over ranks between backward and the optimiser step, and `grad_scale`
  // (this rank's images / the global batch's) scales this rank's loss so the sum is the mean.
  Distributed* dist = nullptr;
  double grad_scale = 1;
  // [dist] A rank whose slice of the epoch's last, short batch is empty: its zeros join the sums.
  void EmptyStep();
  // [dist] Every rank's sums: the epoch's loss and accuracy over all its images.
  void ReduceSums();

  // The epoch's sums (device tensors; a captured graph adds into them, so they live across epochs).
  void ZeroSums();
  double MeanLoss() const;      // sum of losses / images (reads the device: the epoch's one sync)
  double Accuracy() const;

 private:
  const TrainOptions& o_;
  const DeviceData& train_;
  Net& net_;
  FlatParams& flat_;
  FlatAdam& adam_;
  torch::Tensor& ema_;
  const bool fused_;
  const torch::Device device_;
  const AugmentParams aug_;
  std::unique_ptr<WebcamCorrupt> corrupt_;  // --corrupt > 0
  torch::Tensor loss_sum_, correct_;
};

}  // namespace catdog::train
