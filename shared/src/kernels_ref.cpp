// Scalar reference kernels: plain loops, always built. They are the oracle every SIMD and
// XNNPACK path is tested against, and the fallback for configurations the fast paths skip.
#include <algorithm>
#include <vector>

#include "kernels.h"

namespace catdog::kernels {
namespace {

inline float Clamp(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }

// One sample: conv + bias + clamp into `out` (out_h x out_w x out_c).
void ConvOne(const ConvDesc& d, const float* in, const float* w, const float* bias, float* out) {
  std::vector<float> acc(d.out_c);
  for (int oh = 0; oh < d.out_h; ++oh) {
    for (int ow = 0; ow < d.out_w; ++ow) {
      for (int oc = 0; oc < d.out_c; ++oc) acc[oc] = bias ? bias[oc] : 0.0f;
      for (int kh = 0; kh < d.kh; ++kh) {
        const int ih = oh * d.stride_h - d.pad_top + kh * d.dil_h;
        if (ih < 0 || ih >= d.in_h) continue;  // zero padding
        for (int kw = 0; kw < d.kw; ++kw) {
          const int iw = ow * d.stride_w - d.pad_left + kw * d.dil_w;
          if (iw < 0 || iw >= d.in_w) continue;
          const float* x = in + (static_cast<size_t>(ih) * d.in_w + iw) * d.in_c;
          const float* wk = w + (static_cast<size_t>(kh) * d.kw + kw) * d.in_c * d.out_c;
          for (int ic = 0; ic < d.in_c; ++ic) {
            const float xv = x[ic];
            const float* wr = wk + static_cast<size_t>(ic) * d.out_c;
            for (int oc = 0; oc < d.out_c; ++oc) acc[oc] += xv * wr[oc];
          }
        }
      }
      float* o = out + (static_cast<size_t>(oh) * d.out_w + ow) * d.out_c;
      for (int oc = 0; oc < d.out_c; ++oc) o[oc] = Clamp(acc[oc], d.clamp_min, d.clamp_max);
    }
  }
}

}  // namespace

void Conv2DRef(const ConvDesc& d, int batch, const float* in, const float* w_hwio,
               const float* bias, float* out) {
  const size_t in_size = static_cast<size_t>(d.in_h) * d.in_w * d.in_c;
  const size_t conv_size = static_cast<size_t>(d.out_h) * d.out_w * d.out_c;
  const size_t out_size = static_cast<size_t>(d.final_h()) * d.final_w() * d.out_c;
  std::vector<float> tmp(d.fuse_maxpool2 ? conv_size : 0);
  for (int b = 0; b < batch; ++b) {
    const float* x = in + b * in_size;
    float* y = out + b * out_size;
    if (!d.fuse_maxpool2) {
      ConvOne(d, x, w_hwio, bias, y);
      continue;
    }
    ConvOne(d, x, w_hwio, bias, tmp.data());
    MaxPoolRef(1, d.out_h, d.out_w, d.out_c, 2, 2, 2, 2, 0, 0, d.final_h(), d.final_w(), tmp.data(), y);
  }
}

void DenseRef(const DenseDesc& d, int batch, const float* in, const float* w_io, const float* bias,
              float* out) {
  std::vector<float> acc(d.out);
  for (int b = 0; b < batch; ++b) {
    const float* x = in + static_cast<size_t>(b) * d.in;
    for (int o = 0; o < d.out; ++o) acc[o] = bias ? bias[o] : 0.0f;
    for (int i = 0; i < d.in; ++i) {
      const float xv = x[i];
      const float* wr = w_io + static_cast<size_t>(i) * d.out;
      for (int o = 0; o < d.out; ++o) acc[o] += xv * wr[o];
    }
    float* y = out + static_cast<size_t>(b) * d.out;
    for (int o = 0; o < d.out; ++o) y[o] = Clamp(acc[o], d.clamp_min, d.clamp_max);
  }
}

void MaxPoolRef(int batch, int in_h, int in_w, int c, int ph, int pw, int sh, int sw, int pad_top,
                int pad_left, int out_h, int out_w, const float* in, float* out) {
  for (int b = 0; b < batch; ++b) {
    const float* x = in + static_cast<size_t>(b) * in_h * in_w * c;
    float* y = out + static_cast<size_t>(b) * out_h * out_w * c;
    for (int oh = 0; oh < out_h; ++oh) {
      for (int ow = 0; ow < out_w; ++ow) {
        float* o = y + (static_cast<size_t>(oh) * out_w + ow) * c;
        for (int ch = 0; ch < c; ++ch) o[ch] = -kInf;
        for (int i = 0; i < ph; ++i) {
          const int ih = oh * sh - pad_top + i;
          if (ih < 0 || ih >= in_h) continue;  // padded cells never win
          for (int j = 0; j < pw; ++j) {
            const int iw = ow * sw - pad_left + j;
            if (iw < 0 || iw >= in_w) continue;
            const float* p = x + (static_cast<size_t>(ih) * in_w + iw) * c;
            for (int ch = 0; ch < c; ++ch) o[ch] = std::max(o[ch], p[ch]);
          }
        }
      }
    }
  }
}

}  // namespace catdog::kernels
