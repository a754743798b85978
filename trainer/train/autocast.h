// bf16 autocast for a scope, guarded for the libtorch versions we build against (1.13 here, 2.x on
// the GPU). Torch translation units only.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>
#if defined(TORCH_VERSION_MAJOR)
#include <ATen/autocast_mode.h>
#endif

namespace catdog::train {

class AutocastScope {
 public:
  AutocastScope(bool on, const torch::Device& device) : on_(on), cuda_(device.is_cuda()) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    const auto dt = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_dtype(dt, at::kBFloat16);
    at::autocast::set_autocast_enabled(dt, true);
#else
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }
  ~AutocastScope() {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
    // Casts of the weights are cached while autocast is on; the weights change every step.
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_, cuda_;
};

}  // namespace catdog::train
