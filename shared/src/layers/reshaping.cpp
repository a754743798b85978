// Keras reshaping layers: Flatten and Reshape (the output is the input's data, NHWC order kept),
// ZeroPadding2D.
#include <algorithm>
#include <cstring>

#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

// Flatten, Reshape: the output is the input's data under another shape.
class ReshapeLayer : public Layer {
 public:
  explicit ReshapeLayer(bool flatten) : flatten_(flatten) {}
  Status Configure(const json& cfg) override {
    // Keras Flatten has data_format; channels_first would reorder.
    if (flatten_) return CheckChannelsLast(cfg, ref);
    const json* t = jsonu::FindNonNull(cfg, "target_shape");
    if (!t || !t->is_array()) return Status::Error(ref.str() + ": missing 'target_shape'");
    for (const json& d : *t) {
      int64_t v;
      if (!jsonu::AsInt64(d, &v) || (v < 1 && v != -1))
        return Status::Error(ref.str() + ": bad target_shape " + jsonu::Dump(*t, 80));
      target_.push_back(v);
    }
    return Status::Ok();
  }
  Status InferShape() override {
    if (in_shapes.size() != 1) return Status::Error(ref.str() + ": expects 1 input, got " + std::to_string(in_shapes.size()));
    int64_t n;
    if (!NumElements(in_shapes[0], &n)) return Status::Error(ref.str() + ": input shape overflows");
    if (flatten_) {
      out_shape = {n};
      return Status::Ok();
    }
    int64_t known = 1;
    int unknown = -1;
    for (size_t i = 0; i < target_.size(); ++i) {
      if (target_[i] == -1) {
        if (unknown >= 0) return Status::Error(ref.str() + ": target_shape has more than one -1");
        unknown = static_cast<int>(i);
      } else if (__builtin_mul_overflow(known, target_[i], &known)) {
        return Status::Error(ref.str() + ": target_shape overflows");
      }
    }
    out_shape = target_;
    if (unknown >= 0) {
      if (known == 0 || n % known != 0)
        return Status::Error(ref.str() + ": cannot reshape " + ShapeStr(in_shapes[0]) + " to target_shape " + ShapeStr(target_));
      out_shape[static_cast<size_t>(unknown)] = n / known;
    } else if (known != n) {
      return Status::Error(ref.str() + ": cannot reshape " + ShapeStr(in_shapes[0]) + " (" + std::to_string(n) +
                           " values) to target_shape " + ShapeStr(target_));
    }
    return Status::Ok();
  }
  bool IsAlias() const override { return true; }
  void Run(int, const std::vector<const float*>&, float*) override {}

 private:
  bool flatten_;
  Shape target_;
};

class ZeroPaddingLayer : public Layer {
 public:
  Status Configure(const json& cfg) override {
    Status s = CheckChannelsLast(cfg, ref);
    if (!s) return s;
    const json* p = jsonu::FindNonNull(cfg, "padding");
    int64_t v[4] = {1, 1, 1, 1};  // top, bottom, left, right
    bool ok = true;
    if (!p) {
    } else if (jsonu::AsInt64(*p, &v[0])) {
      v[1] = v[2] = v[3] = v[0];
    } else if (p->is_array() && p->size() == 2 && (*p)[0].is_number()) {
      ok = jsonu::AsInt64((*p)[0], &v[0]) && jsonu::AsInt64((*p)[1], &v[2]);
      v[1] = v[0];
      v[3] = v[2];
    } else if (p->is_array() && p->size() == 2 && (*p)[0].is_array() && (*p)[1].is_array() && (*p)[0].size() == 2 &&
               (*p)[1].size() == 2) {
      ok = jsonu::AsInt64((*p)[0][0], &v[0]) && jsonu::AsInt64((*p)[0][1], &v[1]) && jsonu::AsInt64((*p)[1][0], &v[2]) &&
           jsonu::AsInt64((*p)[1][1], &v[3]);
    } else {
      ok = false;
    }
    for (int64_t x : v) ok = ok && x >= 0 && x < (1 << 20);
    if (!ok) return Status::Error(ref.str() + ": bad padding " + (p ? jsonu::Dump(*p, 80) : ""));
    for (int i = 0; i < 4; ++i) pad_[i] = static_cast<int>(v[i]);
    return Status::Ok();
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    if (!(s = CheckDims(ref, in_shapes[0]))) return s;
    H_ = static_cast<int>(in_shapes[0][0]);
    W_ = static_cast<int>(in_shapes[0][1]);
    C_ = static_cast<int>(in_shapes[0][2]);
    out_shape = {int64_t(H_) + pad_[0] + pad_[1], int64_t(W_) + pad_[2] + pad_[3], C_};
    return CheckDims(ref, out_shape);
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int OH = static_cast<int>(out_shape[0]), OW = static_cast<int>(out_shape[1]);
    for (int b = 0; b < batch; ++b) {
      float* dst = out + static_cast<size_t>(b) * OH * OW * C_;
      const float* src = ins[0] + static_cast<size_t>(b) * H_ * W_ * C_;
      std::fill(dst, dst + static_cast<size_t>(OH) * OW * C_, 0.f);
      for (int y = 0; y < H_; ++y)
        std::memcpy(dst + ((static_cast<size_t>(y) + pad_[0]) * OW + pad_[2]) * C_, src + static_cast<size_t>(y) * W_ * C_,
                    sizeof(float) * W_ * C_);
    }
  }

 private:
  int pad_[4] = {1, 1, 1, 1};
  int H_ = 0, W_ = 0, C_ = 0;
};

}  // namespace

std::unique_ptr<Layer> NewFlatten() { return std::make_unique<ReshapeLayer>(true); }
std::unique_ptr<Layer> NewReshape() { return std::make_unique<ReshapeLayer>(false); }
std::unique_ptr<Layer> NewZeroPadding2D() { return std::make_unique<ZeroPaddingLayer>(); }

}  // namespace catdog::detail
