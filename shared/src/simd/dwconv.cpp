// f32_dwconv<kh>x<kw>[_s..]: DepthwiseConv2D with depth_multiplier 1 on the table's dwconv3x3 /
// dwconv row microkernels.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "simd/isa.h"
#include "simd/operators.h"
#include "simd/packing.h"
#include "simd/thread_pool.h"

namespace catdog::kernels::simd {
namespace {

// ---- depthwise convolution (depth_multiplier 1) ---------------------------------------------------
// Weights repacked to [kh * kw][ch_pad] so every tap's channel vector is aligned to the table's
// width; one task per output row; padding handled by the row kernel (no copy of the input).
class DwConvOp final : public Op {
 public:
  CATDOG_LOAD_TIME DwConvOp(const Isa& isa, const DepthwiseDesc& d, const float* w, const float* bias, int threads,
              const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    ch_pad_ = static_cast<size_t>(CeilDiv(d.channels, isa.width)) * isa.width;
    const size_t taps = static_cast<size_t>(d.kh) * d.kw;
    w_.assign(taps * ch_pad_, 0.0f);
    for (size_t t = 0; t < taps; ++t) std::copy(w + t * d.channels, w + (t + 1) * d.channels, w_.begin() + t * ch_pad_);
    bias_.assign(ch_pad_, 0.0f);
    if (bias) std::copy(bias, bias + d.channels, bias_.begin());
    post_.Set(post, d.channels, static_cast<int>(ch_pad_));
    k3_ = d.kh == 3 && d.kw == 3;
    name_ = "f32_dwconv" + std::to_string(d.kh) + "x" + std::to_string(d.kw);
    if (d.stride_h != 1 || d.stride_w != 1) name_ += "_s" + std::to_string(d.stride_h) + "x" + std::to_string(d.stride_w);
    name_ += std::string("__") + isa.name + "_" + std::to_string(isa.width);
    if (post.active()) name_ += "_affine";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    dst_ = out;
    pool_.Run(batch * d_.out_h, &DwConvOp::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int) { static_cast<DwConvOp*>(self)->Row(task); }

  void Row(int task) {
    const int b = task / d_.out_h, oy = task % d_.out_h;
    const size_t row = static_cast<size_t>(d_.in_w) * d_.channels;
    const float* x = src_ + static_cast<size_t>(b) * d_.in_h * row;
    const float* rows[kMaxTaps];
    for (int ky = 0; ky < d_.kh; ++ky) {
      const int iy = oy * d_.stride_h - d_.pad_top + ky;
      rows[ky] = iy >= 0 && iy < d_.in_h ? x + static_cast<size_t>(iy) * row : nullptr;
    }
    simd::DwConvArgs a{};
    a.rows = rows;
    a.kh = d_.kh;
    a.kw = d_.kw;
    a.sw = d_.stride_w;
    a.pad_left = d_.pad_left;
    a.in_w = d_.in_w;
    a.out_w = d_.out_w;
    a.ch = d_.channels;
    a.ch_pad = ch_pad_;
    a.w = w_.data();
    a.bias = bias_.data();
    a.lo = d_.clamp_min;
    a.hi = d_.clamp_max;
    a.post_sub = post_.sub_at(0);
    a.post_mul = post_.mul_at(0);
    a.post_add = post_.add_at(0);
    a.out = dst_ + (static_cast<size_t>(b) * d_.out_h + oy) * d_.out_w * d_.channels;
    (k3_ ? isa_.dwconv3x3 : isa_.dwconv)(a);
  }

 public:
  static constexpr int kMaxTaps = 64;  // kh limit of the row-pointer array

 private:
  const Isa& isa_;
  DepthwiseDesc d_;
  Workers pool_;
  size_t ch_pad_ = 0;
  std::vector<float> w_, bias_;
  PackedAffine post_;
  bool k3_ = false;
  std::string name_;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
};

}  // namespace

bool DwConvSupported(const DepthwiseDesc& d) {
  if (d.in_h <= 0 || d.in_w <= 0 || d.channels <= 0 || d.mult != 1 || d.kh <= 0 || d.kw <= 0) return false;
  if (d.kh > DwConvOp::kMaxTaps || d.stride_h <= 0 || d.stride_w <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  const int eh = d.in_h + d.pad_top + d.pad_bottom - (d.kh - 1);
  const int ew = d.in_w + d.pad_left + d.pad_right - (d.kw - 1);
  if (eh <= 0 || ew <= 0) return false;
  return d.out_h == (eh - 1) / d.stride_h + 1 && d.out_w == (ew - 1) / d.stride_w + 1;
}

CATDOG_LOAD_TIME std::unique_ptr<Op> NewDwConv(const Isa& isa, const DepthwiseDesc& d, const float* w, const float* bias, int threads,
                              const ChannelAffine& post) {
  return std::make_unique<DwConvOp>(isa, d, w, bias, threads, post);
}

}  // namespace catdog::kernels::simd
