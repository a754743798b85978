#include "graph_step.h"

#if CATDOG_TORCH_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <spdlog/spdlog.h>
#endif

namespace catdog::train {

#if CATDOG_TORCH_CUDA
struct GraphStep::Graph {
  Step step;
  int64_t batch = 0;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  torch::Tensor graph_idx;
  int warm_steps = 0;
  bool graph_off = true;
};

GraphStep::GraphStep(Step step, bool enabled, int64_t batch, bool bf16) : graph_(std::make_unique<Graph>()) {
  graph_->step = std::move(step);
  graph_->batch = batch;
  graph_->graph_off = !enabled;
  if (!graph_->graph_off && bf16) at::autocast::set_autocast_cache_enabled(false);
}

bool GraphStep::Run(const torch::Tensor& idx, int64_t len) {
  Graph& g = *graph_;
  if (g.graph_off || len != g.batch) return false;
  if (g.graph) {
    g.graph_idx.copy_(idx);
    g.graph->replay();
    return true;
  }
  torch::cuda::synchronize();
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  if (g.warm_steps < 3) {
    {
      c10::cuda::CUDAStreamGuard guard(side);
      g.step(idx, len);
    }
    torch::cuda::synchronize();
    ++g.warm_steps;
    return true;
  }
  g.graph_idx = idx.clone();
  try {
    g.graph = std::make_unique<at::cuda::CUDAGraph>();
    {
      c10::cuda::CUDAStreamGuard guard(side);
      g.graph->capture_begin();
      g.step(g.graph_idx, len);
      g.graph->capture_end();
    }
    torch::cuda::synchronize();
    g.graph->replay();  // capturing did not run the step
    used_ = true;
    spdlog::info("CUDA graph captured: one replay per training step of {} images", len);
  } catch (const c10::Error& e) {
    spdlog::warn("CUDA graph capture failed, training eagerly: {}", e.what_without_backtrace());
    g.graph.reset();
    g.graph_off = true;
    torch::cuda::synchronize();
    return false;
  }
  return true;
}
#else
struct GraphStep::Graph {};

GraphStep::GraphStep(Step, bool, int64_t, bool) {}

bool GraphStep::Run(const torch::Tensor&, int64_t) { return false; }
#endif

GraphStep::~GraphStep() = default;

}  // namespace catdog::train
