// f32_conv3x3_winograd2x2: 3x3 stride-1 Conv2D via Winograd F(2x2, 3x3), on the table's
// winograd2x2_in / gemm / winograd2x2_out microkernels.
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

// ---- Conv2D 3x3 stride 1 via Winograd F(2x2, 3x3) ------------------------------------------------------
// Each 2x2 block of outputs is computed from a 4x4 input tile with 16 multiplies per
// (input, output) channel pair instead of 36: input transform V = B^T d B (per tile, vectorized
// over input channels), 16 independent GEMMs M[xi] = V[xi] x U[xi] on the same microkernels
// as the direct path (U = G g G^T packed at creation), output transform Y = A^T M A fused with
// bias, clamp and the 2x2 max-pool (a tile's outputs are exactly one pool window).
class ConvWinograd2x2Op final : public Op {
 public:
  CATDOG_LOAD_TIME ConvWinograd2x2Op(const Isa& isa, const ConvDesc& d, const float* w, const float* bias, int threads,
             const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    const int W = isa.width;
    cin_pad_ = CeilDiv(d.in_c, W) * W;
    const int nv = std::min(isa.conv_nv, CeilDiv(d.out_c, W));
    // U[xi][ic][oc] = (G g G^T)[xi] with G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; rows ic >= in_c zero.
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    std::vector<float> u(16 * static_cast<size_t>(cin_pad_) * d.out_c, 0.0f);
    for (int ic = 0; ic < d.in_c; ++ic)
      for (int oc = 0; oc < d.out_c; ++oc) {
        double g[3][3];
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) g[a][b] = w[((static_cast<size_t>(a) * 3 + b) * d.in_c + ic) * d.out_c + oc];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            double acc = 0;
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b) acc += G[i][a] * g[a][b] * G[j][b];
            u[((static_cast<size_t>(4 * i + j) * cin_pad_) + ic) * d.out_c + oc] = static_cast<float>(acc);
          }
      }
    for (int xi = 0; xi < 16; ++xi)
      packed_[xi] = Pack(isa, cin_pad_, d.out_c, u.data() + static_cast<size_t>(xi) * cin_pad_ * d.out_c, nullptr, nv);
    oc_pad_ = packed_[0].oc_pad;
    bias_.assign(oc_pad_, 0.0f);
    if (bias) std::copy(bias, bias + d.out_c, bias_.begin());
    zeros_.assign(oc_pad_, 0.0f);
    post_.Set(post, d.out_c, oc_pad_);
    const bool pool = d.fuse_maxpool2;
    th_ = pool ? d.out_h / 2 : CeilDiv(d.out_h, 2);
    tw_ = pool ? d.out_w / 2 : CeilDiv(d.out_w, 2);
    hb_ = 2 * th_ + 2;
    wb_ = 2 * tw_ + 2;
    // Tiles read rows/columns up to 2*t+3: copy into a zero-bordered buffer unless the input
    // itself has them (valid padding, pooled or even output).
    copy_ = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right || hb_ > d.in_h || wb_ > d.in_w;
    vs_ = static_cast<size_t>(tw_) * cin_pad_;
    ms_ = static_cast<size_t>(tw_) * oc_pad_;
    vbuf_.resize(pool_.size());
    mbuf_.resize(pool_.size());
    for (auto& v : vbuf_) v.resize(16 * vs_);
    for (auto& m : mbuf_) m.resize(16 * ms_);
    name_ = std::string("f32_conv3x3_winograd2x2__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" +
            std::to_string(nv * W);
    if (post.active()) name_ += "_affine";
    if (pool) name_ += "_pool2";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  static bool Supports(const ConvDesc& d) {
    return d.kh == 3 && d.kw == 3 && d.stride_h == 1 && d.stride_w == 1 && d.dil_h == 1 && d.dil_w == 1;
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    row_stride_ = static_cast<size_t>(d_.in_w) * d_.in_c;
    if (copy_) {
      const size_t per = static_cast<size_t>(hb_) * wb_ * d_.in_c;
      if (padbuf_.size() < per * batch) padbuf_.assign(per * batch, 0.0f);  // borders stay zero
      const int rows = std::min(d_.in_h, hb_ - d_.pad_top), cols = std::min(d_.in_w, wb_ - d_.pad_left);
      for (int b = 0; b < batch; ++b)
        for (int y = 0; y < rows; ++y)
          std::memcpy(padbuf_.data() + b * per + ((static_cast<size_t>(y) + d_.pad_top) * wb_ + d_.pad_left) * d_.in_c,
                      in + ((static_cast<size_t>(b) * d_.in_h + y) * d_.in_w) * d_.in_c,
                      static_cast<size_t>(cols) * d_.in_c * sizeof(float));
      src_ = padbuf_.data();
      row_stride_ = static_cast<size_t>(wb_) * d_.in_c;
    }
    src_batch_stride_ = copy_ ? static_cast<size_t>(hb_) * wb_ * d_.in_c : static_cast<size_t>(d_.in_h) * d_.in_w * d_.in_c;
    dst_ = out;
    pool_.Run(batch * th_, &ConvWinograd2x2Op::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int thread) { static_cast<ConvWinograd2x2Op*>(self)->Row(task, thread); }

  void Row(int task, int thread) {
    const int b = task / th_, r = task % th_;
    float* v = vbuf_[thread].data();
    float* m = mbuf_[thread].data();
    isa_.winograd2x2_in(src_ + b * src_batch_stride_ + 2 * r * row_stride_, row_stride_, d_.in_c, cin_pad_, tw_, v, vs_);
    const float* a[kMaxMr];
    simd::GemmArgs t{};
    t.a = a;
    t.tap_off = &zero_;
    t.ntaps = 1;
    t.cin = cin_pad_;
    t.lo = -kInf;
    t.hi = kInf;
    t.ldc = oc_pad_;
    for (int xi = 0; xi < 16; ++xi) {
      const PackedWeights& u = packed_[xi];
      for (const auto& blk : u.blocks) {
        const int mr = isa_.mr[blk.nv];
        t.w = u.w.data() + blk.offset;
        t.bias = zeros_.data() + blk.oc0;
        for (int t0 = 0; t0 < tw_; t0 += mr) {
          const int n = std::min(mr, tw_ - t0);
          for (int p = 0; p < n; ++p) a[p] = v + xi * vs_ + static_cast<size_t>(t0 + p) * cin_pad_;
          t.c = m + xi * ms_ + static_cast<size_t>(t0) * oc_pad_ + blk.oc0;
          isa_.gemm[blk.nv][n](t);
        }
      }
    }
    const int fh = d_.final_h(), fw = d_.final_w();
    float* y = dst_ + static_cast<size_t>(b) * fh * fw * d_.out_c;
    if (d_.fuse_maxpool2) {
      isa_.winograd2x2_out(m, ms_, d_.out_c, oc_pad_, tw_, bias_.data(), d_.clamp_min, d_.clamp_max, post_.sub_at(0),
                    post_.mul_at(0), post_.add_at(0), true, 1, fw,
                    y + static_cast<size_t>(r) * fw * d_.out_c, nullptr);
    } else {
      const int rows = std::min(2, d_.out_h - 2 * r);
      float* y0 = y + static_cast<size_t>(2 * r) * d_.out_w * d_.out_c;
      isa_.winograd2x2_out(m, ms_, d_.out_c, oc_pad_, tw_, bias_.data(), d_.clamp_min, d_.clamp_max, post_.sub_at(0),
                    post_.mul_at(0), post_.add_at(0), false, rows, d_.out_w,
                    y0, y0 + static_cast<size_t>(d_.out_w) * d_.out_c);
    }
  }

  const Isa& isa_;
  ConvDesc d_;
  Workers pool_;
  PackedWeights packed_[16];
  PackedAffine post_;
  std::vector<float> bias_, zeros_;
  int cin_pad_ = 0, oc_pad_ = 0, th_ = 0, tw_ = 0, hb_ = 0, wb_ = 0;
  bool copy_ = false;
  size_t vs_ = 0, ms_ = 0;
  std::vector<std::vector<float>> vbuf_, mbuf_;  // per thread: V and M planes of one tile row
  std::vector<float> padbuf_;
  std::string name_;
  const ptrdiff_t zero_ = 0;
  const float* src_ = nullptr;
  size_t row_stride_ = 0, src_batch_stride_ = 0;
  float* dst_ = nullptr;
};

}  // namespace

bool Winograd2x2Supports(const ConvDesc& d) { return ConvWinograd2x2Op::Supports(d); }

CATDOG_LOAD_TIME std::unique_ptr<Op> NewConvWinograd2x2(const Isa& isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                       int threads, const ChannelAffine& post) {
  return std::make_unique<ConvWinograd2x2Op>(isa, d, w_hwio, bias, threads, post);
}

}  // namespace catdog::kernels::simd
