#include "layers/pooling.h"

#include <algorithm>
#include <limits>

#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {

using jsonu::json;

Status PoolLayer::Configure(const json& cfg) {
  Status s;
  if (!(s = ReadPair(cfg, "pool_size", ref, 2, 2, &ph_, &pw_))) return s;
  if (!(s = ReadPair(cfg, "strides", ref, ph_, pw_, &sh_, &sw_))) return s;
  if (!(s = ReadPadding(cfg, ref, &same_))) return s;
  return CheckChannelsLast(cfg, ref);
}

Status PoolLayer::InferShape() {
  Status s = ExpectRank(*this, 3);
  if (!s) return s;
  const Shape& in = in_shapes[0];
  if (!(s = CheckDims(ref, in))) return s;
  d_.is_max = is_max_;
  d_.in_h = static_cast<int>(in[0]);
  d_.in_w = static_cast<int>(in[1]);
  d_.channels = static_cast<int>(in[2]);
  d_.kh = ph_;
  d_.kw = pw_;
  d_.stride_h = sh_;
  d_.stride_w = sw_;
  int pb, pr;
  if (!(s = WindowOut(ref, "height", in[0], ph_, sh_, same_, &d_.out_h, &d_.pad_top, &pb))) return s;
  if (!(s = WindowOut(ref, "width", in[1], pw_, sw_, same_, &d_.out_w, &d_.pad_left, &pr))) return s;
  out_shape = {d_.out_h, d_.out_w, d_.channels};
  return Status::Ok();
}

void PoolLayer::Run(int batch, const std::vector<const float*>& ins, float* out) {
  kernels::PoolRef(d_, batch, ins[0], out);
}

namespace {

class GlobalPoolLayer : public Layer {
 public:
  explicit GlobalPoolLayer(bool is_max) : is_max_(is_max) {}
  Status Configure(const json& cfg) override {
    Status s = CheckChannelsLast(cfg, ref);
    if (!s) return s;
    return ReadBool(cfg, "keepdims", ref, false, &keepdims_);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    if (!(s = CheckDims(ref, in_shapes[0]))) return s;
    hw_ = in_shapes[0][0] * in_shapes[0][1];
    C_ = in_shapes[0][2];
    out_shape = keepdims_ ? Shape{1, 1, C_} : Shape{C_};
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    for (int b = 0; b < batch; ++b) {
      const float* src = ins[0] + static_cast<size_t>(b * hw_ * C_);
      float* o = out + static_cast<size_t>(b) * C_;
      for (int64_t c = 0; c < C_; ++c) o[c] = is_max_ ? -std::numeric_limits<float>::infinity() : 0.f;
      for (int64_t p = 0; p < hw_; ++p)
        for (int64_t c = 0; c < C_; ++c) o[c] = is_max_ ? std::max(o[c], src[p * C_ + c]) : o[c] + src[p * C_ + c];
      if (!is_max_)
        for (int64_t c = 0; c < C_; ++c) o[c] /= static_cast<float>(hw_);
    }
  }

 private:
  bool is_max_, keepdims_ = false;
  int64_t hw_ = 0, C_ = 0;
};

}  // namespace

std::unique_ptr<Layer> NewMaxPooling2D() { return std::make_unique<PoolLayer>(true); }
std::unique_ptr<Layer> NewAveragePooling2D() { return std::make_unique<PoolLayer>(false); }
std::unique_ptr<Layer> NewGlobalAveragePooling2D() { return std::make_unique<GlobalPoolLayer>(false); }
std::unique_ptr<Layer> NewGlobalMaxPooling2D() { return std::make_unique<GlobalPoolLayer>(true); }

}  // namespace catdog::detail
