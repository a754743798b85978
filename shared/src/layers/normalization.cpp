#include "layers/normalization.h"

#include <cmath>

#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {

using jsonu::json;

Status BatchNormLayer::Configure(const json& cfg) {
  Status s;
  const json* a = jsonu::FindNonNull(cfg, "axis");
  axis_ = -1;
  if (a) {
    const json* v = a;
    if (a->is_array()) {
      if (a->size() != 1) return Status::Error(ref.str() + ": axis " + jsonu::Dump(*a, 40) + " is not supported (only the last axis)");
      v = &(*a)[0];
    }
    if (!jsonu::AsInt64(*v, &axis_)) return Status::Error(ref.str() + ": bad axis " + jsonu::Dump(*a, 40));
  }
  if (!(s = ReadDouble(cfg, "epsilon", ref, 1e-3, &eps_))) return s;
  if (eps_ < 0) return Status::Error(ref.str() + ": negative epsilon");
  if (!(s = ReadBool(cfg, "center", ref, true, &center_))) return s;
  return ReadBool(cfg, "scale", ref, true, &scale_);
}

Status BatchNormLayer::InferShape() {
  if (in_shapes.size() != 1 || in_shapes[0].empty()) return Status::Error(ref.str() + ": expects one input of rank >= 1");
  int64_t rank_with_batch = static_cast<int64_t>(in_shapes[0].size()) + 1;
  if (axis_ != -1 && axis_ != rank_with_batch - 1)
    return Status::Error(ref.str() + ": axis " + std::to_string(axis_) + " is not supported for input " + ShapeStr(in_shapes[0]) +
                         " (only the last axis)");
  Status s = CheckDims(ref, in_shapes[0]);
  if (!s) return s;
  C_ = in_shapes[0].back();
  NumElements(in_shapes[0], &n_);
  out_shape = in_shapes[0];
  return Status::Ok();
}

std::vector<WeightSpec> BatchNormLayer::Weights() const {
  std::vector<WeightSpec> w;
  if (scale_) w.push_back({"gamma", {C_}});
  if (center_) w.push_back({"beta", {C_}});
  w.push_back({"moving_mean", {C_}});
  w.push_back({"moving_variance", {C_}});
  return w;
}

Status BatchNormLayer::Bind(std::vector<std::vector<float>> w, const BindOptions&) {
  size_t i = 0;
  std::vector<float> gamma = scale_ ? std::move(w[i++]) : std::vector<float>(static_cast<size_t>(C_), 1.f);
  std::vector<float> beta = center_ ? std::move(w[i++]) : std::vector<float>(static_cast<size_t>(C_), 0.f);
  const std::vector<float>& mean = w[i];
  const std::vector<float>& var = w[i + 1];
  f_.mul.resize(static_cast<size_t>(C_));
  f_.mean.assign(mean.begin(), mean.end());
  f_.beta = std::move(beta);
  for (size_t c = 0; c < f_.mul.size(); ++c) {
    if (var[c] + eps_ <= 0) return Status::Error(ref.str() + ": moving_variance[" + std::to_string(c) + "] + epsilon is not positive");
    // As TF.js batchNorm: (x - mean) * (gamma / sqrt(var + eps)) + beta.
    f_.mul[c] = static_cast<float>(gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps_));
  }
  return Status::Ok();
}

void BatchNormLayer::Run(int batch, const std::vector<const float*>& ins, float* out) {
  const int64_t total = n_ * batch;
  for (int64_t i = 0; i < total; i += C_)
    for (int64_t c = 0; c < C_; ++c) out[i + c] = (ins[0][i + c] - f_.mean[c]) * f_.mul[c] + f_.beta[c];
}

std::unique_ptr<Layer> NewBatchNormalization() { return std::make_unique<BatchNormLayer>(); }

}  // namespace catdog::detail
