// SIMD microkernels, written once against vec.h. Included by exactly one .cpp per ISA
// (simd/isa_avx512.cpp, simd/isa_avx2.cpp, simd/isa_base.cpp: sse2 / neon / wasm /
// scalar, whichever the target's baseline is), each compiled with
// that ISA's flags; CATDOG_ISA_GETTER names the function that returns its table.
// No std templates here (see vec.h on the ODR hazard): only intrinsics and plain loops.
#include "simd/isa.h"
#include "vec.h"

#ifndef CATDOG_ISA_GETTER
#error "define CATDOG_ISA_GETTER before including simd/microkernels.h"
#endif

#define CATDOG_UNROLL _Pragma("GCC unroll 16")

namespace catdog::kernels::simd::CATDOG_VEC_ISA {
namespace {  // internal linkage: nothing here can be merged with another ISA's copy

using namespace catdog::vec::CATDOG_VEC_ISA;

// Tile shapes per ISA: accumulators mr * nv must fit the register file with room for the nv
// weight vectors and one broadcast (32 zmm on AVX-512, 32 q registers on arm64 NEON, 16 ymm/xmm
// elsewhere; without FMA the product needs a temporary too).
#if defined(__AVX512F__)
constexpr int kConvNv = 4;  // widest channel block for convolutions (and Winograd's GEMMs)
constexpr int kC1Nv = 4;    // ... for 1-channel inputs (few taps: favour weight reuse)
constexpr int kMr[kMaxNv + 1] = {0, 12, 12, 8, 6};
#elif defined(__AVX2__)
constexpr int kConvNv = 2;
constexpr int kC1Nv = 2;
constexpr int kMr[kMaxNv + 1] = {0, 8, 6, 4, 3};
#elif defined(__aarch64__) && defined(__ARM_NEON)
// 32 q registers with FMA, like AVX-512's 32 zmm but 4 floats wide: mr * nv + nv + 1 <= 29
// (nv = 4: 24 accumulators, 4 weight vectors, 1 broadcast). The widest block (16 channels)
// loads the fewest vectors per FMA (nv + mr per nv * mr), so convolutions use it.
constexpr int kConvNv = 4;
constexpr int kC1Nv = 4;
constexpr int kMr[kMaxNv + 1] = {0, 12, 12, 8, 6};
#elif defined(__SSE2__) || defined(__wasm_simd128__)
constexpr int kConvNv = 2;
constexpr int kC1Nv = 4;
constexpr int kMr[kMaxNv + 1] = {0, 8, 5, 4, 3};
#else
constexpr int kConvNv = 4;
constexpr int kC1Nv = 4;
constexpr int kMr[kMaxNv + 1] = {0, 4, 4, 4, 4};
#endif
// Dense layers at small batch stream their weights once (GEMV): the widest block gives the
// most independent accumulator chains per input element.
constexpr int kDenseNv = 4;

// MR output pixels x NV vectors of output channels; see GemmArgs. The reduction walks the
// packed weights linearly; the MR input pointers are re-based once per tap.
template <int MR, int NV>
void Gemm(const GemmArgs& t) {
  V acc[MR][NV];
  CATDOG_UNROLL for (int v = 0; v < NV; ++v) {
    const V b = Load(t.bias + v * kWidth);
    CATDOG_UNROLL for (int p = 0; p < MR; ++p) acc[p][v] = b;
  }
  const float* w = t.w;
  for (int k = 0; k < t.ntaps; ++k) {
    const float* ap[MR];
    const ptrdiff_t off = t.tap_off[k];
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
  if (t.post_mul) {  // a folded BatchNormalization: (y - sub) * mul + add after the clamp
    CATDOG_UNROLL for (int v = 0; v < NV; ++v) {
      const V sub = Load(t.post_sub + v * kWidth), mul = Load(t.post_mul + v * kWidth);
      const V add = Load(t.post_add + v * kWidth);
      CATDOG_UNROLL for (int p = 0; p < MR; ++p)
        Store(t.c + p * t.ldc + v * kWidth, Add(Mul(Sub(Min(Max(acc[p][v], lo), hi), sub), mul), add));
    }
    return;
  }
  CATDOG_UNROLL for (int p = 0; p < MR; ++p) {
    float* c = t.c + p * t.ldc;
    CATDOG_UNROLL for (int v = 0; v < NV; ++v) Store(c + v * kWidth, Min(Max(acc[p][v], lo), hi));
  }
}

// ---- depthwise convolution (depth_multiplier 1), one output row: see DwConvArgs -------------------------
// Vectorized over channels; the outer loop walks channel vectors so the block's kh * kw weight
// vectors stay in registers (K = 3) while the row is swept. Interior pixels (every tap inside the
// input) take the unchecked path; the few border pixels check each column.

struct DwEpilogue {
  V lo, hi, sub, mul, add;
  bool post;
  CATDOG_INLINE V operator()(V acc) const {
    const V y = Min(Max(acc, lo), hi);
    return post ? Add(Mul(Sub(y, sub), mul), add) : y;
  }
};

CATDOG_INLINE float DwPostScalar(const DwConvArgs& a, int c, float acc) {
  const float y = MinS(MaxS(acc, a.lo), a.hi);
  return a.post_mul ? (y - a.post_sub[c]) * a.post_mul[c] + a.post_add[c] : y;
}

template <int K>  // K = 3: 3x3 unrolled; K = 0: a.kh x a.kw
void DwConvRow(const DwConvArgs& a) {
  const int kh = K ? K : a.kh, kw = K ? K : a.kw;
  const int ch = a.ch, sw = a.sw, pl = a.pad_left;
  // Interior: x * sw - pl >= 0 and x * sw - pl + kw <= in_w.
  int x_lo = (pl + sw - 1) / sw;
  int x_hi = a.in_w - kw + pl >= 0 ? (a.in_w - kw + pl) / sw + 1 : 0;
  if (x_hi > a.out_w) x_hi = a.out_w;
  if (x_lo > x_hi) x_lo = x_hi;
  int c = 0;
  for (; c + kWidth <= ch; c += kWidth) {
    DwEpilogue ep;
    ep.lo = Set1(a.lo);
    ep.hi = Set1(a.hi);
    ep.post = a.post_mul != nullptr;
    ep.sub = ep.post ? Load(a.post_sub + c) : Zero();
    ep.mul = ep.post ? Load(a.post_mul + c) : Zero();
    ep.add = ep.post ? Load(a.post_add + c) : Zero();
    const V b = Load(a.bias + c);
    const float* wc = a.w + c;
    // Border pixels: every column checked.
    const auto border = [&](int x) {
      V acc = b;
      const int ix = x * sw - pl;
      for (int ky = 0; ky < kh; ++ky) {
        const float* r = a.rows[ky];
        if (!r) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int xx = ix + kx;
          if (xx < 0 || xx >= a.in_w) continue;
          acc = MulAdd(Load(r + static_cast<size_t>(xx) * ch + c), Load(wc + (ky * kw + kx) * a.ch_pad), acc);
        }
      }
      Store(a.out + static_cast<size_t>(x) * ch + c, ep(acc));
    };
    for (int x = 0; x < x_lo; ++x) border(x);
    if constexpr (K == 3) {
      V w[9];
      CATDOG_UNROLL for (int t = 0; t < 9; ++t) w[t] = Load(wc + t * a.ch_pad);
      const float* r0 = a.rows[0];
      const float* r1 = a.rows[1];
      const float* r2 = a.rows[2];
      for (int x = x_lo; x < x_hi; ++x) {
        const size_t off = static_cast<size_t>(x * sw - pl) * ch + c;
        V acc = b;
        if (r0) {
          acc = MulAdd(Load(r0 + off), w[0], acc);
          acc = MulAdd(Load(r0 + off + ch), w[1], acc);
          acc = MulAdd(Load(r0 + off + 2 * ch), w[2], acc);
        }
        if (r1) {
          acc = MulAdd(Load(r1 + off), w[3], acc);
          acc = MulAdd(Load(r1 + off + ch), w[4], acc);
          acc = MulAdd(Load(r1 + off + 2 * ch), w[5], acc);
        }
        if (r2) {
          acc = MulAdd(Load(r2 + off), w[6], acc);
          acc = MulAdd(Load(r2 + off + ch), w[7], acc);
          acc = MulAdd(Load(r2 + off + 2 * ch), w[8], acc);
        }
        Store(a.out + static_cast<size_t>(x) * ch + c, ep(acc));
      }
    } else {
      for (int x = x_lo; x < x_hi; ++x) {
        const size_t off = static_cast<size_t>(x * sw - pl) * ch + c;
        V acc = b;
        for (int ky = 0; ky < kh; ++ky) {
          const float* r = a.rows[ky];
          if (!r) continue;
          for (int kx = 0; kx < kw; ++kx)
            acc = MulAdd(Load(r + off + static_cast<size_t>(kx) * ch), Load(wc + (ky * kw + kx) * a.ch_pad), acc);
        }
        Store(a.out + static_cast<size_t>(x) * ch + c, ep(acc));
      }
    }
    for (int x = x_hi; x < a.out_w; ++x) border(x);
  }
  // Channel tail (ch not a multiple of the width): scalar, so no load reads past a pixel.
  for (; c < ch; ++c)
    for (int x = 0; x < a.out_w; ++x) {
      float acc = a.bias[c];
      const int ix = x * sw - pl;
      for (int ky = 0; ky < kh; ++ky) {
        const float* r = a.rows[ky];
        if (!r) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int xx = ix + kx;
          if (xx >= 0 && xx < a.in_w) acc += r[static_cast<size_t>(xx) * ch + c] * a.w[(ky * kw + kx) * a.ch_pad + c];
        }
      }
      a.out[static_cast<size_t>(x) * ch + c] = DwPostScalar(a, c, acc);
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

// ---- Winograd F(2x2, 3x3) transforms ----------------------------------------------------------------
// Input tile d (4x4 pixels) -> B^T d B; output M (4x4) -> A^T M A (2x2), with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1].
// Vectorized over channels (NHWC keeps them contiguous); xi = 4 * row + col indexes the 16
// transformed positions, each its own plane of the V / M buffers.

CATDOG_INLINE void Winograd2x2InTile(V d[4][4], float* v, size_t xi_stride) {
  V t[4][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = Sub(d[0][j], d[2][j]);
    t[1][j] = Add(d[1][j], d[2][j]);
    t[2][j] = Sub(d[2][j], d[1][j]);
    t[3][j] = Sub(d[1][j], d[3][j]);
  }
  for (int i = 0; i < 4; ++i) {
    Store(v + (4 * i + 0) * xi_stride, Sub(t[i][0], t[i][2]));
    Store(v + (4 * i + 1) * xi_stride, Add(t[i][1], t[i][2]));
    Store(v + (4 * i + 2) * xi_stride, Sub(t[i][2], t[i][1]));
    Store(v + (4 * i + 3) * xi_stride, Sub(t[i][1], t[i][3]));
  }
}

// One row of ntiles input tiles: tile t covers rows 0..3 and columns 2t..2t+3 of x (pixel pitch
// cin floats, row pitch row_stride floats). Writes v[xi * xi_stride + t * cin_pad + c]; lanes
// in [cin, cin_pad) get zeros.
void Winograd2x2In(const float* x, size_t row_stride, int cin, int cin_pad, int ntiles, float* v, size_t xi_stride) {
  for (int t = 0; t < ntiles; ++t) {
    const float* xt = x + static_cast<size_t>(2 * t) * cin;
    float* vt = v + static_cast<size_t>(t) * cin_pad;
    int c = 0;
    V d[4][4];
    for (; c + kWidth <= cin; c += kWidth) {
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) d[i][j] = Load(xt + i * row_stride + j * cin + c);
      Winograd2x2InTile(d, vt + c, xi_stride);
    }
    if (c < cin) {  // channel tail: through a zero-padded copy
      float tmp[4][4][kWidth];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          for (int l = 0; l < kWidth; ++l) tmp[i][j][l] = c + l < cin ? xt[i * row_stride + j * cin + c + l] : 0.0f;
          d[i][j] = Load(tmp[i][j]);
        }
      Winograd2x2InTile(d, vt + c, xi_stride);
      c += kWidth;
    }
    for (; c < cin_pad; c += kWidth)
      for (int xi = 0; xi < 16; ++xi) Store(vt + xi * xi_stride + c, Zero());
  }
}

// One row of ntiles output tiles from m[xi * xi_stride + t * oc_pad + c]: Y = A^T M A + bias,
// clamped. pool: the tile's 2x2 outputs are exactly one 2x2 max-pool window, so pooled pixel t
// = clamp(max(Y) + bias) goes to y0 + t * oc. Else Y[r][s] goes to (row r ? y1 : y0) + (2t + s) * oc
// for rows < rows and columns < out_w.
// post_*: the optional affine after the clamp; with a pool it is applied to each of the 4 outputs
// before their max (a negative scale flips which one wins).
void Winograd2x2Out(const float* m, size_t xi_stride, int oc, int oc_pad, int ntiles, const float* bias, float lo_s,
             float hi_s, const float* post_sub, const float* post_mul, const float* post_add, bool pool, int rows,
             int out_w, float* y0, float* y1) {
  const V lo = Set1(lo_s), hi = Set1(hi_s);
  for (int t = 0; t < ntiles; ++t) {
    const float* mt = m + static_cast<size_t>(t) * oc_pad;
    for (int c = 0; c < oc; c += kWidth) {
      V s[2][4];
      for (int j = 0; j < 4; ++j) {
        const V m0 = Load(mt + (0 + j) * xi_stride + c), m1 = Load(mt + (4 + j) * xi_stride + c);
        const V m2 = Load(mt + (8 + j) * xi_stride + c), m3 = Load(mt + (12 + j) * xi_stride + c);
        s[0][j] = Add(Add(m0, m1), m2);
        s[1][j] = Sub(Sub(m1, m2), m3);
      }
      V y[2][2];
      for (int i = 0; i < 2; ++i) {
        y[i][0] = Add(Add(s[i][0], s[i][1]), s[i][2]);
        y[i][1] = Sub(Sub(s[i][1], s[i][2]), s[i][3]);
      }
      const V b = Load(bias + c);
      const bool full = c + kWidth <= oc;
      if (post_mul) {
        const V sub = Load(post_sub + c), mul = Load(post_mul + c), add = Load(post_add + c);
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) y[i][j] = Add(Mul(Sub(Min(Max(Add(y[i][j], b), lo), hi), sub), mul), add);
      }
      if (pool) {
        const V r = post_mul ? Max(Max(y[0][0], y[0][1]), Max(y[1][0], y[1][1]))
                             : Min(Max(Add(Max(Max(y[0][0], y[0][1]), Max(y[1][0], y[1][1])), b), lo), hi);
        float* o = y0 + static_cast<size_t>(t) * oc + c;
        if (full) {
          Store(o, r);
        } else {
          float tmp[kWidth];
          Store(tmp, r);
          for (int l = 0; c + l < oc; ++l) o[l] = tmp[l];
        }
        continue;
      }
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < 2 && 2 * t + j < out_w; ++j) {
          const V r = post_mul ? y[i][j] : Min(Max(Add(y[i][j], b), lo), hi);
          float* o = (i ? y1 : y0) + static_cast<size_t>(2 * t + j) * oc + c;
          if (full) {
            Store(o, r);
          } else {
            float tmp[kWidth];
            Store(tmp, r);
            for (int l = 0; c + l < oc; ++l) o[l] = tmp[l];
          }
        }
    }
  }
}

template <int NV, int MR>
struct FillGemms {
  static void Do(Isa* isa) {
    isa->gemm[NV][MR] = &Gemm<MR, NV>;
    FillGemms<NV, MR - 1>::Do(isa);
  }
};
template <int NV>
struct FillGemms<NV, 0> {
  static void Do(Isa*) {}
};

Isa MakeIsa() {
  Isa isa{};
  isa.name = CATDOG_VEC_ISA_NAME;
  isa.width = kWidth;
  isa.conv_nv = kConvNv;
  isa.c1_nv = kC1Nv;
  isa.dense_nv = kDenseNv;
  for (int nv = 0; nv <= kMaxNv; ++nv) isa.mr[nv] = kMr[nv];
  FillGemms<1, kMr[1]>::Do(&isa);
  FillGemms<2, kMr[2]>::Do(&isa);
  FillGemms<3, kMr[3]>::Do(&isa);
  FillGemms<4, kMr[4]>::Do(&isa);
  isa.pool2 = &Pool2;
  isa.winograd2x2_in = &Winograd2x2In;
  isa.winograd2x2_out = &Winograd2x2Out;
  isa.dwconv3x3 = &DwConvRow<3>;
  isa.dwconv = &DwConvRow<0>;
  return isa;
}

}  // namespace
}  // namespace catdog::kernels::simd::CATDOG_VEC_ISA

namespace catdog::kernels::simd {
template <>
const Isa* CATDOG_ISA_GETTER<kIsaAbi>() {
  static const Isa isa = CATDOG_VEC_ISA::MakeIsa();
  return &isa;
}
}  // namespace catdog::kernels::simd
