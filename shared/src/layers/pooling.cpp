#include "layers/pooling.h"

#include <algorithm>
#include <limits>

#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {

using jsonu::json;

// Reference pooling, NHWC. Average counts only cells inside the input (TensorFlow 'same').
void Pool2D(bool is_max, int batch, int H, int W, int C, int ph, int pw, int sh, int sw, int pt, int pl, int OH,
            int OW, const float* in, float* out) {
  for (int b = 0; b < batch; ++b) {
    const float* src = in + static_cast<size_t>(b) * H * W * C;
    float* dst = out + static_cast<size_t>(b) * OH * OW * C;
    for (int oy = 0; oy < OH; ++oy) {
      int y0 = std::max(oy * sh - pt, 0), y1 = std::min(oy * sh - pt + ph, H);
      for (int ox = 0; ox < OW; ++ox) {
        int x0 = std::max(ox * sw - pl, 0), x1 = std::min(ox * sw - pl + pw, W);
        float* o = dst + (static_cast<size_t>(oy) * OW + ox) * C;
        int count = (y1 - y0) * (x1 - x0);
        for (int c = 0; c < C; ++c) {
          float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.f;
          for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) {
              float v = src[(static_cast<size_t>(y) * W + x) * C + c];
              acc = is_max ? std::max(acc, v) : acc + v;
            }
          o[c] = is_max ? acc : (count > 0 ? acc / static_cast<float>(count) : 0.f);
        }
      }
    }
  }
}

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
  H_ = static_cast<int>(in[0]);
  W_ = static_cast<int>(in[1]);
  C_ = static_cast<int>(in[2]);
  int pb, pr;
  if (!(s = WindowOut(ref, "height", in[0], ph_, sh_, same_, &OH_, &pt_, &pb))) return s;
  if (!(s = WindowOut(ref, "width", in[1], pw_, sw_, same_, &OW_, &pl_, &pr))) return s;
  out_shape = {OH_, OW_, C_};
  return Status::Ok();
}

void PoolLayer::Run(int batch, const std::vector<const float*>& ins, float* out) {
  Pool2D(is_max_, batch, H_, W_, C_, ph_, pw_, sh_, sw_, pt_, pl_, OH_, OW_, ins[0], out);
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
