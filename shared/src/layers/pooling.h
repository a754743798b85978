// Keras pooling layers. PoolLayer is declared here because a Conv2D can absorb the 2x2 max-pool
// that follows it (convolutional.cpp, FuseMaxPool).
#pragma once

#include <string>
#include <vector>

#include "kernels.h"
#include "layers.h"

namespace catdog::detail {

// MaxPooling2D, AveragePooling2D: kernels::PoolRef.
class PoolLayer : public Layer {
 public:
  explicit PoolLayer(bool is_max) : is_max_(is_max) { kind = Kind::kPool; }
  Status Configure(const jsonu::json& cfg) override;
  Status InferShape() override;
  bool IsAlias() const override { return fused_; }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override;
  std::string KernelName() const override { return fused_ ? "fused into the conv before" : ""; }

  bool is_max_;
  bool fused_ = false;  // fused into the conv before (FuseMaxPool): no buffer, no work
  bool same_ = false;
  int ph_ = 2, pw_ = 2, sh_ = 2, sw_ = 2;

 private:
  kernels::PoolDesc d_;
};

}  // namespace catdog::detail
