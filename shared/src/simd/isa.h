// Internal: the table of SIMD microkernels one ISA provides. simd/microkernels.h is compiled
// once per ISA (simd/isa_<isa>.cpp, each with its own -m flags) and fills one table; the
// operators (simd/conv_igemm.cpp, conv_winograd2x2.cpp, dense.cpp, dwconv.cpp) pack weights, own
// buffers and threads, and simd/dispatch.cpp picks the best table the CPU supports at start-up. Microkernels take raw pointers only and assert nothing: the ops
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
struct GemmArgs {
  const float* const* a;  // mr pointers
  const ptrdiff_t* tap_off;  // ntaps offsets in floats
  int ntaps;
  int cin;                // contiguous reduction length per tap
  const float* w;         // packed block: [ntaps * cin][nv * W]
  const float* bias;      // nv * W floats (zero padded)
  float lo, hi;           // clamp
  float* c;               // output pixel p at c + p * ldc (nv * W floats written)
  size_t ldc;
  // Optional affine after the clamp (kernels.h ChannelAffine): nv * W floats each, or all null.
  const float* post_sub;
  const float* post_mul;
  const float* post_add;
};
using GemmFn = void (*)(const GemmArgs&);

// One output row of a depthwise convolution with depth_multiplier 1:
//   out[x][c] = post(clamp(bias[c] + sum_{ky<kh, kx<kw} rows[ky][(x * sw - pad_left + kx) * ch + c]
//                                     * w[(ky * kw + kx) * ch_pad + c]))
// for x < out_w, c < ch; columns outside [0, in_w) and null rows (outside the input) are zero
// padding. Input and output pixels are ch floats apart.
struct DwConvArgs {
  const float* const* rows;  // kh row pointers (pixel 0 of each input row), nullptr = padding
  int kh, kw;
  int sw, pad_left, in_w, out_w;
  int ch;
  size_t ch_pad;             // ch rounded up to whole vectors: the pitch of w, bias and post
  const float* w;            // [kh * kw][ch_pad]
  const float* bias;         // ch_pad floats (zeros when the layer has none)
  float lo, hi;              // clamp
  const float* post_sub;     // ch_pad floats each, or all null (kernels.h ChannelAffine)
  const float* post_mul;
  const float* post_add;
  float* out;
};
using DwConvRowFn = void (*)(const DwConvArgs&);

// 2x2 stride-2 max-pool of two conv rows r0, r1 (pixel pitch `ld` floats) into out_w pixels of
// c channels at `out` (pixel pitch c).
using Pool2Fn = void (*)(const float* r0, const float* r1, size_t ld, int out_w, int c, float* out);

// Winograd F(2x2, 3x3) input / output transforms of one row of tiles (simd/microkernels.h).
using Winograd2x2InFn = void (*)(const float* x, size_t row_stride, int cin, int cin_pad, int ntiles, float* v,
                          size_t xi_stride);
// post_*: the optional affine after the clamp (oc_pad floats each, or all null).
using Winograd2x2OutFn = void (*)(const float* m, size_t xi_stride, int oc, int oc_pad, int ntiles, const float* bias,
                           float lo, float hi, const float* post_sub, const float* post_mul,
                           const float* post_add, bool pool, int rows, int out_w, float* y0, float* y1);

struct Isa {
  const char* name;               // "avx512", "avx2", "sse2", "neon", "wasm", "scalar"
  int width;                      // floats per vector
  int conv_nv;                    // channel block (vectors) for convolutions
  int c1_nv;                      // ... for convolutions of 1-channel inputs
  int dense_nv;                   // channel block (vectors) for dense layers
  int mr[kMaxNv + 1];             // tile height (pixels / rows) for nv = 1..kMaxNv
  // The field names are the names in the ops' display names (kernels::Op::name(), e.g.
  // "f32_conv3x3_igemm__avx2_4x16_pool2": gemm tile 4 x 16, pool2; "f32_dwconv3x3__wasm_4").
  GemmFn gemm[kMaxNv + 1][kMaxMr + 1];  // [nv][mr], mr <= this->mr[nv]: the "<mr>x<nv * width>" tile
  Pool2Fn pool2;                          // the fused 2x2 max-pool ("_pool2")
  Winograd2x2InFn winograd2x2_in;         // "f32_conv3x3_winograd2x2" transforms
  Winograd2x2OutFn winograd2x2_out;
  DwConvRowFn dwconv3x3;                  // "f32_dwconv3x3" row, weights held in registers
  DwConvRowFn dwconv;                     // "f32_dwconv<kh>x<kw>" row, any kh x kw
};

// Fingerprint of the layout of Isa and GemmArgs as the including translation unit sees it. The
// per-ISA files fill tables that the operators read, so all of them must agree on these
// structs; an object compiled against an older version of this header (e.g. one whose compile
// raced an edit of this file, so the build tool thinks it is up to date) would read the tables
// at the wrong offsets and call a null or wrong microkernel. The getters below are keyed by
// this fingerprint (it is part of their mangled names), so such a mix fails to link
// ("undefined reference to ...IsaAvx512<N>()") instead of crashing at run time: delete the
// stale object files and rebuild.
constexpr unsigned long long IsaAbiMix(unsigned long long h, unsigned long long v) {
  return (h ^ v) * 1099511628211ull;  // FNV-1a step
}
constexpr unsigned long long kIsaAbi = [] {
  unsigned long long h = 14695981039346656037ull;
  const unsigned long long fields[] = {
      sizeof(Isa), offsetof(Isa, name), offsetof(Isa, width), offsetof(Isa, conv_nv), offsetof(Isa, c1_nv),
      offsetof(Isa, dense_nv), offsetof(Isa, mr), offsetof(Isa, gemm), offsetof(Isa, pool2), offsetof(Isa, winograd2x2_in),
      offsetof(Isa, winograd2x2_out), offsetof(Isa, dwconv3x3), offsetof(Isa, dwconv), kMaxNv, kMaxMr, sizeof(GemmArgs),
      offsetof(GemmArgs, a), offsetof(GemmArgs, tap_off), offsetof(GemmArgs, ntaps), offsetof(GemmArgs, cin),
      offsetof(GemmArgs, w), offsetof(GemmArgs, bias), offsetof(GemmArgs, lo), offsetof(GemmArgs, hi),
      offsetof(GemmArgs, c), offsetof(GemmArgs, ldc), offsetof(GemmArgs, post_sub), offsetof(GemmArgs, post_mul),
      offsetof(GemmArgs, post_add), sizeof(DwConvArgs), offsetof(DwConvArgs, rows), offsetof(DwConvArgs, kh),
      offsetof(DwConvArgs, kw), offsetof(DwConvArgs, sw), offsetof(DwConvArgs, pad_left), offsetof(DwConvArgs, in_w),
      offsetof(DwConvArgs, out_w), offsetof(DwConvArgs, ch), offsetof(DwConvArgs, ch_pad), offsetof(DwConvArgs, w),
      offsetof(DwConvArgs, bias), offsetof(DwConvArgs, lo), offsetof(DwConvArgs, hi), offsetof(DwConvArgs, post_sub),
      offsetof(DwConvArgs, post_mul), offsetof(DwConvArgs, post_add), offsetof(DwConvArgs, out)};
  for (unsigned long long f : fields) h = IsaAbiMix(h, f);
  return h;
}();

// The table getters, one per simd/isa_<isa>.cpp, each compiled with that ISA's flags. Calling
// one runs code of that ISA (the table is built on first use), so nothing may call a getter
// before the CPU is known to have the ISA: only simd/dispatch.cpp calls them, through
// CompiledIsas() and CpuSupports() below. Each file defines the kIsaAbi specialization only.
template <unsigned long long Abi = kIsaAbi>
const Isa* IsaAvx512();
template <unsigned long long Abi = kIsaAbi>
const Isa* IsaAvx2();
template <unsigned long long Abi = kIsaAbi>
const Isa* IsaBase();  // the target's baseline: sse2 on x86-64, neon on arm64, wasm simd128, else scalar
template <>
const Isa* IsaAvx512<kIsaAbi>();
template <>
const Isa* IsaAvx2<kIsaAbi>();
template <>
const Isa* IsaBase<kIsaAbi>();

// What a table needs from the CPU beyond the build's baseline.
enum class CpuNeed { kBaseline, kAvx2Fma, kAvx512f };

// One ISA table this build compiled. Plain constant data: reading an entry runs no code of its
// ISA. `get` builds and returns the table; call it only when CpuSupports(need) is true.
struct IsaEntry {
  const char* name;       // as Isa::name: "avx512", "avx2", "sse2", "neon", "wasm", "scalar"
  const char* cpu_flags;  // what the CPU must report, for messages ("avx512f", "avx2 fma", "")
  CpuNeed need;
  const Isa* (*get)();
};

// Every table compiled into this build, best first (empty without CATDOG_SIMD).
const IsaEntry* CompiledIsas(int* count);
// Whether this CPU (and OS: __builtin_cpu_supports checks XSAVE state) can run code needing `need`.
bool CpuSupports(CpuNeed need);

// Why `isa` cannot be used (nullptr when it can): a tile shape it advertises (nv in 1..kMaxNv,
// mr = 1..this->mr[nv]) without a microkernel, mr out of range or growing with nv (DenseOp
// relies on narrower blocks allowing at least as many rows), block widths out of range, or a
// missing pool / Winograd / depthwise function. AvailableIsas() leaves such tables out.
const char* IsaProblem(const Isa& isa);

}  // namespace catdog::kernels::simd
