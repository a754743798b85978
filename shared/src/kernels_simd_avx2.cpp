// AVX2 + FMA microkernels (this file is compiled with -mavx2 -mfma on x86-64; the dispatcher
// in kernels_simd.cpp uses them only when the CPU reports AVX2 and FMA).
#include "kernels_simd.h"

#if defined(CATDOG_SIMD) && defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define CATDOG_ISA_GETTER IsaAvx2
#include "kernels_simd_impl.h"
#else
namespace catdog::kernels::simd {
template <>
const Isa* IsaAvx2<kIsaAbi>() {
  return nullptr;
}
}  // namespace catdog::kernels::simd
#endif
