// AVX-512F microkernels (this file is compiled with -mavx512f -mfma on x86-64; the dispatcher
// in kernels_simd.cpp uses them only when the CPU reports AVX-512F).
#include "kernels_simd.h"

#if defined(CATDOG_SIMD) && defined(__AVX512F__)
#define CATDOG_ISA_GETTER IsaAvx512
#include "kernels_simd_impl.h"
#else
namespace catdog::kernels::simd {
template <>
const Isa* IsaAvx512<kIsaAbi>() {
  return nullptr;
}
}  // namespace catdog::kernels::simd
#endif
