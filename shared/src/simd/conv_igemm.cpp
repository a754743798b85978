// f32_conv<kh>x<kw>[_s..][_d..]_igemm / _c1_igemm: Conv2D as an implicit GEMM on the table's gemm
// microkernels (one task per output row; a fused 2x2 max-pool takes two conv rows per task and the
// table's pool2). Op names: "<this>__<isa>_<mr>x<nr>[_affine][_pool2][_t<threads>]".
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

class ConvIgemmOp final : public Op {
 public:
  CATDOG_LOAD_TIME ConvIgemmOp(const Isa& isa, const ConvDesc& d, const float* w, const float* bias, int threads, const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    const int nv = std::min(d.in_c == 1 ? isa.c1_nv : isa.conv_nv, CeilDiv(d.out_c, isa.width));
    packed_ = Pack(isa, static_cast<size_t>(d.kh) * d.kw * d.in_c, d.out_c, w, bias, nv);
    post_.Set(post, d.out_c, packed_.oc_pad);
    hp_ = d.in_h + d.pad_top + d.pad_bottom;
    wp_ = d.in_w + d.pad_left + d.pad_right;
    padded_ = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right;
    for (int y = 0; y < d.kh; ++y)
      for (int x = 0; x < d.kw; ++x)
        tap_off_.push_back((static_cast<ptrdiff_t>(y) * d.dil_h * wp_ + static_cast<ptrdiff_t>(x) * d.dil_w) * d.in_c);
    rowbuf_.resize(pool_.size());
    for (auto& r : rowbuf_) r.resize(static_cast<size_t>(2) * d.out_w * packed_.oc_pad);
    name_ = "f32_conv" + std::to_string(d.kh) + "x" + std::to_string(d.kw);
    if (d.stride_h != 1 || d.stride_w != 1) name_ += "_s" + std::to_string(d.stride_h) + "x" + std::to_string(d.stride_w);
    if (d.dil_h != 1 || d.dil_w != 1) name_ += "_d" + std::to_string(d.dil_h) + "x" + std::to_string(d.dil_w);
    name_ += d.in_c == 1 ? "_c1_igemm" : "_igemm";  // c1: the block shape for 1-channel inputs
    name_ += std::string("__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" + std::to_string(nv * isa.width);
    if (post.active()) name_ += "_affine";
    if (d.fuse_maxpool2) name_ += "_pool2";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    if (padded_) {
      const size_t per = static_cast<size_t>(hp_) * wp_ * d_.in_c;
      if (padbuf_.size() < per * batch) padbuf_.assign(per * batch, 0.0f);  // borders stay zero
      const size_t row = static_cast<size_t>(d_.in_w) * d_.in_c;
      for (int b = 0; b < batch; ++b)
        for (int y = 0; y < d_.in_h; ++y)
          std::memcpy(padbuf_.data() + b * per + ((static_cast<size_t>(y) + d_.pad_top) * wp_ + d_.pad_left) * d_.in_c,
                      in + (static_cast<size_t>(b) * d_.in_h + y) * row, row * sizeof(float));
      src_ = padbuf_.data();
    }
    dst_ = out;
    pool_.Run(batch * d_.final_h(), &ConvIgemmOp::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int thread) { static_cast<ConvIgemmOp*>(self)->Row(task, thread); }

  // One output row (one pooled row: two conv rows) of one sample.
  void Row(int task, int thread) {
    const int fh = d_.final_h(), fw = d_.final_w();
    const int b = task / fh, r = task % fh;
    const float* x = src_ + static_cast<size_t>(b) * hp_ * wp_ * d_.in_c;
    float* y = dst_ + static_cast<size_t>(b) * fh * fw * d_.out_c;
    const bool pool = d_.fuse_maxpool2;
    const bool direct = !pool && packed_.oc_pad == d_.out_c;
    float* rb = rowbuf_[thread].data();
    const int nconv = pool ? 2 : 1;
    for (int j = 0; j < nconv; ++j) {
      const int oh = pool ? 2 * r + j : r;
      float* tgt = direct ? y + static_cast<size_t>(oh) * d_.out_w * d_.out_c
                          : rb + static_cast<size_t>(j) * d_.out_w * packed_.oc_pad;
      const size_t ldc = direct ? d_.out_c : packed_.oc_pad;
      const float* xrow = x + static_cast<size_t>(oh) * d_.stride_h * wp_ * d_.in_c;
      for (const auto& blk : packed_.blocks) {
        const int mr = isa_.mr[blk.nv];
        simd::GemmArgs t{};
        const float* a[kMaxMr];
        t.a = a;
        t.tap_off = tap_off_.data();
        t.ntaps = static_cast<int>(tap_off_.size());
        t.cin = d_.in_c;
        t.w = packed_.w.data() + blk.offset;
        t.bias = packed_.bias.data() + blk.oc0;
        t.lo = d_.clamp_min;
        t.hi = d_.clamp_max;
        t.ldc = ldc;
        t.post_sub = post_.sub_at(blk.oc0);
        t.post_mul = post_.mul_at(blk.oc0);
        t.post_add = post_.add_at(blk.oc0);
        for (int ow0 = 0; ow0 < d_.out_w; ow0 += mr) {
          const int m = std::min(mr, d_.out_w - ow0);
          for (int p = 0; p < m; ++p) a[p] = xrow + static_cast<size_t>(ow0 + p) * d_.stride_w * d_.in_c;
          t.c = tgt + static_cast<size_t>(ow0) * ldc + blk.oc0;
          isa_.gemm[blk.nv][m](t);
        }
      }
    }
    if (pool) {
      isa_.pool2(rb, rb + static_cast<size_t>(d_.out_w) * packed_.oc_pad, packed_.oc_pad, fw, d_.out_c,
                 y + static_cast<size_t>(r) * fw * d_.out_c);
    } else if (!direct) {
      float* yr = y + static_cast<size_t>(r) * d_.out_w * d_.out_c;
      for (int p = 0; p < d_.out_w; ++p)
        std::memcpy(yr + static_cast<size_t>(p) * d_.out_c, rb + static_cast<size_t>(p) * packed_.oc_pad,
                    d_.out_c * sizeof(float));
    }
  }

  const Isa& isa_;
  ConvDesc d_;
  Workers pool_;
  PackedWeights packed_;
  PackedAffine post_;
  std::vector<ptrdiff_t> tap_off_;
  int hp_ = 0, wp_ = 0;
  bool padded_ = false;
  std::vector<float> padbuf_;
  std::vector<std::vector<float>> rowbuf_;  // per thread: two conv rows, oc_pad channels
  std::string name_;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
};

}  // namespace

bool ConvSupported(const ConvDesc& d) {
  if (d.in_h <= 0 || d.in_w <= 0 || d.in_c <= 0 || d.out_c <= 0 || d.kh <= 0 || d.kw <= 0) return false;
  if (d.stride_h <= 0 || d.stride_w <= 0 || d.dil_h <= 0 || d.dil_w <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  const int eh = d.in_h + d.pad_top + d.pad_bottom - d.dil_h * (d.kh - 1);
  const int ew = d.in_w + d.pad_left + d.pad_right - d.dil_w * (d.kw - 1);
  if (eh <= 0 || ew <= 0) return false;
  if (d.out_h != (eh - 1) / d.stride_h + 1 || d.out_w != (ew - 1) / d.stride_w + 1) return false;
  if (d.fuse_maxpool2 && (d.out_h < 2 || d.out_w < 2)) return false;
  return true;
}


CATDOG_LOAD_TIME std::unique_ptr<Op> NewConvIgemm(const Isa& isa, const ConvDesc& d, const float* w_hwio, const float* bias, int threads,
                                 const ChannelAffine& post) {
  return std::make_unique<ConvIgemmOp>(isa, d, w_hwio, bias, threads, post);
}

}  // namespace catdog::kernels::simd
