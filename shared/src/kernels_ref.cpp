// Scalar reference kernels: plain loops, always built. They are the oracle every SIMD and
// XNNPACK path is tested against, and the fallback for configurations the fast paths skip.
#include <algorithm>

#include "kernels.h"

namespace catdog::kernels {
namespace {

inline float Clamp(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }

// Conv + bias + clamp of one output pixel, channels [oc0, oc1), into acc[0 .. oc1-oc0).
void PixelConv(const ConvDesc& d, const float* in, const float* w, const float* bias, int oh, int ow, int oc0,
               int oc1, float* acc) {
  const int n = oc1 - oc0;
  for (int j = 0; j < n; ++j) acc[j] = bias ? bias[oc0 + j] : 0.0f;
  for (int kh = 0; kh < d.kh; ++kh) {
    const int ih = oh * d.stride_h - d.pad_top + kh * d.dil_h;
    if (ih < 0 || ih >= d.in_h) continue;  // zero padding
    for (int kw = 0; kw < d.kw; ++kw) {
      const int iw = ow * d.stride_w - d.pad_left + kw * d.dil_w;
      if (iw < 0 || iw >= d.in_w) continue;
      const float* x = in + (static_cast<size_t>(ih) * d.in_w + iw) * d.in_c;
      const float* wk = w + (static_cast<size_t>(kh) * d.kw + kw) * d.in_c * d.out_c + oc0;
      for (int ic = 0; ic < d.in_c; ++ic) {
        const float xv = x[ic];
        const float* wr = wk + static_cast<size_t>(ic) * d.out_c;
        for (int j = 0; j < n; ++j) acc[j] += xv * wr[j];
      }
    }
  }
  for (int j = 0; j < n; ++j) acc[j] = Clamp(acc[j], d.clamp_min, d.clamp_max);
}

}  // namespace

// Allocation-free (catdog.h: Run allocates nothing): the plain conv accumulates in the output
// pixel itself; the fused pool keeps its running max in stack chunks of channels.
void Conv2DRef(const ConvDesc& d, int batch, const float* in, const float* w_hwio,
               const float* bias, float* out) {
  const size_t in_size = static_cast<size_t>(d.in_h) * d.in_w * d.in_c;
  const size_t out_size = static_cast<size_t>(d.final_h()) * d.final_w() * d.out_c;
  constexpr int kChunk = 64;
  for (int b = 0; b < batch; ++b) {
    const float* x = in + b * in_size;
    float* y = out + b * out_size;
    for (int oh = 0; oh < d.final_h(); ++oh) {
      for (int ow = 0; ow < d.final_w(); ++ow) {
        float* o = y + (static_cast<size_t>(oh) * d.final_w() + ow) * d.out_c;
        if (!d.fuse_maxpool2) {
          PixelConv(d, x, w_hwio, bias, oh, ow, 0, d.out_c, o);
          continue;
        }
        for (int oc0 = 0; oc0 < d.out_c; oc0 += kChunk) {
          const int oc1 = std::min(d.out_c, oc0 + kChunk);
          float best[kChunk], cur[kChunk];
          for (int j = 0; j < oc1 - oc0; ++j) best[j] = -kInf;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              PixelConv(d, x, w_hwio, bias, 2 * oh + dy, 2 * ow + dx, oc0, oc1, cur);
              for (int j = 0; j < oc1 - oc0; ++j) best[j] = std::max(best[j], cur[j]);
            }
          std::copy(best, best + (oc1 - oc0), o + oc0);
        }
      }
    }
  }
}

void DenseRef(const DenseDesc& d, int batch, const float* in, const float* w_io, const float* bias,
              float* out) {
  for (int b = 0; b < batch; ++b) {
    const float* x = in + static_cast<size_t>(b) * d.in;
    float* acc = out + static_cast<size_t>(b) * d.out;  // accumulate in place: no allocation
    for (int o = 0; o < d.out; ++o) acc[o] = bias ? bias[o] : 0.0f;
    for (int i = 0; i < d.in; ++i) {
      const float xv = x[i];
      const float* wr = w_io + static_cast<size_t>(i) * d.out;
      for (int o = 0; o < d.out; ++o) acc[o] += xv * wr[o];
    }
    for (int o = 0; o < d.out; ++o) acc[o] = Clamp(acc[o], d.clamp_min, d.clamp_max);
  }
}

// out[b,oy,ox,c*mult+m] = clamp(bias + sum_{ky,kx} in[b, oy*sh-pt+ky, ox*sw-pl+kx, c] * w[ky,kx,c,m]).
// Accumulates in the output pixel (allocation-free).
void DepthwiseRef(const DepthwiseDesc& d, int batch, const float* in, const float* w, const float* bias,
                  float* out) {
  const int oc = d.out_c();
  for (int b = 0; b < batch; ++b) {
    const float* src = in + static_cast<size_t>(b) * d.in_h * d.in_w * d.channels;
    float* dst = out + static_cast<size_t>(b) * d.out_h * d.out_w * oc;
    for (int oy = 0; oy < d.out_h; ++oy)
      for (int ox = 0; ox < d.out_w; ++ox) {
        float* o = dst + (static_cast<size_t>(oy) * d.out_w + ox) * oc;
        for (int j = 0; j < oc; ++j) o[j] = bias ? bias[j] : 0.f;
        for (int ky = 0; ky < d.kh; ++ky) {
          const int y = oy * d.stride_h - d.pad_top + ky;
          if (y < 0 || y >= d.in_h) continue;  // zero padding
          for (int kx = 0; kx < d.kw; ++kx) {
            const int x = ox * d.stride_w - d.pad_left + kx;
            if (x < 0 || x >= d.in_w) continue;
            const float* px = src + (static_cast<size_t>(y) * d.in_w + x) * d.channels;
            const float* wk = w + (static_cast<size_t>(ky) * d.kw + kx) * oc;
            if (d.mult == 1) {  // SeparableConv2D's case: one contiguous loop the compiler vectorizes
              for (int c = 0; c < d.channels; ++c) o[c] += px[c] * wk[c];
            } else {
              for (int c = 0; c < d.channels; ++c)
                for (int m = 0; m < d.mult; ++m) o[c * d.mult + m] += px[c] * wk[c * d.mult + m];
            }
          }
        }
        if (d.clamp_min != -kInf || d.clamp_max != kInf)
          for (int j = 0; j < oc; ++j) o[j] = Clamp(o[j], d.clamp_min, d.clamp_max);
      }
  }
}

void ChannelAffineRef(const ChannelAffine& a, size_t rows, int channels, float* data) {
  if (!a.active()) return;
  for (size_t r = 0; r < rows; ++r) {
    float* v = data + r * channels;
    for (int c = 0; c < channels; ++c) v[c] = (v[c] - a.sub[c]) * a.mul[c] + a.add[c];
  }
}

void PoolRef(const PoolDesc& d, int batch, const float* in, float* out) {
  const int C = d.channels;
  for (int b = 0; b < batch; ++b) {
    const float* src = in + static_cast<size_t>(b) * d.in_h * d.in_w * C;
    float* dst = out + static_cast<size_t>(b) * d.out_h * d.out_w * C;
    for (int oy = 0; oy < d.out_h; ++oy) {
      const int y0 = std::max(oy * d.stride_h - d.pad_top, 0), y1 = std::min(oy * d.stride_h - d.pad_top + d.kh, d.in_h);
      for (int ox = 0; ox < d.out_w; ++ox) {
        const int x0 = std::max(ox * d.stride_w - d.pad_left, 0);
        const int x1 = std::min(ox * d.stride_w - d.pad_left + d.kw, d.in_w);
        float* o = dst + (static_cast<size_t>(oy) * d.out_w + ox) * C;
        const int count = std::max(y1 - y0, 0) * std::max(x1 - x0, 0);
        for (int c = 0; c < C; ++c) {
          float acc = d.is_max ? -kInf : 0.f;
          for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) {
              const float v = src[(static_cast<size_t>(y) * d.in_w + x) * C + c];
              acc = d.is_max ? std::max(acc, v) : acc + v;
            }
          o[c] = d.is_max ? acc : (count > 0 ? acc / static_cast<float>(count) : 0.f);  // cells inside only
        }
      }
    }
  }
}

}  // namespace catdog::kernels
