// Keras BatchNormalization (inference). Declared here because a conv can fold the BN that follows
// it (convolutional.cpp, FuseBatchNorm).
#pragma once

#include <string>
#include <vector>

#include "kernels.h"
#include "layers.h"

namespace catdog::detail {

// An inference BatchNormalization, y = (x - mean) * mul + beta with mul = gamma / sqrt(var + eps)
// (as TF.js computes it). When the graph folds it into the layer that feeds it (FuseBatchNorm,
// convolutional.cpp), the BN layer becomes an alias and that layer applies it: through its weights and bias
// when its activation is linear (exact algebra, done once at load), otherwise after its clamp
// (kernels::ChannelAffine: in the fast op's epilogue, or a pass of its own where the backend has
// no such epilogue). BatchNormLayer binds before its producer (model.cpp binds aliases first).
struct BnFold {
  std::vector<float> mean, mul, beta;
  kernels::ChannelAffine Affine() const { return {mean.data(), mul.data(), beta.data()}; }
};


class BatchNormLayer : public Layer {
 public:
  BatchNormLayer() { kind = Kind::kBatchNorm; }
  Status Configure(const jsonu::json& cfg) override;
  Status InferShape() override;
  std::vector<WeightSpec> Weights() const override;
  Status Bind(std::vector<std::vector<float>> w, const BindOptions&) override;
  bool IsAlias() const override { return fused_; }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override;
  std::string KernelName() const override { return fused_ ? "folded into the layer before" : ""; }

  BnFold f_;
  bool fused_ = false;  // folded into the layer before (FuseBatchNorm): no buffer, no work

 private:
  int64_t axis_ = -1, C_ = 0, n_ = 0;
  double eps_ = 1e-3;
  bool center_ = true, scale_ = true;
};

}  // namespace catdog::detail
