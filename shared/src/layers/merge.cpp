// Keras merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (element-wise, equal
// shapes) and Concatenate.
#include <algorithm>
#include <cstring>

#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

class MergeLayer : public Layer {
 public:
  enum Kind { kAdd, kSubtract, kMultiply, kAverage, kMaximum, kMinimum };
  explicit MergeLayer(Kind k) : kind_(k) {}
  Status Configure(const json&) override { return Status::Ok(); }
  Status InferShape() override {
    if (in_shapes.size() < 2 || (kind_ == kSubtract && in_shapes.size() != 2))
      return Status::Error(ref.str() + ": expects " + (kind_ == kSubtract ? "2" : "at least 2") + " inputs, got " +
                           std::to_string(in_shapes.size()));
    for (size_t i = 1; i < in_shapes.size(); ++i)
      if (in_shapes[i] != in_shapes[0])
        return Status::Error(ref.str() + ": input shapes differ: " + ShapeStr(in_shapes[0]) + " vs " + ShapeStr(in_shapes[i]) +
                             " (broadcasting is not supported)");
    out_shape = in_shapes[0];
    if (!NumElements(out_shape, &n_)) return Status::Error(ref.str() + ": shape overflows");
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t total = n_ * batch;
    std::memcpy(out, ins[0], sizeof(float) * static_cast<size_t>(total));
    for (size_t k = 1; k < ins.size(); ++k) {
      const float* in = ins[k];
      for (int64_t i = 0; i < total; ++i) {
        switch (kind_) {
          case kAdd:
          case kAverage: out[i] += in[i]; break;
          case kSubtract: out[i] -= in[i]; break;
          case kMultiply: out[i] *= in[i]; break;
          case kMaximum: out[i] = std::max(out[i], in[i]); break;
          case kMinimum: out[i] = std::min(out[i], in[i]); break;
        }
      }
    }
    if (kind_ == kAverage) {
      const float inv = 1.f / static_cast<float>(ins.size());
      for (int64_t i = 0; i < total; ++i) out[i] *= inv;
    }
  }

 private:
  Kind kind_;
  int64_t n_ = 0;
};

class ConcatenateLayer : public Layer {
 public:
  Status Configure(const json& cfg) override { return ReadInt(cfg, "axis", ref, -1, &axis_); }
  Status InferShape() override {
    if (in_shapes.size() < 2) return Status::Error(ref.str() + ": expects at least 2 inputs, got " + std::to_string(in_shapes.size()));
    const int64_t rank = static_cast<int64_t>(in_shapes[0].size());
    // Keras axes count the batch dimension: axis a (>0) is dim a-1 here; negative counts from the end.
    int64_t ax = axis_ < 0 ? rank + axis_ : axis_ - 1;
    if (rank == 0 || ax < 0 || ax >= rank)
      return Status::Error(ref.str() + ": axis " + std::to_string(axis_) + " is out of range for inputs of rank " + std::to_string(rank));
    out_shape = in_shapes[0];
    out_shape[static_cast<size_t>(ax)] = 0;
    for (const Shape& s : in_shapes) {
      bool ok = s.size() == in_shapes[0].size();
      for (size_t d = 0; ok && d < s.size(); ++d) ok = d == static_cast<size_t>(ax) || s[d] == in_shapes[0][d];
      if (!ok) return Status::Error(ref.str() + ": cannot concatenate " + ShapeStr(in_shapes[0]) + " and " + ShapeStr(s) + " on axis " + std::to_string(axis_));
      out_shape[static_cast<size_t>(ax)] += s[static_cast<size_t>(ax)];
    }
    Status st = CheckDims(ref, out_shape);
    if (!st) return st;
    outer_ = 1;
    for (int64_t d = 0; d < ax; ++d) outer_ *= out_shape[static_cast<size_t>(d)];
    inner_.clear();
    for (const Shape& s : in_shapes) {
      int64_t n = 1;
      for (size_t d = static_cast<size_t>(ax); d < s.size(); ++d) n *= s[d];
      inner_.push_back(n);
    }
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t rows = outer_ * batch;
    for (int64_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < ins.size(); ++k) {
        std::memcpy(out, ins[k] + r * inner_[k], sizeof(float) * static_cast<size_t>(inner_[k]));
        out += inner_[k];
      }
  }

 private:
  int64_t axis_ = -1, outer_ = 1;
  std::vector<int64_t> inner_;
};

}  // namespace

std::unique_ptr<Layer> NewAdd() { return std::make_unique<MergeLayer>(MergeLayer::kAdd); }
std::unique_ptr<Layer> NewSubtract() { return std::make_unique<MergeLayer>(MergeLayer::kSubtract); }
std::unique_ptr<Layer> NewMultiply() { return std::make_unique<MergeLayer>(MergeLayer::kMultiply); }
std::unique_ptr<Layer> NewAverage() { return std::make_unique<MergeLayer>(MergeLayer::kAverage); }
std::unique_ptr<Layer> NewMaximum() { return std::make_unique<MergeLayer>(MergeLayer::kMaximum); }
std::unique_ptr<Layer> NewMinimum() { return std::make_unique<MergeLayer>(MergeLayer::kMinimum); }
std::unique_ptr<Layer> NewConcatenate() { return std::make_unique<ConcatenateLayer>(); }

}  // namespace catdog::detail
