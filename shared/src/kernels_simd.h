// Internal: the table of SIMD microkernels one ISA provides. kernels_simd_impl.h is compiled
// once per ISA (kernels_simd_<isa>.cpp, each with its own -m flags) and fills one table;
// kernels_simd.cpp packs weights, owns buffers and threads, and picks the best table the CPU
// supports at start-up. Microkernels take raw pointers only and assert nothing: the ops
// validated shapes when they were made.
#pragma once

#include <cstddef>

namespace catdog::kernels::simd {

constexpr int kMaxMr = 16;  // pixels (or batch rows) per tile, upper bound over all ISAs
constexpr int kMaxNv = 4;   // vectors of output channels per tile, upper bound over all ISAs

// One tile of the implicit GEMM behind Conv2D and Dense:
//   c[p][0 .. nv*W) = clamp(bias + sum_{t<ntaps, i<cin} a[p][tap_off[t] + i] * w[t*cin + i][.])
// for p < mr. Conv: a[p] points at the input pixel under the kernel's top-left tap for output
// pixel p and tap_off[t] steps to tap t. Dense: ntaps = 1, a[p] = input row p.
struct TileArgs {
  const float* const* a;  // mr pointers
  const ptrdiff_t* tap_off;  // ntaps offsets in floats
  int ntaps;
  int cin;                // contiguous reduction length per tap
  const float* w;         // packed block: [ntaps * cin][nv * W]
  const float* bias;      // nv * W floats (zero padded)
  float lo, hi;           // clamp
  float* c;               // output pixel p at c + p * ldc (nv * W floats written)
  size_t ldc;
};
using TileFn = void (*)(const TileArgs&);

// 2x2 stride-2 max-pool of two conv rows r0, r1 (pixel pitch `ld` floats) into out_w pixels of
// c channels at `out` (pixel pitch c).
using Pool2Fn = void (*)(const float* r0, const float* r1, size_t ld, int out_w, int c, float* out);

// Winograd F(2x2, 3x3) input / output transforms of one row of tiles (kernels_simd_impl.h).
using WinoInFn = void (*)(const float* x, size_t row_stride, int cin, int cin_pad, int ntiles, float* v,
                          size_t xi_stride);
using WinoOutFn = void (*)(const float* m, size_t xi_stride, int oc, int oc_pad, int ntiles, const float* bias,
                           float lo, float hi, bool pool, int rows, int out_w, float* y0, float* y1);

struct Isa {
  const char* name;               // "avx512", "avx2", "sse2", "wasm", "scalar"
  int width;                      // floats per vector
  int conv_nv;                    // channel block (vectors) for convolutions
  int c1_nv;                      // ... for convolutions of 1-channel inputs
  int dense_nv;                   // channel block (vectors) for dense layers
  int mr[kMaxNv + 1];             // tile height (pixels / rows) for nv = 1..kMaxNv
  TileFn tile[kMaxNv + 1][kMaxMr + 1];  // [nv][mr], mr <= this->mr[nv]
  Pool2Fn pool2;
  WinoInFn wino_in;
  WinoOutFn wino_out;
};

// Each returns nullptr when that ISA was not compiled into this build.
const Isa* IsaAvx512();
const Isa* IsaAvx2();
const Isa* IsaBase();  // the target's baseline: sse2 on x86-64, wasm simd128, else scalar

}  // namespace catdog::kernels::simd
