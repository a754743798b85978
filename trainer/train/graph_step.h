// CUDA-graph replay of the training step: at batch 32 the step is launch-bound (~200
// small kernels), a replay is one launch. Full batches run a few eager warm-up steps on a side
// stream (cuDNN benchmarking, cuBLAS workspaces and the allocator settle outside the capture),
// then one capture, then replays. Builds without CUDA libtorch (CATDOG_TORCH_CUDA) never replay.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>

namespace catdog::train {

class GraphStep {
 public:
  using Step = std::function<void(const torch::Tensor& idx, int64_t len)>;
  // `enabled`: --cuda-graph on a CUDA device; `batch`: the full batch size (only full batches
  // replay); `bf16`: autocast is on (its weight-cast cache is turned off, a graph cannot use it).
  GraphStep(Step step, bool enabled, int64_t batch, bool bf16);
  ~GraphStep();
  // Runs the step on `idx` as a warm-up, the capture or a replay and returns true; returns false
  // when the caller must run the step eagerly (partial batch, graphs off, capture failed).
  bool Run(const torch::Tensor& idx, int64_t len);
  // Whether a graph was captured (the run card's "cuda_graph").
  bool used() const { return used_; }

 private:
  struct Graph;  // the CUDA state, defined only in CUDA builds
  std::unique_ptr<Graph> graph_;
  bool used_ = false;
};

}  // namespace catdog::train
