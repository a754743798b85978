// XNNPACK backend (Debian's libxnnpack, Feb-2022 operator API), native builds with
// CATDOG_WITH_XNNPACK only. XNNPACK packs the weights itself at creation (from OHWI / [out][in],
// which we transpose from Keras' HWIO / [in][out]); the fused 2x2 max-pool is a second XNNPACK
// operator over a scratch buffer. Without the option every Make* returns nullptr.
#include "kernels.h"

#ifdef CATDOG_WITH_XNNPACK

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

namespace catdog::kernels {
namespace {

bool XnnInit() {
  static const bool ok = xnn_initialize(nullptr) == xnn_status_success;
  return ok;
}

struct OpDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using XnnOpPtr = std::unique_ptr<xnn_operator, OpDeleter>;
// One pthreadpool per thread count, shared by all XNNPACK ops (pthreadpool serializes parallel
// calls internally), so a model does not spin up a pool per layer. Never destroyed.
pthreadpool_t SharedPool(int threads) {
  if (threads <= 1) return nullptr;
  static std::mutex mu;
  static std::vector<std::pair<int, pthreadpool_t>> pools;
  std::lock_guard<std::mutex> lock(mu);
  for (auto& p : pools)
    if (p.first == threads) return p.second;
  pthreadpool_t p = pthreadpool_create(threads);
  if (p) pools.emplace_back(threads, p);
  return p;
}

// XNNPACK rejects NaN bounds and wants min < max; infinities are fine.
bool ClampOk(float lo, float hi) { return !std::isnan(lo) && !std::isnan(hi) && lo < hi; }

class XnnConvOp final : public Op {
 public:
  XnnConvOp(const ConvDesc& d, XnnOpPtr conv, XnnOpPtr pool, pthreadpool_t threads)
      : d_(d), conv_(std::move(conv)), pool_(std::move(pool)), threads_(threads) {
    name_ = d.fuse_maxpool2 ? "f32_conv2d_nhwc+max_pooling2d__xnnpack" : "f32_conv2d_nhwc__xnnpack";
  }
  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    float* conv_out = out;
    if (pool_) {
      const size_t need = static_cast<size_t>(batch) * d_.out_h * d_.out_w * d_.out_c;
      if (scratch_.size() < need) scratch_.resize(need);
      conv_out = scratch_.data();
    }
    // Setup rebuilds XNNPACK's indirection buffer: only when the pointers or batch change.
    if (batch != batch_ || in != in_ || out != out_ || conv_out != conv_out_) {
      xnn_setup_convolution2d_nhwc_f32(conv_.get(), batch, d_.in_h, d_.in_w, in, conv_out, threads_);
      if (pool_)
        xnn_setup_max_pooling2d_nhwc_f32(pool_.get(), batch, d_.out_h, d_.out_w, conv_out, out, threads_);
      batch_ = batch;
      in_ = in;
      out_ = out;
      conv_out_ = conv_out;
    }
    xnn_run_operator(conv_.get(), threads_);
    if (pool_) xnn_run_operator(pool_.get(), threads_);
  }

 private:
  ConvDesc d_;
  XnnOpPtr conv_, pool_;
  pthreadpool_t threads_;
  std::vector<float> scratch_;
  std::string name_;
  int batch_ = -1;
  const float* in_ = nullptr;
  float* out_ = nullptr;
  float* conv_out_ = nullptr;
};

class XnnDenseOp final : public Op {
 public:
  XnnDenseOp(XnnOpPtr fc, pthreadpool_t threads) : fc_(std::move(fc)), threads_(threads) {}
  const char* name() const override { return "f32_fully_connected_nc__xnnpack"; }
  void Run(int batch, const float* in, float* out) override {
    if (batch != batch_ || in != in_ || out != out_) {
      xnn_setup_fully_connected_nc_f32(fc_.get(), batch, in, out, threads_);
      batch_ = batch;
      in_ = in;
      out_ = out;
    }
    xnn_run_operator(fc_.get(), threads_);
  }

 private:
  XnnOpPtr fc_;
  pthreadpool_t threads_;
  int batch_ = -1;
  const float* in_ = nullptr;
  float* out_ = nullptr;
};

}  // namespace

std::unique_ptr<Op> MakeConvXnnpack(const ConvDesc& d, const float* w_hwio, const float* bias, int threads) {
  if (!XnnInit() || !w_hwio || !ClampOk(d.clamp_min, d.clamp_max)) return nullptr;
  if (d.in_c <= 0 || d.out_c <= 0 || d.kh <= 0 || d.kw <= 0 || d.out_h <= 0 || d.out_w <= 0) return nullptr;
  if (d.fuse_maxpool2 && (d.out_h < 2 || d.out_w < 2)) return nullptr;
  // HWIO -> OHWI
  const size_t taps = static_cast<size_t>(d.kh) * d.kw;
  std::vector<float> ohwi(taps * d.in_c * d.out_c);
  for (size_t t = 0; t < taps; ++t)
    for (int i = 0; i < d.in_c; ++i)
      for (int o = 0; o < d.out_c; ++o)
        ohwi[(static_cast<size_t>(o) * taps + t) * d.in_c + i] = w_hwio[(t * d.in_c + i) * d.out_c + o];
  xnn_operator_t conv = nullptr;
  if (xnn_create_convolution2d_nhwc_f32(d.pad_top, d.pad_right, d.pad_bottom, d.pad_left, d.kh, d.kw, d.stride_h,
                                        d.stride_w, d.dil_h, d.dil_w, /*groups=*/1, d.in_c, d.out_c, d.in_c,
                                        d.out_c, ohwi.data(), bias, d.clamp_min, d.clamp_max, 0,
                                        &conv) != xnn_status_success)
    return nullptr;
  XnnOpPtr conv_op(conv);
  XnnOpPtr pool_op;
  if (d.fuse_maxpool2) {
    xnn_operator_t pool = nullptr;
    if (xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 2, 2, 2, 2, 1, 1, d.out_c, d.out_c, d.out_c, -kInf, kInf, 0,
                                          &pool) != xnn_status_success)
      return nullptr;
    pool_op.reset(pool);
  }
  return std::make_unique<XnnConvOp>(d, std::move(conv_op), std::move(pool_op), SharedPool(threads));
}

std::unique_ptr<Op> MakeDenseXnnpack(const DenseDesc& d, const float* w_io, const float* bias, int threads) {
  if (!XnnInit() || !w_io || d.in <= 0 || d.out <= 0 || !ClampOk(d.clamp_min, d.clamp_max)) return nullptr;
  std::vector<float> oi(static_cast<size_t>(d.in) * d.out);
  for (int i = 0; i < d.in; ++i)
    for (int o = 0; o < d.out; ++o) oi[static_cast<size_t>(o) * d.in + i] = w_io[static_cast<size_t>(i) * d.out + o];
  xnn_operator_t fc = nullptr;
  if (xnn_create_fully_connected_nc_f32(d.in, d.out, d.in, d.out, oi.data(), bias, d.clamp_min, d.clamp_max, 0,
                                        &fc) != xnn_status_success)
    return nullptr;
  return std::make_unique<XnnDenseOp>(XnnOpPtr(fc), SharedPool(threads));
}

bool XnnpackAvailable() { return XnnInit(); }

}  // namespace catdog::kernels

#else  // !CATDOG_WITH_XNNPACK

namespace catdog::kernels {
std::unique_ptr<Op> MakeConvXnnpack(const ConvDesc&, const float*, const float*, int) { return nullptr; }
std::unique_ptr<Op> MakeDenseXnnpack(const DenseDesc&, const float*, const float*, int) { return nullptr; }
bool XnnpackAvailable() { return false; }
}  // namespace catdog::kernels

#endif
