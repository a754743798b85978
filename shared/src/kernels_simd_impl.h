// SIMD microkernels, written once against vec.h. Included by exactly one .cpp per ISA
// (kernels_simd_avx512.cpp, kernels_simd_avx2.cpp, kernels_simd_base.cpp), each compiled with
// that ISA's flags; CATDOG_ISA_GETTER names the function that returns its table.
// No std templates here (see vec.h on the ODR hazard): only intrinsics and plain loops.
#include "kernels_simd.h"
#include "vec.h"

#ifndef CATDOG_ISA_GETTER
#error "define CATDOG_ISA_GETTER before including kernels_simd_impl.h"
#endif

#define CATDOG_UNROLL _Pragma("GCC unroll 16")

namespace catdog::kernels::simd::CATDOG_VEC_ISA {
namespace {  // internal linkage: nothing here can be merged with another ISA's copy

using namespace catdog::vec::CATDOG_VEC_ISA;

// Tile shapes per ISA: accumulators mr * nv must fit the register file with room for the nv
// weight vectors and one broadcast (32 zmm on AVX-512, 16 ymm/xmm elsewhere; without FMA the
// product needs a temporary too).
#if defined(__AVX512F__)
constexpr int kMaxNvIsa = 4;
constexpr int kMr[kMaxNv + 1] = {0, 12, 12, 8, 6};
#elif defined(__AVX2__)
constexpr int kMaxNvIsa = 4;
constexpr int kMr[kMaxNv + 1] = {0, 8, 6, 4, 3};
#elif defined(__SSE2__) || defined(__wasm_simd128__)
constexpr int kMaxNvIsa = 4;
constexpr int kMr[kMaxNv + 1] = {0, 8, 6, 4, 3};
#else
constexpr int kMaxNvIsa = 4;
constexpr int kMr[kMaxNv + 1] = {0, 4, 4, 4, 4};
#endif

// MR output pixels x NV vectors of output channels; see TileArgs. The reduction walks the
// packed weights linearly; the MR input pointers are re-based once per tap.
template <int MR, int NV>
void Tile(const TileArgs& t) {
  V acc[MR][NV];
  CATDOG_UNROLL for (int v = 0; v < NV; ++v) {
    const V b = Load(t.bias + v * kWidth);
    CATDOG_UNROLL for (int p = 0; p < MR; ++p) acc[p][v] = b;
  }
  const float* w = t.w;
  for (int k = 0; k < t.ntaps; ++k) {
    const float* ap[MR];
    const int off = t.tap_off[k];
    CATDOG_UNROLL for (int p = 0; p < MR; ++p) ap[p] = t.a[p] + off;
    for (int i = 0; i < t.cin; ++i) {
      V wv[NV];
      CATDOG_UNROLL for (int v = 0; v < NV; ++v) wv[v] = Load(w + v * kWidth);
      w += NV * kWidth;
      CATDOG_UNROLL for (int p = 0; p < MR; ++p) {
        const V x = Set1(ap[p][i]);
        CATDOG_UNROLL for (int v = 0; v < NV; ++v) acc[p][v] = MulAdd(x, wv[v], acc[p][v]);
      }
    }
  }
  const V lo = Set1(t.lo), hi = Set1(t.hi);
  CATDOG_UNROLL for (int p = 0; p < MR; ++p) {
    float* c = t.c + p * t.ldc;
    CATDOG_UNROLL for (int v = 0; v < NV; ++v) Store(c + v * kWidth, Min(Max(acc[p][v], lo), hi));
  }
}

void Pool2(const float* r0, const float* r1, size_t ld, int out_w, int c, float* out) {
  for (int x = 0; x < out_w; ++x) {
    const float* a = r0 + 2 * x * ld;
    const float* b = r1 + 2 * x * ld;
    float* o = out + static_cast<size_t>(x) * c;
    int ch = 0;
    for (; ch + kWidth <= c; ch += kWidth) {
      const V m = Max(Max(Load(a + ch), Load(a + ld + ch)), Max(Load(b + ch), Load(b + ld + ch)));
      Store(o + ch, m);
    }
    for (; ch < c; ++ch) o[ch] = MaxS(MaxS(a[ch], a[ld + ch]), MaxS(b[ch], b[ld + ch]));
  }
}

template <int NV, int MR>
struct FillTiles {
  static void Do(Isa* isa) {
    isa->tile[NV][MR] = &Tile<MR, NV>;
    FillTiles<NV, MR - 1>::Do(isa);
  }
};
template <int NV>
struct FillTiles<NV, 0> {
  static void Do(Isa*) {}
};

Isa MakeIsa() {
  Isa isa{};
  isa.name = CATDOG_VEC_ISA_NAME;
  isa.width = kWidth;
  isa.max_nv = kMaxNvIsa;
  for (int nv = 0; nv <= kMaxNv; ++nv) isa.mr[nv] = kMr[nv];
  FillTiles<1, kMr[1]>::Do(&isa);
  FillTiles<2, kMr[2]>::Do(&isa);
  FillTiles<3, kMr[3]>::Do(&isa);
  FillTiles<4, kMr[4]>::Do(&isa);
  isa.pool2 = &Pool2;
  return isa;
}

}  // namespace
}  // namespace catdog::kernels::simd::CATDOG_VEC_ISA

namespace catdog::kernels::simd {
const Isa* CATDOG_ISA_GETTER() {
  static const Isa isa = CATDOG_VEC_ISA::MakeIsa();
  return &isa;
}
}  // namespace catdog::kernels::simd
