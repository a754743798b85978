// The one SIMD mapping header. Kernels are written once against these few operations; the ISA
// is chosen by the compiler flags of the translation unit that includes this file:
//   __AVX512F__                 -> avx512  (16 floats, FMA)
//   __AVX2__ && __FMA__         -> avx2    (8 floats, FMA)
//   __SSE2__                    -> sse2    (4 floats, mul + add)
//   __aarch64__ && __ARM_NEON   -> neon    (4 floats, FMA: NEON is baseline on arm64)
//   __wasm_simd128__            -> wasm    (4 floats, mul + add: simd128 has no FMA)
//   otherwise                   -> scalar  (1 float)
// Everything lives in a namespace named after the ISA (catdog::vec::avx512, ...), so several
// translation units built with different flags can be linked into one binary without two
// different inline functions sharing a name (an ODR violation that would let the linker pick
// the AVX-512 copy for a machine without AVX-512). For the same reason a file that includes this
// header with non-default ISA flags must not instantiate std templates that other files also use.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#define CATDOG_VEC_ISA avx512
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define CATDOG_VEC_ISA avx2
#elif defined(__SSE2__)
#include <emmintrin.h>
#define CATDOG_VEC_ISA sse2
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define CATDOG_VEC_ISA neon
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define CATDOG_VEC_ISA wasm
#else
#define CATDOG_VEC_ISA scalar
#endif

#define CATDOG_VEC_STR2(x) #x
#define CATDOG_VEC_STR(x) CATDOG_VEC_STR2(x)
#define CATDOG_VEC_ISA_NAME CATDOG_VEC_STR(CATDOG_VEC_ISA)

#define CATDOG_INLINE inline __attribute__((always_inline))

namespace catdog::vec::CATDOG_VEC_ISA {

#if defined(__AVX512F__)
using V = __m512;
constexpr int kWidth = 16;
constexpr bool kHasFma = true;
CATDOG_INLINE V Zero() { return _mm512_setzero_ps(); }
CATDOG_INLINE V Set1(float x) { return _mm512_set1_ps(x); }
CATDOG_INLINE V Load(const float* p) { return _mm512_loadu_ps(p); }
CATDOG_INLINE void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
CATDOG_INLINE V Add(V a, V b) { return _mm512_add_ps(a, b); }
CATDOG_INLINE V Sub(V a, V b) { return _mm512_sub_ps(a, b); }
CATDOG_INLINE V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }  // a*b + c
CATDOG_INLINE V Max(V a, V b) { return _mm512_max_ps(a, b); }
CATDOG_INLINE V Min(V a, V b) { return _mm512_min_ps(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
using V = __m256;
constexpr int kWidth = 8;
constexpr bool kHasFma = true;
CATDOG_INLINE V Zero() { return _mm256_setzero_ps(); }
CATDOG_INLINE V Set1(float x) { return _mm256_set1_ps(x); }
CATDOG_INLINE V Load(const float* p) { return _mm256_loadu_ps(p); }
CATDOG_INLINE void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
CATDOG_INLINE V Add(V a, V b) { return _mm256_add_ps(a, b); }
CATDOG_INLINE V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
CATDOG_INLINE V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
CATDOG_INLINE V Max(V a, V b) { return _mm256_max_ps(a, b); }
CATDOG_INLINE V Min(V a, V b) { return _mm256_min_ps(a, b); }
#elif defined(__SSE2__)
using V = __m128;
constexpr int kWidth = 4;
constexpr bool kHasFma = false;
CATDOG_INLINE V Zero() { return _mm_setzero_ps(); }
CATDOG_INLINE V Set1(float x) { return _mm_set1_ps(x); }
CATDOG_INLINE V Load(const float* p) { return _mm_loadu_ps(p); }
CATDOG_INLINE void Store(float* p, V v) { _mm_storeu_ps(p, v); }
CATDOG_INLINE V Add(V a, V b) { return _mm_add_ps(a, b); }
CATDOG_INLINE V Sub(V a, V b) { return _mm_sub_ps(a, b); }
CATDOG_INLINE V Mul(V a, V b) { return _mm_mul_ps(a, b); }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
CATDOG_INLINE V Max(V a, V b) { return _mm_max_ps(a, b); }
CATDOG_INLINE V Min(V a, V b) { return _mm_min_ps(a, b); }
#elif defined(__aarch64__) && defined(__ARM_NEON)
using V = float32x4_t;
constexpr int kWidth = 4;
constexpr bool kHasFma = true;
CATDOG_INLINE V Zero() { return vdupq_n_f32(0.0f); }
CATDOG_INLINE V Set1(float x) { return vdupq_n_f32(x); }
CATDOG_INLINE V Load(const float* p) { return vld1q_f32(p); }
CATDOG_INLINE void Store(float* p, V v) { vst1q_f32(p, v); }
CATDOG_INLINE V Add(V a, V b) { return vaddq_f32(a, b); }
CATDOG_INLINE V Sub(V a, V b) { return vsubq_f32(a, b); }
CATDOG_INLINE V Mul(V a, V b) { return vmulq_f32(a, b); }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return vfmaq_f32(c, a, b); }  // c + a*b, one rounding
// fmax/fmin: a NaN operand gives NaN (SSE's maxps gives the second operand); clamps of finite
// activations never see one.
CATDOG_INLINE V Max(V a, V b) { return vmaxq_f32(a, b); }
CATDOG_INLINE V Min(V a, V b) { return vminq_f32(a, b); }
#elif defined(__wasm_simd128__)
using V = v128_t;
constexpr int kWidth = 4;
constexpr bool kHasFma = false;
CATDOG_INLINE V Zero() { return wasm_f32x4_splat(0.0f); }
CATDOG_INLINE V Set1(float x) { return wasm_f32x4_splat(x); }
CATDOG_INLINE V Load(const float* p) { return wasm_v128_load(p); }
CATDOG_INLINE void Store(float* p, V v) { wasm_v128_store(p, v); }
CATDOG_INLINE V Add(V a, V b) { return wasm_f32x4_add(a, b); }
CATDOG_INLINE V Sub(V a, V b) { return wasm_f32x4_sub(a, b); }
CATDOG_INLINE V Mul(V a, V b) { return wasm_f32x4_mul(a, b); }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
// pmax/pmin (a < b ? b : a) lower to one maxps/minps in V8; NaN handling differs from the
// IEEE max, which clamps of finite activations never see.
CATDOG_INLINE V Max(V a, V b) { return wasm_f32x4_pmax(a, b); }
CATDOG_INLINE V Min(V a, V b) { return wasm_f32x4_pmin(a, b); }
#else
struct V { float x; };
constexpr int kWidth = 1;
constexpr bool kHasFma = false;
CATDOG_INLINE V Zero() { return V{0.0f}; }
CATDOG_INLINE V Set1(float x) { return V{x}; }
CATDOG_INLINE V Load(const float* p) { return V{*p}; }
CATDOG_INLINE void Store(float* p, V v) { *p = v.x; }
CATDOG_INLINE V Add(V a, V b) { return V{a.x + b.x}; }
CATDOG_INLINE V Sub(V a, V b) { return V{a.x - b.x}; }
CATDOG_INLINE V Mul(V a, V b) { return V{a.x * b.x}; }
CATDOG_INLINE V MulAdd(V a, V b, V c) { return V{a.x * b.x + c.x}; }
CATDOG_INLINE V Max(V a, V b) { return V{a.x < b.x ? b.x : a.x}; }
CATDOG_INLINE V Min(V a, V b) { return V{b.x < a.x ? b.x : a.x}; }
#endif

// Scalar helpers for tails (no <algorithm>: see the ODR note above).
CATDOG_INLINE float MaxS(float a, float b) { return a < b ? b : a; }
CATDOG_INLINE float MinS(float a, float b) { return b < a ? b : a; }

}  // namespace catdog::vec::CATDOG_VEC_ISA
