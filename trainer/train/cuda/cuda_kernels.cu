// CUDA kernels of the training step; see cuda_kernels.h for the contracts.
//
// Why these two (bench/profile_train_step.py on an H200): PyTorch's channels-last
// max-pool forward and backward took 37% of the GPU time of a bf16 batch-1024 step, and the
// batch-32 step is launch-bound, with ~40 of its ~200 kernels spent building the augmentation's
// affine matrices, the sampling grid and the float batch. Here the pool and its ReLU are one
// memory-bound pass each way (16-byte channel vectors in channels-last), and batch gather +
// augmentation + scaling is one kernel.
#include "cuda_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace catdog::train::cuda {

namespace {

template <typename T>
__device__ __forceinline__ float ToF(T v);
template <>
__device__ __forceinline__ float ToF<float>(float v) { return v; }
template <>
__device__ __forceinline__ float ToF<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ __forceinline__ float ToF<__half>(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T FromF(float v);
template <>
__device__ __forceinline__ float FromF<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 FromF<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <>
__device__ __forceinline__ __half FromF<__half>(float v) { return __float2half(v); }

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};
template <int V>
struct alignas(V) Codes {
  uint8_t b[V];
};

constexpr uint8_t kDead = 4;  // the ReLU zeroed this output: no gradient flows

// One window: the first maximum in row-major order (NaN wins, as PyTorch's max_pool2d), then the
// ReLU (relu(NaN) = NaN, and its gradient flows as in threshold_backward).
__device__ __forceinline__ void Window(float a, float b, float c, float d, float* out, uint8_t* code) {
  float best = a;
  uint8_t k = 0;
  if (b > best || isnan(b)) { best = b; k = 1; }
  if (c > best || isnan(c)) { best = c; k = 2; }
  if (d > best || isnan(d)) { best = d; k = 3; }
  if (best > 0.f || isnan(best)) {  // threshold_backward passes the gradient of a NaN on
    *out = best;
    *code = k;
  } else {
    *out = 0.f;
    *code = kDead;
  }
}

// Any layout, one output element per thread, in y's memory order.
template <typename T, bool kNhwc, typename I>
__global__ void PoolFwdScalar(const T* __restrict__ x, T* __restrict__ y, uint8_t* __restrict__ code, I total, I C,
                              I H, I W, I Ho, I Wo) {
  const I o = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (o >= total) return;
  I n, c, oh, ow, r;
  if (kNhwc) {
    c = o % C; r = o / C; ow = r % Wo; r /= Wo; oh = r % Ho; n = r / Ho;
  } else {
    ow = o % Wo; r = o / Wo; oh = r % Ho; r /= Ho; c = r % C; n = r / C;
  }
  const I h = 2 * oh, w = 2 * ow;
  const I base = kNhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
  const I dw = kNhwc ? C : 1, dh = kNhwc ? W * C : W;
  float out;
  uint8_t k;
  Window(ToF(x[base]), ToF(x[base + dw]), ToF(x[base + dh]), ToF(x[base + dh + dw]), &out, &k);
  y[o] = FromF<T>(out);
  code[o] = k;
}

template <typename T, bool kNhwc, typename I>
__global__ void PoolBwdScalar(const T* __restrict__ gy, const uint8_t* __restrict__ code, T* __restrict__ gx, I total,
                              I C, I H, I W, I Ho, I Wo) {
  const I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (i >= total) return;
  I n, c, h, w, r;
  if (kNhwc) {
    c = i % C; r = i / C; w = r % W; r /= W; h = r % H; n = r / H;
  } else {
    w = i % W; r = i / W; h = r % H; r /= H; c = r % C; n = r / C;
  }
  const I oh = h >> 1, ow = w >> 1;
  float g = 0.f;
  if (oh < Ho && ow < Wo) {
    const I o = kNhwc ? ((n * Ho + oh) * Wo + ow) * C + c : ((n * C + c) * Ho + oh) * Wo + ow;
    if (code[o] == uint8_t((h & 1) * 2 + (w & 1))) g = ToF(gy[o]);
  }
  gx[i] = FromF<T>(g);
}

// Channels-last with C % V == 0: V channels per thread as one 16-byte load/store.
template <typename T, int V, typename I>
__global__ void PoolFwdNhwcVec(const T* __restrict__ x, T* __restrict__ y, uint8_t* __restrict__ code, I total, I C,
                               I H, I W, I Ho, I Wo) {
  const I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (t >= total) return;
  const I cg = C / V;
  I r = t / cg;
  const I c = (t - r * cg) * V;
  const I ow = r % Wo;
  r /= Wo;
  const I oh = r % Ho, n = r / Ho;
  const I base = ((n * H + 2 * oh) * W + 2 * ow) * C + c;
  using VT = Vec<T, V>;
  const VT a = *reinterpret_cast<const VT*>(x + base);
  const VT b = *reinterpret_cast<const VT*>(x + base + C);
  const VT d0 = *reinterpret_cast<const VT*>(x + base + W * C);
  const VT d1 = *reinterpret_cast<const VT*>(x + base + W * C + C);
  VT out;
  Codes<V> k;
#pragma unroll
  for (int l = 0; l < V; ++l) {
    float o;
    Window(ToF(a.v[l]), ToF(b.v[l]), ToF(d0.v[l]), ToF(d1.v[l]), &o, &k.b[l]);
    out.v[l] = FromF<T>(o);
  }
  *reinterpret_cast<VT*>(y + t * V) = out;
  *reinterpret_cast<Codes<V>*>(code + t * V) = k;
}

template <typename T, int V, typename I>
__global__ void PoolBwdNhwcVec(const T* __restrict__ gy, const uint8_t* __restrict__ code, T* __restrict__ gx, I total,
                               I C, I H, I W, I Ho, I Wo) {
  const I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (t >= total) return;
  const I cg = C / V;
  I r = t / cg;
  const I c = (t - r * cg) * V;
  const I w = r % W;
  r /= W;
  const I h = r % H, n = r / H;
  const I oh = h >> 1, ow = w >> 1;
  using VT = Vec<T, V>;
  VT g;
  if (oh < Ho && ow < Wo) {
    const I o = ((n * Ho + oh) * Wo + ow) * C + c;
    const VT go = *reinterpret_cast<const VT*>(gy + o);
    const Codes<V> k = *reinterpret_cast<const Codes<V>*>(code + o);
    const uint8_t pos = uint8_t((h & 1) * 2 + (w & 1));
#pragma unroll
    for (int l = 0; l < V; ++l) g.v[l] = k.b[l] == pos ? go.v[l] : FromF<T>(0.f);
  } else {
#pragma unroll
    for (int l = 0; l < V; ++l) g.v[l] = FromF<T>(0.f);
  }
  *reinterpret_cast<VT*>(gx + t * V) = g;
}

constexpr int kThreads = 256;

unsigned Blocks(int64_t total) { return unsigned((total + kThreads - 1) / kThreads); }

bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T>
int PoolForwardT(const T* x, T* y, uint8_t* code, bool nhwc, int64_t n, int64_t c, int64_t h, int64_t w,
                 cudaStream_t st) {
  const int64_t ho = h / 2, wo = w / 2, outs = n * c * ho * wo;
  if (outs == 0) return 0;
  constexpr int V = 16 / sizeof(T);
  const bool small = n * c * h * w < (int64_t(1) << 31);
  if (nhwc && c % V == 0 && Aligned16(x) && Aligned16(y) && small) {
    const int64_t total = outs / V;
    PoolFwdNhwcVec<T, V, uint32_t><<<Blocks(total), kThreads, 0, st>>>(x, y, code, uint32_t(total), uint32_t(c),
                                                                       uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                       uint32_t(wo));
  } else if (nhwc) {
    if (small)
      PoolFwdScalar<T, true, uint32_t><<<Blocks(outs), kThreads, 0, st>>>(x, y, code, uint32_t(outs), uint32_t(c),
                                                                          uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                          uint32_t(wo));
    else
      PoolFwdScalar<T, true, int64_t><<<Blocks(outs), kThreads, 0, st>>>(x, y, code, outs, c, h, w, ho, wo);
  } else {
    if (small)
      PoolFwdScalar<T, false, uint32_t><<<Blocks(outs), kThreads, 0, st>>>(x, y, code, uint32_t(outs), uint32_t(c),
                                                                           uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                           uint32_t(wo));
    else
      PoolFwdScalar<T, false, int64_t><<<Blocks(outs), kThreads, 0, st>>>(x, y, code, outs, c, h, w, ho, wo);
  }
  return int(cudaGetLastError());
}

template <typename T>
int PoolBackwardT(const T* gy, const uint8_t* code, T* gx, bool nhwc, int64_t n, int64_t c, int64_t h, int64_t w,
                  cudaStream_t st) {
  const int64_t ho = h / 2, wo = w / 2, ins = n * c * h * w;
  if (ins == 0) return 0;
  constexpr int V = 16 / sizeof(T);
  const bool small = ins < (int64_t(1) << 31);
  if (nhwc && c % V == 0 && Aligned16(gy) && Aligned16(gx) && small) {
    const int64_t total = ins / V;
    PoolBwdNhwcVec<T, V, uint32_t><<<Blocks(total), kThreads, 0, st>>>(gy, code, gx, uint32_t(total), uint32_t(c),
                                                                       uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                       uint32_t(wo));
  } else if (nhwc) {
    if (small)
      PoolBwdScalar<T, true, uint32_t><<<Blocks(ins), kThreads, 0, st>>>(gy, code, gx, uint32_t(ins), uint32_t(c),
                                                                         uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                         uint32_t(wo));
    else
      PoolBwdScalar<T, true, int64_t><<<Blocks(ins), kThreads, 0, st>>>(gy, code, gx, ins, c, h, w, ho, wo);
  } else {
    if (small)
      PoolBwdScalar<T, false, uint32_t><<<Blocks(ins), kThreads, 0, st>>>(gy, code, gx, uint32_t(ins), uint32_t(c),
                                                                          uint32_t(h), uint32_t(w), uint32_t(ho),
                                                                          uint32_t(wo));
    else
      PoolBwdScalar<T, false, int64_t><<<Blocks(ins), kThreads, 0, st>>>(gy, code, gx, ins, c, h, w, ho, wo);
  }
  return int(cudaGetLastError());
}

// linspace(-1, 1, s)[i] as PyTorch computes it (from both ends, symmetric).
__device__ __forceinline__ float Linspace(int i, int s) {
  if (s == 1) return -1.f;
  const float step = 2.f / float(s - 1);
  return i < s / 2 ? -1.f + step * float(i) : 1.f - step * float(s - 1 - i);
}

__global__ void GatherAugmentKernel(const uint8_t* __restrict__ data, const int64_t* __restrict__ idx,
                                    const float* __restrict__ u, float* __restrict__ out, int batch, int s,
                                    AugmentConsts k) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t plane = int64_t(s) * s;
  if (t >= plane * batch) return;
  const int b = int(t / plane);
  const int rem = int(t - int64_t(b) * plane);
  const int i = rem / s, j = rem - (rem / s) * s;
  // AugmentThetas for sample b (augment.cpp: same order of operations, float32).
  const float rot = (u[b] * 2.f - 1.f) * k.rot;
  const float tx = (u[batch + b] * 2.f - 1.f) * k.hshift;
  const float ty = (u[2 * batch + b] * 2.f - 1.f) * k.wshift;
  const float shear = (u[3 * batch + b] * 2.f - 1.f) * k.shear;
  const float zx = u[4 * batch + b] * k.zoom_span + k.zoom_lo;
  const float zy = u[5 * batch + b] * k.zoom_span + k.zoom_lo;
  const float fx = u[6 * batch + b] < k.hflip_prob ? -1.f : 1.f;
  const float fy = u[7 * batch + b] < k.vflip_prob ? -1.f : 1.f;
  float sn, c, srs, crs;
  sincosf(rot, &sn, &c);
  sincosf(rot + shear, &srs, &crs);
  const float l00 = c * zx, l01 = -zy * srs, l10 = sn * zx, l11 = zy * crs;
  const float t0 = c * tx - sn * ty, t1 = sn * tx + c * ty;
  // affine_grid (align_corners): grid = theta @ (x_j, y_i, 1).
  const float xj = Linspace(j, s), yi = Linspace(i, s);
  const float gx = (l11 * fx) * xj + (l10 * fy) * yi + t1;
  const float gy = (l01 * fx) * xj + (l00 * fy) * yi + t0;
  // grid_sample: bilinear, border padding (clip the coordinate), align_corners.
  const float hi = float(s - 1);
  const float ix = fminf(hi, fmaxf(0.f, (gx + 1.f) / 2.f * hi));
  const float iy = fminf(hi, fmaxf(0.f, (gy + 1.f) / 2.f * hi));
  const float x0f = floorf(ix), y0f = floorf(iy);
  const int x0 = int(x0f), y0 = int(y0f);
  const float ex = ix - x0f, ey = iy - y0f;
  const uint8_t* src = data + idx[b] * plane;
  const bool x1in = x0 + 1 < s, y1in = y0 + 1 < s;
  float v = (1.f - ex) * (1.f - ey) * float(src[y0 * s + x0]);
  if (x1in) v += ex * (1.f - ey) * float(src[y0 * s + x0 + 1]);
  if (y1in) v += (1.f - ex) * ey * float(src[(y0 + 1) * s + x0]);
  if (x1in && y1in) v += ex * ey * float(src[(y0 + 1) * s + x0 + 1]);
  out[t] = v * (1.f / 255.f);
}

}  // namespace

int PoolRelu2x2Forward(const void* x, void* y, uint8_t* code, DType dtype, bool nhwc, int64_t n, int64_t c,
                       int64_t h, int64_t w, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::kFloat32:
      return PoolForwardT(static_cast<const float*>(x), static_cast<float*>(y), code, nhwc, n, c, h, w, st);
    case DType::kBFloat16:
      return PoolForwardT(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), code, nhwc, n, c, h,
                          w, st);
    case DType::kFloat16:
      return PoolForwardT(static_cast<const __half*>(x), static_cast<__half*>(y), code, nhwc, n, c, h, w, st);
  }
  return int(cudaErrorInvalidValue);
}

int PoolRelu2x2Backward(const void* grad_y, const uint8_t* code, void* grad_x, DType dtype, bool nhwc, int64_t n,
                        int64_t c, int64_t h, int64_t w, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::kFloat32:
      return PoolBackwardT(static_cast<const float*>(grad_y), code, static_cast<float*>(grad_x), nhwc, n, c, h, w, st);
    case DType::kBFloat16:
      return PoolBackwardT(static_cast<const __nv_bfloat16*>(grad_y), code, static_cast<__nv_bfloat16*>(grad_x), nhwc,
                           n, c, h, w, st);
    case DType::kFloat16:
      return PoolBackwardT(static_cast<const __half*>(grad_y), code, static_cast<__half*>(grad_x), nhwc, n, c, h, w,
                           st);
  }
  return int(cudaErrorInvalidValue);
}

int GatherAugment(const uint8_t* data, const int64_t* idx, const float* u, float* out, int64_t batch, int64_t s,
                  const AugmentConsts& k, void* stream) {
  const int64_t total = batch * s * s;
  if (total == 0) return 0;
  GatherAugmentKernel<<<Blocks(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(data, idx, u, out, int(batch),
                                                                                         int(s), k);
  return int(cudaGetLastError());
}

}  // namespace catdog::train::cuda
